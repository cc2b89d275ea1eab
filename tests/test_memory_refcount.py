"""Reference counting, garbage collection and re-entrancy of the C memory tier.

Every path that stores or drops a value must leave ``sys.getrefcount`` where it
started; cycles through cached values must be collectable (tp_traverse reaches
them); a value whose ``__del__`` calls back into the same cache must never see or
leave an inconsistent structure.
"""

from __future__ import annotations

import gc
import logging
import sys
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any
from unittest import mock

import pytest

from aicache import _core
from aicache.memory import InMemoryCache

T0 = 1_700_000_000.0


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("coroutine suspended")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock()
    with mock.patch("time.time", side_effect=c):
        yield c


class Value:
    """A fresh object per test, so its refcount is ours alone."""


def rc(obj: object) -> int:
    return sys.getrefcount(obj)


def consistent(cache: InMemoryCache) -> None:
    stats = cache.get_stats()
    snapshot = cache._cache
    assert stats["total_entries"] == len(snapshot) == cache.size()
    assert stats["total_entries"] <= cache.max_size
    assert stats["memory_usage_bytes"] == sum(
        e["size_bytes"] for e in snapshot.values()
    )
    assert list(snapshot) == cache.get_keys()


# ------------------------------------------------------------------ refcounts


def test_set_get_overwrite_delete(clock: Clock) -> None:
    cache = InMemoryCache()
    v, w = Value(), Value()
    base_v, base_w = rc(v), rc(w)
    drive(cache.set("k", v))
    assert rc(v) == base_v + 1
    got = drive(cache.get("k"))
    assert got is v and rc(v) == base_v + 2
    del got
    assert rc(v) == base_v + 1
    drive(cache.set("k", v))  # same object again
    assert rc(v) == base_v + 1
    drive(cache.set("k", w))  # overwrite
    assert rc(v) == base_v and rc(w) == base_w + 1
    drive(cache.delete("k"))
    assert rc(w) == base_w


def test_evict_expire_clear_invalidate(clock: Clock) -> None:
    cache = InMemoryCache(max_size=2)
    vals = [Value() for _ in range(6)]
    base = [rc(v) for v in vals]
    drive(cache.set("a", vals[0]))
    drive(cache.set("b", vals[1]))
    drive(cache.set("c", vals[2]))  # evicts a
    assert rc(vals[0]) == base[0]
    with mock.patch.object(
        logging.getLogger("aicache.memory"), "isEnabledFor", return_value=True
    ):
        drive(cache.set("d", vals[3]))  # evicts b, with the key list built
    assert rc(vals[1]) == base[1]
    drive(cache.set("c", vals[4], ttl=1))
    assert rc(vals[2]) == base[2]
    clock.now += 5
    assert drive(cache.get("c")) is None  # expired
    assert rc(vals[4]) == base[4]
    drive(cache.set("e", vals[5], ttl=1))
    clock.now += 5
    assert drive(cache.exists("e")) is False  # expired through exists
    assert rc(vals[5]) == base[5]
    assert drive(cache.invalidate_pattern("d")) == 1
    assert rc(vals[3]) == base[3]
    drive(cache.set("a", vals[0]))
    drive(cache.set("b", vals[1]))
    cache.clear()
    assert [rc(v) for v in vals] == base


def test_reclaim_and_oversized_and_failed_sets(clock: Clock) -> None:
    cache = InMemoryCache(max_size=100, max_memory_bytes=1000)
    small = [Value() for _ in range(20)]
    big = bytearray(5000)
    base_small = [rc(v) for v in small]
    base_big = rc(big)
    for i in range(len(small)):
        drive(cache.set(f"k{i}", small[i], ttl=1))
    clock.now += 10
    cache._tier.reclaim(clock.now)
    assert [rc(v) for v in small] == base_small
    with pytest.raises(ValueError):
        cache._tier.set("big", big, 0, T0)  # larger than max_memory_bytes: refused
    assert rc(big) == base_big
    # Through InMemoryCache (the warning's record would keep the traceback, and
    # so the frame holding `big`, alive in pytest's log capture: silence it).
    quiet = logging.getLogger("aicache.memory")
    with mock.patch.object(quiet, "warning", lambda *args, **kwargs: None):
        drive(cache.set("big", big))
        drive(cache.set("k", big, ttl="bad"))  # type: ignore[arg-type]
    assert rc(big) == base_big


def test_snapshots_release_everything(clock: Clock) -> None:
    cache = InMemoryCache()
    v = Value()
    drive(cache.set("k", v))
    base = rc(v)
    key = "k2"
    key_base = rc(key)
    drive(cache.set(key, v))
    assert rc(key) == key_base  # keys are copied, never referenced
    base += 1
    for _ in range(3):
        snap = cache._cache
        items = cache._tier.items()
        keys = cache.get_keys(), cache.get_active_keys(), cache._access_order
        stats = cache.get_stats(), cache.get_cache_statistics()
        del snap, items, keys, stats
    assert rc(v) == base
    sentinel = Value()
    s_base = rc(sentinel)
    assert cache._tier.get("missing", T0, sentinel) is sentinel
    assert rc(sentinel) == s_base


def test_cache_deallocation_releases_values() -> None:
    v = Value()
    base = rc(v)
    cache = InMemoryCache()
    drive(cache.set("k", v))
    drive(cache.set("k2", v, ttl=0))
    assert rc(v) == base + 2
    del cache
    gc.collect()
    assert rc(v) == base
    tier = _core.MemoryTier(10)
    tier.set("k", v, 5, 0.0)
    del tier
    assert rc(v) == base


# ------------------------------------------------------------------ garbage collection


def test_cycle_through_cached_value_is_collected() -> None:
    class Node:
        cache: InMemoryCache

    cache = InMemoryCache()
    node = Node()
    node.cache = cache
    drive(cache.set("node", node))
    refs = weakref.ref(node), weakref.ref(cache)
    del node, cache
    gc.collect()
    assert refs[0]() is None and refs[1]() is None


def test_tier_containing_itself_is_collected() -> None:
    class Box:
        pass

    tier = _core.MemoryTier(4)
    box = Box()
    box.tier = tier  # type: ignore[attr-defined]
    tier.set("box", box, 0, 0.0)
    tier.set("self-list", [tier], 0, 0.0)
    assert box in gc.get_referents(tier)
    ref = weakref.ref(box)
    del tier, box
    gc.collect()
    assert ref() is None


# ------------------------------------------------------------------ re-entrancy


class Reenter:
    """Calls back into the cache from __del__."""

    def __init__(self, cache: InMemoryCache, action: str) -> None:
        self.cache = cache
        self.action = action
        self.ran = False

    def __del__(self) -> None:
        cache = self.cache
        if self.action == "set":
            for i in range(3):  # each set may evict again
                drive(cache.set(f"from-del-{i}", i))
        elif self.action == "clear":
            cache.clear()
        elif self.action == "read":
            cache.get_stats()
            list(cache._cache)
            cache.get_keys()
        elif self.action == "delete-all":
            drive(cache.invalidate_pattern(""))
        log.append(self.action)


log: list[str] = []


@pytest.fixture(autouse=True)
def _reset_log() -> Iterator[None]:
    log.clear()
    yield
    log.clear()


def test_reentrant_set_during_eviction(clock: Clock) -> None:
    cache = InMemoryCache(max_size=3)
    drive(cache.set("victim", Reenter(cache, "set")))
    drive(cache.set("b", 1))
    drive(cache.set("c", 2))
    drive(cache.set("d", 3))  # evicts victim, whose __del__ sets three keys
    assert log == ["set"]
    consistent(cache)
    assert "from-del-2" in cache.get_keys()


def test_reentrant_clear_during_clear_and_delete(clock: Clock) -> None:
    cache = InMemoryCache(max_size=10)
    drive(cache.set("a", Reenter(cache, "clear")))
    drive(cache.set("b", Reenter(cache, "set")))
    drive(cache.set("c", Reenter(cache, "read")))
    cache.clear()
    assert sorted(log) == ["clear", "read", "set"]
    consistent(cache)
    log.clear()
    drive(cache.set("x", Reenter(cache, "clear")))
    drive(cache.set("y", 1))
    drive(cache.delete("x"))
    assert log == ["clear"] and cache.size() == 0
    consistent(cache)


def test_reentrant_during_expiry_overwrite_and_invalidate(clock: Clock) -> None:
    cache = InMemoryCache(max_size=10)
    drive(cache.set("a", Reenter(cache, "delete-all"), ttl=1))
    drive(cache.set("b", 1))
    clock.now += 5
    assert drive(cache.get("a")) is None
    assert log == ["delete-all"] and cache.size() == 0
    drive(cache.set("o", Reenter(cache, "set")))
    drive(cache.set("o", "replacement"))
    assert log[-1] == "set"
    consistent(cache)
    drive(cache.set("p", Reenter(cache, "clear")))
    drive(cache.set("q", Reenter(cache, "read")))
    assert drive(cache.invalidate_pattern("*")) >= 1
    consistent(cache)


def test_reentrant_during_eviction_with_key_list(clock: Clock) -> None:
    cache = InMemoryCache(max_size=2)
    logger = logging.getLogger("aicache.memory")
    with mock.patch.object(logger, "isEnabledFor", return_value=True):
        drive(cache.set("a", Reenter(cache, "set")))
        drive(cache.set("b", 1))
        drive(cache.set("c", 2))
    assert log == ["set"]
    consistent(cache)


def test_reentrant_during_deallocation() -> None:
    holder: list[Any] = []

    class Grab:
        def __del__(self) -> None:
            holder.append(len(tier))  # the tier is still alive here

    tier = _core.MemoryTier(4)
    tier.set("g", Grab(), 0, 0.0)
    tier.clear()
    assert holder == [0]
    cache = InMemoryCache(max_size=4)
    drive(cache.set("r", Reenter(cache, "set")))
    del cache
    gc.collect()
    assert log == ["set"]
