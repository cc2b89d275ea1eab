"""Cache performance monitoring (spec section 11).

``CachePerformanceMonitor`` records key-generation timings, cache operation timings,
compression ratios, memory snapshots and invalidation events, and summarises them.

Differences from the original, on purpose:

* Recording is O(1) amortised (spec 21 item 20). Measurements live in
  :class:`MeasurementBuffer` ring buffers bounded by ``max_measurements``; entries older
  than ``retention_hours`` are dropped from the old end as new ones arrive, never by
  rebuilding the list.
* Recording a cache operation costs well under a microsecond: it stores a compact
  tuple that becomes a :class:`PerformanceMetric` only when ``cache_operation_times``
  is read, and the cache tiers call the unvalidated ``_record_op``.
* The hit rate counts ``get`` operations only (spec 21 item 6):
  ``hits / (hits + misses) * 100``.
* Per-(operation, tier) counters and fixed-bucket latency histograms are kept for the
  Prometheus exposition (:mod:`aicache.prometheus`); they are cumulative since the
  monitor was created or last reset, not windowed by retention.

Units: durations are seconds; hit rates are percent (0-100); compression ratios are the
fraction ``compressed / original`` (lower is better); sizes are bytes, or MiB for keys
ending in ``_mb``; invalidation rates are events per hour.

Time is ``time.time()``, looked up at call time so tests can patch it.
"""

import bisect
import importlib
import itertools
import logging
import math
import numbers
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import (
    Callable,
    Iterable,
    Iterator,
    Mapping,
    MutableSequence,
    Sequence,
)
from dataclasses import asdict, dataclass
from datetime import datetime
from operator import attrgetter
from statistics import mean, median
from typing import Any, Final, Generic, Protocol, TypeVar, overload

from aicache import _core
from aicache.exceptions import ValidationError

__all__ = [
    "LATENCY_BUCKETS_SECONDS",
    "CachePerformanceMonitor",
    "CompressionMetric",
    "HistogramSnapshot",
    "InvalidationMetric",
    "InvalidationSeriesSnapshot",
    "MeasurementBuffer",
    "MemoryUsageMetric",
    "MetricsSnapshot",
    "OperationSeriesSnapshot",
    "PerformanceMetric",
]

logger = logging.getLogger(__name__)

# Optional; a module global so tests can patch ``aicache.monitoring.psutil``.
psutil: Any
try:
    psutil = importlib.import_module("psutil")
except ImportError:
    psutil = None

_DEBUG: Final = logging.DEBUG
_DEFAULT_MAX_MEASUREMENTS: Final = 1000
_MIB: Final = 1024 * 1024
_SECONDS_PER_HOUR: Final = 3600.0

#: Upper bounds (seconds) of the latency histogram buckets; a final +Inf bucket is
#: implied. Prometheus' default buckets extended down to 100 microseconds, because a
#: memory-tier hit takes microseconds.
LATENCY_BUCKETS_SECONDS: Final[tuple[float, ...]] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# Label values come from callers; cap the distinct series per family so a caller that
# puts request data in an operation name cannot grow the monitor without bound.
_MAX_SERIES_PER_FAMILY: Final = 256
_OVERFLOW_LABEL: Final = "other"
_UNKNOWN_TIER: Final = "unknown"

# get_memory_warnings() compares the memory-tier entry count with this fixed capacity,
# as the original does (it has no access to the cache's real max_size).
_ASSUMED_MEMORY_CACHE_CAPACITY: Final = 100

_INVALIDATION_ANALYSIS_WINDOW: Final = 50  # recent events used for pattern analysis
_MEMORY_TREND_WINDOW: Final = 10  # recent snapshots used for memory trends
_SLOW_BASELINE_FRACTION: Final = 0.8  # baseline = mean of the fastest 80%


# --------------------------------------------------------------------------- metrics


@dataclass
class PerformanceMetric:
    """One timed operation. ``duration`` in seconds, ``timestamp`` in epoch seconds."""

    duration: float
    text_length: int
    timestamp: float
    operation_type: str = ""
    additional_data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.additional_data is None:
            self.additional_data = {}


@dataclass
class CompressionMetric:
    """One compression. Sizes in bytes; ``compression_ratio`` = compressed / original
    (a fraction, lower is better); ``compression_time`` in seconds."""

    original_size: int
    compressed_size: int
    compression_ratio: float
    compression_time: float
    timestamp: float
    operation_type: str = ""

    def __post_init__(self) -> None:
        if self.compression_ratio == 0 and self.original_size > 0:
            self.compression_ratio = self.compressed_size / self.original_size


@dataclass
class MemoryUsageMetric:
    """One memory snapshot. Sizes in bytes, ``process_memory_mb`` in MiB,
    ``cache_utilization_percent`` = total size / warning threshold * 100."""

    total_cache_size_bytes: int
    cache_entry_count: int
    avg_entry_size_bytes: float
    memory_cache_size_bytes: int
    memory_cache_entry_count: int
    process_memory_mb: float
    timestamp: float
    cache_utilization_percent: float
    warning_threshold_reached: bool = False
    additional_data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.additional_data is None:
            self.additional_data = {}


@dataclass
class InvalidationMetric:
    """One invalidation: ``keys_invalidated`` keys removed in ``duration`` seconds."""

    pattern: str
    keys_invalidated: int
    duration: float
    timestamp: float
    invalidation_type: str = ""
    operation_context: str = ""
    additional_data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.additional_data is None:
            self.additional_data = {}


# ------------------------------------------------------------------- ring buffer


class _Timestamped(Protocol):
    @property
    def timestamp(self) -> float: ...


T = TypeVar("T", bound=_Timestamped)


class MeasurementBuffer(Sequence[T], Generic[T]):
    """A list-like ring buffer of measurements holding at most ``maxlen`` items.

    ``append`` is O(1) and drops the oldest item when full. Reads behave like a list:
    ``len()``, iteration, ``buf[i]`` and slices (``buf[-10:]`` returns a new ``list``
    of the newest ten), ``==`` against a list. Items are expected in chronological
    order (``record_*`` appends them with ``time.time()``), which lets
    :meth:`discard_older_than` stop at the first recent item.

    A thin wrapper around :class:`collections.deque` (whose own ``maxlen`` is
    read-only and which has no slicing); assigning ``maxlen`` keeps the newest items.
    """

    __slots__ = ("_items", "cutoff")
    __hash__ = None  # type: ignore[assignment]  # mutable, like list

    def __init__(self, maxlen: int, items: Iterable[T] = ()) -> None:
        self._items: deque[T] = deque(items, maxlen)
        #: The retention cutoff of the monitor's last cleanup of this buffer: the
        #: monitor's reads leave out items stamped at or before it, wherever they
        #: sit in the buffer.
        self.cutoff = -math.inf

    @property
    def maxlen(self) -> int:
        """Capacity; assigning a smaller value drops the oldest items."""
        cap = self._items.maxlen
        assert cap is not None
        return cap

    @maxlen.setter
    def maxlen(self, value: int) -> None:
        if value != self._items.maxlen:
            self._items = deque(self._items, value)

    def append(self, item: T) -> None:
        self._items.append(item)

    def extend(self, items: Iterable[T]) -> None:
        self._items.extend(items)

    def clear(self) -> None:
        self._items.clear()
        self.cutoff = -math.inf

    def pop(self) -> T:
        """Remove and return the newest item."""
        return self._items.pop()

    def popleft(self) -> T:
        """Remove and return the oldest item."""
        return self._items.popleft()

    def replace(self, items: Iterable[T]) -> None:
        """Replace the contents, keeping the newest ``maxlen`` of ``items``."""
        self._items = deque(items, self._items.maxlen)

    def discard_older_than(self, cutoff: float) -> int:
        """Drop items from the old end while their timestamp is <= ``cutoff``.

        Amortised O(1) per appended item. Returns how many were dropped.
        """
        items = self._items
        dropped = 0
        while items and items[0].timestamp <= cutoff:
            items.popleft()
            dropped += 1
        return dropped

    def count_newer_than(self, cutoff: float) -> int:
        """Number of items with timestamp > ``cutoff`` (binary search, O(log n))."""
        items = self._items
        return len(items) - bisect.bisect_right(
            items, cutoff, key=attrgetter("timestamp")
        )

    def to_list(self) -> list[T]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[T]:
        return reversed(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if not isinstance(index, slice):
            return self._items[index]
        items = self._items
        n = len(items)
        start, stop, step = index.indices(n)
        if step != 1:
            return list(items)[index]
        if stop <= start:
            return []
        if n - stop < start:  # nearer the new end: walk from the right
            newest_first = list(itertools.islice(reversed(items), n - stop, n - start))
            newest_first.reverse()
            return newest_first
        return list(itertools.islice(items, start, stop))

    @overload
    def __setitem__(self, index: int, value: T) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...

    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            items = list(self._items)
            items[index] = value
            self.replace(items)
        else:
            self._items[index] = value

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):
            items = list(self._items)
            del items[index]
            self.replace(items)
        else:
            del self._items[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MeasurementBuffer):
            return list(self._items) == list(other._items)
        if isinstance(other, list):
            return list(self._items) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"MeasurementBuffer({list(self._items)!r}, maxlen={self.maxlen})"


# --------------------------------------------------------- C operation records

# Reader bits of an OpRecorder record's flags (the core keeps bits 8+ for us).
_BOXED: Final = 1 << 8  # extra is the finished PerformanceMetric
_DUR_INT: Final = 1 << 9  # the duration was given as an int
_HIT: Final = _core.OPREC_HIT
_LOOKUP: Final = _core.OPREC_LOOKUP
_TIMED: Final = _core.OPREC_TIMED
_INT64: Final = 1 << 63


class _Given:
    """additional_data a caller gave as a tuple: kept as is, not read as pairs."""

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data


def _metric_data(extra: Any) -> Any:
    """A record's extra as the metric's additional_data: (key, value) pairs (the hot
    paths' shared constants) become a fresh dict; anything else is as given."""
    if type(extra) is tuple:
        return dict(extra)
    if type(extra) is _Given:
        return extra.data
    return {} if extra is None else extra


class _RecordsView(MeasurementBuffer[PerformanceMetric]):
    """``cache_operation_times`` / ``key_generation_times``: the C operation
    records (:class:`aicache._core.OpRecorder`) read as a list-like buffer of
    :class:`PerformanceMetric`.

    Recording stores compact records (no object per operation); a read turns the
    records inside the retention cutoff of the last cleanup into metrics, selected
    by timestamp, and keeps each metric in its record, so later reads return the
    same objects. Mutations other than append/extend/clear rebuild the records.
    """

    __slots__ = ("_monitor", "_rec")

    def __init__(self, recorder: Any, monitor: "CachePerformanceMonitor") -> None:
        # No deque: the records live in C.
        self._rec = recorder
        self._monitor = monitor

    # -- what MeasurementBuffer keeps in Python, here in the recorder

    @property
    def cutoff(self) -> float:
        cutoff: float = self._rec.cutoff
        return cutoff

    @cutoff.setter
    def cutoff(self, value: float) -> None:
        self._rec.cutoff = value

    @property
    def maxlen(self) -> int:
        return max(self._monitor._keep, 1)

    @maxlen.setter
    def maxlen(self, value: int) -> None:
        self._rec.resize(max(value, 1))

    def to_list(self) -> list[PerformanceMetric]:
        if not self._monitor._keep:
            return []
        rec = self._rec
        with self._monitor._lock:
            out: list[PerformanceMetric] = []
            for seq, stamp, duration, op, _tier, flags, size, extra in rec.rows(
                rec.cutoff
            ):
                if flags & _BOXED:
                    out.append(extra)
                    continue
                metric = PerformanceMetric(
                    int(duration) if flags & _DUR_INT else duration,
                    size,
                    stamp,
                    op,
                    _metric_data(extra),
                )
                rec.set_extra(seq, metric, flags | _BOXED)
                out.append(metric)
            return out

    def _store(self, metric: Any) -> None:
        """Keep a metric appended by a caller as is (no counters change, as
        appending to the original's list changed none)."""
        self._rec.push(
            "other", "unknown", _BOXED, math.nan, 0, metric, _stamp(metric), False
        )

    def append(self, item: PerformanceMetric) -> None:
        if self._monitor._keep:
            self._store(item)

    def extend(self, items: Iterable[PerformanceMetric]) -> None:
        for item in items:
            self.append(item)

    def clear(self) -> None:
        self._rec.clear()

    def replace(self, items: Iterable[PerformanceMetric]) -> None:
        new = list(items)
        self._rec.clear()
        self.extend(
            new[len(new) - self._monitor._keep :] if self._monitor._keep else []
        )

    def pop(self) -> PerformanceMetric:
        items = self.to_list()
        item = items.pop()
        self.replace(items)
        return item

    def popleft(self) -> PerformanceMetric:
        items = self.to_list()
        item = items.pop(0)
        self.replace(items)
        return item

    def discard_older_than(self, cutoff: float) -> int:
        before = len(self)
        self._rec.cutoff = cutoff
        return before - len(self)

    def count_newer_than(self, cutoff: float) -> int:
        if not self._monitor._keep:
            return 0
        count: int = self._rec.count_after(max(cutoff, self._rec.cutoff))
        return count

    def __len__(self) -> int:
        if not self._monitor._keep:
            return 0
        count: int = self._rec.count_after(self._rec.cutoff)
        return count

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[PerformanceMetric]:
        return iter(self.to_list())

    def __reversed__(self) -> Iterator[PerformanceMetric]:
        return reversed(self.to_list())

    @overload
    def __getitem__(self, index: int) -> PerformanceMetric: ...

    @overload
    def __getitem__(self, index: slice) -> list[PerformanceMetric]: ...

    def __getitem__(
        self, index: int | slice
    ) -> PerformanceMetric | list[PerformanceMetric]:
        return self.to_list()[index]

    def __setitem__(self, index: int | slice, value: Any) -> None:
        items = self.to_list()
        items[index] = value
        self.replace(items)

    def __delitem__(self, index: int | slice) -> None:
        items = self.to_list()
        del items[index]
        self.replace(items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MeasurementBuffer):
            return self.to_list() == other.to_list()
        if isinstance(other, list):
            return self.to_list() == other
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"MeasurementBuffer({self.to_list()!r}, maxlen={self.maxlen})"


# ------------------------------------------------------------ histograms, snapshots


@dataclass(frozen=True)
class HistogramSnapshot:
    """Latency histogram: ``bucket_counts[i]`` counts observations in
    (bounds[i-1], bounds[i]] seconds; the last count is above ``bounds[-1]``
    (the +Inf bucket). Not cumulative; see :meth:`cumulative_counts`."""

    bounds: tuple[float, ...]
    bucket_counts: tuple[int, ...]
    sum: float

    @property
    def count(self) -> int:
        return sum(self.bucket_counts)

    def cumulative_counts(self) -> list[int]:
        """Counts of observations <= each bound, then the total (the +Inf bucket)."""
        return list(itertools.accumulate(self.bucket_counts))


@dataclass(frozen=True)
class OperationSeriesSnapshot:
    """Counters and latency of one (operation, tier).

    ``positive``/``negative`` are hits/misses for ``get`` and successes/failures
    for other operations (for ``delete``, success means the key existed).
    """

    operation: str
    tier: str
    positive: int
    negative: int
    latency: HistogramSnapshot

    @property
    def result_labels(self) -> tuple[str, str]:
        return ("hit", "miss") if self.operation == "get" else ("success", "failure")


@dataclass(frozen=True)
class InvalidationSeriesSnapshot:
    invalidation_type: str
    events: int
    keys_invalidated: int


@dataclass(frozen=True)
class MetricsSnapshot:
    """A consistent copy of the cumulative counters, for exporters."""

    operations: tuple[OperationSeriesSnapshot, ...]
    key_generation: tuple[tuple[str, HistogramSnapshot], ...]
    invalidations: tuple[InvalidationSeriesSnapshot, ...]
    compression_operations: int
    compression_input_bytes: int
    compression_output_bytes: int
    latest_memory: MemoryUsageMetric | None


K = TypeVar("K")
V = TypeVar("V")


def _series(table: dict[K, V], key: K, overflow: K, factory: Callable[[], V]) -> V:
    """The series for ``key``, created on first use; past the cap, ``overflow``."""
    series = table.get(key)
    if series is None:
        if len(table) >= _MAX_SERIES_PER_FAMILY:
            key = overflow
            series = table.get(key)
        if series is None:
            series = table[key] = factory()
    return series


# ------------------------------------------------------------------- helpers


def _data(additional_data: Any) -> Any:
    """``additional_data or {}``, as the original stores it (never validated)."""
    return additional_data or {}


def _tier_of(data: Any) -> str:
    """The ``cache_tier`` label of a metric's additional_data ("unknown" if none)."""
    try:
        tier = data.get("cache_tier") if data else None
    except Exception:  # a non-mapping additional_data, stored as given
        return _UNKNOWN_TIER
    return tier if isinstance(tier, str) and tier else _UNKNOWN_TIER


def _label(value: Any) -> str:
    """A series label for a value stored as given (operation types may be None)."""
    return value if isinstance(value, str) else str(value)


def _capacity(value: Any) -> int:
    """How many measurements of each kind are kept for a ``max_measurements``
    given as anything: an int as is, a number truncated, anything else the
    default; 0 means none (the original kept nothing for a non-positive value)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        logger.warning(
            "max_measurements=%r is not a number; keeping %d measurements",
            value,
            _DEFAULT_MAX_MEASUREMENTS,
        )
        return _DEFAULT_MAX_MEASUREMENTS
    if number < 1:
        logger.warning(
            "max_measurements=%r keeps no measurements (counters still count)", value
        )
        return 0
    return number


# ------------------------------------------------------------------------ monitor


class CachePerformanceMonitor:
    """Records cache performance measurements and summarises them (spec section 11).

    Args:
        retention_hours: measurements older than this many hours are left out of
            every read.
        max_measurements: at most this many measurements of each kind are kept
            (a non-positive value keeps none; counters still count).
        memory_warning_threshold_bytes: total cache size that triggers a warning.
        memory_critical_threshold_bytes: total cache size that triggers an error.

    Like the original, the constructor accepts any values and ``record_*`` store
    what they are given (negative durations, any operation type, additional_data
    or ``{}``); no recording method raises into a cache operation.

    Thread-safe: recording and reading may happen from several threads (e.g. an event
    loop and a metrics-scrape thread); mutations are serialised by an internal lock.
    """

    def __init__(
        self,
        retention_hours: float = 1,
        max_measurements: int = 1000,
        memory_warning_threshold_bytes: int = 50 * 1024 * 1024,
        memory_critical_threshold_bytes: int = 100 * 1024 * 1024,
    ) -> None:
        # Re-entrant: reads materialise records under this lock, also from methods
        # that already hold it.
        self._lock = threading.RLock()
        self._retention_hours = retention_hours
        self.memory_warning_threshold_bytes = memory_warning_threshold_bytes
        self.memory_critical_threshold_bytes = memory_critical_threshold_bytes
        self._max_measurements = max_measurements
        keep = _capacity(max_measurements)
        self._keep = keep
        # A ring buffer needs room for one item; with keep == 0 nothing is kept.
        cap = max(keep, 1)

        # Cache operations and key generations are recorded in C (the cache hit path
        # and the key generator write there directly); reads build the metrics.
        self._op_records = _core.OpRecorder(cap, self._retention_seconds())
        self._key_records = _core.OpRecorder(cap, self._retention_seconds())
        self._cache_operation_times = _RecordsView(self._op_records, self)
        self._key_generation_times = _RecordsView(self._key_records, self)
        self._compression_ratios: MeasurementBuffer[CompressionMetric] = (
            MeasurementBuffer(cap)
        )
        self._memory_usage_measurements: MeasurementBuffer[MemoryUsageMetric] = (
            MeasurementBuffer(cap)
        )
        self._invalidation_events: MeasurementBuffer[InvalidationMetric] = (
            MeasurementBuffer(cap)
        )

        self.total_invalidations = 0
        self.total_keys_invalidated = 0

        self.key_generation_threshold = 0.1  # seconds
        self.cache_operation_threshold = 0.05  # seconds
        self._op_records.on_slow = self._slow_operation
        self._key_records.on_slow = self._slow_key_generation
        self.invalidation_rate_warning_per_hour = 50
        self.invalidation_rate_critical_per_hour = 100
        # Fraction 0..1; only stored (configure_thresholds), nothing alerts on it yet.
        self.hit_ratio_warning_threshold: float | None = None

        self._reset_series()

    def _reset_series(self) -> None:
        self._invalidation_series: dict[str, list[int]] = {}
        self._compression_operations = 0
        self._compression_input_bytes = 0
        self._compression_output_bytes = 0

    # The lock and the C recorders cannot be pickled or deep-copied as they are;
    # configs holding a monitor may be. Their records travel as metrics.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        for name in ("_op_records", "_key_records"):
            recorder = state.pop(name)
            view = (
                "_cache_operation_times"
                if name == "_op_records"
                else "_key_generation_times"
            )
            state[name] = (
                recorder.capacity,
                getattr(self, view).to_list(),
                recorder.counters(),
                recorder.series(),
                recorder.cutoff,
            )
            del state[view]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        records = {name: state.pop(name) for name in ("_op_records", "_key_records")}
        self.__dict__.update(state)
        self._lock = threading.RLock()
        for name, (cap, metrics, counters, series, cutoff) in records.items():
            recorder = _core.OpRecorder(cap, self._retention_seconds())
            setattr(self, name, recorder)
            view = _RecordsView(recorder, self)
            for metric in metrics:
                view._store(metric)
            recorder.set_counters(*counters)
            recorder.load_series(series)
            recorder.cutoff = cutoff
        self._op_records.on_slow = self._slow_operation
        self._key_records.on_slow = self._slow_key_generation
        self._cache_operation_times = _RecordsView(self._op_records, self)
        self._key_generation_times = _RecordsView(self._key_records, self)

    # ------------------------------------------------------------- configuration

    @property
    def retention_hours(self) -> Any:
        """Hours a measurement stays in reads (stored as given)."""
        return self._retention_hours

    @retention_hours.setter
    def retention_hours(self, value: Any) -> None:
        self._retention_hours = value
        seconds = self._retention_seconds()
        self._op_records.retention = seconds
        self._key_records.retention = seconds

    def _retention_seconds(self) -> float:
        """retention_hours in seconds; infinite when it is not a number."""
        try:
            seconds = float(self._retention_hours) * _SECONDS_PER_HOUR
        except (TypeError, ValueError, OverflowError):
            return math.inf
        return math.inf if math.isnan(seconds) else seconds

    @property
    def cache_operation_threshold(self) -> Any:
        """Seconds; slower cache operations log a WARNING."""
        return self._cache_operation_threshold

    @cache_operation_threshold.setter
    def cache_operation_threshold(self, value: Any) -> None:
        self._cache_operation_threshold = value
        self._op_records.slow_threshold = _threshold(value)

    @property
    def key_generation_threshold(self) -> Any:
        """Seconds; slower key generations log a WARNING."""
        return self._key_generation_threshold

    @key_generation_threshold.setter
    def key_generation_threshold(self, value: Any) -> None:
        self._key_generation_threshold = value
        self._key_records.slow_threshold = _threshold(value)

    def _slow_operation(
        self, operation: str, duration: float, hit: bool, size: int
    ) -> None:
        logger.warning(
            f"Slow cache {operation}: {duration:.3f}s (hit: {hit}, text_length: {size})"
        )

    def _slow_key_generation(
        self, operation: str, duration: float, hit: bool, size: int
    ) -> None:
        logger.warning(
            f"Slow key generation: {duration:.3f}s for {size} chars "
            f"in {operation} operation"
        )

    # ---------------------------------------------------------------- counters

    @property
    def total_operations(self) -> int:
        """Every recorded cache operation (assignable)."""
        total: int = self._op_records.counters()[0]
        return total

    @total_operations.setter
    def total_operations(self, value: int) -> None:
        _, hits, misses = self._op_records.counters()
        self._op_records.set_counters(value, hits, misses)

    @property
    def cache_hits(self) -> int:
        """Recorded ``get`` operations that hit (assignable)."""
        hits: int = self._op_records.counters()[1]
        return hits

    @cache_hits.setter
    def cache_hits(self, value: int) -> None:
        total, _, misses = self._op_records.counters()
        self._op_records.set_counters(total, value, misses)

    @property
    def cache_misses(self) -> int:
        """Recorded ``get`` operations that missed (assignable)."""
        misses: int = self._op_records.counters()[2]
        return misses

    @cache_misses.setter
    def cache_misses(self, value: int) -> None:
        total, hits, _ = self._op_records.counters()
        self._op_records.set_counters(total, hits, value)

    # ------------------------------------------------------- list-like attributes

    @property
    def max_measurements(self) -> int:
        """Measurements kept per kind; assigning resizes every buffer (newest kept)."""
        return self._max_measurements

    @max_measurements.setter
    def max_measurements(self, value: int) -> None:
        keep = _capacity(value)
        with self._lock:
            self._max_measurements = value
            self._keep = keep
            for buf in self._buffers():
                buf.maxlen = max(keep, 1)
                if keep == 0:
                    buf.clear()

    def _buffers(self) -> tuple[MeasurementBuffer[Any], ...]:
        return (
            self._key_generation_times,
            self._cache_operation_times,
            self._compression_ratios,
            self._memory_usage_measurements,
            self._invalidation_events,
        )

    @property
    def key_generation_times(self) -> MeasurementBuffer[PerformanceMetric]:
        return self._key_generation_times

    @key_generation_times.setter
    def key_generation_times(self, items: Iterable[PerformanceMetric]) -> None:
        self._key_generation_times.replace(items)

    @property
    def cache_operation_times(self) -> MeasurementBuffer[PerformanceMetric]:
        return self._cache_operation_times

    @cache_operation_times.setter
    def cache_operation_times(self, items: Iterable[PerformanceMetric]) -> None:
        self._cache_operation_times.replace(items)

    @property
    def compression_ratios(self) -> MeasurementBuffer[CompressionMetric]:
        return self._compression_ratios

    @compression_ratios.setter
    def compression_ratios(self, items: Iterable[CompressionMetric]) -> None:
        self._compression_ratios.replace(items)

    @property
    def memory_usage_measurements(self) -> MeasurementBuffer[MemoryUsageMetric]:
        return self._memory_usage_measurements

    @memory_usage_measurements.setter
    def memory_usage_measurements(self, items: Iterable[MemoryUsageMetric]) -> None:
        self._memory_usage_measurements.replace(items)

    @property
    def invalidation_events(self) -> MeasurementBuffer[InvalidationMetric]:
        return self._invalidation_events

    @invalidation_events.setter
    def invalidation_events(self, items: Iterable[InvalidationMetric]) -> None:
        self._invalidation_events.replace(items)

    # ------------------------------------------------------------------ retention

    def _cutoff(self) -> float:
        """Measurements stamped at or before this time are outside retention
        (-inf when ``retention_hours`` is not a number: nothing expires)."""
        try:
            return time.time() - float(self.retention_hours) * _SECONDS_PER_HOUR
        except (TypeError, ValueError, OverflowError):
            return -math.inf

    def _cleanup_old_measurements(
        self, measurements: MeasurementBuffer[Any] | MutableSequence[Any]
    ) -> None:
        """Drop measurements outside retention and beyond ``max_measurements``
        (oldest first). A MeasurementBuffer is trimmed from its old end (reads
        filter by timestamp anyway, see :meth:`_recent`); a plain list is
        filtered in full."""
        if not measurements:
            return
        cutoff = self._cutoff()
        keep = self._keep
        if isinstance(measurements, MeasurementBuffer):
            measurements.cutoff = cutoff
            measurements.discard_older_than(cutoff)
            while len(measurements) > keep:
                measurements.popleft()
        else:
            kept = [m for m in measurements if _stamp(m) > cutoff]
            measurements[:] = kept[len(kept) - keep :] if keep else []

    @staticmethod
    def _recent(buf: MeasurementBuffer[T]) -> list[T]:
        """The items of ``buf`` inside the retention of its last cleanup (the
        original filtered its lists at every record and at get_performance_stats),
        selected by timestamp, not by position: a wall clock that stepped backwards
        cannot make old measurements look recent."""
        cutoff = buf.cutoff
        return [m for m in buf.to_list() if _stamp(m) > cutoff]

    # ------------------------------------------------------------------ recording
    #
    # The original stores whatever it is given; so do these methods. None of them
    # raises: a value that cannot feed a log line or a histogram is still stored,
    # and a failure of the bookkeeping itself is logged at DEBUG.

    def record_key_generation_time(
        self,
        duration: float,
        text_length: int,
        operation_type: str = "",
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        """Record one key generation taking ``duration`` seconds for a text of
        ``text_length`` characters (values stored as given). WARNING when slower
        than ``key_generation_threshold`` seconds."""
        try:
            self._record(
                self._key_records,
                operation_type,
                _UNKNOWN_TIER,
                duration,
                False,
                False,
                text_length,
                _data(additional_data),
            )
            if logger.isEnabledFor(_DEBUG):
                logger.debug(
                    "Key generation time: %ss for %s chars (%s)",
                    duration,
                    text_length,
                    operation_type,
                )
        except Exception as exc:
            logger.debug("Could not record a key generation time: %s", exc)

    def record_cache_operation_time(
        self,
        operation: str,
        duration: float,
        cache_hit: bool,
        text_length: int = 0,
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        """Record one cache operation taking ``duration`` seconds (values stored
        as given).

        ``total_operations`` counts every operation; ``cache_hits``/``cache_misses``
        count ``get`` operations only. ``additional_data["cache_tier"]`` (e.g. "l1",
        "redis") selects the per-tier series used by the Prometheus exposition
        ("unknown" when absent). WARNING when slower than
        ``cache_operation_threshold`` seconds.
        """
        try:
            data = _data(additional_data)
            self._record_op(
                operation,
                duration,
                cache_hit,
                _tier_of(data),
                _Given(data) if type(data) is tuple else data,
                text_length,
            )
        except Exception as exc:
            logger.debug("Could not record a %r operation: %s", operation, exc)

    def _record_op(
        self,
        operation: Any,
        duration: Any,
        hit: Any,
        tier: str,
        data: Any = None,
        text_length: Any = 0,
    ) -> None:
        """The core of :meth:`record_cache_operation_time` (the caches call it).

        ``tier`` is a non-empty label; ``data`` the metric's additional_data: a
        dict (stored as is), None, or a tuple of (key, value) pairs (so callers can
        pass a shared constant; each materialised metric gets its own dict).
        """
        self._record(
            self._op_records,
            operation,
            tier,
            duration,
            hit,
            operation == "get",
            text_length,
            data,
        )
        if logger.isEnabledFor(_DEBUG):
            logger.debug(
                "Cache %s time: %ss (hit: %s, text_length: %s)",
                operation,
                duration,
                hit,
                text_length,
            )

    def _record(
        self,
        recorder: Any,
        operation: Any,
        tier: str,
        duration: Any,
        hit: Any,
        lookup: bool,
        size: Any,
        data: Any,
    ) -> None:
        """One record: compact when the values fit a C record (a str operation, a
        float or int duration, an int size), else the metric itself, as given."""
        now = time.time()
        flags = (_HIT if hit else 0) | (_LOOKUP if lookup else 0)
        kind = type(duration)
        timed = (kind is float or kind is int) and not math.isnan(duration)
        if timed:
            flags |= _TIMED
        if (
            type(operation) is str
            and (kind is float or (kind is int and -_INT64 < duration < _INT64))
            and type(size) is int
            and -_INT64 <= size < _INT64
        ):
            if kind is int:
                flags |= _DUR_INT
            recorder.push(operation, tier, flags, duration, size, data, now)
            return
        metric = PerformanceMetric(duration, size, now, operation, _metric_data(data))
        recorder.push(
            _label(operation),
            tier,
            flags | _BOXED,
            float(duration) if timed else math.nan,
            0,
            metric,
            now,
        )

    async def record_operation(
        self, name: str, duration_ms: float, success: bool
    ) -> None:
        """Integration hook (security manager): ``duration_ms`` milliseconds, recorded
        as cache operation ``name`` with ``cache_hit=success``."""
        try:
            seconds = duration_ms / 1000
        except Exception:
            seconds = duration_ms
        self.record_cache_operation_time(
            name, seconds, cache_hit=success, additional_data={"source": "integration"}
        )

    def record_compression_ratio(
        self,
        original_size: int,
        compressed_size: int,
        compression_time: float,
        operation_type: str = "",
    ) -> None:
        """Record one compression of ``original_size`` bytes to ``compressed_size``
        bytes in ``compression_time`` seconds (values stored as given). The ratio
        is compressed/original (1.0 when ``original_size`` is 0)."""
        try:
            try:
                ratio = compressed_size / original_size if original_size else 1.0
            except Exception:
                ratio = 1.0
            metric = CompressionMetric(
                original_size,
                compressed_size,
                ratio,
                compression_time,
                time.time(),
                operation_type,
            )
            with self._lock:
                if self._keep:
                    self._compression_ratios.append(metric)
                    self._cleanup_old_measurements(self._compression_ratios)
                if isinstance(original_size, int) and isinstance(compressed_size, int):
                    self._compression_operations += 1
                    self._compression_input_bytes += original_size
                    self._compression_output_bytes += compressed_size
            if logger.isEnabledFor(_DEBUG):
                logger.debug(
                    "Compression: %s -> %s bytes (%ss, %s)",
                    original_size,
                    compressed_size,
                    compression_time,
                    operation_type,
                )
        except Exception as exc:
            logger.debug("Could not record a compression ratio: %s", exc)

    def record_memory_usage(
        self,
        memory_cache: Mapping[Any, Any],
        redis_stats: Mapping[str, Any] | None = None,
        additional_data: dict[str, Any] | None = None,
    ) -> MemoryUsageMetric:
        """Snapshot memory use and return the recorded metric.

        The memory tier's size is estimated by walking ``memory_cache`` with
        ``sys.getsizeof`` (containers followed, each object counted once).
        ``redis_stats["memory_used_bytes"]`` and ``["keys"]`` are added when present.
        Logs ERROR at the critical and WARNING at the warning byte threshold.
        O(size of memory_cache): call it from a stats path, not per operation.
        Never raises: a failure is logged and an all-zero snapshot returned.
        """
        try:
            return self._record_memory_usage(memory_cache, redis_stats, additional_data)
        except Exception as exc:
            logger.debug("Could not record memory usage: %s", exc)
            return MemoryUsageMetric(0, 0, 0.0, 0, 0, 0.0, time.time(), 0.0)

    def _record_memory_usage(
        self,
        memory_cache: Any,
        redis_stats: Mapping[str, Any] | None,
        additional_data: dict[str, Any] | None,
    ) -> MemoryUsageMetric:
        data = _data(additional_data)
        memory_size = self._calculate_dict_size(memory_cache)
        try:
            memory_entries = len(memory_cache)
        except TypeError:
            memory_entries = 0
        avg_entry = memory_size / memory_entries if memory_entries else 0.0
        total_size = memory_size
        total_entries = memory_entries
        if redis_stats and "memory_used_bytes" in redis_stats:
            total_size += _stat_int(redis_stats["memory_used_bytes"])
            if "keys" in redis_stats:
                total_entries += _stat_int(redis_stats["keys"])
        process_mb = self._get_process_memory_mb()
        utilization = total_size / self.memory_warning_threshold_bytes * 100
        warning = total_size >= self.memory_warning_threshold_bytes
        metric = MemoryUsageMetric(
            total_cache_size_bytes=total_size,
            cache_entry_count=total_entries,
            avg_entry_size_bytes=avg_entry,
            memory_cache_size_bytes=memory_size,
            memory_cache_entry_count=memory_entries,
            process_memory_mb=process_mb,
            timestamp=time.time(),
            cache_utilization_percent=utilization,
            warning_threshold_reached=warning,
            additional_data=data,
        )
        with self._lock:
            if self._keep:
                self._memory_usage_measurements.append(metric)
                self._cleanup_old_measurements(self._memory_usage_measurements)
        if total_size >= self.memory_critical_threshold_bytes:
            logger.error(
                f"Critical cache memory usage: {total_size / _MIB:.1f}MB "
                f"(>{self.memory_critical_threshold_bytes / _MIB:.1f}MB threshold)"
            )
        elif warning:
            logger.warning(
                f"High cache memory usage: {total_size / _MIB:.1f}MB "
                f"(>{self.memory_warning_threshold_bytes / _MIB:.1f}MB threshold)"
            )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Cache memory usage: %.1fMB (%d entries, %.1f%% of threshold)",
                total_size / _MIB,
                total_entries,
                utilization,
            )
        return metric

    def record_invalidation_event(
        self,
        pattern: str,
        keys_invalidated: int,
        duration: float,
        invalidation_type: str = "manual",
        operation_context: str = "",
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        """Record one invalidation of ``keys_invalidated`` keys taking ``duration``
        seconds (values stored as given). Logs ERROR/WARNING while the number of
        events in the last hour is at or above
        ``invalidation_rate_critical_per_hour`` / ``invalidation_rate_warning_per_hour``.
        """
        try:
            self._record_invalidation_event(
                pattern,
                keys_invalidated,
                duration,
                invalidation_type,
                operation_context,
                additional_data,
            )
        except Exception as exc:
            logger.debug("Could not record an invalidation event: %s", exc)

    def _record_invalidation_event(
        self,
        pattern: Any,
        keys: Any,
        duration: Any,
        kind: Any,
        context: Any,
        additional_data: Any,
    ) -> None:
        metric = InvalidationMetric(
            pattern, keys, duration, time.time(), kind, context, _data(additional_data)
        )
        with self._lock:
            if self._keep:
                self._invalidation_events.append(metric)
                self._cleanup_old_measurements(self._invalidation_events)
            self.total_invalidations += 1
            try:
                self.total_keys_invalidated += keys
            except TypeError:
                pass  # a non-numeric count is stored in the event, not summed
            counts = _series(
                self._invalidation_series, _label(kind), _OVERFLOW_LABEL, _zero_pair
            )
            counts[0] += 1
            if isinstance(keys, int):
                counts[1] += keys
            hour_ago = time.time() - _SECONDS_PER_HOUR
            last_hour = sum(
                1 for e in self._invalidation_events if _stamp(e) > hour_ago
            )
        if last_hour >= self.invalidation_rate_critical_per_hour:
            logger.error(
                f"Critical invalidation rate: {last_hour} invalidations in last hour "
                f"(>{self.invalidation_rate_critical_per_hour} threshold)"
            )
        elif last_hour >= self.invalidation_rate_warning_per_hour:
            logger.warning(
                f"High invalidation rate: {last_hour} invalidations in last hour "
                f"(>{self.invalidation_rate_warning_per_hour} threshold)"
            )
        if logger.isEnabledFor(_DEBUG):
            logger.debug(
                "Cache invalidation: pattern=%r, keys=%s, time=%ss, type=%s, "
                "context=%s",
                pattern,
                keys,
                duration,
                kind,
                context,
            )

    def _get_invalidations_in_last_hour(self) -> int:
        """Invalidation events stamped in the last 3600 s (by timestamp)."""
        hour_ago = time.time() - _SECONDS_PER_HOUR
        with self._lock:
            return sum(1 for e in self._invalidation_events if _stamp(e) > hour_ago)

    # ----------------------------------------------------------------- thresholds

    _THRESHOLD_KEYS: Final = {
        "memory_warning": "memory_warning_threshold_bytes",
        "memory_critical": "memory_critical_threshold_bytes",
        "operation_slow": "cache_operation_threshold",
        "key_generation_slow": "key_generation_threshold",
        "invalidation_warning_per_hour": "invalidation_rate_warning_per_hour",
        "invalidation_critical_per_hour": "invalidation_rate_critical_per_hour",
        "hit_ratio_warning": "hit_ratio_warning_threshold",
    }

    def configure_thresholds(self, thresholds: Mapping[str, float]) -> None:
        """Set alert thresholds (the seed documents' form), e.g.
        ``{"memory_warning": 50_000_000, "memory_critical": 100_000_000,
        "hit_ratio_warning": 0.6, "operation_slow": 0.1}``.

        Keys: ``memory_warning``/``memory_critical`` (bytes), ``operation_slow`` and
        ``key_generation_slow`` (seconds), ``invalidation_warning_per_hour`` /
        ``invalidation_critical_per_hour`` (events per hour), ``hit_ratio_warning``
        (fraction 0..1). All or nothing.

        Raises:
            ValidationError: unknown key or a value out of range.
        """
        updates: dict[str, float] = {}
        for key, value in thresholds.items():
            attr = self._THRESHOLD_KEYS.get(key)
            if attr is None:
                raise ValidationError(
                    f"Unknown threshold {key!r}",
                    {"key": key, "known": sorted(self._THRESHOLD_KEYS)},
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(float(value))
                or value <= 0
                or (key == "hit_ratio_warning" and value > 1)
            ):
                raise ValidationError(
                    f"Threshold {key!r} must be a positive number"
                    + (" <= 1" if key == "hit_ratio_warning" else ""),
                    {"key": key, "value": repr(value)},
                )
            if key.startswith("memory_"):
                value = int(value)
            updates[attr] = value
        for attr, value in updates.items():
            setattr(self, attr, value)

    # ---------------------------------------------------------------- statistics

    def _calculate_hit_rate(self) -> float:
        """Hit rate in percent (0-100) over ``get`` operations:
        ``cache_hits / (cache_hits + cache_misses) * 100``; 0.0 before any get."""
        lookups = self.cache_hits + self.cache_misses
        if lookups <= 0:
            return 0.0
        return self.cache_hits / lookups * 100.0

    def _prune_and_copy(self) -> tuple[list[Any], ...]:
        with self._lock:
            for buf in self._buffers():
                self._cleanup_old_measurements(buf)
            return tuple(self._recent(buf) for buf in self._buffers())

    def get_performance_stats(self) -> dict[str, Any]:
        """Summary validated by the internal API's ``CachePerformanceResponse``.

        Keys: ``timestamp`` (local ISO), ``retention_hours``, ``cache_hit_rate``
        (percent over gets), ``total_cache_operations`` (every recorded operation),
        ``cache_hits``, ``cache_misses``; and, when data exists, ``key_generation``,
        ``cache_operations`` (durations in seconds), ``compression`` (ratios as
        fractions, ``overall_savings_percent`` in percent), ``memory_usage``,
        ``invalidation``. Drops expired measurements first.
        """
        key_gen, cache_ops, compression, memory, invalidations = self._prune_and_copy()
        stats: dict[str, Any] = {
            "timestamp": datetime.now().isoformat(),
            "retention_hours": self.retention_hours,
            "cache_hit_rate": self._calculate_hit_rate(),
            "total_cache_operations": self.total_operations,
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
        }
        if key_gen:
            durations = [m.duration for m in key_gen]
            lengths = [m.text_length for m in key_gen]
            stats["key_generation"] = {
                "total_operations": len(key_gen),
                "avg_duration": mean(durations),
                "median_duration": median(durations),
                "max_duration": max(durations),
                "min_duration": min(durations),
                "avg_text_length": mean(lengths),
                "max_text_length": max(lengths),
                "slow_operations": sum(
                    1 for d in durations if d > self.key_generation_threshold
                ),
            }
        if cache_ops:
            durations = [m.duration for m in cache_ops]
            by_type: dict[str, list[float]] = {}
            for m in cache_ops:
                by_type.setdefault(m.operation_type, []).append(m.duration)
            stats["cache_operations"] = {
                "total_operations": len(cache_ops),
                "avg_duration": mean(durations),
                "median_duration": median(durations),
                "max_duration": max(durations),
                "min_duration": min(durations),
                "slow_operations": sum(
                    1 for d in durations if d > self.cache_operation_threshold
                ),
                "by_operation_type": {
                    op: {
                        "count": len(ds),
                        "avg_duration": mean(ds),
                        "max_duration": max(ds),
                    }
                    for op, ds in by_type.items()
                },
            }
        if compression:
            ratios = [m.compression_ratio for m in compression]
            times = [m.compression_time for m in compression]
            total_in = sum(m.original_size for m in compression)
            saved = total_in - sum(m.compressed_size for m in compression)
            stats["compression"] = {
                "total_operations": len(compression),
                "avg_compression_ratio": mean(ratios),
                "median_compression_ratio": median(ratios),
                "best_compression_ratio": min(ratios),
                "worst_compression_ratio": max(ratios),
                "avg_compression_time": mean(times),
                "max_compression_time": max(times),
                "total_bytes_processed": total_in,
                "total_bytes_saved": saved,
                "overall_savings_percent": saved / total_in * 100 if total_in else 0.0,
            }
        if memory:
            stats["memory_usage"] = self._memory_stats(memory)
        if invalidations:
            stats["invalidation"] = self._invalidation_stats(invalidations)
        return stats

    def get_memory_usage_stats(self) -> dict[str, Any]:
        """Latest memory snapshot, thresholds and trends over the last 10 snapshots.

        Sizes in MiB (``*_mb``) or bytes (``*_bytes``), utilisation in percent of the
        warning threshold, ``growth_rate_mb_per_hour`` in MiB/hour (present when the
        window spans a positive time). Without snapshots: ``{"no_measurements": True,
        "warning_threshold_mb", "critical_threshold_mb"}``.
        """
        with self._lock:
            measurements = self._recent(self._memory_usage_measurements)
        return self._memory_stats(measurements)

    def _memory_stats(self, measurements: list[MemoryUsageMetric]) -> dict[str, Any]:
        warning_mb = self.memory_warning_threshold_bytes / _MIB
        critical_mb = self.memory_critical_threshold_bytes / _MIB
        if not measurements:
            return {
                "no_measurements": True,
                "warning_threshold_mb": warning_mb,
                "critical_threshold_mb": critical_mb,
            }
        latest = measurements[-1]
        recent = measurements[-_MEMORY_TREND_WINDOW:]
        totals = [m.total_cache_size_bytes for m in recent]
        memory_sizes = [m.memory_cache_size_bytes for m in recent]
        entries = [m.cache_entry_count for m in recent]
        trends: dict[str, Any] = {
            "total_measurements": len(measurements),
            "avg_total_cache_size_mb": mean(totals) / _MIB,
            "max_total_cache_size_mb": max(totals) / _MIB,
            "avg_memory_cache_size_mb": mean(memory_sizes) / _MIB,
            "avg_entry_count": mean(entries),
            "max_entry_count": max(entries),
        }
        span = recent[-1].timestamp - recent[0].timestamp
        if len(recent) >= 2 and span > 0:
            change = totals[-1] - totals[0]
            trends["growth_rate_mb_per_hour"] = change / span * _SECONDS_PER_HOUR / _MIB
        return {
            "current": {
                "total_cache_size_mb": latest.total_cache_size_bytes / _MIB,
                "memory_cache_size_mb": latest.memory_cache_size_bytes / _MIB,
                "cache_entry_count": latest.cache_entry_count,
                "memory_cache_entry_count": latest.memory_cache_entry_count,
                "avg_entry_size_bytes": latest.avg_entry_size_bytes,
                "process_memory_mb": latest.process_memory_mb,
                "cache_utilization_percent": latest.cache_utilization_percent,
                "warning_threshold_reached": latest.warning_threshold_reached,
            },
            "thresholds": {
                "warning_threshold_mb": warning_mb,
                "critical_threshold_mb": critical_mb,
                "warning_threshold_reached": latest.warning_threshold_reached,
                "critical_threshold_reached": latest.total_cache_size_bytes
                >= self.memory_critical_threshold_bytes,
            },
            "trends": trends,
        }

    def get_memory_warnings(self) -> list[dict[str, Any]]:
        """Warnings for the latest snapshot: ``{"severity": "critical"|"warning"|
        "info", "message", "recommendations": [str]}``; critical/warning by the byte
        thresholds, info when the memory tier holds more than 90% of an assumed
        100-entry capacity."""
        with self._lock:
            recent = self._recent(self._memory_usage_measurements)
        if not recent:
            return []
        latest = recent[-1]
        warnings: list[dict[str, Any]] = []
        size_mb = latest.total_cache_size_bytes / _MIB
        if latest.total_cache_size_bytes >= self.memory_critical_threshold_bytes:
            warnings.append(
                {
                    "severity": "critical",
                    "message": f"Cache memory usage is {size_mb:.1f}MB, exceeding "
                    f"critical threshold of "
                    f"{self.memory_critical_threshold_bytes / _MIB:.1f}MB",
                    "recommendations": [
                        "Consider reducing cache TTL values",
                        "Implement more aggressive cache eviction",
                        "Review and optimize large cached responses",
                        "Consider increasing memory limits or scaling horizontally",
                    ],
                }
            )
        elif latest.warning_threshold_reached:
            warnings.append(
                {
                    "severity": "warning",
                    "message": f"Cache memory usage is {size_mb:.1f}MB, exceeding "
                    f"warning threshold of "
                    f"{self.memory_warning_threshold_bytes / _MIB:.1f}MB",
                    "recommendations": [
                        "Monitor cache growth closely",
                        "Review cache key patterns for optimization",
                        "Consider reducing memory cache size limit",
                    ],
                }
            )
        entries = latest.memory_cache_entry_count
        utilization = entries / _ASSUMED_MEMORY_CACHE_CAPACITY * 100
        if utilization > 90:
            warnings.append(
                {
                    "severity": "info",
                    "message": f"Memory cache is {utilization:.1f}% full "
                    f"({entries}/{_ASSUMED_MEMORY_CACHE_CAPACITY} entries)",
                    "recommendations": [
                        "Memory cache eviction is working properly",
                        "Consider increasing memory cache size if hit rates are good",
                    ],
                }
            )
        return warnings

    def get_invalidation_frequency_stats(self) -> dict[str, Any]:
        """Invalidation rates (events in the last hour / 24 hours; ``average_per_hour``
        = retained events / retention_hours), alert level, the 10 most common
        patterns and the types among the last 50 events, and efficiency (keys per
        invalidation; durations in seconds)."""
        with self._lock:
            events = self._recent(self._invalidation_events)
        return self._invalidation_stats(events)

    def _invalidation_stats(self, events: list[InvalidationMetric]) -> dict[str, Any]:
        if not events:
            return {
                "no_invalidations": True,
                "total_invalidations": 0,
                "total_keys_invalidated": 0,
                "warning_threshold_per_hour": self.invalidation_rate_warning_per_hour,
                "critical_threshold_per_hour": self.invalidation_rate_critical_per_hour,
            }
        now = time.time()
        last_hour = sum(1 for e in events if e.timestamp > now - _SECONDS_PER_HOUR)
        last_day = sum(1 for e in events if e.timestamp > now - 24 * _SECONDS_PER_HOUR)
        recent = events[-_INVALIDATION_ANALYSIS_WINDOW:]
        patterns = Counter(e.pattern for e in recent)
        types = Counter(e.invalidation_type for e in recent)
        if last_hour >= self.invalidation_rate_critical_per_hour:
            level = "critical"
        elif last_hour >= self.invalidation_rate_warning_per_hour:
            level = "warning"
        else:
            level = "normal"
        durations = [e.duration for e in recent]
        return {
            "total_invalidations": self.total_invalidations,
            "total_keys_invalidated": self.total_keys_invalidated,
            "rates": {
                "last_hour": last_hour,
                "last_24_hours": last_day,
                "average_per_hour": _per_hour(len(events), self.retention_hours),
            },
            "thresholds": {
                "warning_per_hour": self.invalidation_rate_warning_per_hour,
                "critical_per_hour": self.invalidation_rate_critical_per_hour,
                "current_alert_level": level,
            },
            "patterns": {
                "most_common_patterns": dict(patterns.most_common(10)),
                "invalidation_types": dict(types),
            },
            "efficiency": {
                "avg_keys_per_invalidation": (
                    self.total_keys_invalidated / self.total_invalidations
                    if self.total_invalidations
                    else 0.0
                ),
                "avg_duration": mean(durations),
                "max_duration": max(durations),
            },
        }

    def get_invalidation_recommendations(self) -> list[dict[str, Any]]:
        """Recommendations ``{"severity", "issue", "message", "suggestions"}``: high
        frequency (warning/critical), a dominant pattern (> 50% of events; info), low
        efficiency (< 1 key per invalidation; info), high impact (> 100; warning)."""
        with self._lock:
            events = self._recent(self._invalidation_events)
        if not events:
            return []
        stats = self._invalidation_stats(events)
        recommendations: list[dict[str, Any]] = []
        per_hour = stats["rates"]["last_hour"]
        if per_hour >= self.invalidation_rate_warning_per_hour:
            level = stats["thresholds"]["current_alert_level"]
            recommendations.append(
                {
                    "severity": "warning" if level == "warning" else "critical",
                    "issue": "High invalidation frequency",
                    "message": f"Cache is being invalidated {per_hour} times per hour",
                    "suggestions": [
                        "Review invalidation triggers to reduce unnecessary clearing",
                        "Consider using more specific patterns for selective "
                        "invalidation",
                        "Check if TTL values are set too low",
                        "Analyze if cache warming strategy needs improvement",
                    ],
                }
            )
        patterns: dict[str, int] = stats["patterns"]["most_common_patterns"]
        if patterns:
            top, top_count = next(iter(patterns.items()))
            if top_count > len(events) * 0.5:
                recommendations.append(
                    {
                        "severity": "info",
                        "issue": "Dominant invalidation pattern",
                        "message": f"Pattern '{top}' accounts for {top_count} of "
                        "recent invalidations",
                        "suggestions": [
                            f"Consider optimizing operations that trigger '{top}' "
                            "invalidations",
                            "Evaluate if this pattern could be made more specific",
                            "Check if related data could be cached with different "
                            "strategies",
                        ],
                    }
                )
        avg_keys = stats["efficiency"]["avg_keys_per_invalidation"]
        if avg_keys < 1.0:
            recommendations.append(
                {
                    "severity": "info",
                    "issue": "Low invalidation efficiency",
                    "message": f"Average of {avg_keys:.1f} keys invalidated per "
                    "operation",
                    "suggestions": [
                        "Many invalidation operations are not finding keys to clear",
                        "Consider using more targeted patterns",
                        "Review if cache keys are structured optimally for "
                        "invalidation",
                    ],
                }
            )
        elif avg_keys > 100.0:
            recommendations.append(
                {
                    "severity": "warning",
                    "issue": "High invalidation impact",
                    "message": f"Average of {avg_keys:.0f} keys invalidated per "
                    "operation",
                    "suggestions": [
                        "Invalidation operations are clearing large numbers of entries",
                        "Consider using more selective patterns to preserve valid "
                        "cache entries",
                        "Evaluate if smaller, more frequent invalidations would be "
                        "better",
                    ],
                }
            )
        return recommendations

    def get_recent_slow_operations(
        self, threshold_multiplier: float = 2.0
    ) -> dict[str, list[dict[str, Any]]]:
        """Retained operations at least ``threshold_multiplier`` times slower than
        their category's baseline (mean of the fastest 80%; the overall mean when
        that is 0). ``duration``/``compression_time`` in seconds, ISO ``timestamp``,
        ``times_slower`` = duration / baseline.

        Raises:
            ValidationError: ``threshold_multiplier`` is not a positive finite number.
        """
        if (
            isinstance(threshold_multiplier, bool)
            or not isinstance(threshold_multiplier, numbers.Real)
            or not math.isfinite(float(threshold_multiplier))
            or threshold_multiplier <= 0
        ):
            raise ValidationError(
                "threshold_multiplier must be a positive number",
                {"value": repr(threshold_multiplier)},
            )
        multiplier = float(threshold_multiplier)
        with self._lock:
            key_gen = self._recent(self._key_generation_times)
            cache_ops = self._recent(self._cache_operation_times)
            compression = self._recent(self._compression_ratios)
        slow: dict[str, list[dict[str, Any]]] = {
            "key_generation": [],
            "cache_operations": [],
            "compression": [],
        }
        baseline = _slow_baseline([m.duration for m in key_gen])
        for m in key_gen:
            if (
                baseline
                and _is_seconds(m.duration)
                and m.duration >= baseline * multiplier
            ):
                slow["key_generation"].append(
                    {
                        "duration": m.duration,
                        "text_length": m.text_length,
                        "operation_type": m.operation_type,
                        "timestamp": datetime.fromtimestamp(m.timestamp).isoformat(),
                        "times_slower": m.duration / baseline,
                    }
                )
        baseline = _slow_baseline([m.duration for m in cache_ops])
        for m in cache_ops:
            if (
                baseline
                and _is_seconds(m.duration)
                and m.duration >= baseline * multiplier
            ):
                slow["cache_operations"].append(
                    {
                        "duration": m.duration,
                        "operation_type": m.operation_type,
                        "text_length": m.text_length,
                        "timestamp": datetime.fromtimestamp(m.timestamp).isoformat(),
                        "times_slower": m.duration / baseline,
                    }
                )
        baseline = _slow_baseline([c.compression_time for c in compression])
        for c in compression:
            if (
                baseline
                and _is_seconds(c.compression_time)
                and c.compression_time >= baseline * multiplier
            ):
                slow["compression"].append(
                    {
                        "compression_time": c.compression_time,
                        "original_size": c.original_size,
                        "compression_ratio": c.compression_ratio,
                        "operation_type": c.operation_type,
                        "timestamp": datetime.fromtimestamp(c.timestamp).isoformat(),
                        "times_slower": c.compression_time / baseline,
                    }
                )
        return slow

    # ------------------------------------------------------------ per-tier series

    def get_tier_stats(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Cumulative per-operation, per-tier counters: ``{operation: {tier: {...}}}``
        with ``count``, ``hits``/``misses`` (get) or ``successes``/``failures``
        (other operations), ``total_duration`` and ``avg_duration`` (seconds) and, for
        get, ``hit_rate`` (percent). Not limited by retention; cleared by reset."""
        result: dict[str, dict[str, dict[str, Any]]] = {}
        for series in self.metrics_snapshot().operations:
            count = series.positive + series.negative
            pos_name, neg_name = (
                ("hits", "misses")
                if series.operation == "get"
                else ("successes", "failures")
            )
            entry: dict[str, Any] = {
                "count": count,
                pos_name: series.positive,
                neg_name: series.negative,
                "total_duration": series.latency.sum,
                "avg_duration": series.latency.sum / count if count else 0.0,
            }
            if series.operation == "get":
                entry["hit_rate"] = series.positive / count * 100 if count else 0.0
            result.setdefault(series.operation, {})[series.tier] = entry
        return result

    def metrics_snapshot(self) -> MetricsSnapshot:
        """A consistent copy of the cumulative counters and histograms, sorted by
        label values (used by :mod:`aicache.prometheus`)."""
        with self._lock:
            operations = tuple(
                OperationSeriesSnapshot(
                    op,
                    tier,
                    positive,
                    negative,
                    HistogramSnapshot(LATENCY_BUCKETS_SECONDS, buckets, total),
                )
                for op, tier, positive, negative, buckets, total in sorted(
                    self._op_records.series()
                )
            )
            # One series per operation (key records carry no tier).
            key_generation = tuple(
                (op, HistogramSnapshot(LATENCY_BUCKETS_SECONDS, buckets, total))
                for op, _tier, _pos, _neg, buckets, total in sorted(
                    self._key_records.series()
                )
            )
            invalidations = tuple(
                InvalidationSeriesSnapshot(kind, counts[0], counts[1])
                for kind, counts in sorted(self._invalidation_series.items())
            )
            latest = (
                self._memory_usage_measurements[-1]
                if self._memory_usage_measurements
                else None
            )
            return MetricsSnapshot(
                operations=operations,
                key_generation=key_generation,
                invalidations=invalidations,
                compression_operations=self._compression_operations,
                compression_input_bytes=self._compression_input_bytes,
                compression_output_bytes=self._compression_output_bytes,
                latest_memory=latest,
            )

    # ---------------------------------------------------------------- management

    def reset_stats(self) -> None:
        """Clear every measurement, counter and per-tier series."""
        with self._lock:
            for buf in self._buffers():
                buf.clear()
            self._op_records.reset()
            self._key_records.reset()
            self.total_invalidations = 0
            self.total_keys_invalidated = 0
            self._reset_series()
        logger.info("Cache performance statistics reset")

    def export_metrics(self) -> dict[str, Any]:
        """Every retained measurement as ``dataclasses.asdict`` dicts plus the
        counters and a local ISO ``export_timestamp`` (JSON-serialisable as long as
        callers' ``additional_data`` is)."""
        with self._lock:
            key_gen, cache_ops, compression, memory, invalidations = (
                self._recent(buf) for buf in self._buffers()
            )
            counters = {
                "cache_hits": self.cache_hits,
                "cache_misses": self.cache_misses,
                "total_operations": self.total_operations,
                "total_invalidations": self.total_invalidations,
                "total_keys_invalidated": self.total_keys_invalidated,
            }
        return {
            "key_generation_times": [asdict(m) for m in key_gen],
            "cache_operation_times": [asdict(m) for m in cache_ops],
            "compression_ratios": [asdict(m) for m in compression],
            "memory_usage_measurements": [asdict(m) for m in memory],
            "invalidation_events": [asdict(m) for m in invalidations],
            **counters,
            "export_timestamp": datetime.now().isoformat(),
        }

    # ------------------------------------------------------------------- helpers

    def _calculate_dict_size(self, obj: Any) -> int:
        """Approximate bytes of ``obj`` and what it contains (dicts, lists, tuples,
        sets followed; each object counted once, so cycles terminate)."""
        total = 0
        seen: set[int] = set()
        stack: list[Any] = [obj]
        try:
            while stack:
                item = stack.pop()
                if id(item) in seen:
                    continue
                seen.add(id(item))
                total += sys.getsizeof(item)
                if isinstance(item, dict):
                    for key, value in item.items():
                        stack.append(key)
                        stack.append(value)
                elif isinstance(item, list | tuple | set | frozenset):
                    stack.extend(item)
        except Exception as exc:  # a container mutated meanwhile, odd __sizeof__
            logger.warning("Error calculating object size: %s", exc)
            return 0
        return total

    def _get_process_memory_mb(self) -> float:
        """Resident set size of this process in MiB: psutil, else /proc/self/status
        VmRSS, else 0.0."""
        if psutil is not None:
            try:
                return float(psutil.Process().memory_info().rss) / _MIB
            except Exception as exc:
                logger.debug("psutil could not read process memory: %s", exc)
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024  # kB -> MiB
        except (OSError, ValueError, IndexError) as exc:
            logger.debug("Could not determine process memory usage: %s", exc)
        return 0.0


def _is_seconds(value: Any) -> bool:
    """Whether a duration given as is can feed histograms and slow-op logs."""
    return (type(value) is float or type(value) is int) and not math.isnan(value)


def _stamp(measurement: Any) -> float:
    """A measurement's timestamp for retention (-inf when it has none usable)."""
    try:
        stamp = measurement.timestamp
        return stamp if type(stamp) is float else float(stamp)
    except Exception:
        return -math.inf


def _per_hour(events: int, hours: Any) -> float:
    """events / hours; 0.0 when ``retention_hours`` cannot divide (stored as given)."""
    try:
        return float(events / hours)
    except (TypeError, ZeroDivisionError, OverflowError):
        return 0.0


def _threshold(value: Any) -> float:
    """A slow-operation threshold for the C recorders (NaN: never slow)."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _zero_pair() -> list[int]:
    return [0, 0]


def _stat_int(value: object) -> int:
    """A Redis INFO number (int, float or numeric string); anything else counts 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return 0


def _slow_baseline(durations: list[Any]) -> float:
    """Plain average (``sum / len``, as the original) of the fastest 80% of the
    numeric ``durations``; 0 when there are none or that average is 0 (then
    nothing counts as slow)."""
    ordered = sorted(d for d in durations if _is_seconds(d))
    if not ordered:
        return 0.0
    fastest = ordered[: max(1, int(len(ordered) * _SLOW_BASELINE_FRACTION))]
    baseline: float = sum(fastest) / len(fastest)
    return baseline if baseline > 0 else 0


# The C recorders bucket latencies with the same bounds as the snapshots report.
assert tuple(_core.LATENCY_BOUNDS) == LATENCY_BUCKETS_SECONDS
# Key generators attached to a CachePerformanceMonitor (exactly this class; a
# subclass may override record_key_generation_time) record into its C records.
_core.OpRecorder.register_key_monitor(CachePerformanceMonitor)
