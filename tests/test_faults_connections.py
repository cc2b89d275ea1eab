"""Connections under hostile use: abandoned caches, per-operation deadlines, a
slow or silent server, short per-call timeouts, two threads with two loops.

Invariants: caches built and dropped per request cost no socket each; every
operation ends within its timeout plus the documented slack (one loop
iteration; the bounds below add scheduling noise of a loaded 2-core machine);
one caller's timeout never fails the other callers' commands.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import Any

import pytest

from aicache._connection import RedisConnection, RedisTimeoutError
from aicache._registry import registry
from aicache.exceptions import InfrastructureError
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from cache_env import run, testing_env  # noqa: F401 (autouse fixture)
from fault_servers import FakeRedis, TrickleProxy, bulk
from redis_servers import RedisServer

pytestmark = pytest.mark.redis

SLACK = 0.25  # generous: the documented slack is one loop iteration


def make(url: str, **kw: Any) -> GenericRedisCache:
    kw.setdefault("security_config", SecurityConfig(max_retries=0))
    return GenericRedisCache(redis_url=url, **kw)


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:  # the directory's own descriptor, already closed
            pass
    return count


def client_count(server: RedisServer, name: str) -> int:
    return sum(
        1
        for line in server.cli("CLIENT", "LIST").splitlines()
        if f"name={name}" in line
    )


# ------------------------------------------------------------------ abandoned caches


def test_a_thousand_dropped_caches_share_one_socket(redis_plain: RedisServer) -> None:
    def connections_received() -> int:
        info = redis_plain.cli("INFO", "stats")
        return int(info.split("total_connections_received:")[1].split()[0])

    async def main() -> None:
        before = open_sockets()
        received_before = connections_received()
        url = redis_plain.url
        stop = asyncio.Event()
        wrong: list[Any] = []

        async def background_load() -> None:  # a long-lived cache keeps working
            cache = make(url, key_prefix="thousand-bg:")
            i = 0
            while not stop.is_set():
                await cache.set("k", i)
                got = await cache.get("k")
                if got != i:
                    wrong.append(got)
                i += 1

        load = asyncio.create_task(background_load())

        async def request(i: int) -> None:  # a cache per request, never closed
            cache = make(url, key_prefix="thousand:")
            await cache.set(f"r{i}", i)
            if await cache.get(f"r{i}") != i:
                wrong.append(i)

        peak = 0
        for batch in range(20):
            await asyncio.gather(*(request(batch * 50 + j) for j in range(50)))
            peak = max(peak, open_sockets() - before)
        stop.set()
        await load
        gc.collect()
        await asyncio.sleep(0.05)
        assert wrong == []
        assert peak <= 2, peak  # the shared connection (+ one being replaced)
        server_clients = int(
            redis_plain.cli("INFO", "clients").split("connected_clients:")[1].split()[0]
        )
        assert server_clients <= 4  # ours + the redis-cli asking + other tests' idle
        # Sequential batches reuse the kept-alive connection: no reconnect per
        # batch (each redis-cli call above is one connection too).
        assert connections_received() - received_before <= 4

    run(main())


def test_dropped_connection_is_collected_and_closes_its_socket(
    redis_plain: RedisServer,
) -> None:
    async def main() -> None:
        before = open_sockets()
        conn = RedisConnection(redis_plain.url, health_check_interval=0.05)
        await conn.execute("PING")
        assert open_sockets() == before + 1
        del conn
        gc.collect()
        for _ in range(50):
            await asyncio.sleep(0.01)
            if open_sockets() == before:
                break
        assert open_sockets() == before  # the health timer did not keep it alive

    run(main())


def test_disconnect_releases_a_share_and_the_last_one_closes(
    redis_plain: RedisServer,
) -> None:
    async def main() -> None:
        a = make(redis_plain.url, key_prefix="share-a:")
        b = make(redis_plain.url, key_prefix="share-b:")
        assert await a.connect() and await b.connect()
        assert a.redis.connection is b.redis.connection
        conn = a.redis.connection
        await a.disconnect()
        assert conn.is_connected  # b still uses it
        assert await b.get("x") is None
        await b.disconnect()
        assert not conn.is_connected
        # Different settings (here: the operation timeout) do not share.
        c = make(redis_plain.url, operation_timeout=0.7)
        d = make(redis_plain.url, operation_timeout=0.9)
        assert await c.connect() and await d.connect()
        assert c.redis.connection is not d.redis.connection
        await c.disconnect()
        await d.disconnect()
        assert len(registry) >= 0

    run(main())


# ------------------------------------------------------------------ deadlines


def test_slow_server_every_operation_ends_within_its_deadline() -> None:
    """A server that answers every 0.7 s; 8 concurrent gets with a 1 s timeout
    (issue 9: they took up to 5.6 s with no timeout)."""

    def handler(args: list[bytes]) -> bytes | None:
        return bulk(b"v") if args[0] == b"GET" else b"+OK\r\n"

    async def main() -> None:
        server = await FakeRedis(handler, reply_delay=0.7).start()
        conn = RedisConnection(server.url, command_timeout=1.0, connect_timeout=2.0)
        await conn.connect()

        async def timed_get() -> tuple[str, float]:
            t0 = time.monotonic()
            try:
                await conn.execute("GET", "k")
                return "value", time.monotonic() - t0
            except RedisTimeoutError:
                return "timeout", time.monotonic() - t0

        results = await asyncio.gather(*(timed_get() for _ in range(8)))
        assert max(t for _, t in results) < 1.0 + SLACK, results
        assert sum(1 for r, _ in results if r == "timeout") >= 6
        # Replies kept coming: the link is slow, not dead, and was kept.
        assert conn.is_connected
        await conn.close()
        await server.close()

    run(main())


def test_short_per_call_timeout_never_fails_the_others(
    redis_plain: RedisServer,
) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url)
        await conn.execute("SET", "short-timeout", "v")
        others = [conn.execute("GET", "short-timeout") for _ in range(50)]
        short = conn.execute("GET", "short-timeout", timeout=1e-4)
        results = await asyncio.gather(short, *others, return_exceptions=True)
        assert all(r == b"v" for r in results[1:]), results[1:]
        assert isinstance(results[0], RedisTimeoutError | bytes)
        assert conn.is_connected
        assert conn.stats()["links_lost"] == 0
        await conn.close()

    run(main())


def test_trickling_replies_end_within_the_deadline(redis_plain: RedisServer) -> None:
    async def main() -> None:
        proxy = await TrickleProxy(redis_plain.port, delay=0.05, chunk=2).start()
        conn = RedisConnection(proxy.url, command_timeout=0.5, connect_timeout=2.0)
        await conn.connect()
        await conn.execute("SET", "trickle", "x" * 200)
        t0 = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await conn.execute("GET", "trickle")
        assert time.monotonic() - t0 < 0.5 + SLACK
        await conn.close()
        await proxy.close()

    run(main())


def test_sigstop_every_cache_operation_ends_within_its_deadline(
    redis_server_factory: Any,
) -> None:
    server = redis_server_factory("plain")

    async def main() -> None:
        cache = make(server.url, operation_timeout=0.5, connect_timeout=0.5)
        await cache.set("k", "v")
        worst = 0.0
        untyped: list[BaseException] = []

        async def op(i: int) -> None:
            nonlocal worst
            t0 = time.monotonic()
            try:
                if i % 3 == 0:
                    await cache.set(f"s{i}", i)
                else:
                    await cache.get(f"g{i}")
            except Exception as exc:  # pragma: no cover - the bug
                untyped.append(exc)
            worst = max(worst, time.monotonic() - t0)

        server.pause()
        try:
            for _ in range(3):
                await asyncio.gather(*(op(i) for i in range(30)))
        finally:
            server.resume()
        assert untyped == []
        assert worst < 0.5 + SLACK, worst
        await cache.disconnect()

    run(main())


# ------------------------------------------------------------------ threads and loops


def test_two_threads_two_loops_share_one_cache(redis_plain: RedisServer) -> None:
    cache = make(redis_plain.url, key_prefix="threads:")
    errors: list[BaseException] = []
    misses = [0, 0]

    def worker(n: int) -> None:
        async def main() -> None:
            for i in range(300):
                key = f"t{n}-{i}"
                await cache.set(key, i)
                if await cache.get(key) != i:
                    misses[n] += 1

        try:
            asyncio.run(main())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert misses == [0, 0]
    conns = [lease.connection for lease in cache._leases.values()]
    reconnects = sum(int(c.stats()["reconnects"]) for c in conns)
    assert reconnects == 0  # each loop kept its own link (issue 9: 5,371)


def test_strict_cache_raises_typed_errors_on_a_silent_server(
    redis_server_factory: Any,
) -> None:
    server = redis_server_factory("plain")

    async def main() -> None:
        cache = make(
            server.url,
            operation_timeout=0.3,
            connect_timeout=0.3,
            fail_on_connection_error=True,
        )
        await cache.set("k", "v")
        server.pause()
        try:
            t0 = time.monotonic()
            with pytest.raises(InfrastructureError):
                await cache.get("other")
            assert time.monotonic() - t0 < 0.3 + SLACK
        finally:
            server.resume()
        await cache.disconnect()

    run(main())


# ------------------------------------------------------------------ the registry itself


class _Closable:
    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


def test_registry_shares_counts_users_and_forgets_collected_connections() -> None:
    from aicache._registry import ConnectionRegistry, secret_digest

    async def main() -> None:
        reg = ConnectionRegistry()
        a = reg.lease(("k", 1), _Closable)
        b = reg.lease(("k", 1), _Closable)
        c = reg.lease(("k", 2), _Closable)
        assert a.connection is b.connection and a.connection is not c.connection
        assert reg.users(("k", 1)) == 2
        await a.release()
        await a.release()  # idempotent
        assert a.connection.closed == 0  # b still holds it
        dropped = reg.lease(("k", 1), _Closable)
        del dropped  # garbage: gives its share back without closing
        gc.collect()
        assert reg.users(("k", 1)) == 1
        await b.release()
        assert b.connection.closed == 1  # the last user closed it
        conn_c = c.connection
        del c, conn_c
        gc.collect()
        assert len(reg) == 0  # nothing but leases kept them
        # keep_alive: the registry holds it for a while after the last lease.
        loop = asyncio.get_running_loop()
        kept = reg.lease(("k", 3), _Closable, loop=loop, keep_alive=0.05)
        first = kept.connection
        del kept
        gc.collect()
        again = reg.lease(("k", 3), _Closable)
        assert again.connection is first
        assert secret_digest("pw") != "pw" and secret_digest(None) is None

    run(main())
