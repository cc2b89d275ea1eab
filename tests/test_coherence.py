"""L1 coherence across processes (CLIENT TRACKING, aicache.tracking) against
real servers: one redis-server, and the 3-primary cluster."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from cluster_servers import RedisClusterServers, SentinelSet
from coherence_worker import analyse, start_processes

pytestmark = pytest.mark.heavy

# Reads may see an overwritten value for at most this long after the write was
# acknowledged (generous: the machine is shared; measured delays are printed).
STALE_BOUND = 1.0


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def make_cache(url: str, **kwargs: Any) -> GenericRedisCache:
    kwargs.setdefault("l1_coherence", True)
    return GenericRedisCache(
        redis_url=url,
        security_config=SecurityConfig(connection_timeout=5, socket_timeout=5),
        **kwargs,
    )


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


def cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        capture_output=True,
        timeout=10,
        check=True,
    )
    return out.stdout.decode(errors="replace").strip()


@run_async
async def test_other_writers_invalidate_l1(redis_server_factory: Any) -> None:
    server = redis_server_factory("plain")
    reader = make_cache(server.url, key_prefix="app:")
    writer = make_cache(server.url, key_prefix="app:", l1_coherence=False)
    async with reader, writer:
        tracker = reader._coherence
        assert tracker is not None
        await until(lambda: tracker.is_ready)
        await writer.set("k", "v1")
        assert await reader.get("k") == "v1"  # from Redis, promoted to L1
        assert await reader.get("k") == "v1"
        assert reader.get_stats()["l1_hits"] == 1
        # Another aicache process writes: reader's L1 entry goes.
        await writer.set("k", "v2")
        await until(lambda: "k" not in reader.l1_cache.get_keys())
        assert await reader.get("k") == "v2"
        # A client that is not aicache writes (and deletes): same.
        assert await reader.get("k") == "v2"
        cli(server.port, "SET", "app:k", "raw")
        await until(lambda: "k" not in reader.l1_cache.get_keys())
        await writer.set("k", "v3")
        assert await reader.get("k") == "v3"
        cli(server.port, "DEL", "app:k")
        await until(lambda: "k" not in reader.l1_cache.get_keys())
        assert await reader.get("k") is None
        # Keys outside the prefix are not reported at all (BCAST PREFIX).
        before = tracker.stats["messages"]
        cli(server.port, "SET", "other:k", "x")
        await writer.set("z", 1)
        await until(lambda: tracker.stats["messages"] > before)
        assert tracker.stats["messages"] == before + 1
        # FLUSHDB: every key changed.
        await reader.get("z")
        cli(server.port, "FLUSHDB")
        await until(lambda: not reader.l1_cache.get_keys())


@run_async
async def test_tracking_link_killed_flushes_and_fences(
    redis_server_factory: Any,
) -> None:
    server = redis_server_factory("plain")
    reader = make_cache(server.url)
    async with reader:
        tracker = reader._coherence
        assert tracker is not None
        await until(lambda: tracker.is_ready)
        seen = tracker.stats["messages"]
        await reader.set("k", "v1")
        # Our own write comes back as an invalidation too; once it is in, a
        # read fills L1.
        await until(lambda: tracker.stats["messages"] > seen)
        assert await reader.get("k") == "v1"
        assert reader.l1_cache.get_keys() == ["k"]
        # Kill the invalidation link from the server side.
        killed = int(cli(server.port, "CLIENT", "KILL", "TYPE", "pubsub"))
        assert killed == 1
        await until(lambda: not tracker.is_ready)
        assert reader.l1_cache.get_keys() == []  # flushed at link loss
        # Another client's write while the link is down cannot be reported;
        # the old value must not come back from L1 (it was flushed, and L1 is
        # neither read nor filled until the link is back).
        cli(server.port, "SET", "k", "changed-while-fenced")
        assert await reader.get("k") is None  # not an aicache frame: a miss
        if not tracker.is_ready:
            assert reader.l1_cache.get_keys() == []
        await until(lambda: tracker.is_ready)
        assert tracker.stats["links_lost"] == 1 and tracker.stats["flushes"] >= 1
        seen = tracker.stats["messages"]
        await reader.set("k", "v2")
        await until(lambda: tracker.stats["messages"] > seen)
        assert await reader.get("k") == "v2"
        hits = reader.get_stats()["l1_hits"]
        assert await reader.get("k") == "v2"
        assert reader.get_stats()["l1_hits"] == hits + 1


def check(results: list[dict[str, Any]], what: str) -> dict[str, Any]:
    report = analyse(results, STALE_BOUND)
    print(f"{what}: {report}")
    assert report["wrong"] == 0
    assert report["stale_beyond_bound"] == 0
    assert sum(r["l1_hits"] for r in results) > 100, "L1 was not used at all"
    assert report["delays"] > 50
    return report


def test_processes_single_server(redis_server_factory: Any, tmp_path: Path) -> None:
    server = redis_server_factory("plain")

    def kill_tracking_links() -> None:
        assert int(cli(server.port, "CLIENT", "KILL", "TYPE", "pubsub")) >= 1

    results = start_processes(server.url, "mp:", tmp_path, during=kill_tracking_links)
    check(results, "single server, tracking links killed mid-run")
    assert all(r["coherence"]["links_lost"] >= 1 for r in results)


def test_processes_cluster(redis_cluster: RedisClusterServers, tmp_path: Path) -> None:
    def kill_tracking_links() -> None:
        for node in redis_cluster.primaries():
            node.cli("CLIENT", "KILL", "TYPE", "pubsub")

    results = start_processes(
        redis_cluster.url, "mpc:", tmp_path, during=kill_tracking_links
    )
    check(results, "cluster, tracking links killed mid-run")
    assert all(r["coherence"]["links_lost"] >= 3 for r in results)


@run_async
async def test_coherence_across_sentinel_failover(sentinel_set_fn: SentinelSet) -> None:
    sset = sentinel_set_fn
    reader = make_cache(sset.url, operation_timeout=1.0, breaker_reset_timeout=0.5)
    writer = make_cache(
        sset.url,
        l1_coherence=False,
        operation_timeout=1.0,
        fail_on_connection_error=True,
    )
    async with reader, writer:
        tracker = reader._coherence
        assert tracker is not None
        await until(lambda: tracker.is_ready)
        await writer.set("k", "v1")
        assert await reader.get("k") == "v1" and await reader.get("k") == "v1"
        sset.primary.cli("WAIT", "1", "2000")
        sset.primary.kill()
        await until(lambda: not tracker.is_ready)
        assert reader.l1_cache.get_keys() == []

        async def written() -> bool:
            try:
                await writer.set("k", "v2")
                return True
            except Exception:
                return False

        deadline = time.monotonic() + 30
        while not await written():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        # The reader follows the new primary, and its L1 with it.
        while await reader.get("k") != "v2":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await until(lambda: tracker.is_ready)
        assert list(tracker.links) == [sset.replica.address]
        assert await reader.get("k") == "v2"
        await writer.set("k", "v3")
        await until(lambda: "k" not in reader.l1_cache.get_keys())
        assert await reader.get("k") == "v3"


@run_async
async def test_coherence_across_cluster_failover(
    redis_cluster_fn: RedisClusterServers,
) -> None:
    """A primary dies: L1 is flushed and fenced; once its replica is promoted the
    tracker listens to the new primary, and writes there invalidate L1 again."""
    cluster = redis_cluster_fn
    reader = make_cache(cluster.url, key_prefix="cf:", operation_timeout=1.0)
    writer = make_cache(
        cluster.url, key_prefix="cf:", l1_coherence=False, operation_timeout=1.0,
        fail_on_connection_error=True,
    )  # fmt: skip
    async with reader, writer:
        tracker = reader._coherence
        assert tracker is not None
        await until(lambda: tracker.is_ready)
        assert len(tracker.links) == 3
        from aicache import _core

        victim = cluster.owner_of(_core.key_slot("cf:k"))
        await writer.set("k", "v1")
        assert await reader.get("k") == "v1"
        assert await reader.get("k") == "v1" and "k" in reader.l1_cache.get_keys()
        victim.cli("WAIT", "1", "2000")
        victim.kill()
        await until(lambda: not tracker.is_ready)
        assert reader.l1_cache.get_keys() == []
        # Keep the cluster connection refreshing until the replica took over.
        deadline = time.monotonic() + 30
        while True:
            try:
                await writer.set("k", "v2")
                break
            except Exception:
                assert time.monotonic() < deadline, "no failover"
                await asyncio.sleep(0.1)
        # The reader sends nothing to the dead shard: its tracker's failed
        # reconnects alone must make it find the promoted replica.
        await until(
            lambda: tracker.is_ready and victim.address not in tracker.links, 30
        )
        assert victim.address not in tracker.links and len(tracker.links) == 3
        assert await reader.get("k") == "v2"
        seen = tracker.stats["messages"]
        await writer.set("k", "v3")
        await until(lambda: tracker.stats["messages"] > seen)
        assert "k" not in reader.l1_cache.get_keys()
        assert await reader.get("k") == "v3"
