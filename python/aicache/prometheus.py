"""Prometheus exposition of a :class:`~aicache.monitoring.CachePerformanceMonitor`.

Two ways to export the same metric families:

* :func:`render_text` writes the text
  exposition format 0.0.4 with no dependency; serve it with
  :data:`CONTENT_TYPE_LATEST`.
* :class:`AicacheCollector` plugs into ``prometheus_client`` (imported lazily, only
  when collected) so the families appear in an existing registry::

      from prometheus_client import REGISTRY
      REGISTRY.register(AicacheCollector(cache.performance_monitor))

Families (``<ns>`` is the namespace, "aicache" by default), all cumulative since the
monitor was created or reset:

===========================================  =========  ==========================
name                                         type       labels
===========================================  =========  ==========================
<ns>_cache_operations_total                  counter    operation, tier, result
<ns>_cache_hits_total / _cache_misses_total  counter    tier (get operations)
<ns>_cache_operation_duration_seconds        histogram  operation, tier
<ns>_key_generation_duration_seconds         histogram  operation
<ns>_invalidations_total                     counter    type
<ns>_keys_invalidated_total                  counter    type
<ns>_compression_operations_total            counter
<ns>_compression_input_bytes_total           counter
<ns>_compression_output_bytes_total          counter
<ns>_cache_size_bytes, <ns>_memory_cache_*   gauge      (latest memory snapshot)
===========================================  =========  ==========================

``result`` is hit/miss for ``get`` and success/failure for other operations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from aicache.exceptions import ValidationError
from aicache.monitoring import (
    CachePerformanceMonitor,
    HistogramSnapshot,
    MetricsSnapshot,
)

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector as _CollectorBase
else:
    _CollectorBase = object

__all__ = [
    "CONTENT_TYPE_LATEST",
    "AicacheCollector",
    "MetricFamilyData",
    "build_families",
    "render_text",
]

#: Content type of :func:`render_text`'s output.
CONTENT_TYPE_LATEST: Final = "text/plain; version=0.0.4; charset=utf-8"

_NAMESPACE_RE: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

Kind = Literal["counter", "gauge", "histogram"]
LabelValues = tuple[str, ...]


@dataclass(frozen=True)
class MetricFamilyData:
    """One metric family, independent of any client library.

    ``name`` is the full name; counters omit the ``_total`` suffix (added on output,
    as prometheus_client does). ``samples`` holds counter/gauge values,
    ``histograms`` histogram series, both keyed by label values in
    ``label_names`` order.
    """

    name: str
    kind: Kind
    documentation: str
    label_names: tuple[str, ...] = ()
    samples: tuple[tuple[LabelValues, float], ...] = ()
    histograms: tuple[tuple[LabelValues, HistogramSnapshot], ...] = ()


def _check_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or (
        namespace and not _NAMESPACE_RE.fullmatch(namespace)
    ):
        raise ValidationError(
            "Prometheus namespace must match [a-zA-Z_:][a-zA-Z0-9_:]* (or be empty)",
            {"namespace": repr(namespace)},
        )
    return namespace


def build_families(
    snapshot: MetricsSnapshot, namespace: str = "aicache"
) -> list[MetricFamilyData]:
    """The metric families of ``snapshot``, in a fixed order.

    Raises:
        ValidationError: ``namespace`` is not a valid metric-name prefix.
    """
    ns = _check_namespace(namespace)

    def name(base: str) -> str:
        return f"{ns}_{base}" if ns else base

    operations: list[tuple[LabelValues, float]] = []
    hits: list[tuple[LabelValues, float]] = []
    misses: list[tuple[LabelValues, float]] = []
    latencies: list[tuple[LabelValues, HistogramSnapshot]] = []
    for series in snapshot.operations:
        positive, negative = series.result_labels
        operations.append(((series.operation, series.tier, positive), series.positive))
        operations.append(((series.operation, series.tier, negative), series.negative))
        latencies.append(((series.operation, series.tier), series.latency))
        if series.operation == "get":
            hits.append(((series.tier,), series.positive))
            misses.append(((series.tier,), series.negative))

    memory = snapshot.latest_memory
    gauges: list[MetricFamilyData] = []
    for base, doc, attr in (
        (
            "cache_size_bytes",
            "Total cache size (memory tier plus Redis) at the latest snapshot.",
            "total_cache_size_bytes",
        ),
        (
            "memory_cache_size_bytes",
            "Estimated memory-tier size at the latest snapshot.",
            "memory_cache_size_bytes",
        ),
        (
            "memory_cache_entries",
            "Memory-tier entries at the latest snapshot.",
            "memory_cache_entry_count",
        ),
    ):
        samples = (((), float(getattr(memory, attr))),) if memory else ()
        gauges.append(MetricFamilyData(name(base), "gauge", doc, (), samples))

    return [
        MetricFamilyData(
            name("cache_operations"),
            "counter",
            "Cache operations by operation, tier and result.",
            ("operation", "tier", "result"),
            tuple(operations),
        ),
        MetricFamilyData(
            name("cache_hits"),
            "counter",
            "Cache get hits by tier.",
            ("tier",),
            tuple(hits),
        ),
        MetricFamilyData(
            name("cache_misses"),
            "counter",
            "Cache get misses by tier.",
            ("tier",),
            tuple(misses),
        ),
        MetricFamilyData(
            name("cache_operation_duration_seconds"),
            "histogram",
            "Cache operation latency in seconds by operation and tier.",
            ("operation", "tier"),
            histograms=tuple(latencies),
        ),
        MetricFamilyData(
            name("key_generation_duration_seconds"),
            "histogram",
            "Cache key generation latency in seconds by operation.",
            ("operation",),
            histograms=tuple(((op,), h) for op, h in snapshot.key_generation),
        ),
        MetricFamilyData(
            name("invalidations"),
            "counter",
            "Cache invalidation events by type.",
            ("type",),
            tuple(((s.invalidation_type,), s.events) for s in snapshot.invalidations),
        ),
        MetricFamilyData(
            name("keys_invalidated"),
            "counter",
            "Cache keys removed by invalidations, by type.",
            ("type",),
            tuple(
                ((s.invalidation_type,), s.keys_invalidated)
                for s in snapshot.invalidations
            ),
        ),
        MetricFamilyData(
            name("compression_operations"),
            "counter",
            "Values compressed.",
            samples=(((), snapshot.compression_operations),),
        ),
        MetricFamilyData(
            name("compression_input_bytes"),
            "counter",
            "Bytes before compression.",
            samples=(((), snapshot.compression_input_bytes),),
        ),
        MetricFamilyData(
            name("compression_output_bytes"),
            "counter",
            "Bytes after compression.",
            samples=(((), snapshot.compression_output_bytes),),
        ),
        *gauges,
    ]


# ------------------------------------------------------------------ text format


def format_float(value: float) -> str:
    """A sample value or ``le`` bound as Go's ``strconv.FormatFloat(v, 'g', -1, 64)``
    writes it (what Prometheus and prometheus_client emit): ``+Inf``, ``NaN``,
    exponent form from 1e6 up, otherwise Python's shortest repr."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    if "e" in text:
        return text  # Python and Go agree on the exponent form ("1e-05", "1e+16")
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, frac = digits.partition(".")
    if len(whole) <= 6:
        return text
    significant = (whole + frac).rstrip("0")
    mantissa = significant[0] + ("." + significant[1:] if len(significant) > 1 else "")
    return f"{sign}{mantissa}e+{len(whole) - 1:02d}"


def _escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _labels(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    # Sorted by label name, like prometheus_client, so outputs compare equal.
    body = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in sorted(pairs))
    return "{" + body + "}"


def render_text(
    source: CachePerformanceMonitor | MetricsSnapshot, namespace: str = "aicache"
) -> str:
    """The text exposition format 0.0.4 of a monitor (or a snapshot of one).

    Raises:
        ValidationError: ``namespace`` is not a valid metric-name prefix.
    """
    snapshot = (
        source.metrics_snapshot()
        if isinstance(source, CachePerformanceMonitor)
        else source
    )
    out: list[str] = []
    for family in build_families(snapshot, namespace):
        exposed = family.name + "_total" if family.kind == "counter" else family.name
        out.append(f"# HELP {exposed} {_escape_help(family.documentation)}\n")
        out.append(f"# TYPE {exposed} {family.kind}\n")
        for values, value in family.samples:
            labels = _labels(list(zip(family.label_names, values, strict=True)))
            out.append(f"{exposed}{labels} {format_float(value)}\n")
        for values, hist in family.histograms:
            pairs = list(zip(family.label_names, values, strict=True))
            cumulative = hist.cumulative_counts()
            bounds = [*map(format_float, hist.bounds), "+Inf"]
            for bound, count in zip(bounds, cumulative, strict=True):
                labels = _labels([*pairs, ("le", bound)])
                out.append(f"{family.name}_bucket{labels} {format_float(count)}\n")
            labels = _labels(pairs)
            out.append(f"{family.name}_count{labels} {format_float(cumulative[-1])}\n")
            out.append(f"{family.name}_sum{labels} {format_float(hist.sum)}\n")
    return "".join(out)


# ------------------------------------------------------------ prometheus_client


_EMPTY_SNAPSHOT: Final = MetricsSnapshot((), (), (), 0, 0, 0, None)


class AicacheCollector(_CollectorBase):
    """A ``prometheus_client`` collector exposing :func:`build_families` of
    ``monitor``. ``prometheus_client`` is imported on first collect, so this module
    imports without it.

    Raises:
        ValidationError: ``namespace`` is not a valid metric-name prefix.
    """

    def __init__(
        self, monitor: CachePerformanceMonitor, namespace: str = "aicache"
    ) -> None:
        self._monitor = monitor
        self._namespace = _check_namespace(namespace)

    def collect(self) -> Iterator[Metric]:
        return self._families(self._monitor.metrics_snapshot())

    def describe(self) -> Iterator[Metric]:
        """Family names for the registry's duplicate check, without sampling."""
        return self._families(_EMPTY_SNAPSHOT)

    def _families(self, snapshot: MetricsSnapshot) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        for family in build_families(snapshot, self._namespace):
            labels = list(family.label_names)
            metric: CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
            if family.kind == "histogram":
                metric = HistogramMetricFamily(
                    family.name, family.documentation, labels=labels
                )
                for values, hist in family.histograms:
                    bounds = [*map(format_float, hist.bounds), "+Inf"]
                    metric.add_metric(
                        list(values),
                        buckets=list(
                            zip(bounds, hist.cumulative_counts(), strict=True)
                        ),
                        sum_value=hist.sum,
                    )
            else:
                cls = (
                    CounterMetricFamily
                    if family.kind == "counter"
                    else GaugeMetricFamily
                )
                metric = cls(family.name, family.documentation, labels=labels)
                for values, value in family.samples:
                    metric.add_metric(list(values), value)
            yield metric
