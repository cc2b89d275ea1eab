"""get_success callbacks on memory-tier hits, which the C hit path fires itself
(csrc/_aicache_hitpath.c): whoever registered them and however, they see every
hit once, the AI accounting callback is never run twice, and the references the
hit path holds are released."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any
from unittest import mock

import pytest

from aicache import _core
from aicache.redis_ai import AIResponseCache
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from cache_env import run, testing_env  # noqa: F401  (autouse fixture)

UNREACHABLE = "redis://127.0.0.1:1/15"  # the memory tier serves every hit


def generic() -> GenericRedisCache:
    cache = GenericRedisCache(redis_url=UNREACHABLE)
    assert cache._hot is not None  # the C hit path is in use
    return cache


def ai() -> AIResponseCache:
    cache = AIResponseCache(redis_url=UNREACHABLE, security_config=SecurityConfig())
    assert cache._hot is not None
    return cache


def hits(cache: GenericRedisCache, key: str, n: int) -> list[Any]:
    async def go() -> list[Any]:
        return [await cache.get(key) for _ in range(n)]

    return run(go())


def store(cache: GenericRedisCache, key: str, value: Any) -> None:
    run(cache.set(key, value, 60))


@pytest.mark.parametrize("make", [generic, ai], ids=["generic", "ai"])
def test_callbacks_added_and_removed_any_way_take_effect_at_once(make: Any) -> None:
    cache = make()
    key = (
        cache.build_key("doc", "qa", {}) if isinstance(cache, AIResponseCache) else "k"
    )
    store(cache, key, "v")
    seen: list[tuple[Any, ...]] = []

    def user(*args: Any) -> None:
        seen.append(args)

    cache.register_callback("get_success", user)
    assert hits(cache, key, 2) == ["v", "v"]
    assert seen == [(key, "v")] * 2
    cache._callbacks["get_success"].remove(user)  # not through any method
    assert hits(cache, key, 2) == ["v", "v"]
    assert len(seen) == 2
    cache._callbacks["get_success"].append(user)
    hits(cache, key, 1)
    assert len(seen) == 3
    cache._callbacks = {"get_success": (user,)}  # type: ignore[assignment]  # a tuple
    hits(cache, key, 1)
    assert len(seen) == 4
    cache._callbacks = {}  # type: ignore[assignment]
    assert hits(cache, key, 1) == ["v"]
    assert len(seen) == 4


def test_the_accounting_callback_alone_costs_no_python_call() -> None:
    cache = ai()
    key = cache.build_key("doc", "summarize", {})
    store(cache, key, {"summary": "s"})
    with mock.patch.object(cache, "_fire_hit_callbacks") as fire:
        hits(cache, key, 3)
        assert fire.call_count == 0
        cache.register_callback("get_success", lambda *a: None)
        hits(cache, key, 2)
        assert [c.args for c in fire.call_args_list] == [(key, {"summary": "s"})] * 2
    assert cache.ai_metrics["cache_hits_by_operation"]["summarize"] == 5


def test_an_equal_accounting_callback_is_still_run_once() -> None:
    """A list rebuilt with an equal (not identical) bound method goes through
    the Python dispatch, which recognises it by equality."""
    cache = ai()
    key = cache.build_key("doc", "sentiment", {})
    store(cache, key, "positive")
    cache._callbacks["get_success"] = [cache._ai_get_success_callback]
    assert cache._callbacks["get_success"][0] is not cache._hit_accounted
    hits(cache, key, 4)
    assert cache.ai_metrics["cache_hits_by_operation"]["sentiment"] == 4


@pytest.mark.parametrize("make", [generic, ai], ids=["generic", "ai"])
def test_a_patched_fire_callback_sees_every_hit(make: Any) -> None:
    cache = make()
    store(cache, "k", 1)
    with mock.patch.object(cache, "_fire_callback") as fire:
        hits(cache, "k", 2)
    assert [c.args for c in fire.call_args_list] == [("get_success", "k", 1)] * 2
    hits(cache, "k", 1)  # unpatched again: nothing left to see it
    assert fire.call_count == 2


def test_failing_callbacks_are_logged_and_base_exceptions_propagate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = generic()
    store(cache, "k", "v")

    def boom(*_: Any) -> None:
        raise RuntimeError("exploded")

    cache.register_callback("get_success", boom)
    with caplog.at_level(logging.WARNING, logger="aicache.redis_generic"):
        assert hits(cache, "k", 1) == ["v"]
    assert "Callback for event 'get_success' failed: exploded" in caplog.text

    class Stop(BaseException):
        pass

    def stop(*_: Any) -> None:
        raise Stop

    cache._callbacks["get_success"] = [stop]
    with pytest.raises(Stop):
        hits(cache, "k", 1)
    assert cache._hot is not None and cache._hot.hits == 2  # the hit was counted


def test_the_hit_path_holds_one_reference_to_the_cache_and_none_to_hits() -> None:
    def user(key: str, value: Any) -> None:
        raise AssertionError("called directly")

    class Owner:
        def __init__(self) -> None:
            self._callbacks = {"get_success": [user]}
            self._hit_accounted = None
            self.seen = 0

        def _fire_hit_callbacks(self, key: str, value: Any) -> None:
            self.seen += 1

    owner, value, key = Owner(), object(), "key-" + str(id(Owner))
    tier = _core.MemoryTier(10)
    tier.set(key, value, 0, 1.0)
    before = sys.getrefcount(owner), sys.getrefcount(value), sys.getrefcount(key)
    hot = _core.HitPath(tier, None, None, None, owner)
    assert sys.getrefcount(owner) == before[0] + 1
    for _ in range(200):
        assert hot.get(key) is value
    assert owner.seen == 200
    assert hot.plain_hits() is False  # the test the Redis path makes too
    owner._callbacks["get_success"].clear()
    assert hot.plain_hits() is True
    for _ in range(200):
        assert hot.get(key) is value
    assert owner.seen == 200
    assert (sys.getrefcount(value), sys.getrefcount(key)) == before[1:]
    del hot
    gc.collect()
    assert sys.getrefcount(owner) == before[0]


def test_a_cache_without_attributes_is_left_to_its_own_dispatch() -> None:
    class Slotted:
        __slots__ = ("fired",)

        def __init__(self) -> None:
            self.fired = 0

        def _fire_hit_callbacks(self, key: str, value: Any) -> None:
            self.fired += 1

    assert _core.HitPath(_core.MemoryTier(4)).plain_hits() is True  # no cache
    owner = Slotted()
    tier = _core.MemoryTier(4)
    tier.set("k", "v", 0, 1.0)
    hot = _core.HitPath(tier, None, None, None, owner)
    assert hot.get("k") == "v"
    assert owner.fired == 1
