"""RedisConnection under faults: killed, paused and misbehaving servers.

Each test gets private servers (redis_server_factory / garbage_server): these
tests kill, restart and SIGSTOP them.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from aicache import _core
from aicache._connection import (
    RedisConnection,
    RedisConnectionError,
    RedisTimeoutError,
)
from redis_servers import GarbageServer, RedisServer

pytestmark = pytest.mark.redis

Factory = Callable[[str], RedisServer]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def eventually_ok(
    conn: RedisConnection, *args: Any, timeout: float = 10.0
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await conn.execute(*args)
        except RedisConnectionError:
            assert time.monotonic() < deadline, "never recovered"
            await asyncio.sleep(0.05)


def test_server_killed_mid_load_then_restarted(redis_server_factory: Factory) -> None:
    server = redis_server_factory("plain")

    async def main() -> None:
        conn = RedisConnection(server.url, backoff_base=0.01, backoff_cap=0.1)
        await conn.execute("SET", "k", "v")
        failures: list[BaseException] = []
        wrong: list[Any] = []
        stop = asyncio.Event()

        async def load() -> None:
            while not stop.is_set():
                try:
                    got = await conn.execute("GET", "k")
                    if got not in (b"v", None):
                        wrong.append(got)
                except RedisConnectionError as exc:
                    failures.append(exc)
                    await asyncio.sleep(0.01)

        tasks = [asyncio.create_task(load()) for _ in range(50)]
        await asyncio.sleep(0.2)
        t_kill = time.monotonic()
        server.kill()
        await until(lambda: len(failures) >= 50, timeout=2.0)
        assert time.monotonic() - t_kill < 1.0  # pending futures failed fast
        assert not conn.is_connected
        server.restart()
        await eventually_ok(conn, "SET", "k", "v")
        n = len(failures)
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*tasks)
        assert len(failures) == n  # healthy again: no more failures
        assert wrong == []
        stats = conn.stats()
        assert stats["reconnects"] >= 1 and stats["links_lost"] >= 1
        assert conn.breaker_state == "closed"
        await conn.close()

    run(main())


def test_sigstop_timeouts_open_the_breaker_then_recover(
    redis_server_factory: Factory,
) -> None:
    server = redis_server_factory("plain")

    async def main() -> None:
        conn = RedisConnection(
            server.url,
            command_timeout=0.2,
            connect_timeout=0.2,
            breaker_failure_threshold=2,
            breaker_reset_timeout=0.5,
            backoff_base=0.0,
        )
        assert await conn.execute("PING") == "PONG"
        server.pause()
        try:
            t0 = time.monotonic()
            with pytest.raises(RedisTimeoutError):
                await conn.execute("GET", "k")  # silent link: watchdog drops it
            assert 0.15 < time.monotonic() - t0 < 1.0
            assert conn.breaker_state == "closed"
            with pytest.raises(RedisTimeoutError):
                await conn.execute("GET", "k")  # reconnect: the PING times out
            # The call ended at its own deadline; the connect attempt fails at
            # its connect_timeout (the same 0.2 s) and opens the breaker.
            await until(lambda: conn.breaker_state == "open", timeout=1.0)
            # Open: fails fast without touching the network.
            t0 = time.monotonic()
            for _ in range(20):
                with pytest.raises(RedisConnectionError, match="breaker is open"):
                    await conn.execute("GET", "k")
            assert time.monotonic() - t0 < 0.1
            assert conn.stats()["fast_failures"] >= 20
        finally:
            server.resume()
        await until(lambda: conn.breaker_state == "half_open", timeout=2.0)
        assert await conn.execute("GET", "k") is None  # the probe succeeds
        assert conn.breaker_state == "closed"
        stats = conn.stats()
        assert stats["breaker_opens"] == 1 and stats["timeouts"] >= 1
        await conn.close()

    run(main())


def test_half_open_probe_failure_reopens(redis_server_factory: Factory) -> None:
    server = redis_server_factory("plain")

    async def main() -> None:
        conn = RedisConnection(
            server.url,
            connect_timeout=0.2,
            breaker_failure_threshold=1,
            breaker_reset_timeout=0.2,
        )
        await conn.execute("PING")
        server.kill()
        with pytest.raises(RedisConnectionError):
            await conn.execute("PING")  # link lost
        with pytest.raises(RedisConnectionError, match="refused"):
            await conn.execute("PING")  # reconnect refused: opens
        assert conn.breaker_state == "open"
        await asyncio.sleep(0.25)
        assert conn.breaker_state == "half_open"
        with pytest.raises(RedisConnectionError, match="refused"):
            await conn.execute("PING")  # probe fails
        assert conn.breaker_state == "open"
        server.restart()
        await asyncio.sleep(0.25)
        assert await conn.execute("PING") == "PONG"
        assert conn.breaker_state == "closed"
        assert conn.stats()["breaker_opens"] == 2
        await conn.close()

    run(main())


def test_backoff_between_failed_attempts() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed

    async def main() -> None:
        conn = RedisConnection(
            f"redis://127.0.0.1:{port}", backoff_base=5.0, breaker_failure_threshold=100
        )
        with pytest.raises(RedisConnectionError, match="refused"):
            await conn.execute("PING")
        # The next attempt waits a jittered delay; meanwhile calls fail fast.
        attempts = conn.stats()["connect_failures"]
        fast = 0
        for _ in range(5):
            with pytest.raises(RedisConnectionError) as info:
                await conn.execute("PING")
            fast += "waiting" in str(info.value)
        assert conn.stats()["connect_failures"] - attempts == 5 - fast
        assert fast >= 4  # jitter may pick ~0 at most rarely

    run(main())


def test_garbage_reply_fails_pending_and_resets(
    garbage_server: Callable[..., GarbageServer],
) -> None:
    srv = garbage_server("echo_ok")

    async def main() -> None:
        conn = RedisConnection(srv.url, backoff_base=0.0)
        assert await conn.execute("SET", "k", "v") == "OK"
        srv.mode = "malformed"
        results = await asyncio.gather(
            *(conn.execute("GET", "k") for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        assert isinstance(results[0].__cause__, _core.ProtocolError)  # type: ignore[union-attr]
        assert not conn.is_connected
        srv.mode = "echo_ok"
        assert await conn.execute("SET", "k", "v") == "OK"  # fresh link
        assert srv.connections == 2

    run(main())


@pytest.mark.parametrize("mode", ["close_mid_reply", "reset"])
def test_link_dies_mid_reply(
    garbage_server: Callable[..., GarbageServer], mode: str
) -> None:
    srv = garbage_server("echo_ok")

    async def main() -> None:
        conn = RedisConnection(srv.url, backoff_base=0.0)
        await conn.execute("PING")
        srv.mode = mode
        t0 = time.monotonic()
        with pytest.raises(RedisConnectionError) as info:
            await conn.execute("GET", "k")
        assert time.monotonic() - t0 < 1.0
        assert not isinstance(info.value, RedisTimeoutError)
        assert not conn.is_connected
        assert conn.stats()["links_lost"] == 1

    run(main())


def test_extra_reply_is_a_protocol_failure(
    garbage_server: Callable[..., GarbageServer],
) -> None:
    srv = garbage_server("bytes", b"+OK\r\n+OK\r\n")

    async def main() -> None:
        conn = RedisConnection(srv.url, backoff_base=0.0)
        with pytest.raises(RedisConnectionError):
            await conn.connect()
        assert not conn.is_connected

    run(main())


def test_silent_server_times_out(garbage_server: Callable[..., GarbageServer]) -> None:
    srv = garbage_server("silent")

    async def main() -> None:
        conn = RedisConnection(srv.url, connect_timeout=0.2)
        t0 = time.monotonic()
        with pytest.raises(RedisTimeoutError, match="timed out"):
            await conn.connect()
        assert 0.15 < time.monotonic() - t0 < 1.0

    run(main())


def test_breaker_open_does_not_touch_the_network(
    garbage_server: Callable[..., GarbageServer],
) -> None:
    srv = garbage_server("silent")

    async def main() -> None:
        conn = RedisConnection(
            srv.url,
            connect_timeout=0.1,
            breaker_failure_threshold=1,
            breaker_reset_timeout=60,
        )
        with pytest.raises(RedisTimeoutError):
            await conn.execute("PING")
        assert conn.breaker_state == "open"
        seen = srv.connections
        for _ in range(50):
            with pytest.raises(RedisConnectionError, match="breaker"):
                await conn.execute("PING")
        await asyncio.sleep(0.1)
        assert srv.connections == seen

    run(main())


def test_health_check_finds_a_dead_idle_link(redis_server_factory: Factory) -> None:
    server = redis_server_factory("plain")

    async def main() -> None:
        conn = RedisConnection(
            server.url, health_check_interval=0.1, command_timeout=0.2
        )
        await conn.execute("PING")
        server.pause()  # the link stays up, but nothing answers
        try:
            await until(lambda: not conn.is_connected, timeout=3.0)
        finally:
            server.resume()
        stats = conn.stats()
        assert stats["health_checks"] >= 1 and stats["timeouts"] == 1
        assert await eventually_ok(conn, "PING") == "PONG"
        await conn.close()

    run(main())


def test_pending_commands_fail_on_close(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url)
        await conn.execute("PING")
        blocked = asyncio.ensure_future(conn.execute("BLPOP", "faults:nothing", 5))
        await asyncio.sleep(0.05)
        await conn.close()
        with pytest.raises(RedisConnectionError, match="closed by the client"):
            await blocked
        assert await conn.execute("PING") == "PONG"  # reopens on demand
        await conn.close()

    run(main())
