"""Cache keys for AI responses, byte-identical to the original ``CacheKeyGenerator``.

``generate_cache_key(text, operation, options)`` returns::

    ai_cache:op:<operation>|txt:<text or hash:16 hex>[|opts:<8 hex>][|q:<8 hex>]

Texts of at most ``text_hash_threshold`` characters are embedded with ``|`` and ``:``
replaced by ``_``; longer ones are replaced by ``hash:`` and 16 hex digits of
``hash_algorithm(text ‖ "len:N" ‖ "words:W")``. Options are rendered as
``"&".join(f"{k}={v}" for k, v in sorted(options.items()))`` and hashed with MD5
(8 hex digits); a truthy ``options["question"]`` adds its own MD5 part.

The whole key is built by one C call (``aicache._core.KeyGenerator``): sanitizing,
code-point and word counting, SHA-256/MD5 and assembly, with the GIL released while
long texts are hashed. Inputs the C path does not cover (a ``text`` that is not a
``str``, ``options`` that are neither ``None`` nor a ``dict``, a long text with lone
surrogates, a ``hash_algorithm`` other than ``hashlib.sha256``/``hashlib.md5`` for a
long text) run the original algorithm in Python below, so keys and exception types
never depend on which path ran. Known weak spots of the key format (spec §21 item 10:
lossy sanitizing, ``True`` and ``"True"`` rendering alike, 32-bit option hashes) are
kept on purpose: existing Redis entries stay reachable.
"""

import hashlib
import time
from collections.abc import Callable, Sequence
from statistics import mean
from typing import Any, Protocol

from aicache._core import KeyGenerator as _KeyGenerator

__all__ = ["CacheKeyGenerator", "KeyTiming", "KeyTimingMonitor"]


class KeyTiming(Protocol):
    """One recorded key generation (``monitoring.PerformanceMetric`` fits)."""

    @property
    def duration(self) -> float: ...
    @property
    def text_length(self) -> int: ...
    @property
    def operation_type(self) -> str: ...


class KeyTimingMonitor(Protocol):
    """What the generator needs from a performance monitor
    (``monitoring.CachePerformanceMonitor`` fits)."""

    @property
    def key_generation_times(self) -> Sequence[KeyTiming]: ...

    def record_key_generation_time(
        self,
        duration: float,
        text_length: int,
        operation_type: str = "",
        additional_data: dict[str, Any] | None = None,
    ) -> None: ...


def _empty_stats(monitor_available: bool) -> dict[str, Any]:
    return {
        "total_keys_generated": 0,
        "average_generation_time": 0.0,
        "text_size_distribution": {},
        "operation_distribution": {},
        "recent_performance": {},
        "monitor_available": monitor_available,
    }


class CacheKeyGenerator(_KeyGenerator):
    """Builds cache keys for AI operations (see the module docstring).

    The three constructor arguments are stored unvalidated in attributes of the same
    names, as the original does; they are read on every call, so assigning them later
    takes effect. ``performance_monitor``, when truthy, receives
    ``record_key_generation_time(duration=..., text_length=..., operation_type=...,
    additional_data={"text_tier", "has_options", "has_question"})`` for every key,
    timed with ``time.time()`` (looked up per call, so ``patch("time.time")`` works).

    Safe to share between threads. A subclass that overrides
    ``_hash_text_efficiently`` gets keys built through its override, as in the
    original; patching that method on one instance does not affect
    ``generate_cache_key``.
    """

    text_hash_threshold: int
    hash_algorithm: Callable[[], Any]
    performance_monitor: KeyTimingMonitor | None

    def __init__(
        self,
        text_hash_threshold: int = 1000,
        hash_algorithm: Callable[[], Any] = hashlib.sha256,
        performance_monitor: KeyTimingMonitor | None = None,
    ) -> None:
        super().__init__(text_hash_threshold, hash_algorithm, performance_monitor)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overrides_text_id = (
            cls._hash_text_efficiently is not _KeyGenerator._hash_text_efficiently
        )
        if overrides_text_id and "generate_cache_key" not in cls.__dict__:
            cls.generate_cache_key = CacheKeyGenerator._generate_cache_key_generic  # type: ignore[assignment]

    # -- the original algorithm, for the inputs the C path hands back --------------

    def _hash_text_efficiently_generic(self, text: Any) -> Any:
        if len(text) <= self.text_hash_threshold:
            return text.replace("|", "_").replace(":", "_")
        hasher = self.hash_algorithm()
        hasher.update(text.encode("utf-8"))
        hasher.update(f"len:{len(text)}".encode())
        hasher.update(f"words:{len(text.split())}".encode())
        return f"hash:{hasher.hexdigest()[:16]}"

    def _generate_cache_key_generic(
        self, text: Any, operation: Any, options: Any
    ) -> str:
        start_time = time.time()
        text_identifier = self._hash_text_efficiently(text)
        components = [f"op:{operation}", f"txt:{text_identifier}"]
        question = options.get("question") if options else None
        if options:
            opts_str = "&".join(f"{k}={v}" for k, v in sorted(options.items()))
            components.append(f"opts:{hashlib.md5(opts_str.encode()).hexdigest()[:8]}")
        if question:
            components.append(f"q:{hashlib.md5(question.encode()).hexdigest()[:8]}")
        cache_key = "ai_cache:" + "|".join(components)
        monitor = self.performance_monitor
        if monitor:
            monitor.record_key_generation_time(
                duration=time.time() - start_time,
                text_length=len(text),
                operation_type=operation,
                additional_data={
                    "text_tier": "large"
                    if len(text) > self.text_hash_threshold
                    else "small",
                    "has_options": bool(options),
                    "has_question": bool(question),
                },
            )
        return cache_key

    # -- statistics ------------------------------------------------------------------

    def get_key_generation_stats(self) -> dict[str, Any]:
        """Key-generation statistics computed from the monitor's measurements
        (spec §5.4); ``monitor_available`` says whether a monitor is attached.
        Averages use ``statistics.mean``, as the original."""
        monitor = self.performance_monitor
        if not monitor:
            return _empty_stats(False)
        times = monitor.key_generation_times
        if not times:
            return _empty_stats(True)
        total = len(times)
        sizes = [m.text_length for m in times]
        operations: dict[str, int] = {}
        for m in times:
            operations[m.operation_type] = operations.get(m.operation_type, 0) + 1
        recent = times[-10:] if total >= 10 else times
        threshold = self.text_hash_threshold
        return {
            "total_keys_generated": total,
            "average_generation_time": mean(m.duration for m in times),
            "text_size_distribution": {
                "small": sum(1 for s in sizes if s <= threshold),
                "large": sum(1 for s in sizes if s > threshold),
                "average_size": mean(sizes),
                "max_size": max(sizes),
            },
            "operation_distribution": operations,
            "recent_performance": {
                "recent_average_time": mean(m.duration for m in recent),
                "recent_measurements": len(recent),
            },
            "monitor_available": True,
        }
