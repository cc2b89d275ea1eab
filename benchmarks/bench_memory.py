"""Memory tier: InMemoryCache against cachetools, aiocache, cashews and the original.

``python -m benchmarks memory [--quick]``.  Measured in one run, one process:

* awaited ``get`` (hit, uniform over all entries and over a hot set of 100),
  ``get`` (miss) and ``set`` (overwrite of a present key) at 1k and 100k entries,
  every entry with a TTL; implementations take turns pass by pass and each keeps
  its best pass (the machine is shared);
* peers: cachetools ``LRUCache`` and ``TTLCache`` (wrapped in ``async def``),
  aiocache ``SimpleMemoryCache``, cashews through ``Cache().setup("mem://")`` (how
  applications use it) and its raw ``Memory`` backend, and a pure-Python model of
  the original template's ``InMemoryCache`` (benchmarks/original_memory.py; its
  operations are O(n), so its iteration count is capped at 100k entries);
* floors: an empty awaited coroutine, ``time.time()`` and the C tier's ``get``
  called directly (what an awaited InMemoryCache.get is made of);
* memory per entry at 1M entries (InMemoryCache is capped at 100k by its spec, so
  1M is measured on ``_core.MemoryTier`` and 100k on InMemoryCache): RSS growth of
  a fresh process while the entries are inserted, keys and one shared value object
  created beforehand.

Results: benchmarks/results/memory.json, docs/img/memory.png (time per operation),
docs/img/memory_bytes.png (bytes per entry); docs/benchmarks-memory.md interprets
them.  Never part of the test suite.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks._util import ROOT, Row, bar_plot, median, ratio_table, save

BASE = "aicache"
TTL = 3600
KEY_FMT = "ai_cache:op:summarize|txt:request number {:09d}"
SIZES = (1_000, 100_000)

Get = Callable[[str], Awaitable[Any]]
Set = Callable[[str, Any], Awaitable[Any]]


def _key(i: int) -> str:
    return KEY_FMT.format(i)


# ---------------------------------------------------------------------------------
# Implementations: each returns (get, set) over a cache prefilled with n entries
# ---------------------------------------------------------------------------------


async def _fill(set_: Set, keys: list[str], value: Any) -> None:
    for k in keys:
        await set_(k, value)


async def make_aicache(keys: list[str], value: Any) -> tuple[Get, Set]:
    from aicache.memory import InMemoryCache

    n = len(keys)
    cache = InMemoryCache(default_ttl=TTL, max_size=n)
    await _fill(cache.set, keys, value)
    return cache.get, cache.set


async def make_lru(keys: list[str], value: Any) -> tuple[Get, Set]:
    from cachetools import LRUCache

    n = len(keys)
    cache: LRUCache[str, Any] = LRUCache(maxsize=n)

    async def get(key: str) -> Any:
        return cache.get(key)

    async def set_(key: str, v: Any) -> None:
        cache[key] = v

    await _fill(set_, keys, value)
    return get, set_


async def make_ttl(keys: list[str], value: Any) -> tuple[Get, Set]:
    from cachetools import TTLCache

    n = len(keys)
    cache: TTLCache[str, Any] = TTLCache(maxsize=n, ttl=TTL, timer=time.time)

    async def get(key: str) -> Any:
        return cache.get(key)

    async def set_(key: str, v: Any) -> None:
        cache[key] = v

    await _fill(set_, keys, value)
    return get, set_


async def make_aiocache(keys: list[str], value: Any) -> tuple[Get, Set]:
    from aiocache import SimpleMemoryCache

    cache = SimpleMemoryCache()
    set_ = functools.partial(cache.set, ttl=TTL)
    await _fill(set_, keys, value)
    return cache.get, set_


async def make_cashews(keys: list[str], value: Any) -> tuple[Get, Set]:
    from cashews import Cache

    n = len(keys)
    cache = Cache()
    cache.setup(f"mem://?size={n + 1}")
    set_ = functools.partial(cache.set, expire=TTL)
    await _fill(set_, keys, value)
    return cache.get, set_


async def make_cashews_raw(keys: list[str], value: Any) -> tuple[Get, Set]:
    from cashews.backends.memory import Memory

    n = len(keys)
    cache = Memory(size=n + 1)
    await cache.init()
    set_ = functools.partial(cache.set, expire=TTL)
    await _fill(set_, keys, value)
    return cache.get, set_


async def make_original(keys: list[str], value: Any) -> tuple[Get, Set]:
    from benchmarks.original_memory import OriginalInMemoryCache

    n = len(keys)
    cache = OriginalInMemoryCache(default_ttl=TTL, max_size=n + 1)
    cache.bulk_load([(k, value) for k in keys], TTL)
    return cache.get, cache.set


async def make_dict(keys: list[str], value: Any) -> tuple[Get, Set]:
    cache: dict[str, Any] = {}

    async def get(key: str) -> Any:
        return cache.get(key)

    async def set_(key: str, v: Any) -> None:
        cache[key] = v

    await _fill(set_, keys, value)
    return get, set_


IMPLS: dict[str, Callable[[list[str], Any], Awaitable[tuple[Get, Set]]]] = {
    "aicache": make_aicache,
    "dict (no LRU, no TTL)": make_dict,
    "cachetools LRUCache": make_lru,
    "cachetools TTLCache": make_ttl,
    "aiocache": make_aiocache,
    "cashews mem://": make_cashews,
    "cashews Memory (raw)": make_cashews_raw,
    "original (model)": make_original,
}


# ---------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------


async def _time_loop(op: Callable[[str], Awaitable[Any]], keys: list[str]) -> float:
    """ns per awaited op over keys (one pass, after a short warm-up)."""
    for k in keys[:16]:
        await op(k)
    t0 = time.perf_counter_ns()
    for k in keys:
        await op(k)
    return (time.perf_counter_ns() - t0) / len(keys)


ROUNDS = 15  # full run; --quick uses 3


def _ops_per_pass(impl: str, n: int) -> int:
    """The original's operations are O(n): it gets tiny passes at 100k."""
    if impl == "original (model)":
        return max(10, min(1_000, 1_000_000 // n))
    return 1_000


async def _bench_size(keys: list[str], quick: bool) -> list[Row]:
    """All implementations filled with the same keys, then ROUNDS rounds in which
    every (implementation, case) runs one pass of fresh keys in turn; each keeps
    its best pass, so load from other processes hits every side alike.

    Cases: get hit (uniform over all entries), get hit (a hot set of 100 entries,
    each hit ~10 times per pass), get miss (1,000 absent keys), set (overwrite,
    uniform).  Lookups reuse the key objects the cache was filled with (their str
    hashes are cached, as for keys an app keeps)."""
    n = len(keys)
    rounds = 3 if quick else ROUNDS
    value = {"text": "a cached model response", "tokens": 42}
    rng = random.Random(n)
    hot_set = rng.sample(keys, 100)
    absent = [f"absent:{i}" for i in range(1000)]
    plans: dict[str, list[tuple[str, Callable[[str], Awaitable[Any]], list[str]]]] = {}
    for impl, make in IMPLS.items():
        get, set_ = await make(keys, value)
        total = _ops_per_pass(impl, n) * rounds
        uniform = [keys[rng.randrange(n)] for _ in range(total)]
        put: Callable[[str], Awaitable[Any]] = functools.partial(_call_set, set_, value)
        plans[impl] = [
            ("get hit", get, uniform),
            (
                "get hit (hot 100)",
                get,
                [hot_set[i % len(hot_set)] for i in range(total)],
            ),
            ("get miss", get, [absent[i % len(absent)] for i in range(total)]),
            ("set", put, uniform),
        ]
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        gc.collect()
        for impl, cases in plans.items():
            ops = _ops_per_pass(impl, n)
            for case, op, ks in cases:
                t = await _time_loop(op, ks[r * ops : (r + 1) * ops])
                times.setdefault((impl, case), []).append(t)
    label = f"{n // 1000}k"
    return [
        Row(
            f"{case} @{label}",
            impl,
            min(ts),
            "ns/op",
            extra={
                "ops_per_pass": _ops_per_pass(impl, n),
                "passes": rounds,
                "median": median(ts),
            },
        )
        for (impl, case), ts in times.items()
    ]


def _call_set(set_: Set, value: Any, key: str) -> Awaitable[Any]:
    return set_(key, value)


async def _floors(quick: bool) -> list[Row]:
    """What an awaited InMemoryCache.get is made of (best of many short passes)."""
    from aicache import _core

    tier = _core.MemoryTier(1000)
    tier.set("k", 1, TTL, time.time())
    get = tier.get

    async def empty(key: str) -> None:
        return None

    def call_loop(fn: Callable[[], Any], n: int) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        return (time.perf_counter_ns() - t0) / n

    keys = ["k"] * 1_000
    passes = 5 if quick else 50
    rows = [
        Row(
            "floor",
            "empty awaited coroutine",
            min([await _time_loop(empty, keys) for _ in range(passes)]),
        )
    ]
    for label, fn in [
        ("time.time()", time.time),
        ("MemoryTier.get (no await)", lambda: get("k", 1.0)),
        ("empty lambda call", lambda: None),
    ]:
        rows.append(
            Row("floor", label, min(call_loop(fn, 1_000) for _ in range(passes)))
        )
    return rows


# ---------------------------------------------------------------------------------
# Memory per entry (each measurement in a fresh process)
# ---------------------------------------------------------------------------------

MEMORY_CHILD = r"""
import asyncio, gc, json, os, sys, time
sys.path.insert(0, {root!r})
impl, n, fmt = {impl!r}, {n}, {fmt!r}

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

keys = [fmt.format(i) for i in range(n)]
value = "shared value"
now = time.time()

async def main():
    if impl == "aicache MemoryTier":
        from aicache import _core
        t = _core.MemoryTier(n)
        r0 = rss()
        for k in keys:
            t.set(k, value, 3600, now)
        return r0, rss(), t
    if impl == "aicache InMemoryCache":
        from aicache.memory import InMemoryCache
        c = InMemoryCache(default_ttl=3600, max_size=n)
        r0 = rss()
        for k in keys:
            await c.set(k, value)
        return r0, rss(), c
    if impl == "cachetools TTLCache":
        from cachetools import TTLCache
        c = TTLCache(maxsize=n, ttl=3600, timer=time.time)
        r0 = rss()
        for k in keys:
            c[k] = value
        return r0, rss(), c
    if impl == "cachetools LRUCache":
        from cachetools import LRUCache
        c = LRUCache(maxsize=n)
        r0 = rss()
        for k in keys:
            c[k] = value
        return r0, rss(), c
    if impl == "aiocache":
        from aiocache import SimpleMemoryCache
        c = SimpleMemoryCache()
        r0 = rss()
        for k in keys:
            await c.set(k, value, ttl=3600)
        return r0, rss(), c
    if impl == "cashews Memory (raw)":
        from cashews.backends.memory import Memory
        c = Memory(size=n + 1)
        await c.init()
        r0 = rss()
        for k in keys:
            await c.set(k, value, expire=3600)
        return r0, rss(), c
    if impl == "original (model)":
        from benchmarks.original_memory import OriginalInMemoryCache
        c = OriginalInMemoryCache(default_ttl=3600, max_size=n + 1)
        r0 = rss()
        c.bulk_load([(k, value) for k in keys], 3600)
        return r0, rss(), c
    raise SystemExit("unknown impl " + impl)

gc.collect()
r0, r1, keep = asyncio.run(main())
klen = sum(len(k.encode()) for k in keys) / n
key_obj = sum(sys.getsizeof(k) for k in keys) / n
print(json.dumps({{"delta": (r1 - r0) / n, "klen": klen, "key_obj": key_obj}}))
"""

# Impls that copy key bytes (the delta already contains them); the others keep a
# reference to the caller's key str, which stays alive as long as the entry does.
COPIES_KEYS = {"aicache MemoryTier", "aicache InMemoryCache"}


def _memory_rows(quick: bool) -> list[Row]:
    big = 100_000 if quick else 1_000_000
    plan = [
        ("aicache MemoryTier", big),
        ("aicache InMemoryCache", 100_000),
        ("cachetools LRUCache", big),
        ("cachetools TTLCache", big),
        ("cashews Memory (raw)", big),
        ("aiocache", 100_000 if quick else 300_000),
        ("original (model)", big),
    ]
    rows = []
    for impl, n in plan:
        code = MEMORY_CHILD.format(root=str(ROOT), impl=impl, n=n, fmt=KEY_FMT)
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        ).stdout
        m = json.loads(out.strip().splitlines()[-1])
        structure = m["delta"] + (0 if impl in COPIES_KEYS else m["key_obj"])
        overhead = structure - m["klen"]
        label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
        case = f"overhead/entry @{label}"
        if impl == "aicache InMemoryCache":
            case += " (InMemoryCache)"  # its spec caps max_size at 100k
        rows.append(
            Row(
                case,
                "aicache" if impl in COPIES_KEYS else impl,
                overhead,
                "bytes/entry",
                extra={
                    "rss_delta_per_entry": m["delta"],
                    "key_bytes": m["klen"],
                    "key_object_bytes": m["key_obj"],
                    "entries": n,
                    "measured": impl,
                },
            )
        )
        print(
            f"  {impl:24s} n={n:>9,}  rss/entry {m['delta']:7.1f}  "
            f"overhead beyond key bytes {overhead:7.1f} B",
            flush=True,
        )
    return rows


# ---------------------------------------------------------------------------------


def _targets(rows: list[Row]) -> dict[str, Any]:
    def val(case: str, impl: str) -> float:
        return next(r.value for r in rows if r.case == case and r.impl == impl)

    notes: dict[str, Any] = {}
    for peer in ("aiocache", "cashews mem://", "cashews Memory (raw)"):
        notes[f"get hit speedup vs {peer}"] = {
            size: round(
                val(f"get hit @{size}", peer) / val(f"get hit @{size}", BASE), 1
            )
            for size in ("1k", "100k")
        }
    for impl in (BASE, "dict (no LRU, no TTL)", "cachetools LRUCache"):
        notes[f"{impl} 100k / 1k"] = {
            case: round(val(f"{case} @100k", impl) / val(f"{case} @1k", impl), 2)
            for case in ("get hit", "get hit (hot 100)", "get miss", "set")
        }
    mem = [r for r in rows if r.impl == BASE and r.unit == "bytes/entry"]
    notes["aicache overhead bytes/entry"] = {r.case: round(r.value, 1) for r in mem}
    return notes


def main(quick: bool = False) -> None:
    rows: list[Row] = []
    print("memory tier: awaited operations", flush=True)
    for n in SIZES:
        keys = [_key(i) for i in range(n)]
        size_rows = asyncio.run(_bench_size(keys, quick))
        size_rows.sort(key=lambda r: (r.case, list(IMPLS).index(r.impl)))
        for r in size_rows:
            print(f"  {r.case:24s} {r.impl:22s} {r.value:14,.1f} ns/op", flush=True)
        rows += size_rows
    floors = asyncio.run(_floors(quick))
    rows += floors
    print("memory per entry (fresh process each)", flush=True)
    mem_rows = _memory_rows(quick)
    rows += mem_rows
    notes = _targets(rows)
    notes["key format"] = KEY_FMT
    notes["quick"] = quick
    timing = [r for r in rows if r.unit == "ns/op" and r.case != "floor"]
    print()
    print(ratio_table(timing, BASE))
    print()
    print(ratio_table(mem_rows, BASE))
    print()
    for r in floors:
        print(f"floor: {r.impl:28s} {r.value:8.1f} ns")
    print(json.dumps(notes, indent=2))
    path = save("memory", rows, notes)
    bar_plot("memory", timing, "Memory tier: ns per awaited operation (log scale)")
    bar_plot(
        "memory_bytes", mem_rows, "Overhead bytes per entry beyond key bytes", log=False
    )
    print(f"results: {path}")


# ---------------------------------------------------------------------------------
# Deterministic profile: instructions and simulated cache misses per operation
# ---------------------------------------------------------------------------------

CACHEGRIND_CHILD = r"""
import asyncio, random, sys
sys.path.insert(0, {root!r})
from aicache.memory import InMemoryCache
n, m, case, impl, total = {n}, {m}, {case!r}, {impl!r}, 20_000
keys = [{fmt!r}.format(i) for i in range(n)]
rng = random.Random(1)
if case == "get miss":
    absent = [f"absent:{{i}}" for i in range(1000)]
    look = [absent[i % 1000] for i in range(total)]
elif case == "get hit (hot 100)":
    hot = rng.sample(keys, 100)
    look = [hot[i % 100] for i in range(total)]
else:
    look = [keys[rng.randrange(n)] for _ in range(total)]

async def main():
    if impl == "aicache":
        c = InMemoryCache(default_ttl=3600, max_size=n)
        get, put = c.get, c.set
    else:
        d = {{}}
        async def get(k):
            return d.get(k)
        async def put(k, v):
            d[k] = v
    for k in keys:
        await put(k, 1)
    op = put if case == "set" else get
    if case == "set":
        for k in look[:m]:
            await op(k, 1)
    else:
        for k in look[:m]:
            await op(k)

asyncio.run(main())
"""


def cachegrind_profile() -> None:
    """Per awaited operation, from the difference of two valgrind runs (20,000
    operations vs none): instructions (deterministic, machine-load independent),
    and first-level / last-level data-cache misses as cachegrind simulates them."""
    import re
    import tempfile

    def counts(n: int, m: int, case: str, impl: str) -> tuple[int, int, int]:
        code = CACHEGRIND_CHILD.format(
            root=str(ROOT), n=n, m=m, case=case, impl=impl, fmt=KEY_FMT
        )
        with tempfile.NamedTemporaryFile(suffix=".out") as out:
            err = subprocess.run(
                [
                    "valgrind",
                    "--tool=cachegrind",
                    "--cache-sim=yes",
                    f"--cachegrind-out-file={out.name}",
                    sys.executable,
                    "-c",
                    code,
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            ).stderr

        def grab(label: str) -> int:
            found = re.search(label + r"\s*:\s*([\d,]+)", err)
            assert found, err[-2000:]
            return int(found.group(1).replace(",", ""))

        return grab("I\\s+refs"), grab("D1  misses"), grab("LL misses")

    print("per awaited operation: instructions, D1 misses, LL misses (cachegrind)")
    for impl in ("aicache", "dict"):
        for case in ("get hit", "get hit (hot 100)", "get miss", "set"):
            for n in SIZES:
                base = counts(n, 0, case, impl)
                full = counts(n, 20_000, case, impl)
                per = [(f - b) / 20_000 for f, b in zip(full, base)]
                print(
                    f"  {impl:8s} {case:18s} n={n:>7,}  instr {per[0]:7.0f}  "
                    f"D1 {per[1]:6.2f}  LL {per[2]:5.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    if "--cachegrind" in sys.argv:
        cachegrind_profile()
    else:
        main(quick="--quick" in sys.argv)
