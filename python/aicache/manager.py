"""``CacheManager``: one object that picks a secure Redis cache or memory (spec 16).

Not exported at package level. The original could never fall back: it imported a
``MemoryCache`` that does not exist, so any Redis construction error became
``ConfigurationError("Neither Redis nor Memory cache available")`` (spec 21 item 12).
Here a failing ``GenericRedisCache.create_secure`` falls back to ``InMemoryCache``
(``cache_type == "memory"``), and the reason is logged.
"""

import inspect
import logging
import time
from typing import Any

from aicache.exceptions import ConfigurationError
from aicache.memory import InMemoryCache
from aicache.redis_generic import GenericRedisCache
from aicache.security import redact_url

__all__ = ["CacheManager"]

logger = logging.getLogger(__name__)

_HEALTH_KEY = "_health_check_test"


class CacheManager:
    """Secure Redis cache when it can be built, else an in-memory cache.

    ``cache_type`` is ``"redis_secure"`` or ``"memory"``. Every operation raises
    ``ConfigurationError("Cache manager not initialized")`` when there is no backend.
    """

    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url
        self.cache: GenericRedisCache | InMemoryCache | None = None
        self.cache_type = "none"
        self.fallback_reason: str | None = None
        try:
            self.cache = GenericRedisCache.create_secure(redis_url)
            self.cache_type = "redis_secure"
            logger.info("CacheManager using secure Redis cache")
        except Exception as exc:
            self.fallback_reason = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "Secure Redis cache unavailable for %s (%s); using InMemoryCache",
                redact_url(redis_url) if redis_url else "REDIS_URL",
                self.fallback_reason,
            )
            try:
                self.cache = InMemoryCache()
                self.cache_type = "memory"
            except Exception as mem_exc:
                raise ConfigurationError(
                    "Neither Redis nor Memory cache available",
                    {
                        "redis_error": self.fallback_reason,
                        "memory_error": str(mem_exc),
                    },
                ) from mem_exc

    def _backend(self) -> GenericRedisCache | InMemoryCache:
        if self.cache is None:
            raise ConfigurationError("Cache manager not initialized")
        return self.cache

    async def get(self, key: str) -> Any:
        return await self._backend().get(key)

    async def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        await self._backend().set(key, value, ttl)

    async def delete(self, key: str) -> bool:
        cache = self._backend()
        if isinstance(cache, InMemoryCache):
            existed = await cache.exists(key)
            await cache.delete(key)
            return existed
        return await cache.delete(key)

    async def clear(self) -> None:
        result: Any = self._backend().clear()
        if inspect.isawaitable(result):
            await result

    async def exists(self, key: str) -> bool:
        return await self._backend().exists(key)

    async def connect(self) -> bool:
        cache = self._backend()
        if isinstance(cache, GenericRedisCache):
            return await cache.connect()
        return True

    async def disconnect(self) -> None:
        cache = self._backend()
        if isinstance(cache, GenericRedisCache):
            await cache.disconnect()

    def get_cache_info(self) -> dict[str, Any]:
        cache = self.cache
        info: dict[str, Any] = {
            "cache_type": self.cache_type,
            "security_enabled": False,
            "initialized": cache is not None,
            "encryption_active": False,
            "connection_secure": False,
        }
        if isinstance(cache, GenericRedisCache):
            info["security_enabled"] = cache.security_manager is not None
            info["encryption_active"] = bool(cache.encryption.is_enabled)
            scheme = cache.redis_url.split("://", 1)[0]
            info["connection_scheme"] = scheme
            info["connection_secure"] = scheme in ("rediss", "unix") or bool(
                getattr(cache.security_config, "use_tls", False)
            )
            if cache.performance_monitor is not None:
                info["performance_stats"] = (
                    cache.performance_monitor.get_performance_stats()
                )
        elif self.fallback_reason:
            info["fallback_reason"] = self.fallback_reason
        return info

    async def health_check(self) -> dict[str, Any]:
        """Set/get/delete a probe key (and the security self-test for Redis)."""
        result: dict[str, Any] = {
            "timestamp": time.time(),
            "cache_type": self.cache_type,
            "healthy": False,
            "errors": [],
        }
        try:
            cache = self._backend()
            await cache.set(_HEALTH_KEY, "ok", 60)
            value = await cache.get(_HEALTH_KEY)
            await cache.delete(_HEALTH_KEY)
            if value != "ok":
                result["errors"].append("Health check value mismatch")
            if isinstance(cache, GenericRedisCache):
                report = await cache.test_security_configuration()
                result["security_test"] = report
                for error in report.get("errors", []):
                    result["errors"].append(f"Security: {error}")
            healthy = value == "ok"
            if isinstance(cache, GenericRedisCache):
                # The L1 answers even when Redis is down; that is not healthy.
                healthy = healthy and bool(report.get("connection_successful"))
            result["healthy"] = healthy
        except Exception as exc:
            result["errors"].append(str(exc))
        return result

    def __str__(self) -> str:
        return f"CacheManager({self.cache_type})"

    def __repr__(self) -> str:
        return (
            f"CacheManager(cache_type={self.cache_type!r}, "
            f"initialized={self.cache is not None})"
        )
