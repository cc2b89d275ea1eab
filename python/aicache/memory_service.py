"""The Redis caches' interface on ``InMemoryCache`` (issue 10, "one interface").

When Redis cannot be reached the factories and the FastAPI dependencies return an
``InMemoryCache``; code written against ``GenericRedisCache`` / ``AIResponseCache``
must keep working on it. :class:`MemoryServiceMixin` gives ``InMemoryCache`` what
those classes have beyond ``get``/``set``/``delete``/``exists``: batch calls,
``invalidate_by_operation``, the AI calls and statistics, ``connect`` /
``disconnect`` and ``async with``. It is kept apart from ``memory.py`` (the hot path)
and uses only the public methods of the cache.

AI statistics on the memory cache count what goes through ``cache_response`` /
``get_cached_response`` (plain ``get`` of an AI key is not attributed to an
operation here); their shapes are those of ``AIResponseCache``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Self

from aicache import stampede
from aicache.ai_responses import (
    DEFAULT_TEXT_TIERS,
    RetrievalCounter,
    build_entry,
    mark_retrieved,
    response_key,
    text_tier,
)
from aicache.exceptions import ValidationError

__all__ = ["MemoryServiceMixin"]

_OP_PREFIX = "ai_cache:op:"
_TIER_NAMES = ("small", "medium", "large", "xlarge")
_MAX_SAMPLES = 1000


class _AIState:
    """Per-cache AI counters, created on first AI call."""

    __slots__ = ("durations", "hits", "misses", "retrievals", "stores", "tiers")

    def __init__(self) -> None:
        self.hits: defaultdict[str, int] = defaultdict(int)
        self.misses: defaultdict[str, int] = defaultdict(int)
        self.stores: defaultdict[str, int] = defaultdict(int)
        self.tiers: defaultdict[str, int] = defaultdict(int)
        self.durations: defaultdict[str, list[float]] = defaultdict(list)
        self.retrievals = RetrievalCounter()

    def sample(self, operation: str, seconds: float) -> None:
        samples = self.durations[operation]
        samples.append(seconds)
        if len(samples) > _MAX_SAMPLES:
            del samples[: len(samples) - _MAX_SAMPLES]


class MemoryServiceMixin:
    """Batch, AI and lifecycle methods of the Redis caches, for ``InMemoryCache``."""

    if TYPE_CHECKING:  # provided by InMemoryCache
        default_ttl: int

        async def get(self, key: str) -> Any: ...
        async def set(self, key: str, value: Any, ttl: int | None = None) -> None: ...
        async def delete(self, key: str) -> None: ...
        async def exists(self, key: str) -> bool: ...
        def get_keys(self) -> list[str]: ...
        def get_stats(self) -> dict[str, Any]: ...
        def build_key(
            self, text: str, operation: str, options: dict[str, Any]
        ) -> str: ...
        async def get_or_set(
            self,
            key: str,
            factory: Callable[[], Any],
            ttl: float | None = None,
            **options: Any,
        ) -> Any: ...

    #: Seconds per AI operation used by ``cache_response`` (the factories set it
    #: when this cache stands in for an ``AIResponseCache``); read-only default.
    operation_ttls: Mapping[str, int] = MappingProxyType({})
    #: Character limits of the text tiers (as ``AIResponseCache.text_size_tiers``).
    text_size_tiers: Mapping[str, int] = MappingProxyType(DEFAULT_TEXT_TIERS)

    #: Why this cache stands in for a Redis cache (set by the factories when Redis
    #: could not be used, e.g. "authentication failed (...)"); None otherwise.
    fallback_reason: str | None = None

    def _ai_state(self) -> _AIState:
        state: _AIState | None = self.__dict__.get("_ai_state_data")
        if state is None:
            state = self.__dict__["_ai_state_data"] = _AIState()
        return state

    # ------------------------------------------------------------ lifecycle

    async def connect(self) -> bool:
        """There is no Redis behind this cache: always False (it still works)."""
        return False

    async def disconnect(self) -> None:
        """Nothing to close; the entries stay (as a Redis cache keeps its L1)."""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # ------------------------------------------------------------ batch calls

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """``{key: value or None}`` for every (distinct) key."""
        return {key: await self.get(key) for key in dict.fromkeys(keys)}

    async def set_many(self, items: Mapping[str, Any], ttl: int | None = None) -> None:
        """Store every item with the same ``ttl`` (``default_ttl`` when None)."""
        for key, value in items.items():
            await self.set(key, value, ttl)

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Remove the keys; the number that held a live entry."""
        removed = 0
        for key in dict.fromkeys(keys):
            if await self.exists(key):
                removed += 1
            await self.delete(key)
        return removed

    async def invalidate_by_operation(
        self, operation: str, operation_context: str = ""
    ) -> int:
        """Remove every key of exactly this AI operation (``ai_cache:op:<op>|*``);
        the number removed.

        Raises:
            ValidationError: ``operation`` is not a non-empty string.
        """
        if not isinstance(operation, str) or not operation.strip():
            raise ValidationError(
                "operation must be a non-empty string", {"operation": repr(operation)}
            )
        prefix = f"{_OP_PREFIX}{operation}|"
        return await self.delete_many(
            k for k in self.get_keys() if k.startswith(prefix)
        )

    # ------------------------------------------------------------ AI calls

    async def cache_response(
        self,
        text: str,
        operation: str,
        options: dict[str, Any] | None,
        response: Any,
        question: str | None = None,
    ) -> None:
        """Store an AI response with its metadata (see :mod:`aicache.ai_responses`)."""
        start = time.perf_counter()
        key = response_key(self, text, operation, options, question)
        entry = build_entry(response, text, operation, self.text_size_tiers)
        await self.set(key, entry, self.operation_ttls.get(operation, self.default_ttl))
        state = self._ai_state()
        state.retrievals.forget(key)
        state.stores[operation] += 1
        state.sample(operation, time.perf_counter() - start)

    async def get_cached_response(
        self,
        text: str,
        operation: str,
        options: dict[str, Any] | None = None,
        question: str | None = None,
    ) -> dict[str, Any] | None:
        """The stored response with ``cache_hit``, ``retrieved_at`` and
        ``retrieval_count`` added, or None."""
        start = time.perf_counter()
        key = response_key(self, text, operation, options, question)
        value = await self.get(key)
        state = self._ai_state()
        state.sample(operation, time.perf_counter() - start)
        if value is None:
            state.misses[operation] += 1
            return None
        state.hits[operation] += 1
        state.tiers[text_tier(text, self.text_size_tiers)] += 1
        result: dict[str, Any] | None = mark_retrieved(value, key, state.retrievals)
        return result

    async def get_or_set_response(
        self,
        text: str,
        operation: str,
        options: dict[str, Any] | None,
        factory: Callable[[], Any],
        question: str | None = None,
        ttl: float | None = None,
        **compute_options: Any,
    ) -> Any:
        """``get_or_set`` keyed like ``build_key(text, operation, options)`` (a
        ``question`` joins the options), as on ``AIResponseCache``; without ``ttl``
        the operation's TTL applies."""
        return await stampede.get_or_set_response(
            self,
            text,
            operation,
            options,
            factory,
            question,
            ttl,
            compute_options,
            operation_ttls=self.operation_ttls,
        )

    # ------------------------------------------------------------ AI statistics

    def get_cache_hit_ratio(self) -> float:
        """Hit rate of lookups, percent (0.0 without lookups)."""
        rate: float = self.get_stats()["hit_rate"]
        return rate

    def _hit_rates_by_operation(self) -> dict[str, dict[str, Any]]:
        state = self._ai_state()
        result: dict[str, dict[str, Any]] = {}
        for op in sorted(set(state.hits) | set(state.misses)):
            h, m = state.hits.get(op, 0), state.misses.get(op, 0)
            result[op] = {
                "hit_rate": round(h / (h + m) * 100, 2) if h + m else 0.0,
                "total_requests": h + m,
                "hits": h,
                "misses": m,
            }
        return result

    def get_performance_summary(self) -> dict[str, Any]:
        stats = self.get_stats()
        state = self._ai_state()
        samples = [s for values in state.durations.values() for s in values][-10:]
        return {
            "hit_ratio": stats["hit_rate"],
            "total_operations": stats["hits"] + stats["misses"],
            "cache_hits": stats["hits"],
            "cache_misses": stats["misses"],
            "recent_avg_cache_operation_time": (
                sum(samples) / len(samples) if samples else 0.0
            ),
            "ai_operation_metrics": dict(state.hits),
            "ai_miss_metrics": dict(state.misses),
            "text_tier_distribution": dict(state.tiers),
            "recent_ai_operations": sum(state.stores.values()),
        }

    def get_ai_performance_summary(self) -> dict[str, Any]:
        """As ``AIResponseCache.get_ai_performance_summary``."""
        state = self._ai_state()
        hits, misses = sum(state.hits.values()), sum(state.misses.values())
        total = hits + misses
        summary: dict[str, Any] = {
            "total_operations": total,
            "overall_hit_rate": 0.0,
            "hit_rate_by_operation": {},
            "text_tier_distribution": dict(state.tiers),
            "key_generation_stats": {},
            "optimization_recommendations": [],
            "inherited_stats": {},
        }
        if total == 0:
            summary["message"] = "No AI cache operations recorded yet"
            return summary
        summary["overall_hit_rate"] = round(hits / total * 100, 2)
        summary["hit_rate_by_operation"] = self._hit_rates_by_operation()
        summary["inherited_stats"] = self.get_stats()
        return summary

    def get_text_tier_statistics(self) -> dict[str, Any]:
        """As ``AIResponseCache.get_text_tier_statistics``."""
        recorded = dict(self._ai_state().tiers)
        distribution = {tier: recorded.get(tier, 0) for tier in _TIER_NAMES}
        present = [t for t in _TIER_NAMES if distribution[t] > 0]
        total = sum(distribution.values())
        analysis: dict[str, Any] = {
            "total_requests": total,
            "tiers": {
                tier: {
                    "requests": count,
                    "percentage": round(count / total * 100, 2) if total else 0.0,
                }
                for tier, count in distribution.items()
            },
        }
        if total:
            analysis["dominant_tier"] = max(distribution, key=lambda t: distribution[t])
        tiers = self.text_size_tiers
        return {
            "tier_configuration": {n: tiers[n] for n in ("small", "medium", "large")},
            "tier_distribution": distribution,
            "tier_performance_analysis": analysis,
            "data_completeness": {
                "expected_tiers": list(_TIER_NAMES),
                "recorded_tiers": present,
                "missing_tiers": [t for t in _TIER_NAMES if t not in present],
                "completeness_percentage": len(present) / len(_TIER_NAMES) * 100,
            },
        }

    def get_operation_performance(self) -> dict[str, Any]:
        """As ``AIResponseCache.get_operation_performance`` (AI calls only)."""
        state = self._ai_state()
        operations: dict[str, dict[str, Any]] = {}
        all_ms: list[float] = []
        for op, samples in sorted(state.durations.items()):
            ms = sorted(s * 1000.0 for s in samples)
            if not ms:
                continue
            all_ms.extend(ms)

            def pct(fraction: float, ms: list[float] = ms) -> float:
                return ms[min(len(ms), max(1, math.ceil(fraction * len(ms)))) - 1]

            operations[op] = {
                "avg_duration_ms": sum(ms) / len(ms),
                "min_duration_ms": ms[0],
                "max_duration_ms": ms[-1],
                "percentiles": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
                "total_operations": len(ms),
                "configured_ttl": self.operation_ttls.get(op, self.default_ttl),
                "sample_count": len(ms),
            }
        by_avg = sorted(operations, key=lambda o: operations[o]["avg_duration_ms"])
        return {
            "operations": operations,
            "summary": {
                "total_operations_measured": len(all_ms),
                "total_operation_types": len(operations),
                "overall_avg_duration_ms": sum(all_ms) / len(all_ms) if all_ms else 0.0,
                "fastest_operation": by_avg[0] if by_avg else None,
                "slowest_operation": by_avg[-1] if by_avg else None,
            },
        }

    # ------------------------------------------------------------ security helpers
    # What GenericRedisCache answers without a security manager: no Redis link here.

    async def validate_security(self) -> None:
        """No Redis connection to validate: None (as a Redis cache without one)."""
        return None

    def get_security_status(self) -> dict[str, Any]:
        return {
            "security_enabled": False,
            "security_level": "NONE",
            "message": "In-memory cache: no Redis connection to secure",
        }

    def get_security_recommendations(self) -> list[str]:
        return [
            "This cache keeps data in process memory only; configure a reachable "
            "Redis (CACHE_REDIS_URL) with AUTH and TLS to share it between processes"
        ]

    async def generate_security_report(self) -> str:
        return "In-memory cache: no Redis connection, no security report available."

    async def test_security_configuration(self) -> dict[str, Any]:
        return {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "configuration_valid": False,
            "connection_successful": False,
            "authentication_working": False,
            "encryption_active": False,
            "overall_secure": False,
            "test_details": {},
            "errors": ["In-memory cache: no Redis connection"],
        }
