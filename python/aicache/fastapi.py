"""FastAPI kit: a lifespan that builds and validates the cache at startup, a router
with the internal cache endpoints, health and Prometheus metrics.

    from fastapi import Depends, FastAPI
    from aicache.dependencies import get_cache_service
    from aicache.fastapi import cache_lifespan, cache_router, metrics_router

    app = FastAPI(lifespan=cache_lifespan)
    app.include_router(cache_router())          # /internal/cache/...
    app.include_router(metrics_router())        # /metrics (Prometheus text)

    @app.get("/items/{item_id}")
    async def read(item_id: str, cache=Depends(get_cache_service)): ...

Startup (``cache_lifespan``): the environment is parsed and validated (a bad
``CACHE_PRESET`` raises ``ConfigurationError``), the cache is built and connected
(a wrong password raises ``RedisAuthError``; a production security gap raises
``ConfigurationError``; with ``strict=True`` an unreachable Redis raises
``RedisConnectionError``, otherwise the app starts on an ``InMemoryCache`` stand-in,
reports itself degraded and retries Redis later), then installed as what
``Depends(get_cache_service)`` returns. Shutdown disconnects every cache of the
dependency registry in the app's event loop. An exception at startup stops the app
(uvicorn exits) instead of a 500 on the first request.

Composing with an existing lifespan: ``FastAPI(lifespan=with_cache(my_lifespan))``,
or ``async with cache_lifespan(app): ...`` inside your own.

This module imports FastAPI; ``import aicache`` does not import it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Response
from fastapi.responses import PlainTextResponse

from aicache import dependencies as deps
from aicache.dependencies import (
    cleanup_cache_registry,
    get_cache_config,
    get_cache_service,
)
from aicache.exceptions import (
    ConfigurationError,
    InfrastructureError,
    RedisAuthError,
    RedisConnectionError,
)
from aicache.factory import CacheFactory, connection_failure_reason
from aicache.memory import InMemoryCache
from aicache.security import redact_url

__all__ = [
    "CACHE_DEPENDENCIES",
    "cache_health",
    "cache_lifespan",
    "cache_router",
    "metrics_router",
    "prometheus_text",
    "start_cache",
    "stop_cache",
    "with_cache",
]

logger = logging.getLogger(__name__)

#: The cache dependencies the kit's routes use (what ``aicache.testing``'s
#: ``override_cache_dependencies`` overrides, besides aicache.dependencies').
CACHE_DEPENDENCIES: tuple[Callable[..., Any], ...] = (get_cache_service,)

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]]


# ------------------------------------------------------------------ lifespan


def _stand_in(data: Mapping[str, Any], reason: str) -> InMemoryCache:
    size = data.get("l1_cache_size") or data.get("memory_cache_size") or 100
    cache = InMemoryCache(
        default_ttl=int(data.get("default_ttl") or 3600), max_size=size
    )
    if data.get("operation_ttls"):
        cache.operation_ttls = dict(data["operation_ttls"])
    cache.fallback_reason = reason
    return cache


async def start_cache(*, strict: bool = False) -> Any:
    """Build, validate, connect and install the cache the environment describes;
    the cache.

    Raises:
        ConfigurationError: invalid environment (preset, variables) or a security
            requirement the configuration does not meet.
        RedisAuthError: Redis refused the credentials (always fatal).
        InfrastructureError: Redis unreachable and ``strict``.
    """
    deps.get_settings.cache_clear()  # read the environment as it is now
    config = await get_cache_config(deps.get_settings())
    result = config.validate()
    if not result.is_valid:
        raise ConfigurationError(
            "Invalid cache configuration: " + "; ".join(result.errors),
            {"validation_errors": list(result.errors)},
        )
    data = config.to_dict()
    try:
        cache = await CacheFactory().create_cache_from_config(
            data, fail_on_connection_error=True
        )
    except InfrastructureError as exc:
        reason = connection_failure_reason(exc)
        url = redact_url(str(data.get("redis_url")))
        cause = exc if isinstance(exc, RedisAuthError) else exc.__cause__
        if isinstance(cause, RedisAuthError):  # credentials never fix themselves
            raise RedisAuthError(
                f"Cache startup failed: Redis at {url}: {reason}",
                {**exc.context, "redis_url": url},
            ) from exc
        if strict:
            raise RedisConnectionError(
                f"Cache startup failed: Redis at {url}: {reason}",
                {**exc.context, "redis_url": url},
            ) from exc
        logger.warning(
            "Redis at %s: %s; starting on an InMemoryCache (health: degraded)",
            url,
            reason,
        )
        cache = _stand_in(data, reason)
    else:
        # Strictness was for startup; at run time a Redis cache degrades to its
        # memory tier unless the application asked for strict mode.
        if hasattr(cache, "fail_on_connection_error"):
            cache.fail_on_connection_error = strict
    await deps.install_cache_service(config, cache)
    return cache


async def stop_cache() -> dict[str, Any]:
    """Disconnect every registered cache (call it in the app's event loop)."""
    return await cleanup_cache_registry()


@contextlib.asynccontextmanager
async def cache_lifespan(
    app: FastAPI, *, strict: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """``FastAPI(lifespan=cache_lifespan)``: the cache is ready (or startup failed)
    before the first request and closed at shutdown. ``app.state.aicache`` and the
    lifespan state key ``"aicache"`` hold it. For ``strict=True`` use
    ``with_cache(strict=True)``."""
    cache = await start_cache(strict=strict)
    app.state.aicache = cache
    try:
        yield {"aicache": cache}
    finally:
        await stop_cache()


def with_cache(lifespan: Lifespan | None = None, *, strict: bool = False) -> Lifespan:
    """A lifespan that starts the cache, then runs ``lifespan`` (yours) inside it;
    the state both yield is merged."""

    @contextlib.asynccontextmanager
    async def combined(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with cache_lifespan(app, strict=strict) as state:
            if lifespan is None:
                yield state
                return
            async with lifespan(app) as inner:
                merged = dict(state)
                if isinstance(inner, Mapping):
                    merged.update(inner)
                yield merged

    return combined


# ------------------------------------------------------------------ health


async def _redis_ping(cache: Any) -> bool:
    try:
        if not await cache.connect():
            return False
        redis = getattr(cache, "redis", None)
        ping = getattr(redis, "ping", None)
        return bool(await ping()) if callable(ping) else True
    except Exception:
        return False


async def cache_health(cache: Any, config: Any) -> dict[str, Any]:
    """``{"status": "healthy" | "degraded" | "unhealthy", "cache_type", "redis":
    {"configured", "in_use", "url"}, "reason"}``: degraded when a configured Redis
    is not in use (stand-in cache, Redis down, credentials refused)."""
    configured = deps.redis_expected(config)
    url = getattr(config, "redis_url", None)
    report: dict[str, Any] = {
        "status": "healthy",
        "cache_type": type(cache).__name__,
        "redis": {
            "configured": configured,
            "in_use": False,
            "url": redact_url(url) if configured and isinstance(url, str) else None,
        },
        "reason": None,
    }
    if isinstance(cache, InMemoryCache):
        if configured:
            report["status"] = "degraded"
            report["reason"] = (
                f"configured Redis is not in use: {cache.fallback_reason}"
                if cache.fallback_reason
                else "configured Redis is not in use (in-memory stand-in)"
            )
        return report
    if await _redis_ping(cache):
        report["redis"]["in_use"] = True
        return report
    report["status"] = "degraded"
    report["reason"] = "Redis " + connection_failure_reason(
        getattr(cache, "last_connect_error", None)
    )
    return report


# ------------------------------------------------------------------ Prometheus


def prometheus_text(cache: Any, redis_configured: bool) -> str:
    """Prometheus text exposition: the cache's monitor families (when it has a
    monitor) plus ``aicache_redis_in_use`` and the memory tier's counters."""
    from aicache.prometheus import render_text

    out: list[str] = []
    monitor = getattr(cache, "performance_monitor", None)
    if monitor is not None:
        out.append(render_text(monitor))
    in_memory = isinstance(cache, InMemoryCache)
    stats = cache.get_stats() if callable(getattr(cache, "get_stats", None)) else {}
    l1 = stats if in_memory else (stats.get("l1") or {})
    lines = [
        ("aicache_redis_configured", "gauge", "1 when the configuration names a Redis",
         int(redis_configured)),
        ("aicache_redis_in_use", "gauge", "1 when the cache in use is Redis-backed",
         int(not in_memory)),
        ("aicache_memory_tier_entries", "gauge", "entries in the memory tier",
         l1.get("active_entries", 0)),
        ("aicache_memory_tier_hits_total", "counter", "memory tier hits",
         l1.get("hits", 0)),
        ("aicache_memory_tier_misses_total", "counter", "memory tier misses",
         l1.get("misses", 0)),
    ]  # fmt: skip
    for name, kind, doc, value in lines:
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n{name} {value}\n")
    return "".join(out)


# ------------------------------------------------------------------ routers


def _status_error(exc: Exception) -> dict[str, Any]:
    return {
        "redis": {"status": "error"},
        "memory": {"status": "unavailable"},
        "performance": {"status": "unavailable"},
        "error": str(exc),
    }


_CACHE = Depends(get_cache_service)
_CONFIG = Depends(get_cache_config)


def cache_router(
    *,
    prefix: str = "/internal/cache",
    guard: Callable[..., Any] | None = None,
    tags: list[str] | None = None,
) -> APIRouter:
    """The internal cache endpoints of the template (spec section 17) plus
    ``GET {prefix}/health``. ``guard`` (an API-key check or your own auth
    dependency) runs before every route when given."""
    router = APIRouter(
        prefix=prefix,
        tags=list(tags) if tags is not None else ["cache"],
        dependencies=[Depends(guard)] if guard is not None else [],
    )

    @router.get("/status")
    async def status(cache: Any = _CACHE) -> Any:
        try:
            return await cache.get_cache_stats()
        except Exception as exc:
            return _status_error(exc)

    @router.post("/invalidate")
    async def invalidate(
        pattern: str = "",
        operation_context: str = "api_endpoint",
        cache: Any = _CACHE,
    ) -> dict[str, str]:
        try:
            await cache.invalidate_pattern(pattern, operation_context=operation_context)
        except Exception as exc:
            return {
                "message": f"Failed to invalidate cache for pattern '{pattern}': {exc}"
            }
        return {"message": f"Cache invalidated for pattern: {pattern}"}

    @router.get("/invalidation-stats")
    async def invalidation_stats(cache: Any = _CACHE) -> dict[str, Any]:
        method = getattr(cache, "get_invalidation_frequency_stats", None)
        result = method() if callable(method) else None
        return result if isinstance(result, dict) else {}

    @router.get("/invalidation-recommendations")
    async def invalidation_recommendations(cache: Any = _CACHE) -> dict[str, Any]:
        method = getattr(cache, "get_invalidation_recommendations", None)
        result = method() if callable(method) else None
        return {"recommendations": list(result) if result else []}

    @router.get("/metrics")
    async def metrics(cache: Any = _CACHE) -> Any:
        monitor = getattr(cache, "performance_monitor", None)
        if monitor is None:
            error = InfrastructureError(
                "Performance monitor not available: the cache has no monitor "
                "(an InMemoryCache, e.g. while Redis is down)"
            )
            raise HTTPException(
                status_code=500,
                detail={
                    "message": str(error),
                    "context": {
                        "cache_type": type(cache).__name__,
                        "has_performance_monitor": hasattr(
                            cache, "performance_monitor"
                        ),
                        "performance_monitor_value": None,
                    },
                    "error_type": "performance_monitor_unavailable",
                },
            )
        return monitor.get_performance_stats()

    @router.get("/health")
    async def health(
        response: Response, cache: Any = _CACHE, config: Any = _CONFIG
    ) -> dict[str, Any]:
        report = await cache_health(cache, config)
        if report["status"] == "unhealthy":
            response.status_code = 503
        return report

    return router


def metrics_router(
    *, path: str = "/metrics", guard: Callable[..., Any] | None = None
) -> APIRouter:
    """``GET /metrics`` in the Prometheus text format (for a scraper)."""
    router = APIRouter(dependencies=[Depends(guard)] if guard is not None else [])

    @router.get(path, response_class=PlainTextResponse)
    async def prometheus_metrics(
        cache: Any = _CACHE, config: Any = _CONFIG
    ) -> PlainTextResponse:
        from aicache.prometheus import CONTENT_TYPE_LATEST

        return PlainTextResponse(
            prometheus_text(cache, deps.redis_expected(config)),
            media_type=CONTENT_TYPE_LATEST,
        )

    return router
