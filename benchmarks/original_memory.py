"""A pure-Python model of the ORIGINAL template's ``InMemoryCache`` (spec section 4).

Used only as a benchmark peer: it reproduces the original's cost structure, not its
bugs for their own sake.  Per spec 4.4/4.5 and 21.16:

* a dict of per-entry dicts plus a Python list for LRU order (``list.remove`` is
  O(n) on every touch);
* a full scan for expired entries at the start of every ``get`` and ``set``;
* eviction from the list's head while ``len >= max_size`` (also on overwrite);
* ``sys.getsizeof`` per set, an f-string INFO log line formatted on every ``set``
  and f-string DEBUG lines on every lookup (formatted even when not emitted).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

logger = logging.getLogger("benchmarks.original_memory")


class OriginalInMemoryCache:
    def __init__(self, default_ttl: int = 3600, max_size: int = 1000) -> None:
        self.default_ttl = default_ttl
        self.max_size = max_size
        self._cache: dict[str, dict[str, Any]] = {}
        self._access_order: list[str] = []
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._memory_usage_bytes = 0

    def _purge_expired(self) -> None:
        now = time.time()
        expired = [
            k
            for k, e in self._cache.items()
            if e["expires_at"] is not None and now > e["expires_at"]
        ]
        for k in expired:
            self._memory_usage_bytes -= self._cache.pop(k)["size_bytes"]
            if k in self._access_order:
                self._access_order.remove(k)

    def _touch(self, key: str) -> None:
        if key in self._access_order:
            self._access_order.remove(key)
        self._access_order.append(key)

    async def get(self, key: str) -> Any:
        try:
            self._purge_expired()
            entry = self._cache.get(key)
            if entry is None:
                self._misses += 1
                logger.debug(f"Cache miss for key: {key}")
                return None
            if entry["expires_at"] is not None and time.time() > entry["expires_at"]:
                self._memory_usage_bytes -= entry["size_bytes"]
                del self._cache[key]
                self._access_order.remove(key)
                self._misses += 1
                return None
            self._touch(key)
            self._hits += 1
            logger.debug(f"Cache hit for key: {key}")
            return entry["value"]
        except Exception as e:  # pragma: no cover - mirrors the original
            logger.warning(f"Cache get error for key {key}: {e}")
            return None

    async def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        try:
            self._purge_expired()
            while len(self._cache) >= self.max_size and self._access_order:
                victim = self._access_order.pop(0)
                if victim in self._cache:
                    self._memory_usage_bytes -= self._cache.pop(victim)["size_bytes"]
                    self._evictions += 1
                    logger.debug("Evicting key %s (LRU)", victim)
            if ttl is None:
                ttl = self.default_ttl
            expires_at = time.time() + ttl if ttl > 0 else None
            try:
                size = sys.getsizeof(value)
            except Exception:
                size = 0
            old = self._cache.get(key)
            if old is not None:
                self._memory_usage_bytes -= old["size_bytes"]
            self._cache[key] = {
                "value": value,
                "expires_at": expires_at,
                "created_at": time.time(),
                "size_bytes": size,
            }
            self._memory_usage_bytes += size
            self._touch(key)
            ttl_info = f"TTL={ttl}s" if expires_at else "no expiration"
            logger.info(f"Set cache key {key} ({ttl_info})")
        except Exception as e:  # pragma: no cover - mirrors the original
            logger.warning(f"Cache set error for key {key}: {e}")

    def bulk_load(self, items: list[tuple[str, Any]], ttl: int) -> None:
        """Benchmark harness only: the state ``set`` would build, in O(n).

        Filling 100k+ entries through ``set`` is quadratic (scan + list.remove per
        call), so the harness builds the same structures directly.
        """
        now = time.time()
        for key, value in items:
            self._cache[key] = {
                "value": value,
                "expires_at": now + ttl,
                "created_at": now,
                "size_bytes": sys.getsizeof(value),
            }
            self._memory_usage_bytes += sys.getsizeof(value)
            self._access_order.append(key)
