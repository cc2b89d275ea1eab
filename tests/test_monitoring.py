"""CachePerformanceMonitor (spec section 11, 5.4, 17; fixes 21.6 and 21.20)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import pickle
import threading
import time
from datetime import datetime
from typing import Any

import pydantic
import pytest

from aicache import monitoring
from aicache.exceptions import ValidationError
from aicache.monitoring import (
    LATENCY_BUCKETS_SECONDS,
    CachePerformanceMonitor,
    CompressionMetric,
    InvalidationMetric,
    MeasurementBuffer,
    MemoryUsageMetric,
    PerformanceMetric,
)

MIB = 1024 * 1024
LOGGER = "aicache.monitoring"


class FakeClock:
    """Replaces time.time (the monitor looks it up at call time)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(time, "time", fake)
    return fake


@pytest.fixture
def monitor() -> CachePerformanceMonitor:
    return CachePerformanceMonitor(retention_hours=1, max_measurements=100)


# The internal API's response model (spec section 17), strict so that int fields
# really are ints and no unknown keys slip into the typed sections.
class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="forbid")


class KeyGenerationStats(_Strict):
    total_operations: int
    avg_duration: float
    median_duration: float
    max_duration: float
    min_duration: float
    avg_text_length: float
    max_text_length: int
    slow_operations: int


class OperationTypeStats(_Strict):
    count: int
    avg_duration: float
    max_duration: float


class CacheOperationStats(_Strict):
    total_operations: int
    avg_duration: float
    median_duration: float
    max_duration: float
    min_duration: float
    slow_operations: int
    by_operation_type: dict[str, OperationTypeStats]


class CompressionStats(_Strict):
    total_operations: int
    avg_compression_ratio: float
    median_compression_ratio: float
    best_compression_ratio: float
    worst_compression_ratio: float
    avg_compression_time: float
    max_compression_time: float
    total_bytes_processed: int
    total_bytes_saved: int
    overall_savings_percent: float


class CachePerformanceResponse(_Strict):
    timestamp: str
    retention_hours: int
    cache_hit_rate: float
    total_cache_operations: int
    cache_hits: int
    cache_misses: int
    key_generation: KeyGenerationStats | None = None
    cache_operations: CacheOperationStats | None = None
    compression: CompressionStats | None = None
    memory_usage: dict[str, Any] | None = None
    invalidation: dict[str, Any] | None = None


def _fill(m: CachePerformanceMonitor) -> None:
    m.record_key_generation_time(0.05, 1000, "summarize")
    m.record_key_generation_time(0.08, 2000, "sentiment")
    m.record_key_generation_time(0.12, 3000, "summarize")
    m.record_cache_operation_time("get", 0.02, True, 500, {"cache_tier": "l1"})
    m.record_cache_operation_time("get", 0.03, False, 1000, {"cache_tier": "redis"})
    m.record_cache_operation_time("set", 0.04, True, 800)
    m.record_compression_ratio(1000, 600, 0.01, "summarize")
    m.record_compression_ratio(2000, 1000, 0.02, "sentiment")
    m.record_memory_usage({"key1": {"data": "value1"}})
    m.record_invalidation_event("ai_cache:op:summarize", 5, 0.02, "manual")


# ------------------------------------------------------------------ dataclasses


def test_performance_metric_defaults() -> None:
    metric = PerformanceMetric(duration=0.05, text_length=500, timestamp=1.0)
    assert metric.operation_type == ""
    assert metric.additional_data == {}
    other = PerformanceMetric(0.05, 500, 1.0)
    assert metric.additional_data is not other.additional_data


def test_compression_metric_post_init_ratio() -> None:
    auto = CompressionMetric(1000, 600, 0, 0.02, 1.0)
    assert auto.compression_ratio == 0.6
    assert auto.operation_type == ""
    kept = CompressionMetric(1000, 600, 0.9, 0.02, 1.0)
    assert kept.compression_ratio == 0.9
    empty = CompressionMetric(0, 0, 0, 0.02, 1.0)
    assert empty.compression_ratio == 0


def test_memory_and_invalidation_metric_defaults() -> None:
    mem = MemoryUsageMetric(1, 2, 3.0, 4, 5, 6.0, 7.0, 8.0)
    assert mem.warning_threshold_reached is False
    assert mem.additional_data == {}
    inv = InvalidationMetric("p", 3, 0.1, 1.0)
    assert (inv.invalidation_type, inv.operation_context) == ("", "")
    assert inv.additional_data == {}


# ------------------------------------------------------------------ constructor


def test_constructor_defaults_and_thresholds() -> None:
    m = CachePerformanceMonitor()
    assert m.retention_hours == 1
    assert m.max_measurements == 1000
    assert m.memory_warning_threshold_bytes == 50 * MIB
    assert m.memory_critical_threshold_bytes == 100 * MIB
    assert m.key_generation_threshold == 0.1
    assert m.cache_operation_threshold == 0.05
    assert m.invalidation_rate_warning_per_hour == 50
    assert m.invalidation_rate_critical_per_hour == 100
    counters = (
        m.cache_hits,
        m.cache_misses,
        m.total_operations,
        m.total_invalidations,
        m.total_keys_invalidated,
    )
    assert counters == (0, 0, 0, 0, 0)
    for name in (
        "key_generation_times",
        "cache_operation_times",
        "compression_ratios",
        "memory_usage_measurements",
        "invalidation_events",
    ):
        buf = getattr(m, name)
        assert isinstance(buf, MeasurementBuffer)
        assert len(buf) == 0 and buf == [] and buf.maxlen == 1000


def test_constructor_custom_values() -> None:
    m = CachePerformanceMonitor(2, 500, 25 * MIB, 50 * MIB)
    assert (m.retention_hours, m.max_measurements) == (2, 500)
    assert m.memory_warning_threshold_bytes == 25 * MIB
    assert m.memory_critical_threshold_bytes == 50 * MIB


@pytest.mark.parametrize(
    "kwargs",
    [
        {"retention_hours": 0},
        {"retention_hours": -1},
        {"retention_hours": "1"},
        {"retention_hours": True},
        {"retention_hours": math.inf},
        {"max_measurements": 0},
        {"max_measurements": -3},
        {"max_measurements": 2.5},
        {"max_measurements": "many"},
        {"memory_warning_threshold_bytes": 0},
        {"memory_critical_threshold_bytes": -5},
    ],
)
def test_constructor_accepts_any_values(kwargs: dict[str, Any]) -> None:
    # issue 11 item 1: the original stores whatever it is given; so does aicache,
    # and no record_* raises whatever the configuration.
    m = CachePerformanceMonitor(**kwargs)
    ((name, value),) = kwargs.items()
    assert getattr(m, name) == value
    m.record_cache_operation_time("get", 0.01, True)
    m.record_key_generation_time(0.01, 10, "summarize")
    m.record_compression_ratio(100, 50, 0.001)
    m.record_invalidation_event("p", 1, 0.01)
    m.record_memory_usage({"k": "v"})
    assert (m.total_operations, m.cache_hits, m.total_invalidations) == (1, 1, 1)
    assert m.get_performance_stats()["cache_hits"] == 1


@pytest.mark.parametrize("capacity", [0, -1])
def test_non_positive_capacity_keeps_nothing(capacity: int) -> None:
    m = CachePerformanceMonitor(max_measurements=capacity)
    m.record_cache_operation_time("get", 0.01, True)
    m.record_key_generation_time(0.01, 10)
    m.record_invalidation_event("p", 1, 0.01)
    assert len(m.cache_operation_times) == 0
    assert len(m.key_generation_times) == 0
    assert len(m.invalidation_events) == 0
    assert m.export_metrics()["cache_operation_times"] == []
    stats = m.get_performance_stats()
    assert "cache_operations" not in stats and stats["total_cache_operations"] == 1


# ------------------------------------------------------------------ recording


def test_record_key_generation_time(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    monitor.record_key_generation_time(0.05, 1000, "summarize", {"model": "x"})
    (metric,) = monitor.key_generation_times
    assert metric == PerformanceMetric(
        0.05, 1000, clock.now, "summarize", {"model": "x"}
    )
    monitor.record_key_generation_time(0.025, 250)
    assert monitor.key_generation_times[-1].operation_type == ""
    assert monitor.key_generation_times[-1].additional_data == {}


def test_slow_key_generation_logs_warning(
    monitor: CachePerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    monitor.record_key_generation_time(0.1, 10, "fast_enough")  # not > threshold
    assert not caplog.records
    monitor.record_key_generation_time(0.15, 5000, "summarize")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "Slow key generation" in record.getMessage()
    assert "0.150s" in record.getMessage() and "5000 chars" in record.getMessage()


def test_record_cache_operation_counts_hits_for_gets_only(
    monitor: CachePerformanceMonitor,
) -> None:
    monitor.record_cache_operation_time("get", 0.01, True, 500, {"tier": "small"})
    monitor.record_cache_operation_time("get", 0.01, False)
    monitor.record_cache_operation_time("set", 0.01, False)
    monitor.record_cache_operation_time("delete", 0.01, True)
    monitor.record_cache_operation_time("invalidate", 0.01, True)
    assert monitor.total_operations == 5
    assert (monitor.cache_hits, monitor.cache_misses) == (1, 1)
    first = monitor.cache_operation_times[0]
    assert (first.operation_type, first.text_length) == ("get", 500)
    assert first.additional_data == {"tier": "small"}
    assert [m.operation_type for m in monitor.cache_operation_times] == [
        "get",
        "get",
        "set",
        "delete",
        "invalidate",
    ]


def test_slow_cache_operation_logs_warning(
    monitor: CachePerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    monitor.record_cache_operation_time("get", 0.05, True)
    assert not caplog.records
    monitor.record_cache_operation_time("get", 0.08, True, 2000)
    (record,) = caplog.records
    assert "Slow cache get" in record.getMessage()
    assert "0.080s" in record.getMessage()


def test_hit_rate_counts_gets_only(monitor: CachePerformanceMonitor) -> None:
    """Fix for spec 21 item 6: sets, deletes and integration ops are not lookups."""
    assert monitor._calculate_hit_rate() == 0.0
    for _ in range(3):
        monitor.record_cache_operation_time("set", 0.001, True)
    assert monitor._calculate_hit_rate() == 0.0  # no gets yet
    monitor.record_cache_operation_time("get", 0.001, True)
    monitor.record_cache_operation_time("get", 0.001, True)
    monitor.record_cache_operation_time("get", 0.001, True)
    monitor.record_cache_operation_time("get", 0.001, False)
    asyncio.run(monitor.record_operation("security_validation", 5.0, True))
    assert monitor._calculate_hit_rate() == 75.0
    stats = monitor.get_performance_stats()
    assert stats["cache_hit_rate"] == 75.0
    assert stats["total_cache_operations"] == 8
    assert (stats["cache_hits"], stats["cache_misses"]) == (3, 1)
    monitor.cache_hits, monitor.cache_misses = 7, 3
    assert monitor._calculate_hit_rate() == 70.0


def test_record_operation_maps_to_cache_operation(
    monitor: CachePerformanceMonitor,
) -> None:
    asyncio.run(monitor.record_operation("secure_connection_create", 250.0, False))
    (metric,) = monitor.cache_operation_times
    assert metric.operation_type == "secure_connection_create"
    assert metric.duration == 0.25
    assert metric.additional_data == {"source": "integration"}
    assert monitor.total_operations == 1
    assert (monitor.cache_hits, monitor.cache_misses) == (0, 0)
    tiers = monitor.get_tier_stats()["secure_connection_create"]["unknown"]
    assert (tiers["successes"], tiers["failures"]) == (0, 1)


def test_record_compression_ratio(monitor: CachePerformanceMonitor) -> None:
    monitor.record_compression_ratio(1000, 600, 0.01, "summarize")
    monitor.record_compression_ratio(500, 600, 0.01)  # expansion
    monitor.record_compression_ratio(0, 0, 0.001, "empty")
    ratios = [m.compression_ratio for m in monitor.compression_ratios]
    assert ratios == [0.6, 1.2, 1.0]
    assert monitor.compression_ratios[0].operation_type == "summarize"
    monitor.record_compression_ratio(-1, 5, 0.01)  # stored as given
    assert len(monitor.compression_ratios) == 4
    assert monitor.compression_ratios[-1].original_size == -1


def test_record_stores_values_as_given(monitor: CachePerformanceMonitor) -> None:
    # issue 11 item 1: values read back as given; no record_* raises.
    data = {"k": 1}
    monitor.record_key_generation_time(-0.5, -1, None, data)  # type: ignore[arg-type]
    monitor.record_key_generation_time("0.1", 1.5, 7)  # type: ignore[arg-type]
    monitor.record_cache_operation_time(None, -0.25, True)  # type: ignore[arg-type]
    monitor.record_cache_operation_time("get", math.nan, False, -3, ["x"])  # type: ignore[arg-type]
    monitor.record_invalidation_event(None, -3, -0.1)  # type: ignore[arg-type]
    metric = monitor.record_memory_usage(["not", "a", "mapping"])  # type: ignore[arg-type]
    assert metric.memory_cache_entry_count == 3
    first, second = monitor.key_generation_times
    assert (first.duration, first.text_length, first.operation_type) == (-0.5, -1, None)
    assert first.additional_data is data
    assert (second.duration, second.text_length, second.operation_type) == (
        "0.1",
        1.5,
        7,
    )
    assert second.additional_data == {}
    ops = monitor.cache_operation_times
    assert (ops[0].operation_type, ops[0].duration) == (None, -0.25)
    assert math.isnan(ops[1].duration)
    assert (ops[1].text_length, ops[1].additional_data) == (-3, ["x"])
    (event,) = monitor.invalidation_events
    assert (event.pattern, event.keys_invalidated, event.duration) == (None, -3, -0.1)
    assert monitor.total_operations == 2
    assert (monitor.cache_hits, monitor.cache_misses) == (0, 1)
    assert monitor.total_keys_invalidated == -3


def test_edge_values_zero_and_negative_durations(
    monitor: CachePerformanceMonitor,
) -> None:
    monitor.record_cache_operation_time("get", 0, True)
    monitor.record_cache_operation_time("get", -0.5, True)  # wall clock stepped back
    monitor.record_key_generation_time(0.0, 0)
    assert [m.duration for m in monitor.cache_operation_times] == [0, -0.5]
    stats = monitor.get_performance_stats()
    assert stats["cache_operations"]["min_duration"] == -0.5
    assert stats["key_generation"]["avg_text_length"] == 0.0
    CachePerformanceResponse.model_validate(stats)
    slow = monitor.get_recent_slow_operations()
    assert slow == {"key_generation": [], "cache_operations": [], "compression": []}


def test_additional_data_is_stored_as_given(
    monitor: CachePerformanceMonitor,
) -> None:
    from types import MappingProxyType

    proxy = MappingProxyType({"a": 1})
    monitor.record_key_generation_time(0.1, 1, "", proxy)  # type: ignore[arg-type]
    assert monitor.key_generation_times[0].additional_data is proxy  # as given


# ------------------------------------------------------------------ memory


def test_record_memory_usage_with_redis_stats(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    cache = {"key1": {"data": "test"}}
    metric = monitor.record_memory_usage(
        cache, {"memory_used_bytes": MIB, "keys": 50}, {"note": "x"}
    )
    assert monitor.memory_usage_measurements[-1] is metric
    assert metric.memory_cache_entry_count == 1
    assert metric.cache_entry_count == 51
    assert metric.memory_cache_size_bytes == monitor._calculate_dict_size(cache)
    assert metric.total_cache_size_bytes == metric.memory_cache_size_bytes + MIB
    assert metric.avg_entry_size_bytes == float(metric.memory_cache_size_bytes)
    assert metric.cache_utilization_percent == pytest.approx(
        metric.total_cache_size_bytes / (50 * MIB) * 100
    )
    assert metric.timestamp == clock.now
    assert metric.additional_data == {"note": "x"}
    assert not metric.warning_threshold_reached


def test_record_memory_usage_empty_cache_and_bad_redis_values(
    monitor: CachePerformanceMonitor,
) -> None:
    metric = monitor.record_memory_usage(
        {}, {"memory_used_bytes": "2048", "keys": None}
    )
    assert metric.memory_cache_entry_count == 0
    assert metric.avg_entry_size_bytes == 0.0
    assert metric.total_cache_size_bytes == metric.memory_cache_size_bytes + 2048
    assert metric.cache_entry_count == 0
    # "keys" without "memory_used_bytes" is ignored, as in the original
    metric = monitor.record_memory_usage({}, {"keys": 9})
    assert metric.cache_entry_count == 0


def test_dict_size_walks_containers_and_survives_cycles(
    monitor: CachePerformanceMonitor,
) -> None:
    flat = {"key": "value"}
    nested = {"level1": {"level2": {"data": ["item1", "item2", ("t", {"s"})]}}}
    assert monitor._calculate_dict_size(flat) > 0
    assert monitor._calculate_dict_size(nested) > monitor._calculate_dict_size(flat)
    cyclic: dict[str, Any] = {"a": [1, 2]}
    cyclic["self"] = cyclic
    cyclic["a"].append(cyclic)
    size = monitor._calculate_dict_size(cyclic)
    assert 0 < size < 10_000


@pytest.mark.parametrize("critical", [False, True])
def test_memory_thresholds_log(
    critical: bool, caplog: pytest.LogCaptureFixture
) -> None:
    m = CachePerformanceMonitor(
        memory_warning_threshold_bytes=1000,
        memory_critical_threshold_bytes=10**9 if not critical else 2000,
    )
    caplog.set_level(logging.WARNING, LOGGER)
    metric = m.record_memory_usage(
        {f"key_{i}": {"data": "x" * 100} for i in range(100)}
    )
    assert metric.warning_threshold_reached
    (record,) = caplog.records
    if critical:
        assert record.levelno == logging.ERROR
        assert record.getMessage().startswith("Critical cache memory usage")
    else:
        assert record.levelno == logging.WARNING
        assert record.getMessage().startswith("High cache memory usage")


def test_process_memory_sources(
    monitor: CachePerformanceMonitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    class _Info:
        rss = 256 * MIB

    class _Process:
        def memory_info(self) -> _Info:
            return _Info()

    class _Psutil:
        Process = _Process

    monkeypatch.setattr(monitoring, "psutil", _Psutil())
    assert monitor._get_process_memory_mb() == 256.0

    monkeypatch.setattr(monitoring, "psutil", None)
    with open("/proc/self/status") as f:
        vm_rss_kb = next(
            int(line.split()[1]) for line in f if line.startswith("VmRSS:")
        )
    measured = monitor._get_process_memory_mb()
    assert measured > 0
    assert abs(measured - vm_rss_kb / 1024) < 64  # same process, moments apart

    def _no_proc(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no /proc")

    monkeypatch.setattr("builtins.open", _no_proc)
    assert monitor._get_process_memory_mb() == 0.0


def test_get_memory_usage_stats_shapes(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    assert monitor.get_memory_usage_stats() == {
        "no_measurements": True,
        "warning_threshold_mb": 50.0,
        "critical_threshold_mb": 100.0,
    }
    for i in range(12):
        clock.now += 180  # 0.05 h apart, all within the 1 h retention
        monitor.record_memory_usage(
            {}, {"memory_used_bytes": (i + 1) * MIB, "keys": i + 1}
        )
    stats = monitor.get_memory_usage_stats()
    assert set(stats) == {"current", "thresholds", "trends"}
    assert set(stats["current"]) == {
        "total_cache_size_mb",
        "memory_cache_size_mb",
        "cache_entry_count",
        "memory_cache_entry_count",
        "avg_entry_size_bytes",
        "process_memory_mb",
        "cache_utilization_percent",
        "warning_threshold_reached",
    }
    assert stats["current"]["cache_entry_count"] == 12
    assert stats["thresholds"] == {
        "warning_threshold_mb": 50.0,
        "critical_threshold_mb": 100.0,
        "warning_threshold_reached": False,
        "critical_threshold_reached": False,
    }
    trends = stats["trends"]
    assert trends["total_measurements"] == 12
    # trends cover the last 10 snapshots: keys 3..12
    assert trends["avg_entry_count"] == sum(range(3, 13)) / 10
    assert trends["max_entry_count"] == 12
    empty_size = monitor.memory_usage_measurements[0].memory_cache_size_bytes
    assert trends["max_total_cache_size_mb"] == pytest.approx(12 + empty_size / MIB)
    # 9 MiB over 9 * 0.05 h = 20 MiB per hour
    assert trends["growth_rate_mb_per_hour"] == pytest.approx(20.0)


def test_growth_rate_absent_without_time_span(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    monitor.record_memory_usage({})
    monitor.record_memory_usage({"a": 1})
    assert "growth_rate_mb_per_hour" not in monitor.get_memory_usage_stats()["trends"]


def test_get_memory_warnings() -> None:
    m = CachePerformanceMonitor(
        memory_warning_threshold_bytes=MIB, memory_critical_threshold_bytes=2 * MIB
    )
    assert m.get_memory_warnings() == []
    m.record_memory_usage({"a": 1})
    assert m.get_memory_warnings() == []
    m.record_memory_usage({}, {"memory_used_bytes": int(1.5 * MIB)})
    (warning,) = m.get_memory_warnings()
    assert warning["severity"] == "warning"
    assert "exceeding warning threshold of 1.0MB" in warning["message"]
    assert warning["recommendations"]
    m.record_memory_usage({i: i for i in range(95)}, {"memory_used_bytes": 3 * MIB})
    critical, info = m.get_memory_warnings()
    assert critical["severity"] == "critical"
    assert "critical threshold of 2.0MB" in critical["message"]
    assert info["severity"] == "info"
    assert info["message"] == "Memory cache is 95.0% full (95/100 entries)"


# ------------------------------------------------------------------ invalidation


def test_record_invalidation_event(monitor: CachePerformanceMonitor) -> None:
    monitor.record_invalidation_event(
        "test_pattern", 5, 0.025, "manual", "test_context", {"user": "u"}
    )
    monitor.record_invalidation_event("simple", 0, 0.01)
    assert (monitor.total_invalidations, monitor.total_keys_invalidated) == (2, 5)
    first, second = monitor.invalidation_events
    assert first.pattern == "test_pattern" and first.operation_context == "test_context"
    assert first.additional_data == {"user": "u"}
    assert second.invalidation_type == "manual" and second.operation_context == ""


def test_invalidation_rate_logging(
    monitor: CachePerformanceMonitor, caplog: pytest.LogCaptureFixture
) -> None:
    monitor.invalidation_rate_warning_per_hour = 2
    monitor.invalidation_rate_critical_per_hour = 4
    caplog.set_level(logging.WARNING, LOGGER)
    monitor.record_invalidation_event("p0", 1, 0.01)
    assert not caplog.records
    monitor.record_invalidation_event("p1", 1, 0.01)
    assert caplog.records[-1].levelno == logging.WARNING
    assert "High invalidation rate: 2 invalidations" in caplog.records[-1].getMessage()
    monitor.record_invalidation_event("p2", 1, 0.01)
    monitor.record_invalidation_event("p3", 1, 0.01)
    assert caplog.records[-1].levelno == logging.ERROR
    assert "Critical invalidation rate: 4" in caplog.records[-1].getMessage()


def test_invalidations_in_last_hour(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    monitor.invalidation_events.append(
        InvalidationMetric("old", 1, 0.01, timestamp=clock.now - 3700)
    )
    for i in range(3):
        monitor.record_invalidation_event(f"recent_{i}", 1, 0.01)
    assert monitor._get_invalidations_in_last_hour() == 3
    clock.now += 3600
    assert monitor._get_invalidations_in_last_hour() == 0


def test_invalidation_frequency_stats(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    assert monitor.get_invalidation_frequency_stats() == {
        "no_invalidations": True,
        "total_invalidations": 0,
        "total_keys_invalidated": 0,
        "warning_threshold_per_hour": 50,
        "critical_threshold_per_hour": 100,
    }
    patterns = ["a", "b", "a", "c", "a"]
    types = ["manual", "automatic", "manual", "ttl_expired", "manual"]
    for i, (pattern, kind) in enumerate(zip(patterns, types, strict=True)):
        monitor.record_invalidation_event(pattern, i + 1, 0.01 * (i + 1), kind)
    stats = monitor.get_invalidation_frequency_stats()
    assert stats["total_invalidations"] == 5
    assert stats["total_keys_invalidated"] == 15
    assert stats["rates"] == {
        "last_hour": 5,
        "last_24_hours": 5,
        "average_per_hour": 5.0,
    }
    assert stats["thresholds"] == {
        "warning_per_hour": 50,
        "critical_per_hour": 100,
        "current_alert_level": "normal",
    }
    assert list(stats["patterns"]["most_common_patterns"].items()) == [
        ("a", 3),
        ("b", 1),
        ("c", 1),
    ]
    assert stats["patterns"]["invalidation_types"] == {
        "manual": 3,
        "automatic": 1,
        "ttl_expired": 1,
    }
    assert stats["efficiency"] == {
        "avg_keys_per_invalidation": 3.0,
        "avg_duration": pytest.approx(0.03),
        "max_duration": 0.05,
    }
    monitor.invalidation_rate_warning_per_hour = 5
    assert stats_level(monitor) == "warning"
    monitor.invalidation_rate_critical_per_hour = 5
    assert stats_level(monitor) == "critical"
    clock.now += 2 * 3600  # beyond the hour, still within 24 h
    rates = monitor.get_invalidation_frequency_stats()["rates"]
    assert (rates["last_hour"], rates["last_24_hours"]) == (0, 5)


def stats_level(m: CachePerformanceMonitor) -> str:
    level: str = m.get_invalidation_frequency_stats()["thresholds"][
        "current_alert_level"
    ]
    return level


def test_invalidation_pattern_analysis_uses_last_50(
    monitor: CachePerformanceMonitor,
) -> None:
    for i in range(60):
        monitor.record_invalidation_event("early" if i < 10 else f"p{i % 12}", 1, 0.0)
    patterns = monitor.get_invalidation_frequency_stats()["patterns"]
    assert "early" not in patterns["most_common_patterns"]
    assert len(patterns["most_common_patterns"]) == 10
    assert sum(patterns["invalidation_types"].values()) == 50


def _issues(m: CachePerformanceMonitor) -> dict[str, dict[str, Any]]:
    return {r["issue"]: r for r in m.get_invalidation_recommendations()}


def test_invalidation_recommendations(monitor: CachePerformanceMonitor) -> None:
    assert monitor.get_invalidation_recommendations() == []

    monitor.invalidation_rate_warning_per_hour = 2
    for i in range(3):
        monitor.record_invalidation_event(f"pattern_{i}", 1, 0.01)
    rec = _issues(monitor)["High invalidation frequency"]
    assert rec["severity"] == "warning"
    assert rec["message"] == "Cache is being invalidated 3 times per hour"
    assert rec["suggestions"]
    monitor.invalidation_rate_critical_per_hour = 3
    assert _issues(monitor)["High invalidation frequency"]["severity"] == "critical"

    for rec in monitor.get_invalidation_recommendations():
        assert set(rec) == {"severity", "issue", "message", "suggestions"}


def test_invalidation_recommendation_dominant_pattern() -> None:
    m = CachePerformanceMonitor()
    for _ in range(10):
        m.record_invalidation_event("dominant_pattern", 1, 0.01)
    m.record_invalidation_event("other_pattern", 1, 0.01)
    rec = _issues(m)["Dominant invalidation pattern"]
    assert rec["severity"] == "info"
    assert "'dominant_pattern' accounts for 10" in rec["message"]
    assert set(_issues(m)) == {"Dominant invalidation pattern"}


def test_invalidation_recommendation_efficiency() -> None:
    low = CachePerformanceMonitor()
    for i in range(5):
        low.record_invalidation_event(f"p{i}", 0, 0.01)
    rec = _issues(low)["Low invalidation efficiency"]
    assert rec["severity"] == "info"
    assert "0.0 keys invalidated" in rec["message"]

    high = CachePerformanceMonitor()
    for i in range(3):
        high.record_invalidation_event(f"p{i}", 150, 0.01)
    rec = _issues(high)["High invalidation impact"]
    assert rec["severity"] == "warning"
    assert "150 keys invalidated" in rec["message"]


# ------------------------------------------------------------------ statistics


def test_get_performance_stats_empty(monitor: CachePerformanceMonitor) -> None:
    stats = monitor.get_performance_stats()
    assert set(stats) == {
        "timestamp",
        "retention_hours",
        "cache_hit_rate",
        "total_cache_operations",
        "cache_hits",
        "cache_misses",
    }
    assert stats["cache_hit_rate"] == 0.0 and isinstance(stats["cache_hit_rate"], float)
    datetime.fromisoformat(stats["timestamp"])
    CachePerformanceResponse.model_validate(stats)


def test_get_performance_stats_with_data(monitor: CachePerformanceMonitor) -> None:
    _fill(monitor)
    stats = monitor.get_performance_stats()
    response = CachePerformanceResponse.model_validate(stats)
    assert response.retention_hours == 1
    assert stats["cache_hit_rate"] == 50.0  # one hit, one miss; the set is not a lookup
    assert stats["total_cache_operations"] == 3

    key_gen = stats["key_generation"]
    assert key_gen["total_operations"] == 3
    assert key_gen["avg_duration"] == (0.05 + 0.08 + 0.12) / 3
    assert key_gen["median_duration"] == 0.08
    assert (key_gen["min_duration"], key_gen["max_duration"]) == (0.05, 0.12)
    assert key_gen["avg_text_length"] == 2000.0
    assert key_gen["max_text_length"] == 3000
    assert key_gen["slow_operations"] == 1

    ops = stats["cache_operations"]
    assert ops["total_operations"] == 3
    assert ops["avg_duration"] == (0.02 + 0.03 + 0.04) / 3
    assert ops["slow_operations"] == 0
    assert ops["by_operation_type"] == {
        "get": {"count": 2, "avg_duration": 0.025, "max_duration": 0.03},
        "set": {"count": 1, "avg_duration": 0.04, "max_duration": 0.04},
    }

    comp = stats["compression"]
    assert comp["avg_compression_ratio"] == pytest.approx(0.55)
    assert comp["median_compression_ratio"] == pytest.approx(0.55)
    assert (comp["best_compression_ratio"], comp["worst_compression_ratio"]) == (
        0.5,
        0.6,
    )
    assert comp["avg_compression_time"] == pytest.approx(0.015)
    assert comp["max_compression_time"] == 0.02
    assert (comp["total_bytes_processed"], comp["total_bytes_saved"]) == (3000, 1400)
    assert comp["overall_savings_percent"] == pytest.approx(1400 / 3000 * 100)

    assert set(stats["memory_usage"]) == {"current", "thresholds", "trends"}
    assert stats["invalidation"]["total_keys_invalidated"] == 5


def test_compression_stats_with_zero_sizes(monitor: CachePerformanceMonitor) -> None:
    monitor.record_compression_ratio(0, 0, 0.0)
    comp = monitor.get_performance_stats()["compression"]
    assert comp["overall_savings_percent"] == 0.0
    assert comp["total_bytes_processed"] == 0
    assert comp["avg_compression_ratio"] == 1.0


def test_get_recent_slow_operations(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    monitor.record_key_generation_time(0.001, 1000, "summarize")
    monitor.record_key_generation_time(0.001, 1200, "sentiment")
    monitor.record_key_generation_time(10.0, 2000, "summarize")
    monitor.record_cache_operation_time("get", 0.001, True, 500)
    monitor.record_cache_operation_time("get", 0.001, False, 800)
    monitor.record_cache_operation_time("set", 10.0, False, 1000)
    monitor.record_compression_ratio(1000, 600, 0.001, "summarize")
    monitor.record_compression_ratio(2000, 1000, 15.0, "sentiment")
    slow = monitor.get_recent_slow_operations(threshold_multiplier=1.5)
    (kg,) = slow["key_generation"]
    assert kg == {
        "duration": 10.0,
        "text_length": 2000,
        "operation_type": "summarize",
        "timestamp": datetime.fromtimestamp(clock.now).isoformat(),
        "times_slower": pytest.approx(10.0 / 0.001),
    }
    (op,) = slow["cache_operations"]
    assert (op["operation_type"], op["duration"], op["text_length"]) == (
        "set",
        10.0,
        1000,
    )
    (comp,) = slow["compression"]
    assert comp["compression_time"] == 15.0
    assert (comp["original_size"], comp["compression_ratio"]) == (2000, 0.5)
    assert comp["times_slower"] == pytest.approx(15.0 / 0.001)


def test_slow_operations_baseline_is_fastest_80_percent() -> None:
    m = CachePerformanceMonitor()
    for d in [1.0] * 8 + [3.0, 5.0]:  # fastest 8 -> baseline 1.0
        m.record_cache_operation_time("get", d, True)
    slow = m.get_recent_slow_operations(threshold_multiplier=3.0)["cache_operations"]
    assert [s["duration"] for s in slow] == [3.0, 5.0]  # ">=" at the boundary
    assert [s["times_slower"] for s in slow] == [3.0, 5.0]
    # all-zero fast ops: the baseline is 0, as in the original, so nothing is slow
    z = CachePerformanceMonitor()
    for d in (0.0, 0.0, 9.0):
        z.record_key_generation_time(d, 1)
    assert z.get_recent_slow_operations()["key_generation"] == []
    for bad in (0, -1, math.nan, "2"):
        with pytest.raises(ValidationError):
            m.get_recent_slow_operations(bad)  # type: ignore[arg-type]


def test_export_metrics_is_json_serialisable(monitor: CachePerformanceMonitor) -> None:
    _fill(monitor)
    exported = monitor.export_metrics()
    assert set(exported) == {
        "key_generation_times",
        "cache_operation_times",
        "compression_ratios",
        "memory_usage_measurements",
        "invalidation_events",
        "cache_hits",
        "cache_misses",
        "total_operations",
        "total_invalidations",
        "total_keys_invalidated",
        "export_timestamp",
    }
    round_trip = json.loads(json.dumps(exported))
    assert round_trip == exported
    assert len(exported["key_generation_times"]) == 3
    assert exported["key_generation_times"][0] == {
        "duration": 0.05,
        "text_length": 1000,
        "timestamp": monitor.key_generation_times[0].timestamp,
        "operation_type": "summarize",
        "additional_data": {},
    }
    assert exported["compression_ratios"][1]["compression_ratio"] == 0.5
    assert exported["invalidation_events"][0]["pattern"] == "ai_cache:op:summarize"
    assert (exported["total_invalidations"], exported["total_keys_invalidated"]) == (
        1,
        5,
    )
    assert (exported["cache_hits"], exported["cache_misses"]) == (1, 1)
    datetime.fromisoformat(exported["export_timestamp"])


def test_reset_stats_clears_everything(monitor: CachePerformanceMonitor) -> None:
    _fill(monitor)
    monitor.reset_stats()
    assert all(len(b) == 0 for b in monitor._buffers())
    assert (monitor.cache_hits, monitor.cache_misses, monitor.total_operations) == (
        0,
        0,
        0,
    )
    assert (monitor.total_invalidations, monitor.total_keys_invalidated) == (0, 0)
    assert monitor.get_tier_stats() == {}
    snap = monitor.metrics_snapshot()
    assert snap.operations == () and snap.compression_input_bytes == 0
    assert snap.invalidations == () and snap.key_generation == ()
    # buffers are the same objects, still bounded
    monitor.record_key_generation_time(0.01, 1)
    assert len(monitor.key_generation_times) == 1


# ------------------------------------------------------------------ retention


def _record_one_of_each(m: CachePerformanceMonitor, i: int) -> None:
    m.record_key_generation_time(i * 1e-6, i)
    m.record_cache_operation_time("get", i * 1e-6, True, i)
    m.record_compression_ratio(i + 1, 1, i * 1e-6)
    m.record_memory_usage({}, {"memory_used_bytes": i, "keys": i})
    m.record_invalidation_event(str(i), i, i * 1e-6)


def test_retention_by_count_keeps_newest_and_stays_bounded() -> None:
    m = CachePerformanceMonitor(max_measurements=3)
    python_buffers = (
        m._compression_ratios,
        m._memory_usage_measurements,
        m._invalidation_events,
    )
    buffers_before = [b._items for b in python_buffers]
    records_before = (m._op_records, m._key_records)
    for i in range(2000):
        _record_one_of_each(m, i)
    # recording never rebuilt a buffer: same deques and C recorders, still capped
    assert all(a is b._items for a, b in zip(buffers_before, python_buffers))
    assert (m._op_records, m._key_records) == records_before
    assert len(m._op_records) == len(m._key_records) == 3
    assert [len(b) for b in m._buffers()] == [3] * 5
    assert [x.text_length for x in m.key_generation_times] == [1997, 1998, 1999]
    assert [x.text_length for x in m.cache_operation_times] == [1997, 1998, 1999]
    assert [x.original_size for x in m.compression_ratios] == [1998, 1999, 2000]
    assert [x.cache_entry_count for x in m.memory_usage_measurements] == [
        1997,
        1998,
        1999,
    ]
    assert [x.pattern for x in m.invalidation_events] == ["1997", "1998", "1999"]
    # counters are not windowed
    assert m.total_operations == 2000 and m.cache_hits == 2000
    assert m.total_keys_invalidated == sum(range(2000))
    assert m.get_tier_stats()["get"]["unknown"]["count"] == 2000


def test_retention_by_age(clock: FakeClock) -> None:
    m = CachePerformanceMonitor(retention_hours=1, max_measurements=100)
    _record_one_of_each(m, 1)  # t0
    clock.now += 1800
    _record_one_of_each(m, 2)  # t0 + 30 min
    clock.now += 1801  # t0 + 60 min + 1 s: the first set expires on the next record
    _record_one_of_each(m, 3)
    assert [x.text_length for x in m.key_generation_times] == [2, 3]
    assert [x.pattern for x in m.invalidation_events] == ["2", "3"]
    assert len(m.memory_usage_measurements) == 2
    # stats prune without any new record
    clock.now += 3600
    stats = m.get_performance_stats()
    assert set(stats) == {
        "timestamp",
        "retention_hours",
        "cache_hit_rate",
        "total_cache_operations",
        "cache_hits",
        "cache_misses",
    }
    assert all(len(b) == 0 for b in m._buffers())
    assert stats["total_cache_operations"] == 3  # lifetime counter kept


def test_retention_boundary_is_exclusive(clock: FakeClock) -> None:
    m = CachePerformanceMonitor(retention_hours=0.5)
    m.record_key_generation_time(0.01, 1)
    clock.now += 1800  # exactly retention: timestamp <= cutoff is dropped
    m.record_key_generation_time(0.01, 2)
    assert [x.text_length for x in m.key_generation_times] == [2]


def test_cleanup_old_measurements_template_behaviour(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    monitor.key_generation_times.append(PerformanceMetric(0.1, 1000, clock.now - 7200))
    monitor.key_generation_times.append(PerformanceMetric(0.05, 500, clock.now - 1800))
    monitor._cleanup_old_measurements(monitor.key_generation_times)
    assert [m.timestamp for m in monitor.key_generation_times] == [clock.now - 1800]

    monitor.max_measurements = 3
    for i in range(5):
        monitor.key_generation_times.append(
            PerformanceMetric(0.01 * i, 1, clock.now + i)
        )
    monitor._cleanup_old_measurements(monitor.key_generation_times)
    assert [m.duration for m in monitor.key_generation_times] == [0.02, 0.03, 0.04]

    plain = [PerformanceMetric(0.1, 1, clock.now - 7200)] + [
        PerformanceMetric(0.1, i, clock.now) for i in range(5)
    ]
    monitor._cleanup_old_measurements(plain)
    assert [m.text_length for m in plain] == [2, 3, 4]


def test_max_measurements_setter_resizes_buffers(
    monitor: CachePerformanceMonitor,
) -> None:
    for i in range(10):
        monitor.record_key_generation_time(0.001, i)
    monitor.max_measurements = 4
    assert [m.text_length for m in monitor.key_generation_times] == [6, 7, 8, 9]
    assert all(b.maxlen == 4 for b in monitor._buffers())
    monitor.max_measurements = 6
    for i in range(10, 13):
        monitor.record_key_generation_time(0.001, i)
    assert [m.text_length for m in monitor.key_generation_times] == [
        7,
        8,
        9,
        10,
        11,
        12,
    ]
    monitor.max_measurements = 0  # accepted: keeps nothing from now on
    assert len(monitor.key_generation_times) == 0
    monitor.record_key_generation_time(0.001, 1)
    assert len(monitor.key_generation_times) == 0


def test_assigning_a_list_keeps_the_bounded_buffer(
    monitor: CachePerformanceMonitor,
) -> None:
    buf = monitor.cache_operation_times
    monitor.cache_operation_times = [PerformanceMetric(0.1, i, 1.0) for i in range(150)]
    assert monitor.cache_operation_times is buf
    assert len(buf) == 100 and buf[0].text_length == 50
    monitor.cache_operation_times = []
    assert len(monitor.cache_operation_times) == 0


def test_key_generation_times_reads_like_a_list(
    monitor: CachePerformanceMonitor,
) -> None:
    """What CacheKeyGenerator.get_key_generation_stats (spec 5.4) reads."""
    for i in range(25):
        monitor.record_key_generation_time(i / 1000, i, "op" if i % 2 else "other")
    times = monitor.key_generation_times
    recent = [m.duration for m in times[-10:]]
    assert recent == [i / 1000 for i in range(15, 25)]
    assert times[-1].text_length == 24 and times[0].text_length == 0
    assert sum(1 for m in times if m.operation_type == "op") == 12
    assert len(times) == 25 and bool(times)


# ------------------------------------------------------------------ MeasurementBuffer


def _items(n: int) -> list[PerformanceMetric]:
    return [PerformanceMetric(0.0, i, float(i)) for i in range(n)]


def test_measurement_buffer_matches_list_semantics() -> None:
    items = _items(12)
    buf = MeasurementBuffer(20, items)
    assert buf == items and len(buf) == 12
    assert list(reversed(buf)) == items[::-1]
    for index in range(-12, 12):
        assert buf[index] is items[index]
    with pytest.raises(IndexError):
        buf[12]
    bounds = [None, -20, -13, -12, -5, -1, 0, 1, 5, 11, 12, 30]
    for start in bounds:
        for stop in bounds:
            for step in (None, 1, 2, -1, -3):
                assert buf[start:stop:step] == items[start:stop:step], (
                    start,
                    stop,
                    step,
                )
    assert items[3] in buf and buf.index(items[3]) == 3 and buf.count(items[3]) == 1


def test_measurement_buffer_mutation() -> None:
    buf = MeasurementBuffer(3, _items(5))
    assert [x.text_length for x in buf] == [2, 3, 4]
    buf.append(PerformanceMetric(0.0, 5, 5.0))
    assert [x.text_length for x in buf] == [3, 4, 5]
    assert buf.popleft().text_length == 3 and buf.pop().text_length == 5
    buf.extend(_items(2))
    assert [x.text_length for x in buf] == [4, 0, 1]
    buf[0] = PerformanceMetric(0.0, 9, 9.0)
    del buf[1]
    assert [x.text_length for x in buf] == [9, 1]
    buf[:] = _items(4)
    assert [x.text_length for x in buf] == [1, 2, 3]
    del buf[:2]
    assert [x.text_length for x in buf] == [3]
    buf.maxlen = 1
    assert buf.maxlen == 1
    buf.clear()
    assert not buf and buf == []
    assert "maxlen=1" in repr(buf)
    with pytest.raises(TypeError):
        hash(buf)
    assert buf != "not a list"


def test_measurement_buffer_time_helpers() -> None:
    buf = MeasurementBuffer(10, _items(6))  # timestamps 0..5
    assert buf.count_newer_than(2.0) == 3
    assert buf.count_newer_than(-1.0) == 6 and buf.count_newer_than(9.0) == 0
    assert buf.discard_older_than(1.0) == 2
    assert [x.timestamp for x in buf] == [2.0, 3.0, 4.0, 5.0]
    assert buf.discard_older_than(0.0) == 0


# ------------------------------------------------------------------ tiers, misc


def test_tier_stats(monitor: CachePerformanceMonitor) -> None:
    monitor.record_cache_operation_time("get", 0.001, True, 0, {"cache_tier": "l1"})
    monitor.record_cache_operation_time("get", 0.003, True, 0, {"cache_tier": "l1"})
    monitor.record_cache_operation_time("get", 0.01, False, 0, {"cache_tier": "redis"})
    monitor.record_cache_operation_time("get", 0.02, True, 0, {"cache_tier": "redis"})
    monitor.record_cache_operation_time("set", 0.02, False, 0, {"reason": "x"})
    monitor.record_cache_operation_time("delete", 0.02, True, 0, {"cache_tier": 5})
    stats = monitor.get_tier_stats()
    assert stats["get"]["l1"] == {
        "count": 2,
        "hits": 2,
        "misses": 0,
        "total_duration": pytest.approx(0.004),
        "avg_duration": pytest.approx(0.002),
        "hit_rate": 100.0,
    }
    assert stats["get"]["redis"]["hit_rate"] == 50.0
    assert stats["set"] == {
        "unknown": {
            "count": 1,
            "successes": 0,
            "failures": 1,
            "total_duration": 0.02,
            "avg_duration": 0.02,
        }
    }
    assert set(stats["delete"]) == {"unknown"}


def test_label_cardinality_is_capped(monitor: CachePerformanceMonitor) -> None:
    for i in range(monitoring._MAX_SERIES_PER_FAMILY + 50):
        monitor.record_cache_operation_time(f"op{i}", 0.0, True)
        monitor.record_key_generation_time(0.0, 1, f"op{i}")
        monitor.record_invalidation_event("p", 1, 0.0, f"type{i}")
    snap = monitor.metrics_snapshot()
    assert len(snap.operations) == monitoring._MAX_SERIES_PER_FAMILY + 1
    other = next(s for s in snap.operations if s.operation == "other")
    assert (other.tier, other.positive) == ("other", 50)
    assert len(snap.key_generation) == monitoring._MAX_SERIES_PER_FAMILY + 1
    assert dict(snap.key_generation)["other"].count == 50
    assert len(snap.invalidations) == monitoring._MAX_SERIES_PER_FAMILY + 1


def test_histogram_buckets_are_le_inclusive(monitor: CachePerformanceMonitor) -> None:
    for d in (0.0, 0.0001, 0.00011, 10.0, 11.0):
        monitor.record_cache_operation_time("get", d, True)
    (series,) = monitor.metrics_snapshot().operations
    hist = series.latency
    assert hist.bounds == LATENCY_BUCKETS_SECONDS
    assert hist.bucket_counts[0] == 2  # 0.0 and exactly 0.0001
    assert hist.bucket_counts[1] == 1
    assert hist.bucket_counts[-2] == 1  # exactly 10.0
    assert hist.bucket_counts[-1] == 1  # above the largest bound
    assert hist.cumulative_counts()[-1] == hist.count == 5
    assert hist.sum == pytest.approx(21.00021)


def test_concurrent_recording_is_exact() -> None:
    m = CachePerformanceMonitor(max_measurements=50)

    def work(n: int) -> None:
        for i in range(2000):
            m.record_cache_operation_time("get", 0.0001, i % 2 == 0, n)
            m.record_key_generation_time(0.0001, n, f"t{n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert m.total_operations == 8000
    assert (m.cache_hits, m.cache_misses) == (4000, 4000)
    assert m.get_tier_stats()["get"]["unknown"]["count"] == 8000
    assert len(m.cache_operation_times) == 50 and len(m.key_generation_times) == 50


def test_monitor_can_be_deep_copied_and_pickled(
    monitor: CachePerformanceMonitor,
) -> None:
    _fill(monitor)
    for clone in (copy.deepcopy(monitor), pickle.loads(pickle.dumps(monitor))):
        assert (
            clone.export_metrics()["cache_operation_times"]
            == (monitor.export_metrics()["cache_operation_times"])
        )
        assert clone.get_tier_stats() == monitor.get_tier_stats()
        clone.record_cache_operation_time("get", 0.001, True)
        assert clone.total_operations == monitor.total_operations + 1
        assert len(clone.cache_operation_times) == 4
        assert len(monitor.cache_operation_times) == 3


def test_configure_thresholds(monitor: CachePerformanceMonitor) -> None:
    monitor.configure_thresholds(
        {
            "memory_warning": 50_000_000,
            "memory_critical": 100_000_000,
            "hit_ratio_warning": 0.6,
            "operation_slow": 0.1,
            "key_generation_slow": 0.2,
            "invalidation_warning_per_hour": 10,
            "invalidation_critical_per_hour": 20,
        }
    )
    assert monitor.memory_warning_threshold_bytes == 50_000_000
    assert monitor.memory_critical_threshold_bytes == 100_000_000
    assert monitor.hit_ratio_warning_threshold == 0.6
    assert monitor.cache_operation_threshold == 0.1
    assert monitor.key_generation_threshold == 0.2
    assert monitor.invalidation_rate_warning_per_hour == 10
    assert monitor.invalidation_rate_critical_per_hour == 20
    for bad in (
        {"operation_slow": 0.3, "nope": 1},
        {"operation_slow": 0.3, "memory_warning": -1},
        {"operation_slow": 0.3, "hit_ratio_warning": 1.5},
    ):
        with pytest.raises(ValidationError):
            monitor.configure_thresholds(bad)
        assert monitor.cache_operation_threshold == 0.1  # all or nothing


def test_time_is_looked_up_at_call_time(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    monitor.record_cache_operation_time("get", 0.01, True)
    clock.now += 5
    monitor.record_compression_ratio(10, 5, 0.0)
    assert monitor.cache_operation_times[0].timestamp == 1_000_000.0
    assert monitor.compression_ratios[0].timestamp == 1_000_005.0


# ------------------------------------------------- compact cache-operation records

SHARED_PAIRS = (("cache_tier", "redis"), ("reason", "key_not_found"))


def test_internal_fast_path_matches_the_public_one(clock: FakeClock) -> None:
    fast = CachePerformanceMonitor(max_measurements=10)
    public = CachePerformanceMonitor(max_measurements=10)
    fast._record_op("get", 0.002, False, "redis", SHARED_PAIRS)
    fast._record_op("set", 0.003, True, "unknown", None)
    public.record_cache_operation_time("get", 0.002, False, 0, dict(SHARED_PAIRS))
    public.record_cache_operation_time("set", 0.003, True)
    assert fast.cache_operation_times == public.cache_operation_times
    assert fast.get_tier_stats() == public.get_tier_stats()
    assert (
        fast.export_metrics()["cache_operation_times"]
        == (public.export_metrics()["cache_operation_times"])
    )
    assert (fast.cache_misses, fast.total_operations) == (1, 2)
    assert fast.metrics_snapshot().operations == public.metrics_snapshot().operations


def test_materialised_metrics_are_stable_and_own_their_data() -> None:
    m = CachePerformanceMonitor(max_measurements=5)
    m._record_op("get", 0.001, False, "redis", SHARED_PAIRS)
    m._record_op("get", 0.001, False, "redis", SHARED_PAIRS)
    first, second = m.cache_operation_times
    assert first.additional_data == dict(SHARED_PAIRS)
    assert first.additional_data is not second.additional_data
    assert m.cache_operation_times[0] is first  # later reads see the same objects
    assert first.additional_data is not None
    first.additional_data["note"] = "mutated"
    assert m.cache_operation_times[0].additional_data == {
        **dict(SHARED_PAIRS),
        "note": "mutated",
    }
    # public mutations keep order around pending compact records
    m._record_op("set", 0.001, True, "redis", None)
    m.cache_operation_times.append(PerformanceMetric(0.5, 7, time.time(), "manual"))
    m._record_op("delete", 0.001, True, "unknown", (("key_existed", True),))
    assert [x.operation_type for x in m.cache_operation_times] == [
        "get",
        "get",
        "set",
        "manual",
        "delete",
    ]
    assert m.cache_operation_times[-1].additional_data == {"key_existed": True}


def test_compact_records_obey_age_and_count_retention(clock: FakeClock) -> None:
    m = CachePerformanceMonitor(retention_hours=1, max_measurements=3)
    for i in range(5):
        m._record_op("get", i / 1000, True, "l1", None)
    assert [x.duration for x in m.cache_operation_times] == [0.002, 0.003, 0.004]
    m._record_op("get", 0.005, True, "l1", None)  # stays compact (not read yet)
    clock.now += 3600  # exactly retention: everything recorded so far expires
    m._record_op("get", 0.006, True, "l1", None)
    assert [x.duration for x in m.cache_operation_times] == [0.006]
    assert m.get_tier_stats()["get"]["l1"]["count"] == 7  # counters not windowed


def test_monitor_with_compact_records_pickles_and_stays_usable() -> None:
    m = CachePerformanceMonitor(max_measurements=4)
    m._record_op("get", 0.001, True, "l1", (("cache_tier", "l1"),))
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone.cache_operation_times == m.cache_operation_times
        clone._record_op("get", 0.001, False, "l1", None)
        assert len(clone.cache_operation_times) == 2
    assert len(m.cache_operation_times) == 1


def test_compact_records_under_concurrent_reads() -> None:
    m = CachePerformanceMonitor(max_measurements=64)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                items = m.cache_operation_times.to_list()
                assert all(isinstance(x, PerformanceMetric) for x in items)
                stamps = [x.timestamp for x in items]
                assert stamps == sorted(stamps)
            except BaseException as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(20000):
            m._record_op("get", 0.0001, i % 2 == 0, "redis", None)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert m.total_operations == 20000 and len(m.cache_operation_times) == 64


# ------------------------------------------------- issue 11: averages, clock steps


def test_averages_use_the_statistics_module(monitor: CachePerformanceMonitor) -> None:
    # issue 11 item 5: statistics.mean is correctly rounded (sum/len of three 0.05
    # gives 0.05000000000000001) and the mean of ints is an int when integral.
    for _ in range(3):
        monitor.record_cache_operation_time("get", 0.05, True)
        monitor.record_key_generation_time(0.05, 10)
    monitor.record_key_generation_time(0.05, 20)
    monitor.record_key_generation_time(0.05, 30)
    stats = monitor.get_performance_stats()
    ops = stats["cache_operations"]
    assert ops["avg_duration"] == 0.05
    assert ops["by_operation_type"]["get"]["avg_duration"] == 0.05
    assert stats["key_generation"]["avg_duration"] == 0.05
    avg_len = stats["key_generation"]["avg_text_length"]  # mean(10,10,10,20,30)
    assert avg_len == 16 and type(avg_len) is int


def test_reads_filter_by_timestamp_when_the_clock_steps_back(
    monitor: CachePerformanceMonitor, clock: FakeClock
) -> None:
    # issue 11 item 12: a measurement stamped before the retention window stays out
    # of reads even when it sits behind a recent one in the buffer.
    clock.now = 10_000.0
    monitor.record_cache_operation_time("get", 0.01, True)  # recent
    clock.now = 100.0  # the wall clock steps back by hours
    monitor.record_cache_operation_time("get", 0.02, False)
    clock.now = 10_001.0
    monitor.record_cache_operation_time("get", 0.03, True)
    stats = monitor.get_performance_stats()["cache_operations"]
    assert stats["total_operations"] == 2
    assert stats["max_duration"] == 0.03 and stats["min_duration"] == 0.01
    exported = monitor.export_metrics()["cache_operation_times"]
    assert [m["duration"] for m in exported] == [0.01, 0.03]
