"""Sentinel: a primary, a replica and three redis-sentinel processes
(tests/cluster_servers.py), driven through GenericRedisCache."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from aicache._connection import RedisConnectionError
from aicache.exceptions import InfrastructureError
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from aicache.sentinel import SentinelConnection
from cluster_servers import SentinelSet

pytestmark = pytest.mark.heavy


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def make_cache(url: str, **kwargs: Any) -> GenericRedisCache:
    return GenericRedisCache(
        redis_url=url,
        security_config=SecurityConfig(connection_timeout=5, socket_timeout=5),
        **kwargs,
    )


@run_async
async def test_sentinel_failover_follows_switch_master(
    sentinel_set_fn: SentinelSet,
) -> None:
    """Writes go to the primary the sentinels name; after the primary dies and
    the sentinels promote the replica, service resumes on the new primary with
    bounded, typed errors meanwhile."""
    sset = sentinel_set_fn
    cache = make_cache(
        sset.url, enable_l1_cache=False, fail_on_connection_error=True,
        operation_timeout=1.0, breaker_reset_timeout=0.5,
    )  # fmt: skip
    async with cache:
        conn = cache.redis.connection
        assert isinstance(conn, SentinelConnection)
        await cache.set("k", "v1")
        assert conn.address == sset.primary.address
        assert sset.primary.cli("GET", "k").endswith("v1")
        # Let the write reach the replica before the primary dies.
        sset.primary.cli("WAIT", "1", "2000")
        killed_at = time.monotonic()
        sset.primary.kill()
        errors = 0
        recovered_at = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                await cache.set("k", "v2")
                assert await cache.get("k") == "v2"
                recovered_at = time.monotonic()
                break
            except InfrastructureError:
                errors += 1
                await asyncio.sleep(0.05)
        assert recovered_at is not None, "no recovery after the failover"
        assert errors > 0
        assert conn.address == sset.replica.address
        assert sset.replica.cli("ROLE").splitlines()[0] == "master"
        assert conn.stats()["switches"] == 1
        print(f"sentinel failover: {recovered_at - killed_at:.2f}s, {errors} errors")


@run_async
async def test_refuses_a_node_that_reports_itself_a_replica(
    sentinel_set_fn: SentinelSet,
) -> None:
    sset = sentinel_set_fn
    conn = SentinelConnection(
        [s.address for s in sset.sentinels], sset.SERVICE, watch=False
    )
    try:
        await conn.connect()
        assert await conn.execute("SET", "a", "1") == "OK"
        # Make the named primary a replica behind the sentinels' back: the next
        # write is refused by Redis (READONLY) and aicache drops that node.
        sset.primary.cli("REPLICAOF", "127.0.0.1", str(sset.replica.port))
        with pytest.raises(RedisConnectionError, match="replica"):
            await conn.execute("SET", "a", "2")
        # Re-resolving finds it still named by the sentinels but answering ROLE
        # as a replica: refused, never written to.
        with pytest.raises(RedisConnectionError, match="replica"):
            await conn.execute("SET", "a", "3")
        assert conn.stats()["refused_replicas"] >= 1
    finally:
        sset.primary.cli("REPLICAOF", "NO", "ONE")
        await conn.close()


@run_async
async def test_sentinel_auth_and_unknown_service(sentinel_set_fn: SentinelSet) -> None:
    sset = sentinel_set_fn
    conn = SentinelConnection(
        [("127.0.0.1", 1), *(s.address for s in sset.sentinels)], "nosuch", watch=False
    )
    try:
        with pytest.raises(RedisConnectionError, match="no sentinel knows"):
            await conn.connect()
    finally:
        await conn.close()


@run_async
async def test_sentinels_with_their_own_password(
    sentinel_set_auth_fn: SentinelSet,
) -> None:
    """The sentinels' password comes from ?sentinel_password=, the data nodes'
    from the URL's userinfo; a client without the sentinels' password is refused."""
    sset = sentinel_set_auth_fn
    cache = make_cache(sset.url, enable_l1_cache=False, fail_on_connection_error=True)
    async with cache:
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        assert sset.primary.cli("EXISTS", "k") == "1"
    assert "data-pw" not in cache.get_stats()["redis_url"]
    hosts = [s.address for s in sset.sentinels]
    wrong = SentinelConnection(hosts, sset.SERVICE, password="data-pw:/@", watch=False)
    try:
        with pytest.raises(RedisConnectionError, match="no sentinel knows"):
            await wrong.connect()
    finally:
        await wrong.close()


@run_async
async def test_sentinels_and_primary_over_tls(sentinel_set_tls_fn: SentinelSet) -> None:
    """rediss+sentinel://: the sentinels and the data nodes are reached over
    verified TLS (the test CA), and nothing listens in plaintext."""
    sset = sentinel_set_tls_fn
    assert sset.tls is not None and sset.url.startswith("rediss+sentinel://")
    config = SecurityConfig(
        connection_timeout=5, socket_timeout=5, use_tls=True,
        tls_ca_path=str(sset.tls.ca_cert), verify_certificates=True,
    )  # fmt: skip
    cache = GenericRedisCache(
        redis_url=sset.url, security_config=config, enable_l1_cache=False,
        fail_on_connection_error=True,
    )  # fmt: skip
    async with cache:
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        conn = cache.redis.connection
        assert isinstance(conn, SentinelConnection)
        assert conn.address == sset.primary.address
        transport = conn.primary_connection._proto.transport
        assert transport.get_extra_info("ssl_object") is not None
    assert sset.primary.cli("EXISTS", "k") == "1"
