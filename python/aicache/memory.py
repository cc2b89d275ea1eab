"""In-process memory cache: ``InMemoryCache`` (spec section 4) over the C tier.

Every operation is one call into ``aicache._core.MemoryTier`` (a hash table, an
intrusive LRU list and an expiry heap): lookups, expiry checks, LRU updates,
eviction and counters all happen in C, in O(1) (O(log n) heap work for entries
that expire).  Expired entries are removed when touched and a few at a time as a
side effect of other operations; nothing ever scans the whole cache on a hot path.

Differences from the original template (spec section 21, items 8 and 16), all
deliberate:

* Overwriting a key in a full cache replaces it in place and evicts nothing.
* ``memory_usage_bytes`` (the sum of ``sys.getsizeof`` of the stored values, still
  shallow) stays exact through ``exists``, ``invalidate_pattern``, expiry,
  ``delete``, overwrite and ``clear``.
* No INFO log per ``set`` and no DEBUG log per lookup; the eviction line
  ``"Evicting key %s (LRU)"`` is still logged at DEBUG when DEBUG is enabled.
* ``clear()`` works both called plainly and awaited.
* ``get_cache_statistics()["memory_usage"]`` reports the tracked value sizes instead
  of stringifying every entry.
* ``size()`` / ``get_keys()`` / ``total_entries`` count entries still stored; an
  expired entry stays stored until something reclaims it (as in the original, but
  the original's every get/set purged all of them, while this cache reclaims at most
  ``_core.MEM_RECLAIM_BATCH`` per operation plus whatever it must drop to make
  room).  ``active_entries``, ``get_active_keys()`` and every lookup are exact.

Keys must be ``str``.  Concurrency: safe within one event loop (no method awaits
between reading and writing); not thread-safe beyond the GIL, so share an instance
across threads only behind your own lock.
"""

import fnmatch
import logging
import math
import re
import time  # time.time is looked up per call, so patch("time.time") works
from collections.abc import Callable, Generator, Iterable
from typing import Any

from aicache import _core, stampede
from aicache.base import CacheInterface
from aicache.exceptions import ConfigurationError
from aicache.key_generator import CacheKeyGenerator
from aicache.memory_service import MemoryServiceMixin
from aicache.privacy import log_key

__all__ = ["InMemoryCache"]

logger = logging.getLogger(__name__)

_DEBUG = logging.DEBUG
_MAX_TTL = 86400
_MAX_SIZE = 100000
_REDIS_MESSAGE = "InMemoryCache does not use Redis backend"


class ClearResult:
    """What ``InMemoryCache.clear()`` returns: the cache is already empty.

    Awaiting it is a no-op that yields ``None``, so both ``cache.clear()`` (the
    original's sync call) and ``await cache.clear()`` (what generic teardown code
    does) work.  It is falsy, like the ``None`` the original returned.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator function

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<InMemoryCache.clear: done>"


_CLEARED = ClearResult()


def _debug_enabled() -> bool:
    """Whether eviction lines would be logged; the C tier asks only after evicting."""
    return logger.isEnabledFor(_DEBUG)


def _human_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f}MB"
    if n >= 1024:
        return f"{n / 1024:.1f}KB"
    return f"{n}B"


class InMemoryCache(MemoryServiceMixin, CacheInterface):
    """Bounded LRU + TTL cache of Python objects, stored by reference.

    Args:
        default_ttl: seconds an entry lives when ``set`` gets ``ttl=None``
            (an ``int`` in 1..86400).
        max_size: maximum number of entries (an ``int`` in 1..100000); the least
            recently used entry is evicted to make room.
        fail_on_connection_error: accepted for compatibility and ignored.
        max_memory_bytes: optional bound on ``memory_usage_bytes`` (the summed
            ``sys.getsizeof`` of the values); least recently used entries are
            evicted to stay under it, and a single value larger than the bound is
            not cached (a warning is logged and the key is left absent).
        clock: optional zero-argument callable returning the current time in
            seconds; by default ``time.time()`` is looked up at every call.

    ``get``/``set`` touch LRU order, ``exists`` does not.  ``set`` with ``ttl=None``
    uses ``default_ttl``; ``ttl > 0`` expires the entry ``ttl`` seconds from now;
    ``ttl`` 0 or negative never expires.  An entry is expired once
    ``now > expires_at`` (strictly).

    It also answers the rest of the Redis caches' interface (``get_many``,
    ``set_many``, ``delete_many``, ``invalidate_by_operation``, ``cache_response``,
    the AI statistics, ``connect``/``disconnect``, ``async with``): see
    :class:`aicache.memory_service.MemoryServiceMixin`.
    """

    def __init__(
        self,
        default_ttl: int = 3600,
        max_size: int = 1000,
        fail_on_connection_error: bool = False,
        *,
        max_memory_bytes: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(default_ttl, int):
            raise ConfigurationError(
                "default_ttl must be an integer", {"default_ttl": default_ttl}
            )
        if not isinstance(max_size, int):
            raise ConfigurationError(
                "max_size must be an integer", {"max_size": max_size}
            )
        if not 1 <= default_ttl <= _MAX_TTL:
            raise ConfigurationError(
                f"default_ttl must be between 1 and {_MAX_TTL} seconds",
                {"default_ttl": default_ttl},
            )
        if not 1 <= max_size <= _MAX_SIZE:
            raise ConfigurationError(
                f"max_size must be between 1 and {_MAX_SIZE}", {"max_size": max_size}
            )
        if max_memory_bytes is not None and (
            isinstance(max_memory_bytes, bool)
            or not isinstance(max_memory_bytes, int)
            or max_memory_bytes < 1
        ):
            raise ConfigurationError(
                "max_memory_bytes must be a positive integer or None",
                {"max_memory_bytes": max_memory_bytes},
            )
        if clock is not None and not callable(clock):
            raise ConfigurationError("clock must be callable", {"clock": clock})
        self.default_ttl = default_ttl
        self._max_size = max_size
        self._max_memory_bytes = max_memory_bytes
        self._clock = clock
        self._tier = _core.MemoryTier(max_size, max_memory_bytes or 0)
        self.key_generator = CacheKeyGenerator()
        logger.info(
            "InMemoryCache initialized with default_ttl=%ss, max_size=%s",
            default_ttl,
            max_size,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(default_ttl={self.default_ttl}, "
            f"max_size={self._max_size}, entries={len(self._tier)})"
        )

    @property
    def max_size(self) -> int:
        """Maximum number of entries (fixed at construction)."""
        return self._max_size

    @property
    def max_memory_bytes(self) -> int | None:
        """Bound on ``memory_usage_bytes``, or None (fixed at construction)."""
        return self._max_memory_bytes

    def _now(self) -> float:
        return time.time() if self._clock is None else self._clock()

    # ------------------------------------------------------------ CacheInterface

    async def get(self, key: str) -> Any:
        """The stored object (the same object ``set`` was given), or None."""
        try:
            return self._tier.get(
                key, time.time() if self._clock is None else self._clock()
            )
        except Exception as e:
            logger.warning("Cache get error for key %s: %s", log_key(key), e)
            return None

    async def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store value under key; never raises (errors are logged at WARNING)."""
        self.store(key, value, ttl)

    def store(self, key: str, value: Any, ttl: int | None = None) -> None:
        """``set`` without a coroutine (for a caller already in one)."""
        try:
            evicted = self._tier.set(
                key,
                value,
                self.default_ttl if ttl is None else ttl,
                time.time() if self._clock is None else self._clock(),
                _debug_enabled,
            )
            if evicted is not None:
                self._log_evicted(evicted)
        except Exception as e:
            logger.warning("Cache set error for key %s: %s", log_key(key), e)

    @staticmethod
    def _log_evicted(evicted: Iterable[str]) -> None:
        """The DEBUG lines of keys evicted by a store (``_debug_enabled``)."""
        for old in evicted:
            logger.debug("Evicting key %s (LRU)", old)

    async def delete(self, key: str) -> None:
        """Remove key if present; never raises."""
        try:
            self._tier.delete(key)
        except Exception as e:
            logger.warning("Cache delete error for key %s: %s", log_key(key), e)

    def discard(self, key: str) -> None:
        """``delete`` without a coroutine (for cleanup code that must not await)."""
        try:
            self._tier.delete(key)
        except Exception as e:
            logger.warning("Cache delete error for key %s: %s", log_key(key), e)

    async def exists(self, key: str) -> bool:
        """Whether key holds a live entry; no LRU change, no hit/miss counting."""
        try:
            return self._tier.contains(key, self._now())
        except Exception as e:
            logger.warning("Cache exists error for key %s: %s", log_key(key), e)
            return False

    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], Any],
        ttl: float | None = None,
        **options: Any,
    ) -> Any:
        """The value of key, or factory's result computed once and stored
        (concurrent misses share one call; options: :func:`aicache.stampede.get_or_set`)."""
        return await stampede.get_or_set(self, key, factory, ttl, **options)

    # ------------------------------------------------------------ utilities

    def clear(self) -> ClearResult:
        """Remove every entry and reset hits, misses, evictions and memory usage.

        Returns an already-completed awaitable, so ``await cache.clear()`` works too.
        """
        count = len(self._tier)
        self._tier.clear()
        logger.info("Cleared %d entries from memory cache", count)
        return _CLEARED

    def size(self) -> int:
        """Number of stored entries, including expired ones not yet reclaimed."""
        return len(self._tier)

    def get_keys(self) -> list[str]:
        """Every stored key (expired ones too), least recently used first."""
        return self._tier.keys()

    def get_active_keys(self) -> list[str]:
        """Keys that have not expired, least recently used first."""
        return self._tier.active_keys(self._now())

    async def get_ttl(self, key: str) -> int | None:
        """Whole seconds left (>= 0), or None if absent or never expiring."""
        expires_at = self._tier.expires_at(key)
        if expires_at is None or math.isinf(expires_at):
            return None
        return max(0, int(expires_at - self._now()))

    async def invalidate_pattern(
        self, pattern: str, operation_context: str = ""
    ) -> int:
        """Remove keys matching a glob (``fnmatch`` syntax, case-sensitive).

        An empty pattern matches every key.  Returns the number removed.
        """
        keys = self._tier.keys()
        if pattern:
            match = re.compile(fnmatch.translate(pattern)).match
            keys = [k for k in keys if match(k)]
        removed: int = self._tier.delete_many(keys)
        if operation_context and removed > 0:
            logger.debug(
                "InMemoryCache invalidated %d entries for pattern '%s' (context: %s)",
                removed,
                pattern,
                operation_context,
            )
        return removed

    def get_invalidation_frequency_stats(self) -> dict[str, Any]:
        """Stub kept for API compatibility: invalidations are not tracked here."""
        return {
            "frequency": {},
            "patterns": {},
            "total_operations": 0,
            "performance": {},
        }

    def get_invalidation_recommendations(self) -> list[Any]:
        """Stub kept for API compatibility: always empty."""
        return []

    # ------------------------------------------------------------ statistics

    def get_stats(self) -> dict[str, Any]:
        """Statistics with the original's 15 keys; ``hit_rate`` is a percentage."""
        s = self._tier.stats(self._now())
        total: int = s["entries"]
        expired: int = s["expired"]
        active = total - expired
        hits: int = s["hits"]
        misses: int = s["misses"]
        lookups = hits + misses
        memory: int = max(s["bytes"], 0)
        return {
            "total_entries": total,
            "expired_entries": expired,
            "active_entries": active,
            "max_size": self._max_size,
            "utilization": f"{active}/{self._max_size}",
            "utilization_percent": active / self._max_size * 100,
            "default_ttl": self.default_ttl,
            "hits": hits,
            "misses": misses,
            "hit_rate": hits / lookups * 100 if lookups else 0.0,
            "evictions": s["evictions"],
            "memory_usage_bytes": memory,
            "memory_cache_entries": active,
            "memory_cache_size": self._max_size,
            "memory_usage": _human_bytes(memory),
        }

    def get_cache_statistics(self) -> dict[str, Any]:
        """Entry counts, utilisation and the tracked memory as a human string."""
        s = self._tier.stats(self._now())
        active = s["entries"] - s["expired"]
        return {
            "active_entries": active,
            "total_entries": s["entries"],
            "memory_usage": _human_bytes(s["bytes"]),
            "max_size": self._max_size,
            "utilization_percent": active / self._max_size * 100,
        }

    async def get_cache_stats(self) -> dict[str, Any]:
        """Status-endpoint shape; ``performance.hit_rate`` is a fraction (4 dp)."""
        s = self._tier.stats(self._now())
        active = s["entries"] - s["expired"]
        hits: int = s["hits"]
        misses: int = s["misses"]
        total = hits + misses
        return {
            "redis": {"status": "disconnected", "message": _REDIS_MESSAGE},
            "memory": {
                "status": "active",
                "entries": active,
                "max_size": self._max_size,
                "utilization_percent": active / self._max_size * 100,
                "memory_usage": _human_bytes(s["bytes"]),
            },
            "performance": {
                "status": "active",
                "hit_rate": round(hits / total, 4) if total else 0.0,
                "total_operations": total,
                "hits": hits,
                "misses": misses,
                "cache_type": "memory_only",
            },
        }

    def build_key(self, text: str, operation: str, options: dict[str, Any]) -> str:
        """The original's cache key for (text, operation, options)."""
        key: str = self.key_generator.generate_cache_key(text, operation, options)
        return key

    # ------------------------------------------------------------ compatibility views

    @property
    def _cache(self) -> dict[str, dict[str, Any]]:
        """Snapshot of the entries in the original's shape (LRU order).

        A copy: mutating it does not change the cache.  ``expires_at`` is None for
        entries that never expire.
        """
        return {
            key: {
                "value": value,
                "expires_at": None if math.isinf(expires_at) else expires_at,
                "created_at": created_at,
                "size_bytes": size,
            }
            for key, value, expires_at, created_at, size in self._tier.items()
        }

    @property
    def _access_order(self) -> list[str]:
        """Snapshot of the LRU order, least recently used first."""
        return self._tier.keys()

    @property
    def _hits(self) -> int:
        hits: int = self._tier.stats()["hits"]
        return hits

    @property
    def _misses(self) -> int:
        misses: int = self._tier.stats()["misses"]
        return misses

    @property
    def _evictions(self) -> int:
        evictions: int = self._tier.stats()["evictions"]
        return evictions

    @property
    def _memory_usage_bytes(self) -> int:
        used: int = self._tier.stats()["bytes"]
        return used
