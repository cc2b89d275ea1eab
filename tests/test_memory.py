"""InMemoryCache (spec section 4) and the MemoryTier it is built on.

Time is controlled by patching ``time.time`` (as the template's tests do) or by an
injected clock; TTL edges are checked at exactly ``expires_at`` and just after.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any
from unittest import mock

import pytest

from aicache import _core
from aicache import memory as memory_module
from aicache.base import CacheInterface
from aicache.exceptions import ConfigurationError
from aicache.memory import InMemoryCache

T0 = 1_700_000_000.0


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class Clock:
    """A patched time.time that only moves when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock()
    with mock.patch("time.time", side_effect=c):
        yield c


def live_bytes(cache: InMemoryCache) -> int:
    return sum(e["size_bytes"] for e in cache._cache.values())


# ------------------------------------------------------------------ constructor


def test_defaults_and_attributes() -> None:
    cache = InMemoryCache()
    assert isinstance(cache, CacheInterface)
    assert cache.default_ttl == 3600
    assert cache.max_size == 1000
    assert cache.max_memory_bytes is None
    assert cache.size() == 0
    assert cache.key_generator.text_hash_threshold == 1000
    assert cache._cache == {} and cache._access_order == []


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"default_ttl": "60"}, "default_ttl"),
        ({"default_ttl": 60.0}, "default_ttl"),
        ({"default_ttl": None}, "default_ttl"),
        ({"max_size": "10"}, "max_size"),
        ({"max_size": 10.0}, "max_size"),
        ({"default_ttl": 0}, "default_ttl"),
        ({"default_ttl": 86401}, "default_ttl"),
        ({"default_ttl": -5}, "default_ttl"),
        ({"max_size": 0}, "max_size"),
        ({"max_size": 100001}, "max_size"),
        ({"max_memory_bytes": 0}, "max_memory_bytes"),
        ({"max_memory_bytes": -1}, "max_memory_bytes"),
        ({"max_memory_bytes": True}, "max_memory_bytes"),
        ({"max_memory_bytes": 1.5}, "max_memory_bytes"),
        ({"clock": 5}, "clock"),
    ],
)
def test_constructor_rejects(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        InMemoryCache(**kwargs)
    assert info.value.context == {param: kwargs[param]}
    assert param in info.value.message


def test_validation_order_types_before_ranges() -> None:
    # both wrong: default_ttl's type is reported first
    with pytest.raises(ConfigurationError) as info:
        InMemoryCache(default_ttl="x", max_size="y")  # type: ignore[arg-type]
    assert info.value.context == {"default_ttl": "x"}
    # default_ttl out of range but max_size of the wrong type: the type check wins
    with pytest.raises(ConfigurationError) as info:
        InMemoryCache(default_ttl=0, max_size="y")  # type: ignore[arg-type]
    assert info.value.context == {"max_size": "y"}
    # both out of range: default_ttl first
    with pytest.raises(ConfigurationError) as info:
        InMemoryCache(default_ttl=0, max_size=0)
    assert info.value.context == {"default_ttl": 0}


@pytest.mark.parametrize(("ttl", "size"), [(1, 1), (86400, 100000), (True, 1)])
def test_constructor_boundaries_accepted(ttl: int, size: int) -> None:
    cache = InMemoryCache(default_ttl=ttl, max_size=size)
    assert cache.default_ttl == ttl and cache.max_size == size


def test_fail_on_connection_error_accepted_and_ignored() -> None:
    cache = InMemoryCache(300, 3, fail_on_connection_error=True)
    assert not hasattr(cache, "fail_on_connection_error")
    assert cache.max_size == 3


def test_max_size_is_fixed() -> None:
    cache = InMemoryCache(max_size=3)
    with pytest.raises(AttributeError):
        cache.max_size = 5  # type: ignore[misc]


def test_construction_needs_no_event_loop_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="aicache.memory"):
        InMemoryCache(default_ttl=300, max_size=3)
    infos = [r for r in caplog.records if r.name == "aicache.memory"]
    assert len(infos) == 1 and "default_ttl=300" in infos[0].getMessage()


def test_weakref_subclass_dict_and_patch_object() -> None:
    class Mine(InMemoryCache):
        async def get(self, key: str) -> Any:
            return ("wrapped", await super().get(key))

    cache = Mine(max_size=5)
    ref = weakref.ref(cache)
    cache.extra = "attribute"  # type: ignore[attr-defined]
    run(cache.set("k", 1))
    assert run(cache.get("k")) == ("wrapped", 1)
    with mock.patch.object(cache, "exists", return_value=True) as patched:
        assert run(cache.exists("nope")) is True
    patched.assert_awaited_once_with("nope")
    del cache
    gc.collect()
    assert ref() is None


# ------------------------------------------------------------------ storage semantics


def test_get_returns_the_same_object(clock: Clock) -> None:
    cache = InMemoryCache()
    value = {"answer": [1, 2]}
    run(cache.set("k", value))
    got = run(cache.get("k"))
    assert got is value
    got["cache_hit"] = True  # the template mutates returned dicts
    assert run(cache.get("k"))["cache_hit"] is True


def test_any_object_and_none(clock: Clock) -> None:
    cache = InMemoryCache()

    class Thing:
        pass

    thing = Thing()
    run(cache.set("thing", thing))
    run(cache.set("none", None))
    assert run(cache.get("thing")) is thing
    assert run(cache.get("none")) is None
    assert run(cache.exists("none")) is True
    assert cache.get_stats()["hits"] == 2


def test_unicode_and_surrogate_keys(clock: Clock) -> None:
    cache = InMemoryCache()
    keys = ["Café naïve 😀", "\ud800lone", "\udfff", "", "a\x00b", "x" * 5000]
    for i, k in enumerate(keys):
        run(cache.set(k, i))
    for i, k in enumerate(keys):
        assert run(cache.get(k)) == i
    assert cache.get_keys() == keys
    assert run(cache.get("a\x00c")) is None

    class Sub(str):
        def __hash__(self) -> int:
            return 7  # ignored: the tier hashes the characters

    assert run(cache.get(Sub("Café naïve 😀"))) == 0


def test_bad_key_and_ttl_types_are_logged_not_raised(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = InMemoryCache()
    run(cache.set("k", "old"))
    with caplog.at_level(logging.WARNING, logger="aicache.memory"):
        run(cache.set("k", "new", ttl="soon"))  # type: ignore[arg-type]
        run(cache.set(42, "v"))  # type: ignore[arg-type]
        assert run(cache.get(42)) is None  # type: ignore[arg-type]
        run(cache.delete(42))  # type: ignore[arg-type]
        assert run(cache.exists(42)) is False  # type: ignore[arg-type]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5
    assert "must be str" in warnings[1]
    assert run(cache.get("k")) == "old"  # a failed set loses nothing
    assert cache.size() == 1


# ------------------------------------------------------------------ TTL semantics


def test_default_ttl_and_strict_expiry(clock: Clock) -> None:
    cache = InMemoryCache(default_ttl=300)
    run(cache.set("k", "v"))
    entry = cache._cache["k"]
    assert entry["expires_at"] == T0 + 300
    assert entry["created_at"] == T0
    clock.advance(300)  # now == expires_at: still live
    assert run(cache.get("k")) == "v"
    assert run(cache.exists("k")) is True
    assert run(cache.get_ttl("k")) == 0
    clock.now = T0 + 300.000001
    assert run(cache.exists("k")) is False
    assert cache.size() == 0  # exists removed it


@pytest.mark.parametrize("ttl", [1, 60, 2.5])
def test_explicit_ttl(clock: Clock, ttl: float) -> None:
    cache = InMemoryCache(default_ttl=3600)
    run(cache.set("k", "v", ttl=ttl))  # type: ignore[arg-type]
    assert cache._cache["k"]["expires_at"] == T0 + ttl
    clock.now = T0 + ttl
    assert run(cache.get("k")) == "v"
    clock.now = T0 + ttl + 1e-6
    assert run(cache.get("k")) is None
    stats = cache.get_stats()
    assert stats["hits"] == 1 and stats["misses"] == 1 and stats["total_entries"] == 0


@pytest.mark.parametrize("ttl", [0, -1, -3600])
def test_zero_or_negative_ttl_never_expires(clock: Clock, ttl: int) -> None:
    cache = InMemoryCache(default_ttl=1)
    run(cache.set("k", "v", ttl=ttl))
    assert cache._cache["k"]["expires_at"] is None
    clock.advance(10**9)
    assert run(cache.get("k")) == "v"
    assert run(cache.get_ttl("k")) is None
    assert cache.get_active_keys() == ["k"]


def test_get_ttl(clock: Clock) -> None:
    cache = InMemoryCache()
    assert run(cache.get_ttl("missing")) is None
    run(cache.set("k", "v", ttl=100))
    clock.advance(30.5)
    assert run(cache.get_ttl("k")) == 69
    clock.advance(1000)
    assert run(cache.get_ttl("k")) == 0  # expired but present
    assert cache.size() == 1  # get_ttl does not purge


def test_injected_clock_is_used_instead_of_time() -> None:
    now = [500.0]
    cache = InMemoryCache(default_ttl=10, clock=lambda: now[0])
    with mock.patch("time.time", side_effect=AssertionError("time.time read")):
        run(cache.set("k", "v"))
        assert cache._cache["k"]["expires_at"] == 510.0
        now[0] = 510.5
        assert run(cache.get("k")) is None


def test_time_is_looked_up_at_call_time() -> None:
    cache = InMemoryCache(default_ttl=10)
    with mock.patch("time.time", return_value=T0):
        run(cache.set("k", "v"))
    with mock.patch("time.time", return_value=T0 + 11):
        assert run(cache.get("k")) is None


# ------------------------------------------------------------------ LRU


def test_get_and_set_touch_exists_does_not(clock: Clock) -> None:
    cache = InMemoryCache(default_ttl=300, max_size=3)
    for k in "abc":
        run(cache.set(k, k))
    assert run(cache.get("a")) == "a"
    assert cache._access_order == ["b", "c", "a"]
    assert run(cache.exists("b")) is True
    assert cache._access_order == ["b", "c", "a"]
    run(cache.set("d", "d"))  # evicts b, the least recently used
    assert cache.get_keys() == ["c", "a", "d"]
    run(cache.set("c", "c2"))  # set touches
    run(cache.set("e", "e"))  # evicts a
    assert cache.get_keys() == ["d", "c", "e"]
    assert cache.get_stats()["evictions"] == 2


def test_overwrite_in_full_cache_evicts_nothing(clock: Clock) -> None:
    cache = InMemoryCache(max_size=3)
    for k in "abc":
        run(cache.set(k, k))
    run(cache.set("a", "A"))
    assert cache.size() == 3
    assert sorted(cache.get_keys()) == ["a", "b", "c"]
    assert cache.get_stats()["evictions"] == 0


def test_full_cache_drops_expired_entries_before_evicting(clock: Clock) -> None:
    cache = InMemoryCache(max_size=3)
    run(cache.set("short", 1, ttl=5))
    run(cache.set("b", 2))
    run(cache.set("c", 3))
    clock.advance(10)
    run(cache.set("d", 4))
    assert sorted(cache.get_keys()) == ["b", "c", "d"]
    assert cache.get_stats()["evictions"] == 0


def test_eviction_debug_log_is_last_debug_call(clock: Clock) -> None:
    cache = InMemoryCache(default_ttl=300, max_size=3)
    with mock.patch.object(memory_module, "logger") as log:
        for i in range(1, 5):
            run(cache.set(f"key{i}", f"value{i}"))
    assert log.debug.call_args == mock.call("Evicting key %s (LRU)", "key1")
    assert cache.get_keys() == ["key2", "key3", "key4"]


def test_eviction_logged_with_real_logging(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = InMemoryCache(max_size=2)
    with caplog.at_level(logging.DEBUG, logger="aicache.memory"):
        for k in "abc":
            run(cache.set(k, k))
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [r.getMessage() for r in debug] == ["Evicting key a (LRU)"]
    assert debug[-1].msg == "Evicting key %s (LRU)"


def test_no_info_log_per_set_or_get(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    cache = InMemoryCache(max_size=2)
    with caplog.at_level(logging.INFO, logger="aicache.memory"):
        for k in "abcd":
            run(cache.set(k, k))
            run(cache.get(k))
    assert [r for r in caplog.records if r.name == "aicache.memory"] == []


def test_evicted_keys_only_computed_when_asked() -> None:
    tier = _core.MemoryTier(2)
    assert tier.set("a", 1, 0, 0.0) is None
    assert tier.set("b", 2, 0, 0.0) is None
    assert tier.set("c", 3, 0, 0.0) is None  # evicts a, but nobody asked
    assert tier.set("d", 4, 0, 0.0, True) == ["b"]
    assert tier.set("d", 5, 0, 0.0, True) is None  # overwrite: nothing evicted
    assert tier.stats()["evictions"] == 2
    asked: list[int] = []

    def ask() -> bool:
        asked.append(1)
        return len(asked) > 1

    assert tier.set("d", 6, 0, 0.0, ask) is None  # no eviction: not even asked
    assert asked == []
    assert tier.set("e", 7, 0, 0.0, ask) is None  # evicted c, but ask said no
    assert tier.set("f", 8, 0, 0.0, ask) == ["d"]
    assert len(asked) == 2

    def boom() -> bool:
        raise KeyError("from the predicate")

    with pytest.raises(KeyError):
        tier.set("g", 9, 0, 0.0, boom)  # the set itself happened
    assert tier.keys() == ["f", "g"]


def test_byte_bound_evicts_lru_and_refuses_oversized(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    blob = b"x" * 1000
    size = sys.getsizeof(blob)
    cache = InMemoryCache(max_size=100, max_memory_bytes=3 * size)
    for k in "abc":
        run(cache.set(k, blob))
    assert cache.get_stats()["memory_usage_bytes"] == 3 * size
    run(cache.set("d", blob))  # a goes
    assert cache.get_keys() == ["b", "c", "d"]
    assert cache.get_stats()["memory_usage_bytes"] == 3 * size
    with caplog.at_level(logging.WARNING, logger="aicache.memory"):
        run(cache.set("c", b"y" * (4 * size)))
    assert run(cache.get("c")) is None  # the stale value is gone too
    assert cache.get_keys() == ["b", "d"]
    assert "exceeds max_bytes" in caplog.records[-1].getMessage()


# ------------------------------------------------------------------ methods


def test_delete(clock: Clock) -> None:
    cache = InMemoryCache()
    run(cache.set("k", "v"))
    assert run(cache.delete("k")) is None
    assert run(cache.delete("k")) is None
    assert run(cache.get("k")) is None
    assert cache.get_stats()["memory_usage_bytes"] == 0


def test_exists_counts_nothing(clock: Clock) -> None:
    cache = InMemoryCache()
    run(cache.set("k", "v", ttl=5))
    assert run(cache.exists("k")) is True
    assert run(cache.exists("missing")) is False
    stats = cache.get_stats()
    assert stats["hits"] == 0 and stats["misses"] == 0


def test_clear_plain_and_awaited(clock: Clock) -> None:
    cache = InMemoryCache(max_size=2)
    for k in "abc":
        run(cache.set(k, k * 100))
    run(cache.get("b"))
    run(cache.get("zz"))
    result = cache.clear()
    assert not result
    stats = cache.get_stats()
    assert stats["total_entries"] == 0
    assert (stats["hits"], stats["misses"], stats["evictions"]) == (0, 0, 0)
    assert stats["memory_usage_bytes"] == 0
    run(cache.set("x", 1))

    async def teardown() -> None:
        await cache.clear()  # generic teardown code awaits it

    run(teardown())
    assert cache.size() == 0

    async def await_twice() -> Any:
        await result
        return await result

    assert run(await_twice()) is None


def test_size_keys_and_active_keys(clock: Clock) -> None:
    cache = InMemoryCache()
    run(cache.set("short", 1, ttl=1))
    run(cache.set("long", 2, ttl=100))
    run(cache.set("forever", 3, ttl=0))
    clock.advance(2)
    assert cache.size() == 3  # expired but not yet reclaimed
    assert cache.get_keys() == ["short", "long", "forever"]
    assert cache.get_active_keys() == ["long", "forever"]
    stats = cache.get_stats()
    assert (
        stats["total_entries"],
        stats["expired_entries"],
        stats["active_entries"],
    ) == (
        3,
        1,
        2,
    )
    assert run(cache.get("short")) is None
    assert cache.size() == 2


def test_expired_entries_are_reclaimed_without_being_touched(clock: Clock) -> None:
    cache = InMemoryCache(max_size=1000)
    for i in range(20):
        run(cache.set(f"k{i}", i, ttl=1))
    clock.advance(5)
    batch = _core.MEM_RECLAIM_BATCH
    run(cache.get("other"))  # one operation reclaims a bounded batch
    assert cache.size() == 20 - batch
    run(cache.exists("other"))
    assert cache.size() == max(0, 20 - 2 * batch)
    assert cache.get_stats()["active_entries"] == 0


def test_invalidate_pattern(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    cache = InMemoryCache()
    for k in ["user:123", "user:456", "USER:789", "session:abc", "user:1x"]:
        run(cache.set(k, k * 10))
    assert run(cache.invalidate_pattern("USER:*")) == 1  # case-sensitive
    assert run(cache.invalidate_pattern("user:???")) == 2
    assert run(cache.invalidate_pattern("user:[0-9]x")) == 1
    assert run(cache.invalidate_pattern("nothing*")) == 0
    assert cache.get_keys() == ["session:abc"]
    assert cache.get_stats()["memory_usage_bytes"] == live_bytes(cache)
    assert cache.get_stats()["evictions"] == 0
    run(cache.set("a", 1))
    with caplog.at_level(logging.DEBUG, logger="aicache.memory"):
        assert run(cache.invalidate_pattern("", operation_context="reset")) == 2
    assert cache.size() == 0
    assert "context: reset" in caplog.records[-1].getMessage()
    assert run(cache.invalidate_pattern("")) == 0


def test_invalidate_pattern_counts_expired_matches(clock: Clock) -> None:
    cache = InMemoryCache()
    run(cache.set("a:1", 1, ttl=1))
    run(cache.set("a:2", 2))
    clock.advance(5)
    assert run(cache.invalidate_pattern("a:*")) == 2
    assert cache.get_stats()["memory_usage_bytes"] == 0


def test_invalidation_stubs() -> None:
    cache = InMemoryCache()
    assert cache.get_invalidation_frequency_stats() == {
        "frequency": {},
        "patterns": {},
        "total_operations": 0,
        "performance": {},
    }
    assert cache.get_invalidation_recommendations() == []


# ------------------------------------------------------------------ statistics


STATS_KEYS = [
    "total_entries",
    "expired_entries",
    "active_entries",
    "max_size",
    "utilization",
    "utilization_percent",
    "default_ttl",
    "hits",
    "misses",
    "hit_rate",
    "evictions",
    "memory_usage_bytes",
    "memory_cache_entries",
    "memory_cache_size",
    "memory_usage",
]


def test_get_stats_shape_and_units(clock: Clock) -> None:
    cache = InMemoryCache(default_ttl=300, max_size=4)
    empty = cache.get_stats()
    assert list(empty) == STATS_KEYS
    assert empty["hit_rate"] == 0.0 and empty["memory_usage"] == "0B"
    run(cache.set("a", "a"))
    first = cache.get_stats()["memory_usage_bytes"]
    assert first == sys.getsizeof("a")
    run(cache.set("b", "a" * 1000))
    assert cache.get_stats()["memory_usage_bytes"] == first + sys.getsizeof("a" * 1000)
    run(cache.get("a"))
    run(cache.get("missing"))
    stats = cache.get_stats()
    assert stats["hit_rate"] == 50.0
    assert stats["utilization"] == "2/4" and stats["utilization_percent"] == 50.0
    assert stats["memory_cache_entries"] == 2 and stats["memory_cache_size"] == 4
    assert stats["default_ttl"] == 300 and stats["max_size"] == 4
    assert stats["memory_usage"] == f"{stats['memory_usage_bytes'] / 1024:.1f}KB"


def test_memory_usage_human_units(clock: Clock) -> None:
    cache = InMemoryCache()
    run(cache.set("big", bytearray(3 * 1024 * 1024)))
    assert cache.get_stats()["memory_usage"].endswith("MB")
    assert cache.get_stats()["memory_usage"] == "3.0MB"


def test_size_bytes_zero_when_getsizeof_fails(clock: Clock) -> None:
    class Odd:
        def __sizeof__(self) -> int:
            raise RuntimeError("no size")

    cache = InMemoryCache()
    run(cache.set("odd", Odd()))
    assert cache._cache["odd"]["size_bytes"] == 0
    assert isinstance(run(cache.get("odd")), Odd)


def test_memory_accounting_stays_exact(clock: Clock) -> None:
    cache = InMemoryCache(max_size=3)

    def check() -> None:
        assert cache.get_stats()["memory_usage_bytes"] == live_bytes(cache)
        assert cache._memory_usage_bytes == live_bytes(cache)

    run(cache.set("a", "x" * 10, ttl=1))
    run(cache.set("b", "x" * 20))
    check()
    run(cache.set("b", "x" * 200))  # overwrite
    check()
    clock.advance(5)
    assert run(cache.exists("a")) is False  # expiry through exists
    check()
    run(cache.set("c", [1, 2, 3], ttl=1))
    clock.advance(5)
    assert run(cache.get("c")) is None  # expiry through get
    check()
    for k in "defg":
        run(cache.set(k, k * 50))  # evictions
    check()
    run(cache.delete("g"))
    check()
    assert run(cache.invalidate_pattern("e")) == 1
    check()
    cache.clear()
    assert cache.get_stats()["memory_usage_bytes"] == 0


def test_get_cache_statistics(clock: Clock) -> None:
    cache = InMemoryCache(max_size=10)
    run(cache.set("a", "v", ttl=1))
    run(cache.set("b", "v"))
    clock.advance(2)
    stats = cache.get_cache_statistics()
    assert stats == {
        "active_entries": 1,
        "total_entries": 2,
        "memory_usage": f"{2 * sys.getsizeof('v')}B",
        "max_size": 10,
        "utilization_percent": 10.0,
    }


def test_get_cache_stats_shape(clock: Clock) -> None:
    cache = InMemoryCache(max_size=8)
    run(cache.set("a", 1))
    run(cache.get("a"))
    run(cache.get("x"))
    run(cache.get("y"))
    stats = run(cache.get_cache_stats())
    assert stats["redis"] == {
        "status": "disconnected",
        "message": "InMemoryCache does not use Redis backend",
    }
    assert stats["memory"] == {
        "status": "active",
        "entries": 1,
        "max_size": 8,
        "utilization_percent": 12.5,
        "memory_usage": cache.get_cache_statistics()["memory_usage"],
    }
    assert stats["performance"] == {
        "status": "active",
        "hit_rate": 0.3333,
        "total_operations": 3,
        "hits": 1,
        "misses": 2,
        "cache_type": "memory_only",
    }
    assert run(InMemoryCache().get_cache_stats())["performance"]["hit_rate"] == 0.0


def test_counter_views(clock: Clock) -> None:
    cache = InMemoryCache(max_size=1)
    run(cache.set("a", 1))
    run(cache.set("b", 2))
    run(cache.get("b"))
    run(cache.get("a"))
    assert (cache._hits, cache._misses, cache._evictions) == (1, 1, 1)


def test_cache_snapshot_is_a_copy(clock: Clock) -> None:
    cache = InMemoryCache()
    run(cache.set("k", "v", ttl=0))
    snap = cache._cache
    assert snap == {
        "k": {
            "value": "v",
            "expires_at": None,
            "created_at": T0,
            "size_bytes": sys.getsizeof("v"),
        }
    }
    snap.clear()
    order = cache._access_order
    order.append("zzz")
    assert cache.size() == 1 and cache._access_order == ["k"]


def test_repr() -> None:
    assert (
        repr(InMemoryCache(300, 3))
        == "InMemoryCache(default_ttl=300, max_size=3, entries=0)"
    )


# ------------------------------------------------------------------ build_key


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("Hello world", "summarize", {}), "ai_cache:op:summarize|txt:Hello world"),
        (
            ("Hello: a|b world", "summarize", {"max_length": 100}),
            "ai_cache:op:summarize|txt:Hello_ a_b world|opts:5104236b",
        ),
        (
            (
                "Document content",
                "qa",
                {"question": "What is the main point?", "max_tokens": 150},
            ),
            "ai_cache:op:qa|txt:Document content|opts:9169c942|q:732ed4fc",
        ),
        (
            ("A" * 1001, "summarize", {}),
            "ai_cache:op:summarize|txt:hash:564869f68dbdc44f",
        ),
        (("A" * 1000, "summarize", {}), "ai_cache:op:summarize|txt:" + "A" * 1000),
        (("Café naïve 😀", "sentiment", {}), "ai_cache:op:sentiment|txt:Café naïve 😀"),
        (("", "op", None), "ai_cache:op:op|txt:"),
    ],
)
def test_build_key_spec_examples(args: tuple[Any, ...], key: str) -> None:
    assert InMemoryCache().build_key(*args) == key


# ------------------------------------------------------------------ MemoryTier directly


def test_memory_tier_api() -> None:
    tier = _core.MemoryTier(4, max_bytes=0)
    assert tier.max_entries == 4 and tier.max_bytes == 0 and len(tier) == 0
    sentinel = object()
    assert tier.get("a", 0.0, sentinel) is sentinel
    assert tier.set("a", "v", 10, 100.0, False, 7) is None
    assert tier.expires_at("a") == 110.0
    assert tier.expires_at("b") is None
    assert tier.touch("a", 100.0) is True and tier.touch("b", 100.0) is False
    assert tier.items() == [("a", "v", 110.0, 100.0, 7)]
    assert tier.stats(200.0)["expired"] == 1
    assert "expired" not in tier.stats()
    assert tier.reclaim(200.0) == 1 and len(tier) == 0
    tier.set("n", 1, 0, 0)
    assert tier.expires_at("n") == float("inf")
    assert tier.delete_many(["n", "n", "zz"]) == 1
    with pytest.raises(TypeError):
        tier.get("a")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        tier.set("a", 1, 0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        tier.set("a", 1, "x", 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        tier.set("a", 1, float("nan"), 0.0)
    with pytest.raises(TypeError):
        tier.delete(b"a")  # type: ignore[arg-type]
    tier.set("huge", 1, 0, 0.0, False, 2**32 - 1)
    with pytest.raises(ValueError, match="4 GiB"):
        tier.set("huge", 1, 0, 0.0, False, 2**32)
    assert tier.expires_at("huge") is None  # the stale entry went too
    with pytest.raises(ValueError):
        _core.MemoryTier(0)
    with pytest.raises(ValueError):
        _core.MemoryTier(1, -1)
    with pytest.raises(TypeError):
        type("Sub", (_core.MemoryTier,), {})  # final type
