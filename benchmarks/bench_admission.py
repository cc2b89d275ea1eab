"""L1 admission: what a read-through L1 holds, with and without TinyLFU admission.

``python -m benchmarks admission [--quick]`` replays key streams through the memory
tier exactly as ``GenericRedisCache.get`` uses it (look up; on a miss the value
comes from Redis and is copied into L1 when ``admits`` says so, or always without
admission) and counts, per stream:

* hit rate: the share of gets served by L1 (higher is better);
* promotions per get: L1 writes (each one a PTTL on the wire and an eviction);

for aicache with admission (the default), aicache with ``l1_admission=False``
(plain LRU, what the original did) and cachetools' ``LRUCache`` as an independent
LRU of the same capacity (it must match the plain tier exactly). No Redis is
needed: a miss costs the same GET whatever L1 decides, so hit rates and promotion
counts are the whole difference (the timings are in ``benchmarks redis``).

Streams (seeded, the same for every policy):

* uniform: 512 keys, L1 of 100 (the Redis suite's shape: working set > L1);
* cyclic: 512 keys in order, L1 of 100 (LRU's worst case);
* zipf: 10,000 keys, popularity ~ 1/rank^0.9, L1 of 1,000 (web/LLM traffic);
* zipf + scan: the zipf stream with a one-off key (a crawler, a batch job) after
  every second request.

Results: benchmarks/results/admission.json and docs/l1-admission.md.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Callable, Iterator

from aicache import _core
from benchmarks._util import Row, save

AICACHE = "aicache (admission)"
PLAIN = "aicache (l1_admission=False)"
CACHETOOLS = "cachetools LRUCache"


def stream(name: str, n: int, seed: int = 7) -> tuple[list[str], int]:
    """The keys of a stream and the L1 capacity it is replayed against."""
    rnd = random.Random(seed)
    if name == "uniform":
        return [f"k{rnd.randrange(512)}" for _ in range(n)], 100
    if name == "cyclic":
        return [f"k{i % 512}" for i in range(n)], 100
    ranks = range(10_000)
    weights = [1 / (r + 1) ** 0.9 for r in ranks]
    zipf = [f"k{r}" for r in rnd.choices(ranks, weights, k=n)]
    if name == "zipf":
        return zipf, 1000
    scan: Iterator[str] = (f"scan{i}" for i in itertools.count())
    mixed = [k for hot in zipf[: n // 2] for k in (hot, next(scan))]
    return mixed, 1000


def replay_tier(keys: list[str], capacity: int, admission: bool) -> tuple[int, int]:
    tier = _core.MemoryTier(capacity)
    if admission:
        tier.track_frequency()
    hits = promotions = 0
    for k in keys:
        if tier.get(k, 1.0) is not None:
            hits += 1
        elif tier.admits(k, 1.0):
            tier.set(k, k, 0, 1.0)
            promotions += 1
    return hits, promotions


def replay_cachetools(keys: list[str], capacity: int) -> tuple[int, int]:
    import cachetools

    lru: cachetools.LRUCache[str, str] = cachetools.LRUCache(capacity)
    hits = promotions = 0
    for k in keys:
        if lru.get(k) is not None:
            hits += 1
        else:
            lru[k] = k
            promotions += 1
    return hits, promotions


def measure(quick: bool) -> list[Row]:
    n = 40_000 if quick else 400_000
    rows: list[Row] = []
    policies: dict[str, Callable[[list[str], int], tuple[int, int]]] = {
        AICACHE: lambda keys, cap: replay_tier(keys, cap, True),
        PLAIN: lambda keys, cap: replay_tier(keys, cap, False),
    }
    try:
        import cachetools  # noqa: F401

        policies[CACHETOOLS] = replay_cachetools
    except ImportError:
        print("cachetools not installed: its column is skipped")
    for name in ("uniform", "cyclic", "zipf", "zipf + scan"):
        keys, capacity = stream(name, n)
        for impl, replay in policies.items():
            hits, promotions = replay(keys, capacity)
            extra = {"promotions_per_get": promotions / len(keys), "gets": len(keys)}
            rows.append(Row(name, impl, 100 * hits / len(keys), "% hits", True, extra))
    return rows


def report(rows: list[Row]) -> str:
    impls = list(dict.fromkeys(r.impl for r in rows))
    lines = [
        "| stream | "
        + " | ".join(f"{i}: hits / promotions per get" for i in impls)
        + " |",
        "|---|" + "---|" * len(impls),
    ]
    for case in dict.fromkeys(r.case for r in rows):
        by = {r.impl: r for r in rows if r.case == case}
        cells = [
            f"{by[i].value:.1f} % / {by[i].extra['promotions_per_get']:.3f}"
            for i in impls
        ]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(quick: bool = False) -> None:
    rows = measure(quick)
    print("## L1 admission: share of gets served by L1, L1 writes per get\n")
    print(report(rows))
    plain = {r.case: r for r in rows if r.impl == PLAIN}
    tools = {r.case: r for r in rows if r.impl == CACHETOOLS}
    for case, r in tools.items():  # the plain tier is an exact LRU
        if abs(r.value - plain[case].value) > 1e-9:
            print(
                f"  {case}: plain tier {plain[case].value:.3f} % != LRU {r.value:.3f} %"
            )
    save("admission", rows, {"quick": quick})


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
