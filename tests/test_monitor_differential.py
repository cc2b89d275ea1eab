"""The monitor's statistics, computed from the C operation records, equal what the
original's Python monitor computes for the same operations (issue 8: a
differential test).

The oracle below is the original's arithmetic written from spec section 11 (lists
of measurements, retention by timestamp, ``statistics.mean``/``median``, the hit
rate over gets, the fastest-80% slow baseline as a plain average). It is fed the
same operations as the monitor -- through the public ``record_*`` methods and
through the C paths (the L1 hit path and the key generator) whose timings are
measured in C and read back from the monitor's export.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from dataclasses import dataclass, field
from typing import Any

import pytest

from aicache import _core
from aicache.key_generator import CacheKeyGenerator
from aicache.memory import InMemoryCache
from aicache.monitoring import CachePerformanceMonitor


@dataclass
class _Op:
    duration: Any
    text_length: Any
    timestamp: float
    operation_type: Any
    additional_data: Any = field(default_factory=dict)


class OriginalMonitorMath:
    """The original monitor's bookkeeping and statistics (spec 11.2/11.3)."""

    def __init__(self, max_measurements: int = 1000) -> None:
        self.max_measurements = max_measurements
        self.key_generation_times: list[_Op] = []
        self.cache_operation_times: list[_Op] = []
        self.cache_hits = self.cache_misses = self.total_operations = 0

    def _keep(self, items: list[_Op], cutoff: float) -> list[_Op]:
        kept = [m for m in items if m.timestamp > cutoff]
        return kept[-self.max_measurements :]

    def key_generation(self, m: _Op, cutoff: float) -> None:
        self.key_generation_times.append(m)
        self.key_generation_times = self._keep(self.key_generation_times, cutoff)

    def cache_operation(self, m: _Op, hit: bool, cutoff: float) -> None:
        self.cache_operation_times.append(m)
        self.cache_operation_times = self._keep(self.cache_operation_times, cutoff)
        self.total_operations += 1
        if m.operation_type == "get":
            if hit:
                self.cache_hits += 1
            else:
                self.cache_misses += 1

    def stats(self, cutoff: float) -> dict[str, Any]:
        # get_performance_stats() first runs the retention cleanup on every list.
        self.key_generation_times = self._keep(self.key_generation_times, cutoff)
        self.cache_operation_times = self._keep(self.cache_operation_times, cutoff)
        lookups = self.cache_hits + self.cache_misses
        out: dict[str, Any] = {
            "cache_hit_rate": self.cache_hits / lookups * 100 if lookups else 0.0,
            "total_cache_operations": self.total_operations,
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
        }
        kg = self.key_generation_times
        if kg:
            d = [m.duration for m in kg]
            n = [m.text_length for m in kg]
            out["key_generation"] = {
                "total_operations": len(kg),
                "avg_duration": statistics.mean(d),
                "median_duration": statistics.median(d),
                "max_duration": max(d),
                "min_duration": min(d),
                "avg_text_length": statistics.mean(n),
                "max_text_length": max(n),
                "slow_operations": sum(1 for x in d if x > 0.1),
            }
        ops = self.cache_operation_times
        if ops:
            d = [m.duration for m in ops]
            by: dict[Any, list[Any]] = {}
            for m in ops:
                by.setdefault(m.operation_type, []).append(m.duration)
            out["cache_operations"] = {
                "total_operations": len(ops),
                "avg_duration": statistics.mean(d),
                "median_duration": statistics.median(d),
                "max_duration": max(d),
                "min_duration": min(d),
                "slow_operations": sum(1 for x in d if x > 0.05),
                "by_operation_type": {
                    op: {
                        "count": len(v),
                        "avg_duration": statistics.mean(v),
                        "max_duration": max(v),
                    }
                    for op, v in by.items()
                },
            }
        return out

    def slow(self, multiplier: float) -> list[Any]:
        d = sorted(m.duration for m in self.cache_operation_times)
        if not d:
            return []
        fastest = d[: max(1, int(len(d) * 0.8))]
        baseline = sum(fastest) / len(fastest)
        if baseline <= 0:
            return []
        return [
            m.duration
            for m in self.cache_operation_times
            if m.duration >= baseline * multiplier
        ]


def _comparable(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in stats.items()
        if k not in ("timestamp", "retention_hours", "memory_usage", "invalidation")
    }


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_public_recording_matches_the_original_math(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    clock = _Clock()
    monkeypatch.setattr(time, "time", clock)
    rng = random.Random(seed)
    monitor = CachePerformanceMonitor(retention_hours=1, max_measurements=50)
    oracle = OriginalMonitorMath(max_measurements=50)
    for _ in range(400):
        clock.now += rng.choice([0.5, 1.0, 30.0, 600.0, -5.0])  # steps back too
        cutoff = clock.now - 3600
        kind = rng.random()
        duration: Any = rng.choice(
            [0.05, 0.001, 0.2, 0, 3, -0.01, rng.random() / 10, 0.1]
        )
        if kind < 0.4:
            op = rng.choice(["get", "set", "delete", "secure_connection_create"])
            hit = rng.random() < 0.6
            length = rng.choice([0, 10, 2000])
            monitor.record_cache_operation_time(op, duration, hit, length)
            oracle.cache_operation(_Op(duration, length, clock.now, op), hit, cutoff)
        else:
            op = rng.choice(["summarize", "qa", None, "sentiment"])
            length = rng.choice([5, 300, 8000])
            monitor.record_key_generation_time(duration, length, op)
            oracle.key_generation(_Op(duration, length, clock.now, op), cutoff)
    assert _comparable(monitor.get_performance_stats()) == oracle.stats(
        clock.now - 3600
    )
    assert [
        s["duration"]
        for s in monitor.get_recent_slow_operations(2.0)["cache_operations"]
    ] == oracle.slow(2.0)
    exported = monitor.export_metrics()["cache_operation_times"]
    assert [(m["duration"], m["operation_type"]) for m in exported] == [
        (m.duration, m.operation_type) for m in oracle.cache_operation_times
    ]


def test_c_paths_match_the_original_math() -> None:
    """Records written by the C hit path and the C key generator (timings taken
    in C) give the statistics the original computes from the same values."""
    monitor = CachePerformanceMonitor(max_measurements=1000)
    tier = InMemoryCache()
    gen = CacheKeyGenerator(text_hash_threshold=100, performance_monitor=monitor)
    hot = _core.HitPath(tier._tier, monitor._op_records, None)

    async def fill() -> None:
        for i in range(60):
            key = gen.generate_cache_key(f"document {i} " * (i % 30), "summarize", {})
            await tier.set(key, {"i": i})
            assert hot.get(key) == {"i": i}
            assert hot.get(key + "-absent") is None  # a miss records nothing
            monitor.record_cache_operation_time("get", 0.002, False, 0)

    asyncio.run(fill())
    oracle = OriginalMonitorMath(max_measurements=1000)
    exported = monitor.export_metrics()
    for m in exported["key_generation_times"]:
        oracle.key_generation(
            _Op(m["duration"], m["text_length"], m["timestamp"], m["operation_type"]),
            -1.0,
        )
        tier_name = "large" if m["text_length"] > 100 else "small"
        assert m["additional_data"] == {
            "text_tier": tier_name,
            "has_options": False,
            "has_question": False,
        }
    for m in exported["cache_operation_times"]:
        hit = m["additional_data"] == {"cache_tier": "l1"}
        oracle.cache_operation(
            _Op(m["duration"], m["text_length"], m["timestamp"], m["operation_type"]),
            hit,
            -1.0,
        )
    assert len(exported["key_generation_times"]) == 60
    assert len(exported["cache_operation_times"]) == 120
    assert _comparable(monitor.get_performance_stats()) == oracle.stats(-1.0)
    assert (monitor.cache_hits, monitor.cache_misses) == (60, 60)
    series = {(s.operation, s.tier): s for s in monitor.metrics_snapshot().operations}
    assert series[("get", "l1")].positive == 60
    assert series[("get", "unknown")].negative == 60
    assert dict(monitor.metrics_snapshot().key_generation)["summarize"].count == 60
