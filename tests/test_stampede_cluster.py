"""get_or_set and the stream relay on a real Redis Cluster (heavy): the lock's
EVAL scripts must reach the node owning the key's slot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aicache import stampede, streams
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from cluster_servers import RedisClusterServers

pytestmark = [pytest.mark.heavy, pytest.mark.redis]


def make_cache(url: str) -> GenericRedisCache:
    return GenericRedisCache(
        redis_url=url,
        security_config=SecurityConfig(connection_timeout=5, socket_timeout=5),
        enable_l1_cache=False,
    )


def test_compute_once_on_cluster(redis_cluster: RedisClusterServers) -> None:
    async def main() -> None:
        caches = [make_cache(redis_cluster.url) for _ in range(3)]
        keys = [f"st:herd:{i}" for i in range(8)]  # several slots and nodes
        calls: dict[str, int] = dict.fromkeys(keys, 0)

        def factory_for(key: str) -> Any:
            async def factory() -> str:
                calls[key] += 1
                await asyncio.sleep(0.2)
                return key.upper()

            return factory

        results = await asyncio.gather(
            *(
                c.get_or_set(k, factory_for(k), ttl=60, lock_lease=0.3)
                for k in keys
                for c in caches
                for _ in range(20)
            )
        )
        assert sorted(set(results)) == sorted(k.upper() for k in keys)
        assert set(calls.values()) == {1}
        for c in caches:
            stats = stampede.stampede_stats(c)
            assert stats["lock_errors"] == 0 and stats["lock_lost"] == 0
        for key in keys:  # every lock was released by its owner
            owner = redis_cluster.owner_of(stampede.key_slot(key))
            assert owner.cli("EXISTS", stampede.lock_key_for(key)) == "0"
        for c in caches:
            await c.disconnect()

    asyncio.run(main())


def test_stream_relay_on_cluster(redis_cluster: RedisClusterServers) -> None:
    async def main() -> None:
        a, b = make_cache(redis_cluster.url), make_cache(redis_cluster.url)
        calls = 0

        async def model() -> Any:
            nonlocal calls
            calls += 1
            for i in range(5):
                await asyncio.sleep(0.05)
                yield f"tok{i} "

        first = asyncio.create_task(
            _collect(streams.cached_stream(a, "st:stream", model, lease=0.5))
        )
        await asyncio.sleep(0.08)
        stream = await streams.open_stream(b, "st:stream", model, lease=0.5)
        assert stream.origin == "remote"
        followed = [c async for c in stream]
        assert await first == followed == [f"tok{i} " for i in range(5)]
        assert calls == 1
        await a.disconnect()
        await b.disconnect()

    asyncio.run(main())


async def _collect(it: Any) -> list[Any]:
    return [c async for c in it]
