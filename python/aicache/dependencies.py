"""FastAPI dependencies for the cache (spec section 15).

    from fastapi import Depends, FastAPI
    from aicache.dependencies import get_cache_service

    @app.get("/items/{item_id}")
    async def read(item_id: str, cache=Depends(get_cache_service)): ...

FastAPI is optional: without it this module still imports, and every function can be
called directly (a parameter left at its ``Depends(...)`` default is resolved by
calling the dependency, with or without FastAPI installed).

Differences from the original (docs/migration-factory.md):

* The registry keeps caches alive. The original held weak references, so a Redis
  cache (and its connection) was usually rebuilt on every request and never closed
  (spec 21 item 18). Here ``_cache_registry`` maps a key to the cache object itself;
  ``cleanup_cache_registry()`` disconnects and forgets them (call it at shutdown).
  An ``InMemoryCache`` that stands in for an unreachable Redis is kept for
  ``FALLBACK_RETRY_SECONDS`` only, after which the next request tries Redis again.
* The registry key is a SHA-256 digest of the sorted configuration items, stable
  across processes (the original used the process-randomised ``hash()``).
* No ``asyncio.Lock`` is created at import: one lock per running event loop is made
  on first use (spec 21 item 25), so test runners with several loops work.
* ``get_settings()`` returns :class:`aicache.settings.CacheSettings` (parsed from the
  environment); ``get_cache_config`` returns its ``get_cache_config()``. An invalid
  environment raises ``ConfigurationError`` naming the variable instead of silently
  falling back to the ``simple`` preset.
* ``get_web_cache_service`` really yields a web cache (no AI keys) and
  ``get_ai_cache_service`` an AI cache with the preset's AI settings.
* ``get_cache_health_status`` awaits ``ping()`` when the cache has one, and calls
  ``get_stats()`` without awaiting when it is synchronous (the original always awaited
  it and so always reported "Failed to get cache statistics").
"""

import asyncio
import dataclasses
import functools
import hashlib
import inspect
import json
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aicache.cache_presets import ai_config_from_optimizations
from aicache.config import AI_FLAT_KEYS, CacheConfig
from aicache.exceptions import ConfigurationError, InfrastructureError
from aicache.factory import CacheFactory
from aicache.memory import InMemoryCache
from aicache.security import redact_url
from aicache.settings import CacheSettings

__all__ = [
    "FALLBACK_RETRY_SECONDS",
    "FASTAPI_AVAILABLE",
    "CacheDependencyManager",
    "cleanup_cache_registry",
    "get_ai_cache_service",
    "get_cache_config",
    "get_cache_health_status",
    "get_cache_service",
    "get_cache_service_conditional",
    "get_fallback_cache_service",
    "get_settings",
    "get_test_cache",
    "get_test_redis_cache",
    "get_web_cache_service",
    "install_cache_service",
    "redis_expected",
    "validate_cache_configuration",
]

logger = logging.getLogger(__name__)


class _Dependency:
    """Stand-in for ``fastapi.Depends`` when FastAPI is not installed."""

    def __init__(self, dependency: Callable[..., Any]) -> None:
        self.dependency = dependency

    def __repr__(self) -> str:
        return f"Depends({getattr(self.dependency, '__name__', self.dependency)})"


class _HTTPError(Exception):
    """Stand-in for ``fastapi.HTTPException`` when FastAPI is not installed."""

    def __init__(self, status_code: int, detail: Any = None) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


Depends: Callable[..., Any]
HTTPException: Callable[..., Exception]
_DEPENDS_TYPES: tuple[type, ...]
try:
    from fastapi import Depends as _fastapi_depends
    from fastapi import HTTPException as _fastapi_http_exception
    from fastapi.params import Depends as _FastAPIDependsParam

    Depends = _fastapi_depends
    HTTPException = _fastapi_http_exception
    _DEPENDS_TYPES = (_FastAPIDependsParam, _Dependency)
    FASTAPI_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised by the no-FastAPI test
    Depends = _Dependency
    HTTPException = _HTTPError
    _DEPENDS_TYPES = (_Dependency,)
    FASTAPI_AVAILABLE = False

#: Seconds an in-memory stand-in for an unreachable Redis stays registered.
FALLBACK_RETRY_SECONDS = 30.0

# Registry: key -> cache (strong references; see the module docstring).
_cache_registry: dict[str, Any] = {}
# Keys whose cache is an in-memory stand-in, with the time.monotonic() to retry at.
_fallback_deadlines: dict[str, float] = {}
# One lock per event loop, created on first use (never at import).
_cache_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
_cache_lock: asyncio.Lock | None = None  # the lock of the loop that used it last


def _get_cache_lock() -> asyncio.Lock:
    global _cache_lock
    loop = asyncio.get_running_loop()
    lock = _cache_locks.get(loop)
    if lock is None:
        lock = _cache_locks[loop] = asyncio.Lock()
    _cache_lock = lock
    return lock


async def _resolve(value: Any) -> Any:
    """A parameter left at its ``Depends(...)`` default (direct call): run the
    dependency (its own parameters resolved the same way)."""
    if not isinstance(value, _DEPENDS_TYPES):
        return value
    dependency = getattr(value, "dependency", None)
    if dependency is None:
        return None
    result = dependency()
    if inspect.isawaitable(result):
        result = await result
    return result


_SECRET_KEYS = frozenset({"redis_password", "encryption_key", "security_config"})


def _redact(value: Any) -> str:
    if isinstance(value, Mapping):
        shown = {}
        for k, v in value.items():
            if k in _SECRET_KEYS and v:
                v = "<redacted>"
            elif k == "redis_url" and isinstance(v, str):
                v = redact_url(v)
            shown[k] = v
        return str(shown)
    return str(value)


def _key_default(value: Any) -> Any:
    # Dataclasses (e.g. a SecurityConfig) by their fields: their repr hides secrets,
    # and two configurations differing only in a password must not share a cache.
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)


def _registry_key(prefix: str, config: Mapping[str, Any]) -> str:
    """Stable across processes: SHA-256 of the JSON of the sorted items."""
    text = json.dumps(
        sorted(config.items(), key=lambda item: str(item[0])),
        sort_keys=True,
        default=_key_default,
        separators=(",", ":"),
    )
    return prefix + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _config_dict(config: Any) -> dict[str, Any]:
    if isinstance(config, CacheConfig):
        return config.to_dict()
    if isinstance(config, Mapping):
        return dict(config)
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        if isinstance(result, Mapping):
            return dict(result)
    raise ConfigurationError(
        "Cache configuration must be a CacheConfig or a dict",
        {"config_type": type(config).__name__},
    )


def _expects_redis(config: Mapping[str, Any]) -> bool:
    preset = config.get("preset_name") or ""
    return bool(config.get("redis_url")) and not (
        isinstance(preset, str) and preset.lower() == "disabled"
    )


def _usable(cache_key: str) -> bool:
    """False once an in-memory stand-in's retry window has passed."""
    deadline = _fallback_deadlines.get(cache_key)
    return deadline is None or time.monotonic() < deadline


class CacheDependencyManager:
    """Registry helpers shared by the dependency functions."""

    @staticmethod
    async def cleanup_registry() -> dict[str, Any]:
        return await cleanup_cache_registry()

    @staticmethod
    async def _ensure_cache_connected(cache: Any) -> Any:
        connect = getattr(cache, "connect", None)
        if callable(connect):
            try:
                connected = connect()
                if inspect.isawaitable(connected):
                    connected = await connected
                logger.debug(
                    "Cache %s connect() -> %s", type(cache).__name__, connected
                )
            except Exception as exc:
                logger.warning("Cache connection attempt failed: %s", exc)
        return cache

    @staticmethod
    async def _get_or_create_cache(
        cache_key: str,
        factory_func: Callable[..., Awaitable[Any]],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """The registered cache for ``cache_key``, or a new one from
        ``await factory_func(*args, **kwargs)`` (then registered).

        Raises:
            InfrastructureError: the factory raised.
        """
        # Fast path without the lock: a registered cache reconnects by itself, so
        # requests never queue behind one that is (re)connecting.
        cache = _cache_registry.get(cache_key)
        if cache is not None and _usable(cache_key):
            return await CacheDependencyManager._ensure_cache_connected(cache)
        async with _get_cache_lock():
            cache = _cache_registry.get(cache_key)
            if cache is not None:
                if _usable(cache_key):
                    return await CacheDependencyManager._ensure_cache_connected(cache)
                logger.info("Retrying Redis for cache %s", cache_key)
                del _cache_registry[cache_key]
                del _fallback_deadlines[cache_key]
            try:
                cache = await factory_func(*args, **kwargs)
                cache = await CacheDependencyManager._ensure_cache_connected(cache)
            except Exception as exc:
                raise InfrastructureError(
                    f"Failed to create cache instance: {exc}",
                    {
                        "cache_key": cache_key,
                        "factory_func": getattr(factory_func, "__name__", "unknown"),
                        "args": [_redact(a) for a in args],
                        "kwargs": {k: _redact(v) for k, v in kwargs.items()},
                        "original_error": str(exc),
                    },
                ) from exc
            _cache_registry[cache_key] = cache
            config = args[0] if args and isinstance(args[0], Mapping) else {}
            if isinstance(cache, InMemoryCache) and _expects_redis(config):
                _fallback_deadlines[cache_key] = (
                    time.monotonic() + FALLBACK_RETRY_SECONDS
                )
            return cache


# ------------------------------------------------------------------ dependencies


@functools.lru_cache
def get_settings() -> CacheSettings:
    """The cache settings parsed from the environment (cached; call
    ``get_settings.cache_clear()`` after changing the environment)."""
    return CacheSettings.from_environ()


_SETTINGS_DEPENDENCY = Depends(get_settings)


async def get_cache_config(settings: Any = _SETTINGS_DEPENDENCY) -> CacheConfig:
    """The validated ``aicache.config.CacheConfig`` of ``settings``.

    Raises:
        ConfigurationError: the environment describes an invalid configuration.
    """
    settings = await _resolve(settings)
    try:
        config: CacheConfig = settings.get_cache_config()
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            f"Failed to resolve the cache configuration: {exc}",
            {
                "original_error": str(exc),
                "cache_preset": getattr(settings, "cache_preset", None),
                "preset_system": "aicache.settings",
            },
        ) from exc
    return config


async def _registered_cache(
    prefix: str, config_dict: dict[str, Any], fallback: Callable[[], Any]
) -> Any:
    key = _registry_key(prefix, config_dict)
    try:
        return await CacheDependencyManager._get_or_create_cache(
            key, _create_from_config, config_dict
        )
    except Exception as exc:
        logger.warning("Cache creation failed (%s); using an InMemoryCache", exc)
        return fallback()


async def _create_from_config(config: dict[str, Any]) -> Any:
    return await CacheFactory().create_cache_from_config(
        config, fail_on_connection_error=False
    )


_CONFIG_DEPENDENCY = Depends(get_cache_config)


async def get_cache_service(config: Any = _CONFIG_DEPENDENCY) -> Any:
    """The cache the configuration describes, shared by every request with the same
    configuration. Falls back to ``InMemoryCache(1800, 100)`` when creation fails."""
    config = await _resolve(config)
    return await _registered_cache(
        "main_cache_",
        _config_dict(config),
        lambda: InMemoryCache(default_ttl=1800, max_size=100),
    )


async def get_web_cache_service(config: Any = _CONFIG_DEPENDENCY) -> Any:
    """A web cache (``GenericRedisCache``, never the AI cache) for this configuration.
    Falls back to ``InMemoryCache(1800, 200)``."""
    config = await _resolve(config)
    data = _config_dict(config)
    data.pop("ai_config", None)
    for key in AI_FLAT_KEYS:
        data.pop(key, None)
    data["enable_ai_cache"] = False
    return await _registered_cache(
        "web_cache_", data, lambda: InMemoryCache(default_ttl=1800, max_size=200)
    )


async def get_ai_cache_service(config: Any = _CONFIG_DEPENDENCY) -> Any:
    """An AI cache for this configuration: the preset's AI settings, or the preset
    defaults when the configuration has none. Falls back to ``InMemoryCache(300, 50)``."""
    config = await _resolve(config)
    data = _config_dict(config)
    if not all(key in data for key in AI_FLAT_KEYS):
        nested = data.get("ai_config")
        defaults = ai_config_from_optimizations(
            nested if isinstance(nested, Mapping) else {}
        )
        for key in AI_FLAT_KEYS:
            data.setdefault(key, getattr(defaults, key))
    data["enable_ai_cache"] = True
    return await _registered_cache(
        "ai_cache_", data, lambda: InMemoryCache(default_ttl=300, max_size=50)
    )


async def get_test_cache() -> InMemoryCache:
    """``InMemoryCache(default_ttl=60, max_size=50)``."""
    cache = await CacheFactory().for_testing(use_memory_cache=True)
    assert isinstance(cache, InMemoryCache)
    return cache


async def get_test_redis_cache() -> Any:
    """A Redis test cache at ``TEST_REDIS_URL`` (default ``redis://localhost:6379/15``),
    or the in-memory test cache when that fails."""
    url = os.environ.get("TEST_REDIS_URL") or "redis://localhost:6379/15"
    try:
        return await CacheFactory().for_testing(
            redis_url=url, use_memory_cache=False, fail_on_connection_error=False
        )
    except Exception as exc:
        logger.warning("Test Redis cache unavailable (%s); using memory", exc)
        return await get_test_cache()


async def get_fallback_cache_service() -> InMemoryCache:
    """A fresh ``InMemoryCache(1800, 100)``."""
    return InMemoryCache(default_ttl=1800, max_size=100)


async def validate_cache_configuration(
    config: Any = _CONFIG_DEPENDENCY,
) -> Any:
    """Return the configuration, or raise ``HTTPException(500)`` describing why it is
    invalid."""
    config = await _resolve(config)
    try:
        result = config.validate()
    except Exception as exc:
        raise HTTPException(
            status_code=500,
            detail={"error": "Configuration validation failed", "message": str(exc)},
        ) from exc
    if not result.is_valid:
        raise HTTPException(
            status_code=500,
            detail={
                "error": "Invalid cache configuration",
                "validation_errors": list(result.errors),
                "warnings": list(result.warnings),
            },
        )
    return config


async def get_cache_service_conditional(
    enable_ai: bool = False,
    fallback_only: bool = False,
    settings: Any = _SETTINGS_DEPENDENCY,
) -> Any:
    """The AI or web cache of the settings' configuration; the fallback service when
    ``fallback_only`` or anything fails."""
    if fallback_only:
        return await get_fallback_cache_service()
    try:
        config = await get_cache_config(settings)
        if enable_ai:
            return await get_ai_cache_service(config)
        return await get_web_cache_service(config)
    except Exception as exc:
        logger.warning("Conditional cache creation failed (%s); using fallback", exc)
        return await get_fallback_cache_service()


async def cleanup_cache_registry() -> dict[str, Any]:
    """Disconnect every registered cache and empty the registry. Never raises.

    Returns ``{"total_entries", "active_caches", "dead_references",
    "disconnected_caches", "errors"}`` (``dead_references`` is always 0: the registry
    holds strong references).
    """
    stats: dict[str, Any] = {
        "total_entries": 0,
        "active_caches": 0,
        "dead_references": 0,
        "disconnected_caches": 0,
        "errors": [],
    }
    async with _get_cache_lock():
        stats["total_entries"] = len(_cache_registry)
        for key, cache in list(_cache_registry.items()):
            if cache is None:
                stats["dead_references"] += 1
                continue
            stats["active_caches"] += 1
            disconnect = getattr(cache, "disconnect", None)
            if not callable(disconnect):
                continue
            try:
                result = disconnect()
                if inspect.isawaitable(result):
                    await result
                stats["disconnected_caches"] += 1
            except Exception as exc:
                stats["errors"].append(f"Error disconnecting cache {key}: {exc}")
        _cache_registry.clear()
        _fallback_deadlines.clear()
    return stats


_CACHE_DEPENDENCY = Depends(get_cache_service)


async def get_cache_health_status(
    cache: Any = _CACHE_DEPENDENCY,
) -> dict[str, Any]:
    """Health of a cache: ``{"cache_type", "status", "ping_available", "ping_success",
    "operation_test", "errors", "warnings", "statistics"}``; status is healthy,
    degraded, unhealthy or error."""
    health: dict[str, Any] = {
        "cache_type": "unknown",
        "status": "unknown",
        "ping_available": False,
        "ping_success": False,
        "operation_test": False,
        "errors": [],
        "warnings": [],
        "statistics": {},
    }
    try:
        cache = await _resolve(cache)
        health["cache_type"] = type(cache).__name__
        ping = getattr(cache, "ping", None)
        if callable(ping):
            health["ping_available"] = True
            try:
                answer = ping()
                if inspect.isawaitable(answer):
                    answer = await answer
                health["ping_success"] = bool(answer)
                if answer:
                    health["status"] = "healthy"
                else:
                    health["status"] = "degraded"
                    health["warnings"].append("Cache ping returned False")
            except Exception as exc:
                health["status"] = "degraded"
                health["errors"].append(f"Ping failed: {exc}")
        else:
            await _operation_test(cache, health)

        get_stats = getattr(cache, "get_stats", None)
        if not callable(get_stats):
            get_stats = getattr(cache, "get_cache_stats", None)
        if callable(get_stats):
            try:
                stats = get_stats()
                if inspect.isawaitable(stats):
                    stats = await stats
                if isinstance(stats, Mapping):
                    health["statistics"] = dict(stats)
            except Exception as exc:
                health["warnings"].append(f"Failed to get cache statistics: {exc}")

        if health["status"] == "unknown":
            ok = health["ping_success"] or health["operation_test"]
            health["status"] = "healthy" if ok else "unhealthy"
        # A cache that works from memory while its Redis is not in use is not
        # healthy: the in-memory stand-in, or a Redis cache serving from its L1.
        reason = getattr(cache, "fallback_reason", None)
        if reason and health["status"] == "healthy":
            health["status"] = "degraded"
            health["warnings"].append(f"Configured Redis is not in use: {reason}")
        elif health["statistics"].get("degraded") and health["status"] == "healthy":
            health["status"] = "degraded"
            health["warnings"].append("Redis is unavailable; serving from memory")
    except Exception as exc:
        health["status"] = "error"
        health["errors"].append(f"Health check failed: {exc}")
    return health


async def _operation_test(cache: Any, health: dict[str, Any]) -> None:
    key = f"health_check_{asyncio.get_running_loop().time()}"
    try:
        await cache.set(key, "health_check_value", ttl=60)
        value = await cache.get(key)
        if value == "health_check_value":
            health["operation_test"] = True
            health["status"] = "healthy"
        else:
            health["status"] = "degraded"
            health["warnings"].append("Cache operation test returned unexpected value")
        try:
            await cache.delete(key)
        except Exception as exc:
            health["warnings"].append(f"Failed to clean up health check key: {exc}")
    except Exception as exc:
        health["status"] = "unhealthy"
        health["errors"].append(f"Cache operation test failed: {exc}")


# ------------------------------------------------------------------ FastAPI kit support


def redis_expected(config: Any) -> bool:
    """Whether ``config`` (a ``CacheConfig`` or its dict) asks for Redis: a Redis
    URL and a preset other than "disabled"."""
    return _expects_redis(_config_dict(config))


async def install_cache_service(config: Any, cache: Any) -> None:
    """Register ``cache`` as what ``get_cache_service`` returns for ``config`` (the
    FastAPI lifespan builds and validates it at startup, then installs it). An
    ``InMemoryCache`` standing in for a configured Redis keeps the usual retry
    window, after which a request tries Redis again."""
    data = _config_dict(config)
    key = _registry_key("main_cache_", data)
    async with _get_cache_lock():
        _cache_registry[key] = cache
        if isinstance(cache, InMemoryCache) and _expects_redis(data):
            _fallback_deadlines[key] = time.monotonic() + FALLBACK_RETRY_SECONDS
        else:
            _fallback_deadlines.pop(key, None)
