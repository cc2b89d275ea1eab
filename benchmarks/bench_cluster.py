"""Beyond one Redis: ``python -m benchmarks cluster [--quick]``.

Starts its own 3-primary/3-replica Redis Cluster (``redis-cli --cluster
create``, tests/cluster_servers.py) and one plain redis-server on loopback, then
measures in the same run:

* throughput (ops/s) of get and set at 64 concurrent tasks, 100-byte values,
  memory tier OFF: aicache on the cluster, aicache on one node, redis-py's
  asyncio ``RedisCluster`` and redis-py on one node;
* the invalidation delay across processes with ``l1_coherence=True``: 4 worker
  processes on the cluster, each the only writer of its keys, every write's
  acknowledgement matched to the moment each other process processed its
  invalidation (p50 / p99 / max);
* a multi-process read-mostly workload (4 processes, 200 keys, 2 % writes) with
  a coherent L1 against the same workload with L1 off: L1 hit ratio, reads/s,
  and stale reads (must be 0 beyond the invalidation bound).

Results: benchmarks/results/cluster.json, docs/img/cluster.png, and the
cluster section of docs/benchmarks.md / docs/scaling.md.  Never part of the
test suite.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks._util import ROOT, Row, bar_plot, ratio_table, save

sys.path.insert(0, str(ROOT / "tests"))

from cluster_servers import Node, RedisClusterServers, _server_argv, cluster_port
from coherence_worker import analyse, start_processes

TASKS = 64
KEYSPACE = 512
VALUE = "x" * 100
REPEAT = 3

Get = Callable[[str], Awaitable[Any]]
Set = Callable[[str, Any], Awaitable[Any]]


async def aicache_client(url: str) -> tuple[Get, Set, Callable[[], Awaitable[None]]]:
    from aicache.redis_generic import GenericRedisCache
    from aicache.security import SecurityConfig

    cache = GenericRedisCache(
        redis_url=url,
        enable_l1_cache=False,
        security_config=SecurityConfig(connection_timeout=5, socket_timeout=5),
    )
    if not await cache.connect():
        raise SystemExit(f"aicache could not connect to {url}")

    async def set_(key: str, value: Any) -> None:
        await cache.set(key, value, 3600)

    return cache.get, set_, cache.disconnect


async def redis_py_cluster(
    host: str, port: int
) -> tuple[Get, Set, Callable[[], Awaitable[None]]]:
    from redis.asyncio.cluster import RedisCluster

    client = RedisCluster(host=host, port=port, max_connections=512)
    await client.initialize()

    async def set_(key: str, value: Any) -> None:
        await client.set(key, value, ex=3600)

    return client.get, set_, client.aclose


async def redis_py_single(url: str) -> tuple[Get, Set, Callable[[], Awaitable[None]]]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, max_connections=512)

    async def set_(key: str, value: Any) -> None:
        await client.set(key, value, ex=3600)

    return client.get, set_, client.aclose


async def throughput(fn: Callable[[str], Awaitable[Any]], total: int) -> float:
    per_task = total // TASKS

    async def worker(w: int) -> None:
        base = w * 7919
        for i in range(per_task):
            await fn(f"bench:{(base + i) % KEYSPACE}")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(TASKS)))
    return per_task * TASKS / (time.perf_counter() - t0)


async def measure_throughput(
    cluster: RedisClusterServers, single: Node, quick: bool
) -> list[Row]:
    total = 6_400 if quick else 32_000
    host, port = cluster.seeds[0]
    makers: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("aicache cluster", lambda: aicache_client(cluster.url)),
        ("redis-py RedisCluster", lambda: redis_py_cluster(host, port)),
        ("aicache 1 node", lambda: aicache_client(f"redis://127.0.0.1:{single.port}")),
        (
            "redis-py 1 node",
            lambda: redis_py_single(f"redis://127.0.0.1:{single.port}"),
        ),
    ]
    rows: list[Row] = []
    for name, make in makers:
        get, set_, close = await make()
        for i in range(KEYSPACE):
            await set_(f"bench:{i}", VALUE)
        wrong = 0

        async def checked_get(key: str, get: Get = get) -> None:
            nonlocal wrong
            value = await get(key)
            if value not in (VALUE, VALUE.encode()):
                wrong += 1

        for op, fn in (("get", checked_get), ("set", lambda k, s=set_: s(k, VALUE))):
            best = 0.0
            for _ in range(1 if quick else REPEAT):
                best = max(best, await throughput(fn, total))
            rows.append(Row(f"{op} x{TASKS} tasks", name, best, "ops/s", True))
            print(f"  {name:24} {op}: {best:>10,.0f} ops/s", flush=True)
        await close()
        if wrong:
            raise SystemExit(f"{name}: {wrong} gets did not return the stored value")
    return rows


def run_processes(
    url: str, prefix: str, mode: str, n_keys: int, write_ratio: float, duration: float
) -> list[dict[str, Any]]:
    out = Path(tempfile.mkdtemp(prefix="aicache-bench-coh-"))
    return start_processes(
        url, prefix, out, mode=mode, n_keys=n_keys, duration=duration,
        write_ratio=write_ratio,
    )  # fmt: skip


def coherence(
    cluster: RedisClusterServers, quick: bool
) -> tuple[list[Row], dict[str, Any]]:
    duration = 3.0 if quick else 8.0
    notes: dict[str, Any] = {}
    rows: list[Row] = []
    # Invalidation delay: 10 % writes so there are many invalidations to time.
    results = run_processes(cluster.url, "delay:", "coherent", 40, 0.1, duration)
    delay = analyse(results, 1.0)
    notes["invalidation_delay"] = delay
    print(f"  invalidation delay: {delay}", flush=True)
    for name in ("p50_ms", "p99_ms", "max_ms"):
        rows.append(
            Row(
                f"invalidation delay {name[:-3]}",
                "aicache coherent L1",
                delay[name],
                "ms",
            )
        )
    # Read-mostly workload: coherent L1 against no L1.
    for mode, label in (("coherent", "L1 coherent"), ("off", "L1 off")):
        results = run_processes(cluster.url, f"rm-{mode}:", mode, 200, 0.02, duration)
        report = analyse(results, 1.0)
        reads = sum(1 for r in results for e in r["log"] if e[0] == "r")
        l1_hits = sum(r["l1_hits"] for r in results)
        ops = sum(r["ops"] for r in results)
        elapsed = max(r["elapsed"] for r in results)
        hit_ratio = l1_hits / reads if reads else 0.0
        notes[f"read_mostly_{mode}"] = {
            "reads": reads, "l1_hits": l1_hits, "l1_hit_ratio": hit_ratio,
            "ops_per_s": ops / elapsed, "stale_beyond_bound": report["stale_beyond_bound"],
            "stale_within_bound": report["stale_within_bound"], "wrong": report["wrong"],
        }  # fmt: skip
        print(f"  read-mostly {label}: {notes[f'read_mostly_{mode}']}", flush=True)
        rows.append(Row("read-mostly L1 hit ratio", label, hit_ratio * 100, "%", True))
        rows.append(
            Row("read-mostly ops/s (4 processes)", label, ops / elapsed, "ops/s", True)
        )
    return rows, notes


def main(quick: bool = False) -> None:
    os.environ.setdefault("ENVIRONMENT", "testing")
    logging.disable(logging.WARNING)
    print(
        "cluster benchmark: starting a 6-node cluster and one plain server", flush=True
    )
    workdir = Path(tempfile.mkdtemp(prefix="aicache-bench-cluster-"))
    cluster = RedisClusterServers(workdir / "cluster")
    port = cluster_port()
    single = Node(workdir / "single", port, _server_argv(workdir / "single", port))
    try:
        cluster.start()
        single.start()
        rows = asyncio.run(measure_throughput(cluster, single, quick))
        coh_rows, notes = coherence(cluster, quick)
    finally:
        cluster.stop()
        single.kill()
    rows += coh_rows
    tput = [r for r in rows if r.unit == "ops/s" and "tasks" in r.case]
    notes["loaded_machine"] = "2 shared cores, other engineers' jobs running"
    save("cluster", rows, notes)
    bar_plot(
        "cluster", tput, f"Throughput at {TASKS} tasks, 100 B values, L1 off", log=False
    )
    hits = [r for r in rows if r.unit == "%"]
    bar_plot("cluster_l1", hits, "Read-mostly, 4 processes: L1 hit ratio", log=False)
    print(ratio_table(tput, "redis-py RedisCluster"))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
