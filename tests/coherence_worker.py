"""The body of one process of the multi-process coherence tests and benchmark.

``start_processes`` spawns the workers and releases them together once all are
connected (and, with a coherent L1, subscribed); ``analyse`` checks the logs.

Each worker owns the keys ``k{i}`` with ``i % workers == wid``: it is their only
writer, so per key the stamps it writes increase in Redis order.  Every worker
reads every key.  The log records, with ``time.monotonic()`` (one clock for
all processes of the machine): ``("w", key, stamp, t_ack)`` after a write was
acknowledged, ``("r", key, stamp_or_None, t_start)`` for each read, and
``("i", key, t)`` when this process processed an invalidation of key.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


async def _work(
    url: str,
    prefix: str,
    wid: int,
    workers: int,
    n_keys: int,
    duration: float,
    write_ratio: float,
    out_path: str,
    ready: Any,
    go: Any,
    mode: str,
) -> None:
    """mode: "coherent" (L1 + CLIENT TRACKING) or "off" (no L1)."""
    coherent = mode == "coherent"
    from aicache.redis_generic import GenericRedisCache
    from aicache.security import SecurityConfig

    cache = GenericRedisCache(
        redis_url=url,
        key_prefix=prefix,
        l1_cache_size=max(100, n_keys),
        enable_l1_cache=coherent,
        l1_coherence=coherent,
        security_config=SecurityConfig(connection_timeout=5, socket_timeout=5),
        default_ttl=600,
    )
    log: list[Any] = []
    await cache.connect()
    tracker = cache._coherence
    if coherent:
        assert tracker is not None
        original = cache._coherence_invalidate

        def recording(keys: list[bytes]) -> None:
            now = time.monotonic()
            for raw in keys:
                log.append(("i", raw.decode()[len(prefix) :], now))
            original(keys)

        cache._coherence_invalidate = recording  # type: ignore[method-assign]
        deadline = time.monotonic() + 10
        while not tracker.is_ready and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    own = [f"k{i}" for i in range(n_keys) if i % workers == wid]
    stamps = dict.fromkeys(own, 0)
    for key in own:
        await cache.set(key, 0)
        log.append(("w", key, 0, time.monotonic()))
    # Every process starts together once all are subscribed (a loaded machine
    # may take seconds to spawn them); the loop keeps running meanwhile.
    ready.put(wid)
    if not await asyncio.to_thread(go.wait, 120):
        raise RuntimeError("no start signal")
    rng = random.Random(wid)
    began = time.monotonic()
    stop = began + duration
    ops = 0
    while time.monotonic() < stop:
        ops += 1
        if rng.random() < write_ratio:
            key = rng.choice(own)
            stamps[key] += 1
            await cache.set(key, stamps[key])
            log.append(("w", key, stamps[key], time.monotonic()))
        else:
            key = f"k{rng.randrange(n_keys)}"
            t0 = time.monotonic()
            value = await cache.get(key)
            log.append(("r", key, value, t0))
        await asyncio.sleep(0)
    elapsed = time.monotonic() - began
    stats = cache.get_stats()
    await cache.disconnect()
    Path(out_path).write_text(
        json.dumps(
            {
                "log": log,
                "l1_hits": stats["l1_hits"],
                "redis_hits": stats["redis_hits"],
                "misses": stats["misses"],
                "coherence": stats["coherence"],
                "ops": ops,
                "elapsed": elapsed,
            }
        )
    )


def run_worker(*args: Any) -> None:
    asyncio.run(_work(*args))


def start_processes(
    url: str,
    prefix: str,
    out_dir: Path,
    *,
    mode: str = "coherent",
    workers: int = 4,
    n_keys: int = 40,
    duration: float = 4.0,
    write_ratio: float = 0.1,
    during: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Runs `workers` spawned processes; `during()` runs halfway through."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    go = ctx.Event()
    paths = [out_dir / f"w{i}.json" for i in range(workers)]
    procs = [
        ctx.Process(
            target=run_worker,
            args=(url, prefix, i, workers, n_keys, duration, write_ratio,
                  str(paths[i]), ready, go, mode),
        )
        for i in range(workers)
    ]  # fmt: skip
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        go.set()
        if during is not None:
            time.sleep(duration / 2)
            during()
        for p in procs:
            p.join(timeout=duration + 60)
    finally:
        go.set()
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"worker processes failed: {failed}")
    return [json.loads(p.read_text()) for p in paths]


def analyse(results: list[dict[str, Any]], bound: float) -> dict[str, Any]:
    """Stale reads (a read returning a stamp older than one acknowledged more
    than ``bound`` seconds before the read began) and invalidation delays
    (from a write's acknowledgement to another process processing it)."""
    writes: dict[str, list[tuple[int, float]]] = {}
    for r in results:
        for entry in r["log"]:
            if entry[0] == "w":
                writes.setdefault(entry[1], []).append((entry[2], entry[3]))
    for w in writes.values():
        w.sort()
    stale_beyond = stale_within = reads = wrong = 0
    for r in results:
        for entry in r["log"]:
            if entry[0] != "r" or entry[2] is None:
                continue
            reads += 1
            key, got, t0 = entry[1], entry[2], entry[3]
            history = writes.get(key, [])
            if got != 0 and all(stamp != got for stamp, _ in history):
                wrong += 1
                continue
            newer = [t for stamp, t in history if stamp > got]
            if newer and min(newer) < t0 - bound:
                stale_beyond += 1
            elif newer and min(newer) < t0:
                stale_within += 1
    # The invalidation of write s reaches a reader after write s-1 was
    # acknowledged (one writer per key, sequential): match each write to the
    # reader's first invalidation of that key after the previous write's ack.
    delays: list[float] = []
    for wid, r in enumerate(results):
        invals: dict[str, list[float]] = {}
        for entry in r["log"]:
            if entry[0] == "i":
                invals.setdefault(entry[1], []).append(entry[2])
        for key, history in writes.items():
            if int(key[1:]) % len(results) == wid:
                continue  # its own writes
            times = invals.get(key, [])
            previous = float("-inf")
            for _stamp, t_ack in history:
                after = [t for t in times if t > previous]
                if after and _stamp > 0:  # stamp 0: readers may not listen yet
                    delays.append(max(0.0, min(after) - t_ack))
                previous = t_ack
    delays.sort()

    def pct(p: float) -> float:
        return delays[min(len(delays) - 1, int(p * len(delays)))] if delays else 0.0

    return {
        "reads": reads,
        "wrong": wrong,
        "stale_beyond_bound": stale_beyond,
        "stale_within_bound": stale_within,
        "delays": len(delays),
        "p50_ms": pct(0.50) * 1000,
        "p99_ms": pct(0.99) * 1000,
        "max_ms": (delays[-1] if delays else 0.0) * 1000,
    }
