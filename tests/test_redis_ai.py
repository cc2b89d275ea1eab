"""AIResponseCache (spec section 10) against a real redis-server, with the fixes of
spec 21 items 2, 4, 7 and 15: kept default_ttl/monitor, operation TTLs applied by
set(), one invalidation semantics, clear() scoped to ai_cache:, plain-dict tiers.

Redis contents are read back with redis-cli (``server.cli``), independent of the code
under test."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from aicache import redis_ai
from aicache.exceptions import ConfigurationError, ValidationError
from aicache.key_generator import CacheKeyGenerator
from aicache.monitoring import CachePerformanceMonitor
from aicache.redis_ai import AIResponseCache
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from redis_servers import PASSWORD, RedisServer, free_port

OPS = {"summarize": 777, "sentiment": 555}


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def _testing_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "testing")
    monkeypatch.delenv("REDIS_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)


@pytest.fixture
def server(redis_plain: RedisServer) -> Iterator[RedisServer]:
    redis_plain.flush()
    yield redis_plain
    redis_plain.flush()


def make(server: RedisServer | None = None, **kwargs: Any) -> AIResponseCache:
    url = server.url if server is not None else f"redis://127.0.0.1:{free_port()}"
    kwargs.setdefault("operation_ttls", dict(OPS))
    return AIResponseCache(redis_url=url, **kwargs)


def key_for(cache: AIResponseCache, op: str, text: str = "some text") -> str:
    return cache.build_key(text, op, {"max_length": 10})


# ------------------------------------------------------------------ constructor


def test_constructor_keeps_default_ttl_and_monitor() -> None:
    monitor = CachePerformanceMonitor()
    cache = make(default_ttl=1234, performance_monitor=monitor)
    assert isinstance(cache, GenericRedisCache)
    assert cache.default_ttl == 1234
    assert cache.performance_monitor is monitor
    assert cache.l1_cache is not None and cache.l1_cache.default_ttl == 1234
    assert cache.key_generator.performance_monitor is monitor
    assert cache.key_generator.text_hash_threshold == 1000


def test_constructor_creates_a_monitor_when_none_given() -> None:
    cache = make()
    assert isinstance(cache.performance_monitor, CachePerformanceMonitor)


def test_memory_cache_size_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match="memory_cache_size is deprecated"):
        cache = make(memory_cache_size=42)
    assert cache.memory_cache_size == 42


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"redis_url": "http://localhost:6379"}, "redis_url"),
        ({"text_size_tiers": {"small": 10, "medium": 5}}, "large"),
        ({"text_size_tiers": {"small": 10, "medium": 5, "large": 100}}, "small"),
        ({"text_hash_threshold": 0}, "text_hash_threshold"),
        ({"operation_ttls": {"summarize": -1}}, "summarize"),
        ({"l1_cache_size": 0}, "l1_cache_size"),
        ({"compression_level": 12}, "compression_level"),
    ],
)
def test_invalid_parameters_raise_validation_error(
    kwargs: dict[str, Any], fragment: str
) -> None:
    kwargs.setdefault("redis_url", "redis://localhost:6379")
    with pytest.raises(ValidationError) as info:
        AIResponseCache(**kwargs)
    assert info.value.message.startswith("AIResponseCache parameter validation failed")
    assert fragment in str(info.value.context["validation_errors"])
    assert set(info.value.context) >= {
        "validation_errors",
        "validation_warnings",
        "ai_params",
    }


def test_parent_range_errors_stay_configuration_errors() -> None:
    # parameter_mapping allows a day+; the Redis cache allows at most 86400 s.
    with pytest.raises(ConfigurationError):
        make(default_ttl=86401)


def test_hash_algorithm_by_name_matches_the_constructor() -> None:
    long_text = "word " * 400
    by_name = make(hash_algorithm="md5", text_hash_threshold=10)
    by_func = make(hash_algorithm=hashlib.md5, text_hash_threshold=10)
    assert by_name.build_key(long_text, "qa", {}) == by_func.build_key(
        long_text, "qa", {}
    )
    assert by_name.build_key(long_text, "qa", {}) != make(
        text_hash_threshold=10
    ).build_key(long_text, "qa", {})
    with pytest.raises(ValidationError):
        make(hash_algorithm="no-such-hash")


def test_build_key_uses_its_own_threshold() -> None:
    text = "x" * 50
    cache = make(text_hash_threshold=20)
    assert cache.build_key(text, "summarize", {}) == CacheKeyGenerator(
        text_hash_threshold=20
    ).generate_cache_key(text, "summarize", {})
    assert "|txt:hash:" in cache.build_key(text, "summarize", {})
    assert f"|txt:{text}" in make().build_key(text, "summarize", {})


def test_build_key_with_a_none_operation_and_a_monitor() -> None:
    # issue 11 item 1: the monitor never raises into key generation; the original
    # returns a key with "op:None" and records the operation as given.
    monitor = CachePerformanceMonitor()
    cache = make(performance_monitor=monitor)
    key = cache.build_key("Hello", None, {})  # type: ignore[arg-type]
    assert key == "ai_cache:op:None|txt:Hello"
    (metric,) = monitor.key_generation_times
    assert metric.operation_type is None
    assert cache.key_generator.get_key_generation_stats()["operation_distribution"] == {
        None: 1
    }


def test_instances_are_weak_referenceable_and_callbacks_registered() -> None:
    cache = make()
    assert weakref.ref(cache)() is cache
    for event in ("get_success", "get_miss", "set_success"):
        names = [getattr(cb, "__name__", "") for cb in cache._callbacks[event]]
        assert any(name.startswith("_ai_") for name in names), event


# ------------------------------------------------------------------ security


def test_security_config_reaches_the_connection(redis_password: RedisServer) -> None:
    async def go() -> None:
        url = redis_password.plain_url  # no credentials in the URL
        cache = AIResponseCache(
            redis_url=url, security_config=SecurityConfig(redis_auth=PASSWORD)
        )
        try:
            assert await cache.connect() is True
            await cache.set("ai_cache:op:qa|txt:x", {"a": 1})
            assert await cache.get("ai_cache:op:qa|txt:x") == {"a": 1}
        finally:
            await cache.disconnect()
        without = AIResponseCache(redis_url=url)
        try:
            assert await without.connect() is False
        finally:
            await without.disconnect()

    run(go())
    assert redis_password.cli("EXISTS", "ai_cache:op:qa|txt:x") == "1"
    redis_password.flush()


def test_individual_security_arguments_are_honoured(
    redis_password: RedisServer,
) -> None:
    async def go() -> None:
        cache = AIResponseCache(
            redis_url=redis_password.plain_url, redis_password=PASSWORD
        )
        try:
            assert cache.security_config.redis_auth == PASSWORD
            assert await cache.connect() is True
        finally:
            await cache.disconnect()

    run(go())


def test_security_config_and_individual_arguments_conflict() -> None:
    with pytest.raises(ValidationError):
        make(security_config=SecurityConfig(), redis_password="x")


# ------------------------------------------------------------------ TTLs


def test_operation_ttls_are_applied_by_set(server: RedisServer) -> None:
    async def go() -> dict[str, str]:
        cache = make(server, default_ttl=1000)
        keys = {
            "op": key_for(cache, "summarize"),
            "other_op": key_for(cache, "sentiment"),
            "unknown_op": key_for(cache, "questions"),
            "explicit": key_for(cache, "summarize", "explicit"),
        }
        try:
            await cache.set(keys["op"], {"s": 1})
            await cache.set(keys["other_op"], {"s": 2})
            await cache.set(keys["unknown_op"], {"s": 3})
            await cache.set(keys["explicit"], {"s": 4}, ttl=42)
            await cache.set("plain-key", 1)
            assert await cache.get(keys["op"]) == {"s": 1}
        finally:
            await cache.disconnect()
        return keys

    keys = run(go())
    pttl = {name: int(server.cli("PTTL", key)) for name, key in keys.items()}
    assert 776_000 < pttl["op"] <= 777_000
    assert 554_000 < pttl["other_op"] <= 555_000
    assert 999_000 < pttl["unknown_op"] <= 1_000_000
    assert 41_000 < pttl["explicit"] <= 42_000
    assert 999_000 < int(server.cli("PTTL", "plain-key")) <= 1_000_000


def test_set_success_records_the_ttl_used(server: RedisServer) -> None:
    async def go() -> list[dict[str, Any]]:
        cache = make(server, default_ttl=1000)
        try:
            await cache.set(key_for(cache, "summarize"), "v")
            await cache.set(key_for(cache, "qa"), "v", ttl=5)
        finally:
            await cache.disconnect()
        return list(cache.ai_metrics["operation_performance"])

    entries = run(go())
    assert [(e["operation"], e["ttl"]) for e in entries] == [
        ("summarize", 777),
        ("qa", 5),
    ]
    assert all(e["data_size"] == 1 for e in entries)


# ------------------------------------------------------------------ invalidation


def _redis_keys(server: RedisServer) -> set[str]:
    out = server.cli("--scan")
    return set(out.splitlines()) if out else set()


def test_invalidate_by_operation_matches_the_exact_operation(
    server: RedisServer,
) -> None:
    async def go() -> tuple[int, int, dict[str, str], AIResponseCache]:
        cache = make(server)
        keys = {
            "sum": key_for(cache, "sum", "alpha"),
            "summarize": key_for(cache, "summarize", "alpha"),
            "summarize2": key_for(cache, "summarize", "beta"),
        }
        try:
            for key in keys.values():
                await cache.set(key, "value")
            removed_sum = await cache.invalidate_by_operation("sum")
            in_l1 = await cache.l1_cache.exists(keys["summarize"])  # type: ignore[union-attr]
            assert in_l1
            assert not await cache.l1_cache.exists(keys["sum"])  # type: ignore[union-attr]
            removed_summarize = await cache.invalidate_by_operation("summarize")
        finally:
            await cache.disconnect()
        return removed_sum, removed_summarize, keys, cache

    removed_sum, removed_summarize, _keys, cache = run(go())
    assert removed_sum == 1
    assert removed_summarize == 2
    assert _redis_keys(server) == set()
    assert cache.ai_metrics["invalidations_by_operation"] == {"sum": 1, "summarize": 2}


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_invalidate_by_operation_rejects_bad_operations(bad: Any) -> None:
    cache = make()
    with pytest.raises(ValidationError):
        run(cache.invalidate_by_operation(bad))


def test_invalidate_pattern_is_one_glob_over_both_tiers(server: RedisServer) -> None:
    async def go() -> tuple[tuple[int, int, int], list[str], str]:
        cache = make(server)
        a = key_for(cache, "summarize", "alpha")
        b = key_for(cache, "qa", "alpha")
        c = key_for(cache, "qa", "beta")
        try:
            for key in (a, b, c):
                await cache.set(key, "v")
            await cache.set("app:alpha", "not AI")
            # "alpha" -> the glob ai_cache:*alpha*: a and b, in L1 and in Redis
            first = await cache.invalidate_pattern("alpha")
            l1_left = cache.l1_cache.get_keys()  # type: ignore[union-attr]
            # a glob that starts with ai_cache: is used as given
            second = await cache.invalidate_pattern("ai_cache:op:qa|*")
            third = await cache.invalidate_pattern("nothing-matches")
        finally:
            await cache.disconnect()
        return (first, second, third), l1_left, c

    counts, l1_left, c = run(go())
    assert counts == (2, 1, 0)
    assert sorted(l1_left) == sorted(["app:alpha", c])
    assert _redis_keys(server) == {"app:alpha"}


def test_invalidate_pattern_records_an_event_and_returns_count(
    server: RedisServer,
) -> None:
    async def go() -> tuple[int, CachePerformanceMonitor]:
        cache = make(server)
        try:
            await cache.set(key_for(cache, "qa"), "v")
            count = await cache.invalidate_pattern("", operation_context="test")
        finally:
            await cache.disconnect()
        assert cache.performance_monitor is not None
        return count, cache.performance_monitor

    count, monitor = run(go())
    assert count == 1
    event = monitor.invalidation_events[-1]
    assert (event.pattern, event.keys_invalidated, event.operation_context) == (
        "ai_cache:*",
        1,
        "test",
    )


def test_clear_only_removes_ai_keys_and_reports_the_count(server: RedisServer) -> None:
    async def go() -> tuple[int, list[str], Any]:
        cache = make(server)
        try:
            await cache.set(key_for(cache, "qa", "one"), "v")
            await cache.set(key_for(cache, "summarize", "two"), "v")
            await cache.set("app:keep", "kept")
            count = await cache.clear()
            l1_keys = cache.l1_cache.get_keys()  # type: ignore[union-attr]
            kept = await cache.get("app:keep")
        finally:
            await cache.disconnect()
        return count, l1_keys, kept

    count, l1_keys, kept = run(go())
    assert count == 2
    assert l1_keys == ["app:keep"]
    assert kept == "kept"
    assert _redis_keys(server) == {"app:keep"}


def test_invalidation_without_redis_uses_l1_only() -> None:
    async def go() -> tuple[int, int]:
        cache = make()  # unreachable port
        try:
            await cache.set(key_for(cache, "qa", "one"), "v")
            await cache.set(key_for(cache, "qa", "two"), "v")
            await cache.set(key_for(cache, "summarize", "three"), "v")
            by_op = await cache.invalidate_by_operation("qa")
            cleared = await cache.clear()
        finally:
            await cache.disconnect()
        return by_op, cleared

    assert run(go()) == (2, 1)


# ------------------------------------------------------------------ statistics


def test_get_cache_stats_shape_and_scan_counted_keys(server: RedisServer) -> None:
    async def go() -> dict[str, Any]:
        cache = make(server)
        try:
            await cache.set(key_for(cache, "qa", "one"), "v")
            await cache.set(key_for(cache, "qa", "two"), "v")
            await cache.set("app:not-counted", "v")
            await cache.get(key_for(cache, "qa", "one"))
            return await cache.get_cache_stats()
        finally:
            await cache.disconnect()

    stats = run(go())
    assert set(stats) == {"redis", "memory", "performance", "ai_metrics", "security"}
    redis = stats["redis"]
    assert redis["status"] == "connected"
    assert redis["keys"] == 2  # ai_cache: keys only, the database holds 3
    assert int(server.cli("DBSIZE")) == 3
    assert {"memory_used", "memory_used_bytes", "connected_clients"} <= set(redis)
    memory = stats["memory"]
    assert memory["memory_cache_entries"] == 3
    assert memory["memory_cache_size_limit"] == 100
    assert memory["memory_cache_utilization"] == "3/100"
    assert stats["performance"]["cache_hits"] == 1
    assert stats["ai_metrics"]["cache_hits_by_operation"] == {"qa": 1}
    assert stats["security"]["configuration"]["tls_enabled"] is False


def test_get_cache_stats_without_redis() -> None:
    async def go() -> dict[str, Any]:
        cache = make()
        try:
            return await cache.get_cache_stats()
        finally:
            await cache.disconnect()

    stats = run(go())
    assert stats["redis"]["status"] == "unavailable"
    assert stats["redis"]["keys"] == 0


def test_hit_ratio_and_summaries(server: RedisServer) -> None:
    async def go() -> AIResponseCache:
        cache = make(server)
        try:
            hit = key_for(cache, "summarize", "hit")
            await cache.set(hit, {"r": 1})
            for _ in range(3):
                assert await cache.get(hit) == {"r": 1}
            assert await cache.get(key_for(cache, "summarize", "miss")) is None
            assert await cache.get(key_for(cache, "qa", "miss")) is None
        finally:
            await cache.disconnect()
        return cache

    cache = run(go())
    assert cache.get_cache_hit_ratio() == pytest.approx(60.0)

    perf = cache.get_performance_summary()
    assert set(perf) == {
        "hit_ratio", "total_operations", "cache_hits", "cache_misses",
        "recent_avg_cache_operation_time", "ai_operation_metrics", "ai_miss_metrics",
        "text_tier_distribution", "recent_ai_operations",
    }  # fmt: skip
    assert perf["ai_operation_metrics"] == {"summarize": 3}
    assert perf["ai_miss_metrics"] == {"summarize": 1, "qa": 1}
    assert perf["recent_ai_operations"] == 1

    ai = cache.get_ai_performance_summary()
    assert set(ai) >= {
        "total_operations", "overall_hit_rate", "hit_rate_by_operation",
        "text_tier_distribution", "key_generation_stats",
        "optimization_recommendations", "inherited_stats",
    }  # fmt: skip
    assert "error" not in ai
    assert ai["total_operations"] == 5
    assert ai["overall_hit_rate"] == 60.0
    # The original's shape: operation -> float percentage (2 dp), so
    # f"{rate:.1f}%" works; the richer per-operation dict has its own key.
    assert ai["hit_rate_by_operation"] == {"qa": 0.0, "summarize": 75.0}
    assert f"{ai['hit_rate_by_operation']['summarize']:.1f}%" == "75.0%"
    assert ai["operation_hit_details"]["summarize"] == {
        "hit_rate": 75.0, "total_requests": 4, "hits": 3, "misses": 1,
    }  # fmt: skip
    # inherited_stats is the monitor's get_performance_stats() (spec 10.3).
    assert ai["inherited_stats"]["total_cache_operations"] == (
        cache.performance_monitor.total_operations
    )
    assert "cache_hit_rate" in ai["inherited_stats"]
    assert ai["text_tier_distribution"] == {"small": 3}

    ops = cache.get_operation_performance()
    assert set(ops["operations"]) == {"summarize", "qa"}
    summarize = ops["operations"]["summarize"]
    assert summarize["configured_ttl"] == 777
    assert summarize["sample_count"] == 5  # 1 set + 4 gets
    assert set(summarize["percentiles"]) == {"p50", "p95", "p99"}
    assert (
        summarize["min_duration_ms"]
        <= summarize["avg_duration_ms"]
        <= summarize["max_duration_ms"]
    )
    assert ops["summary"]["total_operation_types"] == 2
    assert ops["summary"]["total_operations_measured"] == 6


def test_empty_ai_summary_has_zeros() -> None:
    ai = make().get_ai_performance_summary()
    assert ai["total_operations"] == 0
    assert ai["overall_hit_rate"] == 0.0
    assert ai["optimization_recommendations"] == []


def test_low_hit_rate_recommendation_is_high_priority() -> None:
    cache = make()
    cache.ai_metrics["cache_misses_by_operation"]["qa"] = 20
    cache.ai_metrics["cache_hits_by_operation"]["qa"] = 1
    recs = cache._generate_ai_optimization_recommendations()
    assert recs[0]["type"] == "hit_rate" and recs[0]["priority"] == "high"
    assert set(recs[0]) == {
        "type", "priority", "title", "description", "action", "estimated_impact", "metrics",
    }  # fmt: skip
    priorities = [r["priority"] for r in recs]
    assert priorities == sorted(priorities, key=["high", "medium", "low"].index)


# ------------------------------------------------------------------ text tiers


def test_text_tiers_are_a_plain_dict_without_mock() -> None:
    cache = make(text_size_tiers={"small": 10, "medium": 100, "large": 1000})
    assert type(cache.text_size_tiers) is dict
    assert len(cache.text_size_tiers) == 3
    source = inspect.getsource(redis_ai)
    assert "import unittest" not in source and "from unittest" not in source
    assert make().text_size_tiers == {"small": 500, "medium": 5000, "large": 50000}


@pytest.mark.parametrize(
    ("length", "tier"),
    [(0, "small"), (9, "small"), (10, "medium"), (99, "medium"), (100, "large"),
     (999, "large"), (1000, "xlarge")],
)  # fmt: skip
def test_get_text_tier_boundaries(length: int, tier: str) -> None:
    cache = make(text_size_tiers={"small": 10, "medium": 100, "large": 1000})
    assert cache._get_text_tier("a" * length) == tier


def test_get_text_tier_rejects_non_strings() -> None:
    with pytest.raises(ValidationError):
        make()._get_text_tier(b"bytes")  # type: ignore[arg-type]


def test_tier_statistics_from_keys() -> None:
    cache = make(text_size_tiers={"small": 10, "medium": 100, "large": 1000})
    assert cache._get_text_tier_from_key(cache.build_key("short", "qa", {})) == "small"
    assert (
        cache._get_text_tier_from_key(cache.build_key("m" * 50, "qa", {})) == "medium"
    )
    assert (
        cache._get_text_tier_from_key(cache.build_key("l" * 5000, "qa", {})) == "xlarge"
    )
    assert cache._get_text_tier_from_key("not-an-ai-key") == "unknown"
    cache._ai_get_success_callback(cache.build_key("short", "qa", {}), 1)
    stats = cache.get_text_tier_statistics()
    assert stats["tier_configuration"] == {"small": 10, "medium": 100, "large": 1000}
    assert stats["tier_distribution"] == {
        "small": 1,
        "medium": 0,
        "large": 0,
        "xlarge": 0,
    }
    assert stats["data_completeness"]["recorded_tiers"] == ["small"]
    assert stats["data_completeness"]["missing_tiers"] == ["medium", "large", "xlarge"]
    assert stats["data_completeness"]["completeness_percentage"] == 25.0


def test_extract_operation_and_promotion_rules() -> None:
    cache = make()
    assert (
        cache._extract_operation_from_key("ai_cache:op:summarize|txt:x") == "summarize"
    )
    assert cache._extract_operation_from_key("ai_cache:op:qa") == "qa"
    assert cache._extract_operation_from_key("other:op:qa|x") == "unknown"
    assert cache._should_promote_to_memory("small", "anything") is True
    assert cache._should_promote_to_memory("medium", "summarize") is True
    assert cache._should_promote_to_memory("medium", "qa") is False
    assert cache._should_promote_to_memory("large", "sentiment") is True
    assert cache._should_promote_to_memory("xlarge", "sentiment") is False


# ------------------------------------------------------------------ properties


def test_memory_cache_properties(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> AIResponseCache:
        cache = make(l1_cache_size=7)
        await cache.set("ai_cache:op:qa|txt:a", 1)
        await cache.set("ai_cache:op:qa|txt:b", 2)
        await cache.get("ai_cache:op:qa|txt:a")
        await cache.disconnect()
        return cache

    cache = run(go())
    assert cache.memory_cache_size == 7
    assert set(cache.memory_cache) == {"ai_cache:op:qa|txt:a", "ai_cache:op:qa|txt:b"}
    assert cache.memory_cache_order == ["ai_cache:op:qa|txt:b", "ai_cache:op:qa|txt:a"]
    with caplog.at_level(logging.WARNING):
        cache.memory_cache = {}
    assert len(cache.memory_cache) == 2
    del cache.memory_cache
    assert cache.memory_cache == {}
    no_l1 = make(enable_l1_cache=False)
    assert (no_l1.memory_cache, no_l1.memory_cache_size, no_l1.memory_cache_order) == (
        {},
        0,
        [],
    )


def test_redis_available_flag_of_this_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_ai, "REDIS_AVAILABLE", False)
    cache = make()
    assert run(cache.connect()) is False


def test_private_helpers_of_the_original_exist() -> None:
    names = [
        "_generate_cache_key",
        "_get_text_tier",
        "_get_text_tier_from_key",
        "_extract_operation_from_key",
        "_record_cache_operation",
        "_should_promote_to_memory",
        "_get_recent_avg_cache_operation_time",
        "_analyze_tier_performance",
        "_record_ai_cache_hit",
        "_record_ai_cache_miss",
        "_record_operation_performance",
        "_generate_ai_optimization_recommendations",
        "_ai_get_success_callback",
        "_ai_get_miss_callback",
        "_ai_set_success_callback",
    ]
    cache = make()
    for name in names:
        assert callable(getattr(cache, name)), name
    assert cache._generate_cache_key("t", "qa", {}) == cache.build_key("t", "qa", {})
    cache._record_cache_operation("get", 0.001, True, 5, {"cache_tier": "l1"})
    assert cache.performance_monitor is not None
    assert cache.performance_monitor.cache_hits == 1
