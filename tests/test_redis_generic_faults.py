"""GenericRedisCache under faults: Redis killed, restarted, paused (SIGSTOP), bad
credentials, a certificate that does not verify, servers that send garbage.

With ``fail_on_connection_error=False`` nothing may raise into the caller, reads
fall back to L1 within the operation timeout, and the cache returns to Redis by
itself; with it True the caller gets a typed InfrastructureError. The bounds on
elapsed time below are generous behaviour checks (the original could stall for
tens of seconds), not benchmarks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from aicache.exceptions import InfrastructureError
from aicache.redis_generic import GenericRedisCache, RedisClient
from aicache.security import SecurityConfig
from cache_env import run, testing_env  # noqa: F401 (autouse fixture)
from redis_servers import ACL_PASSWORD, ACL_USER, GarbageServer, RedisServer

FAST = {
    "operation_timeout": 0.3,
    "connect_timeout": 0.3,
    "breaker_failure_threshold": 2,
    "breaker_reset_timeout": 0.3,
}


def make(url: str, **kw: Any) -> GenericRedisCache:
    opts: dict[str, Any] = {**FAST, **kw}
    opts.setdefault("security_config", SecurityConfig(max_retries=0))
    return GenericRedisCache(redis_url=url, **opts)


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def timed(coro: Coroutine[Any, Any, Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    result = await coro
    return result, time.monotonic() - t0


# ------------------------------------------------------------------ kill / restart


def test_killed_mid_load_then_restarted_recovers_without_restarting_the_app(
    redis_server_factory: Callable[[str], RedisServer],
) -> None:
    server = redis_server_factory("plain")
    cache = make(server.url)
    keys = [f"load:{i}" for i in range(20)]
    completed: dict[str, int] = {}
    violations: list[str] = []

    async def writer(k: str, stop: asyncio.Event) -> None:
        version = 0
        while not stop.is_set():
            version += 1
            await cache.set(k, {"key": k, "v": version})
            completed[k] = version
            await asyncio.sleep(0.005)

    async def reader(k: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            floor = completed.get(k, 0)
            got = await cache.get(k)
            if got is not None and (got["key"] != k or got["v"] < floor):
                violations.append(f"{k}: {got} < {floor}")
            await asyncio.sleep(0.003)

    async def go() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(writer(k, stop)) for k in keys]
        tasks += [asyncio.create_task(reader(k, stop)) for k in keys]
        await asyncio.sleep(0.3)
        server.kill()  # mid-load
        await asyncio.sleep(0.6)
        assert cache.get_stats()["redis_errors"] + cache.get_stats()["l1_only_sets"] > 0
        server.restart()
        # Back in Redis by itself: new writes land in the restarted server.
        await until(lambda: server.cli("EXISTS", "load:0") == "1")
        stop.set()
        await asyncio.gather(*tasks)  # nothing raised into application code
        assert isinstance(cache.redis, RedisClient)
        assert int(cache.redis.connection.stats()["reconnects"]) >= 1
        await cache.disconnect()

    run(go())
    assert violations == []


def test_connect_detects_a_dead_link_and_reconnects(
    redis_server_factory: Callable[[str], RedisServer],
) -> None:
    server = redis_server_factory("plain")
    cache = make(server.url)

    async def go() -> None:
        assert await cache.connect() is True
        server.kill()
        await asyncio.sleep(0.05)
        assert await cache.connect() is False  # the original said True forever
        server.restart()
        await until(cache.connect)
        await cache.set("after", 1)
        assert server.cli("EXISTS", "after") == "1"
        await cache.disconnect()

    run(go())


def test_failed_write_never_leaves_the_previous_value_in_l1(
    redis_server_factory: Callable[[str], RedisServer],
) -> None:
    server = redis_server_factory("plain")
    lenient = make(server.url)
    strict = make(server.url, fail_on_connection_error=True)

    async def go() -> None:
        await lenient.set("k", "v1")
        await strict.set("s", "v1")
        server.kill()
        await asyncio.sleep(0.05)
        await lenient.set("k", "v2")  # degraded: the NEW value is in L1
        assert await lenient.get("k") == "v2"
        with pytest.raises(InfrastructureError):
            await strict.set("s", "v2")
        assert strict.l1_cache is not None
        assert await strict.l1_cache.get("s") is None  # neither v1 nor v2
        with pytest.raises(InfrastructureError):
            await strict.get("s")
        await lenient.disconnect()
        await strict.disconnect()

    run(go())


# ------------------------------------------------------------------ SIGSTOP


def test_paused_server_times_out_opens_the_breaker_and_l1_keeps_serving(
    redis_server_factory: Callable[[str], RedisServer],
) -> None:
    server = redis_server_factory("plain")
    cache = make(server.url)

    async def go() -> None:
        await cache.set("warm", "from-l1")
        server.pause()
        try:
            got, elapsed = await timed(cache.get("warm"))
            assert got == "from-l1" and elapsed < 0.1  # L1 never waits for Redis
            got, elapsed = await timed(cache.get("cold"))
            assert got is None and elapsed < 2.0  # within the operation timeout
            await cache.set("during", "pause")  # falls back to L1, does not raise
            assert await cache.get("during") == "pause"
            results = await asyncio.gather(*(cache.get(f"c{i}") for i in range(50)))
            assert results == [None] * 50
            assert isinstance(cache.redis, RedisClient)
            conn = cache.redis.connection

            async def breaker_opened() -> bool:
                got, elapsed = await timed(cache.get("cold"))
                assert got is None and elapsed < 2.0
                return int(conn.stats()["breaker_opens"]) >= 1

            await until(breaker_opened, timeout=5.0)
            assert int(conn.stats()["timeouts"]) >= 1
            # With the breaker open, misses fail fast.
            if cache.redis.connection.breaker_state == "open":
                _, elapsed = await timed(cache.get("cold"))
                assert elapsed < 0.1
        finally:
            server.resume()
        await until(lambda: _set_and_check(cache, server, "recovered"))
        await cache.disconnect()

    run(go())


async def _set_and_check(cache: GenericRedisCache, server: RedisServer, k: str) -> bool:
    await cache.set(k, 1)
    return server.cli("EXISTS", k) == "1"


# ------------------------------------------------------------------ credentials & TLS


def test_wrong_password(redis_password: RedisServer) -> None:
    wrong_url = redis_password.url.replace("s3cret", "nope")
    lenient = make(wrong_url)
    strict = make(wrong_url, fail_on_connection_error=True)

    async def go() -> None:
        assert await lenient.connect() is False
        await lenient.set("k", 1)
        assert await lenient.get("k") == 1  # L1
        with pytest.raises(InfrastructureError) as e:
            await strict.connect()
        assert "WRONGPASS" in e.value.message or "invalid" in e.value.message

    run(go())


def test_acl_and_unix_socket(redis_acl: RedisServer, redis_unix: RedisServer) -> None:
    acl = make(
        redis_acl.plain_url,
        security_config=SecurityConfig(
            acl_username=ACL_USER, acl_password=ACL_PASSWORD
        ),
    )
    unix = make(redis_unix.url)

    async def go() -> None:
        for cache in (acl, unix):
            assert await cache.connect() is True
            await cache.set("ok", [1])
            assert cache.l1_cache is not None
            cache.l1_cache.clear()
            assert await cache.get("ok") == [1]
            await cache.delete("ok")
            await cache.disconnect()

    run(go())


def test_certificate_that_does_not_verify(redis_tls: RedisServer) -> None:
    assert redis_tls.tls is not None
    cfg = SecurityConfig(use_tls=True, tls_ca_path=str(redis_tls.tls.rogue_ca_cert))
    lenient = make(redis_tls.plain_url, security_config=cfg)
    strict = make(
        redis_tls.plain_url, security_config=cfg, fail_on_connection_error=True
    )

    async def go() -> None:
        assert await lenient.connect() is False
        await lenient.set("k", "v")
        assert await lenient.get("k") == "v"
        with pytest.raises(InfrastructureError) as e:
            await strict.get("k")
        assert "certificate" in e.value.message.lower()

    run(go())


# ------------------------------------------------------------------ garbage servers


@pytest.mark.parametrize(
    ("mode", "payload"),
    [
        ("malformed", b""),
        ("close_mid_reply", b""),
        ("reset", b""),
        ("silent", b""),
        ("unsolicited", b""),
        ("echo_ok", b""),
        ("bytes", b"$5\r\nhello\r\n"),
        ("bytes", b"+PONG\r\n$12\r\nnot-a-frame!\r\n"),
        ("bytes", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    ],
)
def test_garbage_server_never_yields_a_wrong_value(
    garbage_server: Callable[..., GarbageServer], mode: str, payload: bytes
) -> None:
    server = garbage_server(mode, payload)
    cache = make(server.url)

    async def go() -> None:
        await cache.set("mine", "real value")
        got = await cache.get("mine")
        assert got in ("real value", None)
        for _ in range(3):
            assert await cache.get("other") is None
        assert await cache.exists("nope") in (False, True)  # never raises
        await cache.delete("mine")
        await cache.disconnect()

    run(go())
