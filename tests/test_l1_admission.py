"""L1 admission (TinyLFU) of a Redis cache against a real redis-server: a Redis hit
is copied into a full L1 only if its key was asked for more often lately than the
entry it would evict; below capacity every hit is promoted, as before. Both the C
completion and the Python path of a Redis read decide alike."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from aicache import _core
from aicache.memory import InMemoryCache
from aicache.redis_generic import GenericRedisCache, RedisClient
from aicache.security import SecurityConfig
from redis_servers import RedisServer
from test_redis_completion import python_path

DB = 9


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def url(redis_plain: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ENVIRONMENT", "testing")
    monkeypatch.delenv("REDIS_ENCRYPTION_KEY", raising=False)
    redis_plain.cli("-n", str(DB), "FLUSHDB")
    return f"{redis_plain.url}/{DB}"


def make(url: str, **kw: Any) -> GenericRedisCache:
    kw.setdefault("security_config", SecurityConfig(connection_timeout=5))
    return GenericRedisCache(redis_url=url, **kw)


async def fill_redis(url: str, keys: list[str]) -> None:
    writer = make(url, enable_l1_cache=False)
    for k in keys:
        await writer.set(k, {"v": k})
    await writer.disconnect()


def l1_keys(cache: GenericRedisCache) -> set[str]:
    assert cache.l1_cache is not None
    return set(cache.l1_cache._tier.keys())


@pytest.mark.parametrize("path", ["c", "python"])
def test_a_full_l1_keeps_its_busy_keys_against_a_larger_working_set(
    url: str, path: str
) -> None:
    hot = [f"hot{i}" for i in range(4)]
    cold = [f"cold{i}" for i in range(40)]

    async def go() -> dict[str, int]:
        await fill_redis(url, hot + cold)
        cache = make(url, l1_cache_size=4)
        assert await cache.connect()
        if path == "python":
            python_path(cache)
        for k in hot:  # below capacity: every Redis hit is promoted
            assert await cache.get(k) == {"v": k}
        assert l1_keys(cache) == set(hot)
        for _ in range(3):  # the hot keys are read 5x as often as any cold key
            for k in cold:
                for h in hot:
                    assert await cache.get(h) == {"v": h}
                assert await cache.get(k) == {"v": k}
        # A cold key read once a round does not outweigh a resident read every
        # time (the sketch is probabilistic: a key whose four counters all
        # collide with hot keys' may look hot; one such key is tolerated).
        assert len(l1_keys(cache) & set(hot)) >= len(hot) - 1
        # ... but a key asked for again and again earns its place: at the
        # latest once the sketch has halved (every 640 gets for a tier this
        # small), counts saturated by the hot keys no longer tie with its own.
        reads = 0
        while "cold7" not in l1_keys(cache) and reads < 1000:
            assert await cache.get("cold7") == {"v": "cold7"}
            reads += 1
        assert 0 < reads <= 660 and "cold7" in l1_keys(cache)
        await cache.disconnect()
        assert (cache._hot is not None and cache._hot.redis_hits > 0) == (path == "c")
        return cache._counter_values()

    c = run(go())
    assert c["promotions"] >= 5 and c["promotions_not_admitted"] >= 3 * len(cold) - 3
    assert c["redis_hits"] == c["promotions"] + c["promotions_not_admitted"]
    assert c["l1_hits"] >= 3 * len(cold) * len(hot)


def test_refused_reads_skip_the_pttl_and_count_in_stats(url: str) -> None:
    keys = [f"k{i}" for i in range(7)]

    async def go() -> GenericRedisCache:
        await fill_redis(url, keys)
        cache = make(url, l1_cache_size=2)
        assert await cache.connect()
        for k in keys[:6]:  # k0, k1 promoted (room), k2..k5 read once: refused
            await cache.get(k)
        for _ in range(3):  # the residents become busy
            await cache.get("k0")
            await cache.get("k1")
        assert isinstance(cache.redis, RedisClient)
        before = cache.redis.connection.stats()
        assert await cache.get("k6") == {"v": "k6"}  # read once: refused
        after = cache.redis.connection.stats()
        assert int(after["commands"]) - int(before["commands"]) == 1  # no PTTL
        await cache.disconnect()
        return cache

    cache = run(go())
    stats = cache.get_stats()
    assert stats["promotions"] == 2 and stats["promotions_not_admitted"] == 5


def test_admission_off_promotes_every_hit_as_the_original(url: str) -> None:
    keys = [f"k{i}" for i in range(10)]

    async def go(cache: GenericRedisCache) -> dict[str, int]:
        await fill_redis(url, keys)
        for _ in range(2):
            for k in keys:
                assert await cache.get(k) == {"v": k}
        await cache.disconnect()
        return cache._counter_values()

    for cache in (
        make(url, l1_cache_size=3, l1_admission=False),
        make(url + "?l1_admission=no", l1_cache_size=3),
    ):
        assert cache.l1_admission is False
        assert cache.l1_cache is not None
        assert not cache.l1_cache._tier.tracks_frequency
        c = run(go(cache))
        assert c["promotions"] == 20 and c["promotions_not_admitted"] == 0


def test_get_many_asks_admission_per_key(url: str) -> None:
    keys = [f"k{i}" for i in range(8)]

    async def go() -> dict[str, int]:
        await fill_redis(url, keys)
        cache = make(url, l1_cache_size=3)
        got = await cache.get_many(keys[:3])  # room for all three
        assert got == {k: {"v": k} for k in keys[:3]}
        assert l1_keys(cache) == set(keys[:3])
        for _ in range(3):
            await cache.get_many(keys[:3])  # the residents become busy
        got = await cache.get_many(keys[3:])  # each read once: none admitted
        assert got == {k: {"v": k} for k in keys[3:]}
        assert l1_keys(cache) == set(keys[:3])
        for _ in range(5):
            await cache.get_many(["k5"])  # asked for again and again: admitted
        assert "k5" in l1_keys(cache)
        await cache.disconnect()
        return cache._counter_values()

    c = run(go())
    assert c["promotions"] == 4 and c["promotions_not_admitted"] >= 5


def test_assigned_l1_tracks_frequency_and_a_foreign_one_always_admits(
    url: str,
) -> None:
    cache = make(url)
    replacement = InMemoryCache(max_size=5)
    assert not replacement._tier.tracks_frequency
    cache.l1_cache = replacement
    assert replacement._tier.tracks_frequency
    assert cache._promotes(replacement, "any")  # room: admitted
    assert not cache._promotes(None, "any")

    class OwnL1(InMemoryCache):
        pass

    own = OwnL1(max_size=1)
    cache.l1_cache = own
    assert not own._tier.tracks_frequency and cache._promotes(own, "any")


def test_memory_tier_admits_api() -> None:
    tier = _core.MemoryTier(1)
    assert tier.admits("x", 1.0) and not tier.tracks_frequency
    tier.track_frequency()
    tier.set("a", 1, 0, 1.0)
    assert not tier.admits("x", 1.0)  # full; x never asked for
    assert tier.get("x", 1.0) is None and not tier.admits("x", 1.0)  # 1 vs 0
    assert tier.get("x", 1.0) is None and tier.admits("x", 1.0)  # a lead of two
    with pytest.raises(TypeError):
        tier.admits(b"x", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tier.admits("x")  # type: ignore[call-arg]


@pytest.mark.parametrize("path", ["c", "python"])
def test_admission_is_asked_again_when_the_value_arrives(url: str, path: str) -> None:
    """Two reads admitted against the same victim: the first promotion evicts it,
    the second now faces a busier entry and is refused."""

    async def go() -> tuple[set[str], dict[str, int]]:
        await fill_redis(url, ["x", "y"])
        cache = make(url, l1_cache_size=2)
        assert await cache.connect()
        if path == "python":
            python_path(cache)
        await cache.set("idle", 1)
        await cache.set("busy", 2)
        assert cache.l1_cache is not None
        tier, now = cache.l1_cache._tier, cache.l1_cache._now()
        for _ in range(6):
            assert await cache.get("busy") == 2  # L1 hits: busy is asked for
        for _ in range(3):  # x and y: asked for often enough to beat "idle"
            tier.get("x", now)
            tier.get("y", now)
        before = cache._counter_values()
        got = await asyncio.gather(cache.get("x"), cache.get("y"))
        assert got == [{"v": "x"}, {"v": "y"}]
        after = cache._counter_values()
        await cache.disconnect()
        delta = {k: after[k] - before[k] for k in after if isinstance(after[k], int)}
        return l1_keys(cache), delta

    keys, delta = run(go())
    assert "busy" in keys and "idle" not in keys and len(keys & {"x", "y"}) == 1
    assert delta["promotions"] == 1 and delta["promotions_not_admitted"] == 1
