"""Reference counts of the C paths that store or release Python objects:
OpRecorder extras (push, overwrite, set_extra, rows, clear, reset, resize,
dealloc), HitPath.get (the value, the AI side-table and counters) and the key
generator's records."""

from __future__ import annotations

import gc
import sys
from collections import defaultdict, deque
from typing import Any

from aicache import _core
from aicache.key_generator import CacheKeyGenerator
from aicache.monitoring import CachePerformanceMonitor


def rc(obj: object) -> int:
    """sys.getrefcount without this call's own reference."""
    return sys.getrefcount(obj) - 1


class Marker:
    pass


def test_recorder_holds_one_reference_per_record() -> None:
    extra = Marker()
    base = rc(extra)
    r = _core.OpRecorder(3)
    for i in range(3):
        r.push("get", "l1", 7, 0.001, 0, extra, 100.0 + i)
    now = rc(extra)
    assert now == base + 3
    rows = r.rows(0.0)
    now = rc(extra)
    assert now == base + 6
    del rows
    now = rc(extra)
    assert now == base + 3
    r.push("get", "l1", 7, 0.001, 0, None, 200.0)  # overwrites the oldest
    now = rc(extra)
    assert now == base + 2
    other = Marker()
    other_base = rc(other)
    seq = r.rows(0.0)[0][0]
    assert r.set_extra(seq, other, 0)
    pair = (rc(extra), rc(other))
    assert pair == (base + 1, other_base + 1)
    assert not r.set_extra(10**9, other, 0)
    now = rc(other)
    assert now == other_base + 1
    r.resize(1)  # keeps the newest (extra None)
    pair = (rc(extra), rc(other))
    assert pair == (base, other_base)
    r.resize(4)
    for i in range(4):  # the fourth push drops the record kept by resize(1)
        r.push("set", "redis", 1, 0.1, 5, extra, 300.0 + i, False)
    now = rc(extra)
    assert now == base + 4
    r.clear()
    now = rc(extra)
    assert now == base
    r.push("get", "l1", 7, 0.001, 0, extra, 400.0)
    r.reset()
    now = rc(extra)
    assert now == base
    r.push("get", "l1", 7, 0.001, 0, extra, 500.0)
    del r
    gc.collect()
    now = rc(extra)
    assert now == base


def test_expired_records_release_their_extras() -> None:
    extra = Marker()
    base = rc(extra)
    r = _core.OpRecorder(10, 60.0)
    r.push("get", "l1", 7, 0.001, 0, extra, 1000.0)
    r.push("get", "l1", 7, 0.001, 0, extra, 10.0)  # a clock that stepped back
    r.push("get", "l1", 7, 0.001, 0, None, 1001.0)  # compaction drops the stale one
    now = rc(extra)
    assert now == base + 1
    r.push("get", "l1", 7, 0.001, 0, None, 5000.0)
    now = rc(extra)
    assert now == base
    assert len(r) == 1


def test_labels_and_on_slow_are_not_leaked() -> None:
    label = "".join(["op", "-leak-check"])  # a fresh str
    r = _core.OpRecorder(2)
    r.push(label, "l1", 7, 0.001, 0, None, 1.0)
    held = rc(label)
    for i in range(50):
        r.push(label, "l1", 7, 0.001, 0, None, 2.0 + i)
    now = rc(label)
    assert now == held
    calls: list[Any] = []
    r.slow_threshold = 0.0
    r.on_slow = lambda *a: calls.append(a)
    r.push(label, "l1", 7, 0.5, 9, None, 100.0)
    assert calls == [(label, 0.5, True, 9)]
    calls.clear()
    now = rc(label)
    assert now == held
    r.on_slow = None
    del r
    gc.collect()
    now = rc(label)
    assert now == held - 2  # the recorder's label table (dict and list) held two


def test_hit_path_get_returns_one_new_reference() -> None:
    tier = _core.MemoryTier(10)
    value = Marker()
    tier.set("k", value, 0, 1.0)
    recorder = _core.OpRecorder(4)
    hot = _core.HitPath(tier, recorder, None)
    base = rc(value)
    for _ in range(100):
        assert hot.get("k") is value
        assert hot.get("absent") is None
    now = rc(value)
    assert now == base
    assert hot.hits == 100
    extra = recorder.rows(0.0)[0][7]
    assert extra == (("cache_tier", "l1"),)
    held = rc(extra)
    for _ in range(100):
        hot.get("k")
    now = rc(extra)
    assert now == held
    tier.set("none", None, 0, 1.0)
    assert hot.get("none") is None and hot.hits == 200  # a stored None is a miss


def test_hit_path_ai_accounting_references() -> None:
    tier = _core.MemoryTier(10)
    key = "ai_cache:op:summarize|txt:hello"
    value = Marker()
    tier.set(key, value, 0, 1.0)
    meta: dict[str, Any] = {}
    metrics: dict[str, Any] = {
        "cache_hits_by_operation": defaultdict(int),
        "text_tier_distribution": defaultdict(int),
    }
    durations: dict[str, deque[float]] = {}
    resolved: list[str] = []
    op = "".join(["summ", "arize"])  # an object of its own: its references counted
    base_op = rc(op)

    def resolve(k: str) -> tuple[str, str, bool] | None:
        resolved.append(k)
        return (op, "small", True)

    hot = _core.HitPath(
        tier,
        None,
        (
            meta,
            resolve,
            metrics,
            durations,
            lambda: defaultdict(int),
            lambda: defaultdict(float),
            lambda: deque(maxlen=3),
        ),
    )
    base_value = rc(value)
    base_key = rc(key)
    for _ in range(10):
        assert hot.get(key) is value
    assert resolved == [key]  # resolved once, then from the side-table
    now = rc(value)
    assert now == base_value
    now = rc(key)
    assert now == base_key + 2  # the side-table and `resolved` hold the key
    # Noted, not applied yet: the batch holds the operation until it is flushed.
    assert hot.ai_pending == 10 and metrics["cache_hits_by_operation"] == {}
    hot.flush_ai()
    hot.flush_ai()  # nothing pending: a no-op
    assert hot.ai_pending == 0
    assert metrics["cache_hits_by_operation"] == {"summarize": 10}
    assert metrics["text_tier_distribution"] == {"small": 10}
    assert metrics["cache_hits_by_type"] == {"redis": 10}
    assert metrics["operation_count_totals"] == {"summarize": 10}
    assert len(durations["summarize"]) == 3
    for _ in range(5):  # left pending: released with the hit path
        assert hot.get(key) is value
    assert hot.ai_pending == 5
    meta.clear()
    resolved.clear()
    metrics.clear()
    durations.clear()
    del hot
    gc.collect()
    now = rc(key)
    assert now == base_key
    now = rc(op)
    assert now == base_op


def test_key_generator_records_release_their_constants() -> None:
    monitor = CachePerformanceMonitor(max_measurements=5)
    gen = CacheKeyGenerator(performance_monitor=monitor)
    gen.generate_cache_key("warm up", "summarize", {})
    extra = monitor._key_records.rows(0.0)[0][7]
    held = rc(extra)
    for i in range(100):
        gen.generate_cache_key(f"text {i}", "summarize", {})
    now = rc(extra)
    assert now == held + 4  # the five records kept hold it; no leak per key
    monitor.reset_stats()
    now = rc(extra)
    assert now == held - 1
