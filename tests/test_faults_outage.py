"""Writes during an outage, and the way back: no resurrected or older value after
Redis returns, a bounded journal with a safe overflow, recovery within 1 s of
Redis accepting connections again (docs/reliability.md).

A partition proxy cuts the link while Redis keeps its data (the case where
resurrection shows); kill -9 + restart covers recovery time under load.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from cache_env import run, testing_env  # noqa: F401 (autouse fixture)
from fault_servers import PartitionProxy
from redis_servers import RedisServer

pytestmark = pytest.mark.redis


def make(url: str, **kw: Any) -> GenericRedisCache:
    kw.setdefault("security_config", SecurityConfig(max_retries=0))
    kw.setdefault("operation_timeout", 0.3)
    kw.setdefault("connect_timeout", 0.3)
    return GenericRedisCache(redis_url=url, **kw)


async def until_redis_serves(cache: GenericRedisCache, timeout: float = 5.0) -> float:
    """Seconds until a read is answered by Redis again (a probe key only Redis
    holds)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        hits = cache.get_stats()["redis_hits"]
        await cache.get("__probe__")
        if cache.get_stats()["redis_hits"] > hits:
            return time.monotonic() - t0
        await asyncio.sleep(0.01)
    raise AssertionError("never served from Redis again")


def test_writes_and_deletes_during_a_partition_never_come_back(
    redis_plain: RedisServer,
) -> None:
    async def main() -> None:
        proxy = await PartitionProxy(redis_plain.port).start()
        redis_plain.cli("SET", "outage:__probe__", '"p"')
        cache = make(proxy.url, key_prefix="outage:", l1_cache_size=2)
        other = make(proxy.url, key_prefix="outage:", enable_l1_cache=False)
        for key in ("a", "b", "d"):
            await cache.set(key, "old")
        await proxy.cut()
        await cache.set("a", "new")  # acknowledged from L1 only
        assert await cache.delete("d") is True  # existed in L1
        await cache.delete("b")
        for i in range(5):  # evict "a" from the 2-entry L1
            await cache.set(f"filler{i}", i)
        assert cache.get_stats()["degraded_journal"]["pending_keys"] >= 3
        await proxy.heal()
        await until_redis_serves(cache)
        for reader in (cache, other):
            assert await reader.get("a") in ("new", None)
            assert await reader.get("b") is None
            assert await reader.get("d") is None
        assert redis_plain.cli("EXISTS", "outage:a") == "0"
        assert cache.get_stats()["degraded_journal"]["pending_keys"] == 0
        await cache.clear()
        await cache.disconnect()
        await other.disconnect()
        await proxy.close()

    run(main())


def test_journal_overflow_clears_the_scope(redis_plain: RedisServer) -> None:
    async def main() -> None:
        proxy = await PartitionProxy(redis_plain.port).start()
        redis_plain.cli("SET", "overflow:__probe__", '"p"')
        redis_plain.cli("SET", "unrelated:keep", "1")
        cache = make(proxy.url, key_prefix="overflow:", degraded_journal_size=5)
        for i in range(20):
            await cache.set(f"k{i}", "old")
        await proxy.cut()
        for i in range(20):
            await cache.set(f"k{i}", "new")
        stats = cache.get_stats()["degraded_journal"]
        assert stats["overflows"] >= 1 and stats["overflowed_scopes"] == 1
        await proxy.heal()
        redis_plain.cli("SET", "overflow:__probe__", '"p"')
        # The scope is cleared (the probe too): reads miss, never "old".
        t0 = time.monotonic()
        while cache.get_stats()["degraded_journal"]["overflowed_scopes"]:
            assert time.monotonic() - t0 < 5
            assert await cache.get("k1") != "old"
            await cache.get("__probe__")  # a read that needs Redis
            await asyncio.sleep(0.01)
        for i in range(20):
            assert await cache.get(f"k{i}") is None
        assert redis_plain.cli("GET", "unrelated:keep") == "1"  # other scopes kept
        await cache.disconnect()
        await proxy.close()

    run(main())


def test_recovery_after_kill_and_restart_under_load(redis_server_factory: Any) -> None:
    server = redis_server_factory("plain")

    async def main() -> None:
        cache = make(server.url, key_prefix="recover:")
        assert await cache.connect()
        stop = asyncio.Event()
        errors: list[BaseException] = []
        attempts_before = 0

        async def load(n: int) -> None:
            i = 0
            while not stop.is_set():
                try:
                    await cache.set(f"l{n}", i)
                    got = await cache.get(f"l{n}")
                    assert got in (i, None), (got, i)
                except Exception as exc:  # pragma: no cover - the bug
                    errors.append(exc)
                i += 1
                await asyncio.sleep(0.001)

        tasks = [asyncio.create_task(load(n)) for n in range(20)]
        await asyncio.sleep(0.2)
        server.kill()
        await asyncio.sleep(1.5)  # long enough for the breaker to open
        conn = cache.redis.connection
        attempts_before = int(conn.stats()["connect_failures"])
        down_for = 1.0
        await asyncio.sleep(down_for)
        attempts = int(conn.stats()["connect_failures"]) - attempts_before
        server.restart()
        server.cli("SET", "recover:__probe__", '"p"')
        recovered_in = await until_redis_serves(cache)
        stop.set()
        await asyncio.gather(*tasks)
        assert errors == []
        assert recovered_in < 1.0, recovered_in
        # No reconnect storm: a handful of attempts per second, not per request.
        assert attempts <= 10, attempts
        await cache.disconnect()

    run(main())
