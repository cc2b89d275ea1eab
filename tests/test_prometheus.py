"""Prometheus exposition of the monitor: text format 0.0.4 and the collector."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from aicache.exceptions import ValidationError
from aicache.monitoring import LATENCY_BUCKETS_SECONDS, CachePerformanceMonitor
from aicache.prometheus import (
    CONTENT_TYPE_LATEST,
    AicacheCollector,
    build_families,
    format_float,
    render_text,
)

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from prometheus_client.utils import floatToGoString  # noqa: E402

TRICKY_TIER = 'l"1\\x\nend'


def _populated() -> CachePerformanceMonitor:
    m = CachePerformanceMonitor()
    for d in (0.00005, 0.0002, 0.0002, 0.003):
        m.record_cache_operation_time("get", d, True, 0, {"cache_tier": "l1"})
    m.record_cache_operation_time("get", 0.004, False, 0, {"cache_tier": "l1"})
    m.record_cache_operation_time("get", 0.02, True, 0, {"cache_tier": "redis"})
    m.record_cache_operation_time("get", 0.03, False, 0, {"cache_tier": "redis"})
    m.record_cache_operation_time("get", 0.04, False, 0, {"cache_tier": "redis"})
    m.record_cache_operation_time("set", 0.2, True, 0, {"cache_tier": "redis"})
    m.record_cache_operation_time("set", 12.0, False, 0, {"cache_tier": "redis"})
    m.record_cache_operation_time("delete", 0.001, True)
    m.record_cache_operation_time("get", 0.001, True, 0, {"cache_tier": TRICKY_TIER})
    m.record_key_generation_time(0.0003, 100, "summarize")
    m.record_key_generation_time(0.0007, 100, "summarize")
    m.record_compression_ratio(10_000_000, 2_500_000, 0.01)
    m.record_compression_ratio(1000, 400, 0.001)
    m.record_invalidation_event("ai_cache:*", 7, 0.01, "manual")
    m.record_invalidation_event("ai_cache:*", 3, 0.01, "manual")
    m.record_invalidation_event("ai_cache:*", 10, 0.01, "clear")
    m.record_memory_usage({"k": "v"}, {"memory_used_bytes": 4096, "keys": 2})
    return m


def _parse(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(family: Any, sample_name: str, **labels: str) -> float:
    matches = [
        s.value for s in family.samples if s.name == sample_name and s.labels == labels
    ]
    assert len(matches) == 1, (sample_name, labels, family.samples)
    value: float = matches[0]
    return value


def test_text_exposition_round_trips_through_the_parser() -> None:
    m = _populated()
    families = _parse(render_text(m))
    ops = families["aicache_cache_operations"]
    assert ops.type == "counter"
    name = "aicache_cache_operations_total"
    assert _value(ops, name, operation="get", tier="l1", result="hit") == 4
    assert _value(ops, name, operation="get", tier="l1", result="miss") == 1
    assert _value(ops, name, operation="get", tier="redis", result="miss") == 2
    assert _value(ops, name, operation="set", tier="redis", result="success") == 1
    assert _value(ops, name, operation="set", tier="redis", result="failure") == 1
    assert _value(ops, name, operation="delete", tier="unknown", result="success") == 1
    assert len(ops.samples) == 10  # two results for each of 5 (operation, tier)

    hits = families["aicache_cache_hits"]
    misses = families["aicache_cache_misses"]
    assert _value(hits, "aicache_cache_hits_total", tier="l1") == 4
    assert _value(hits, "aicache_cache_hits_total", tier="redis") == 1
    assert _value(misses, "aicache_cache_misses_total", tier="redis") == 2
    assert _value(hits, "aicache_cache_hits_total", tier=TRICKY_TIER) == 1
    assert sum(s.value for s in hits.samples) == m.cache_hits
    assert sum(s.value for s in misses.samples) == m.cache_misses

    latency = families["aicache_cache_operation_duration_seconds"]
    assert latency.type == "histogram"
    bucket = "aicache_cache_operation_duration_seconds_bucket"
    l1 = {"operation": "get", "tier": "l1"}
    assert _value(latency, bucket, le="0.0001", **l1) == 1
    assert _value(latency, bucket, le="0.00025", **l1) == 3
    assert _value(latency, bucket, le="0.0025", **l1) == 3
    assert _value(latency, bucket, le="0.005", **l1) == 5
    assert _value(latency, bucket, le="+Inf", **l1) == 5
    assert _value(latency, "aicache_cache_operation_duration_seconds_count", **l1) == 5
    assert _value(
        latency, "aicache_cache_operation_duration_seconds_sum", **l1
    ) == pytest.approx(0.00005 + 0.0002 + 0.0002 + 0.003 + 0.004)
    redis_set = {"operation": "set", "tier": "redis"}
    assert _value(latency, bucket, le="10.0", **redis_set) == 1  # 12 s is above
    assert _value(latency, bucket, le="+Inf", **redis_set) == 2
    per_series = len(LATENCY_BUCKETS_SECONDS) + 1 + 2
    assert len(latency.samples) == 5 * per_series

    keygen = families["aicache_key_generation_duration_seconds"]
    kg = "aicache_key_generation_duration_seconds"
    assert _value(keygen, kg + "_bucket", le="0.0005", operation="summarize") == 1
    assert _value(keygen, kg + "_bucket", le="0.001", operation="summarize") == 2
    assert _value(keygen, kg + "_sum", operation="summarize") == pytest.approx(0.001)

    inv = families["aicache_invalidations"]
    keys = families["aicache_keys_invalidated"]
    assert _value(inv, "aicache_invalidations_total", type="manual") == 2
    assert _value(inv, "aicache_invalidations_total", type="clear") == 1
    assert _value(keys, "aicache_keys_invalidated_total", type="manual") == 10
    assert _value(keys, "aicache_keys_invalidated_total", type="clear") == 10

    for base, expected in (
        ("compression_operations", 2),
        ("compression_input_bytes", 10_001_000),
        ("compression_output_bytes", 2_500_400),
    ):
        fam = families[f"aicache_{base}"]
        assert fam.type == "counter"
        assert _value(fam, f"aicache_{base}_total") == expected

    memory = m.memory_usage_measurements[-1]
    size = families["aicache_cache_size_bytes"]
    assert size.type == "gauge"
    assert _value(size, "aicache_cache_size_bytes") == memory.total_cache_size_bytes
    entries = families["aicache_memory_cache_entries"]
    assert _value(entries, "aicache_memory_cache_entries") == 1
    assert (
        _value(
            families["aicache_memory_cache_size_bytes"],
            "aicache_memory_cache_size_bytes",
        )
        == memory.memory_cache_size_bytes
    )


def test_text_format_lines() -> None:
    text = render_text(_populated())
    assert text.endswith("\n")
    lines = text.splitlines()
    help_names = [line.split()[2] for line in lines if line.startswith("# HELP ")]
    type_lines = [line.split()[2:] for line in lines if line.startswith("# TYPE ")]
    assert help_names == [name for name, _ in type_lines]
    assert len(help_names) == len(set(help_names)) == 13
    assert ["aicache_cache_operations_total", "counter"] in type_lines
    assert ["aicache_cache_operation_duration_seconds", "histogram"] in type_lines
    assert ["aicache_cache_size_bytes", "gauge"] in type_lines
    sample = re.compile(
        r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]\w*="([^"\\\n]|\\["\\n])*",?)*\})? \S+$'
    )
    for line in lines:
        if not line.startswith("#"):
            assert sample.match(line), line
    # the tricky label value is escaped, not broken across lines
    assert 'tier="l\\"1\\\\x\\nend"' in text


def test_empty_monitor_exposition() -> None:
    text = render_text(CachePerformanceMonitor())
    families = _parse(text)
    assert families["aicache_cache_operations"].samples == []
    assert families["aicache_cache_size_bytes"].samples == []
    fam = families["aicache_compression_operations"]
    assert _value(fam, "aicache_compression_operations_total") == 0


def test_reset_zeroes_the_counters() -> None:
    m = _populated()
    m.reset_stats()
    families = _parse(render_text(m))
    assert families["aicache_cache_hits"].samples == []
    assert families["aicache_cache_operation_duration_seconds"].samples == []
    fam = families["aicache_compression_input_bytes"]
    assert _value(fam, "aicache_compression_input_bytes_total") == 0


def test_namespace() -> None:
    m = _populated()
    names = set(_parse(render_text(m, namespace="myapp:cache")))
    assert "myapp:cache_cache_operations" in names
    assert all(n.startswith("myapp:cache_") for n in names)
    bare = set(_parse(render_text(m, namespace="")))
    assert "cache_operations" in bare and "invalidations" in bare
    for bad in ("1abc", "a-b", "with space", 5):
        with pytest.raises(ValidationError):
            render_text(m, namespace=bad)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            AicacheCollector(m, namespace=bad)  # type: ignore[arg-type]


def test_render_text_accepts_a_snapshot() -> None:
    m = _populated()
    snap = m.metrics_snapshot()
    m.record_cache_operation_time("get", 0.1, True, 0, {"cache_tier": "l1"})
    frozen = _parse(render_text(snap))
    live = _parse(render_text(m))
    name = "aicache_cache_hits_total"
    assert _value(frozen["aicache_cache_hits"], name, tier="l1") == 4
    assert _value(live["aicache_cache_hits"], name, tier="l1") == 5
    first = build_families(snap)[0]
    assert (first.name, first.kind) == ("aicache_cache_operations", "counter")


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        1.0,
        -2.5,
        0.0001,
        0.00025,
        1e-05,
        1.5e-07,
        10.0,
        123456.0,
        999999.0,
        1e6,
        1234567.0,
        10_001_000.0,
        1.5e16,
        1e22,
        math.inf,
        -math.inf,
    ],
)
def test_format_float_matches_prometheus_client(value: float) -> None:
    assert format_float(value) == floatToGoString(value)
    assert float(format_float(value)) == value


def test_format_float_special_values() -> None:
    assert format_float(math.nan) == "NaN"
    assert format_float(math.inf) == "+Inf"
    assert format_float(-1234567.0) == "-1.234567e+06"
    assert format_float(1e6) == "1e+06"


def test_collector_in_a_fresh_registry_matches_render_text() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    m = _populated()
    registry = CollectorRegistry()
    registry.register(AicacheCollector(m))
    output = generate_latest(registry).decode()
    assert output == render_text(m)
    families = _parse(output)
    name = "aicache_cache_operations_total"
    ops = families["aicache_cache_operations"]
    assert _value(ops, name, operation="get", tier="redis", result="hit") == 1
    # the collector samples live: new records show up on the next scrape
    m.record_cache_operation_time("get", 0.001, True, 0, {"cache_tier": "redis"})
    ops = _parse(generate_latest(registry).decode())["aicache_cache_operations"]
    assert _value(ops, name, operation="get", tier="redis", result="hit") == 2
    assert (
        registry.get_sample_value("aicache_cache_hits_total", {"tier": "redis"}) == 2.0
    )


def test_collector_describe_names_families_for_duplicate_checks() -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=True)
    collector = AicacheCollector(CachePerformanceMonitor())
    names = {f.name for f in collector.describe()}
    assert "aicache_cache_operation_duration_seconds" in names
    registry.register(collector)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(AicacheCollector(CachePerformanceMonitor()))
    registry.register(AicacheCollector(CachePerformanceMonitor(), namespace="second"))


def test_content_type() -> None:
    assert CONTENT_TYPE_LATEST == "text/plain; version=0.0.4; charset=utf-8"
    exposition = prometheus_client.exposition
    plain = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", None)
    assert (plain or exposition.CONTENT_TYPE_LATEST) == CONTENT_TYPE_LATEST


def test_module_imports_without_prometheus_client() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["prometheus_client"] = None  # make any import of it fail
        from aicache.monitoring import CachePerformanceMonitor
        from aicache.prometheus import AicacheCollector, render_text
        m = CachePerformanceMonitor()
        m.record_cache_operation_time("get", 0.001, True, 0, {"cache_tier": "l1"})
        text = render_text(m)
        assert 'aicache_cache_hits_total{tier="l1"} 1.0' in text, text
        collector = AicacheCollector(m)
        try:
            list(collector.collect())
        except ImportError:
            print("lazy-import-ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lazy-import-ok"
