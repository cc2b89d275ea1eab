"""aicache.dependencies (spec section 15) with the fixes of spec 21 items 13, 18 and
25: caches kept alive by the registry (one Redis cache per configuration, closed by
cleanup), a stable registry key, no asyncio.Lock at import, a health check that works
with sync get_stats and uses ping() when there is one. FastAPI is optional."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from aicache import dependencies as deps
from aicache.config import CacheConfig
from aicache.exceptions import ConfigurationError, InfrastructureError
from aicache.memory import InMemoryCache
from aicache.redis_ai import AIResponseCache
from aicache.redis_generic import GenericRedisCache
from aicache.settings import CacheSettings, resolve_cache_config
from redis_servers import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ENVIRONMENT", "testing")
    for name in ("CACHE_PRESET", "CACHE_REDIS_URL", "ENABLE_AI_CACHE", "TEST_REDIS_URL",
                 "REDIS_ENCRYPTION_KEY", "REDIS_PASSWORD", "CACHE_CUSTOM_CONFIG"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    deps.get_settings.cache_clear()
    yield
    run(deps.cleanup_cache_registry())
    deps.get_settings.cache_clear()


def config_for(preset: str, redis_url: str | None = None) -> CacheConfig:
    environ = {"CACHE_PRESET": preset}
    if redis_url:
        environ["CACHE_REDIS_URL"] = redis_url
    return resolve_cache_config(environ)


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python"), **env},
        check=False,
    )


# ------------------------------------------------------------------ import


def test_no_lock_or_loop_at_import() -> None:
    result = python(
        """
        import asyncio, warnings
        warnings.simplefilter("error")
        import aicache.dependencies as d
        assert d._cache_lock is None, d._cache_lock
        assert len(d._cache_locks) == 0
        async def use():
            await d.get_fallback_cache_service()
            return await d.cleanup_cache_registry()
        # two loops, one after the other: each gets its own lock
        asyncio.run(use()); first = d._cache_lock
        asyncio.run(use()); second = d._cache_lock
        assert first is not None and second is not None and first is not second
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_module_imports_and_works_without_fastapi() -> None:
    result = python(
        """
        import asyncio, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "fastapi" or name.startswith("fastapi."):
                    raise ImportError("fastapi blocked for this test")
        sys.meta_path.insert(0, Block())
        import aicache.dependencies as d
        assert d.FASTAPI_AVAILABLE is False
        async def go():
            cache = await d.get_cache_service()      # Depends defaults resolved
            health = await d.get_cache_health_status(cache)
            try:
                await d.validate_cache_configuration({"not": "a config"})
            except Exception as exc:
                status = getattr(exc, "status_code", None)
            await d.cleanup_cache_registry()
            return type(cache).__name__, health["status"], status
        print(asyncio.run(go()))
        """,
        CACHE_PRESET="simple",
        ENVIRONMENT="testing",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('InMemoryCache', 'healthy', 500)"


def test_registry_key_is_stable_across_processes() -> None:
    code = """
        from aicache import dependencies as d
        from aicache.settings import resolve_cache_config
        print(d._registry_key("main_cache_", resolve_cache_config(
            {"CACHE_PRESET": "ai-production"}).to_dict()))
    """
    one = python(code, PYTHONHASHSEED="1")
    two = python(code, PYTHONHASHSEED="2")
    assert one.returncode == 0, one.stderr
    assert one.stdout == two.stdout
    key = one.stdout.strip()
    assert key.startswith("main_cache_") and len(key) == len("main_cache_") + 64


# ------------------------------------------------------------------ settings/config


def test_get_settings_and_config_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHE_PRESET", "ai-development")
    settings = deps.get_settings()
    assert isinstance(settings, CacheSettings)
    assert deps.get_settings() is settings  # cached
    config = run(deps.get_cache_config())
    assert isinstance(config, CacheConfig)
    assert config.preset_name == "AI Development" and config.enable_ai_cache is True


def test_invalid_environment_raises_instead_of_falling_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHE_PRESET", "no-such-preset")
    with pytest.raises(ConfigurationError) as info:
        run(deps.get_cache_config(CacheSettings.from_environ()))
    assert info.value.context["field"] == "CACHE_PRESET"


# ------------------------------------------------------------------ registry


def test_registry_reuses_one_redis_cache_and_cleanup_closes_it(
    redis_plain: RedisServer,
) -> None:
    config = config_for("simple", redis_plain.url)

    async def go() -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
        caches = [await deps.get_cache_service(config) for _ in range(5)]
        connection_stats = caches[0].get_stats()["connection"]
        cleanup = await deps.cleanup_cache_registry()
        return caches, connection_stats, cleanup

    caches, connection_stats, cleanup = run(go())
    assert type(caches[0]) is GenericRedisCache
    assert all(c is caches[0] for c in caches)
    assert connection_stats["connects"] == 1
    assert cleanup == {
        "total_entries": 1,
        "active_caches": 1,
        "dead_references": 0,
        "disconnected_caches": 1,
        "errors": [],
    }
    assert caches[0].redis is None  # disconnected
    assert deps._cache_registry == {}


def test_registry_keeps_caches_alive_between_requests() -> None:
    config = config_for("development")

    async def go() -> bool:
        first_id = id(await deps.get_cache_service(config))
        import gc

        gc.collect()
        return id(await deps.get_cache_service(config)) == first_id

    assert run(go()) is True


def test_different_configurations_get_different_caches() -> None:
    async def go() -> tuple[Any, Any]:
        return (
            await deps.get_cache_service(config_for("development")),
            await deps.get_cache_service(config_for("production")),
        )

    dev, prod = run(go())
    assert dev is not prod
    assert (dev.default_ttl, prod.default_ttl) == (600, 7200)


def test_memory_stand_in_for_unreachable_redis_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = config_for("simple", f"redis://127.0.0.1:{free_port()}")

    async def go() -> tuple[Any, Any, Any]:
        first = await deps.get_cache_service(config)
        again = await deps.get_cache_service(config)
        monkeypatch.setattr(deps, "FALLBACK_RETRY_SECONDS", 0.0)
        deps._fallback_deadlines.update(dict.fromkeys(deps._fallback_deadlines, 0.0))
        retried = await deps.get_cache_service(config)
        return first, again, retried

    first, again, retried = run(go())
    assert type(first) is InMemoryCache
    assert again is first  # kept while the retry window is open
    assert retried is not first  # rebuilt (Redis tried again) after it


def test_get_or_create_wraps_factory_errors() -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    with pytest.raises(InfrastructureError) as info:
        run(
            deps.CacheDependencyManager._get_or_create_cache(
                "key-1",
                broken,
                {"redis_password": "hunter2", "redis_url": "redis://:pw2@h:1"},
            )
        )
    context = info.value.context
    assert context["cache_key"] == "key-1"
    assert context["factory_func"] == "broken"
    assert context["original_error"] == "boom"
    assert "hunter2" not in str(context) and "pw2" not in str(context)


def test_service_falls_back_when_creation_fails() -> None:
    # a config dict the factory rejects -> the documented in-memory fallback
    cache = run(deps.get_cache_service({"default_ttl": 5}))
    assert type(cache) is InMemoryCache
    assert (cache.default_ttl, cache.max_size) == (1800, 100)


# ------------------------------------------------------------------ variants


def test_web_service_never_builds_the_ai_cache(redis_plain: RedisServer) -> None:
    async def go() -> Any:
        return await deps.get_web_cache_service(
            config_for("ai-production", redis_plain.url)
        )

    cache = run(go())
    assert type(cache) is GenericRedisCache
    assert cache.default_ttl == 14400


def test_ai_service_uses_preset_defaults_for_web_presets(
    redis_plain: RedisServer,
) -> None:
    async def go() -> Any:
        return await deps.get_ai_cache_service(config_for("simple", redis_plain.url))

    cache = run(go())
    assert type(cache) is AIResponseCache
    assert cache.text_hash_threshold == 1000
    assert cache.text_size_tiers == {"small": 1000, "medium": 5000, "large": 20000}
    assert cache.operation_ttls["summarize"] == 7200


def test_conditional_service(
    redis_plain: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_REDIS_URL", redis_plain.url)
    monkeypatch.setenv("CACHE_PRESET", "simple")
    settings = CacheSettings.from_environ()

    async def go() -> tuple[Any, Any, Any]:
        return (
            await deps.get_cache_service_conditional(enable_ai=True, settings=settings),
            await deps.get_cache_service_conditional(
                enable_ai=False, settings=settings
            ),
            await deps.get_cache_service_conditional(
                fallback_only=True, settings=settings
            ),
        )

    ai, web, fallback = run(go())
    assert type(ai) is AIResponseCache
    assert type(web) is GenericRedisCache
    assert type(fallback) is InMemoryCache
    assert (fallback.default_ttl, fallback.max_size) == (1800, 100)


def test_test_caches(redis_plain: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = run(deps.get_test_cache())
    assert type(memory) is InMemoryCache
    assert (memory.default_ttl, memory.max_size) == (60, 50)

    monkeypatch.setenv("TEST_REDIS_URL", redis_plain.url + "/15")

    async def go() -> Any:
        cache = await deps.get_test_redis_cache()
        await cache.disconnect()
        return cache

    assert type(run(go())) is GenericRedisCache
    monkeypatch.setenv("TEST_REDIS_URL", f"redis://127.0.0.1:{free_port()}/15")
    fallback = run(deps.get_test_redis_cache())
    assert type(fallback) is InMemoryCache


def test_validate_cache_configuration() -> None:
    from fastapi import HTTPException

    good = config_for("simple")
    assert run(deps.validate_cache_configuration(good)) is good
    bad = CacheConfig(default_ttl=-1, compression_level=42)
    with pytest.raises(HTTPException) as info:
        run(deps.validate_cache_configuration(bad))
    assert info.value.status_code == 500
    detail: Any = info.value.detail
    assert detail["error"] == "Invalid cache configuration"
    assert len(detail["validation_errors"]) == 2
    assert "warnings" in detail


# ------------------------------------------------------------------ health

HEALTH_KEYS = {
    "cache_type", "status", "ping_available", "ping_success", "operation_test",
    "errors", "warnings", "statistics",
}  # fmt: skip


def test_health_of_a_memory_cache_reads_sync_stats() -> None:
    health = run(deps.get_cache_health_status(InMemoryCache()))
    assert set(health) == HEALTH_KEYS
    assert health["cache_type"] == "InMemoryCache"
    assert health["status"] == "healthy"
    assert health["operation_test"] is True
    assert health["ping_available"] is False
    assert health["warnings"] == []  # the original always warned here
    assert health["statistics"]["max_size"] == 1000


def test_health_of_a_redis_cache(redis_plain: RedisServer) -> None:
    async def go() -> dict[str, Any]:
        cache = GenericRedisCache(redis_url=redis_plain.url)
        try:
            return await deps.get_cache_health_status(cache)
        finally:
            await cache.disconnect()

    health = run(go())
    assert health["status"] == "healthy"
    assert health["operation_test"] is True
    assert health["statistics"]["connected"] is True


class _Pinging(InMemoryCache):
    """A cache with a ping() (input of the health check, not the thing tested)."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer

    async def ping(self) -> bool:
        if isinstance(self.answer, Exception):
            raise self.answer
        return bool(self.answer)


@pytest.mark.parametrize(
    ("answer", "status", "success", "errors", "warnings"),
    [
        (True, "healthy", True, 0, 0),
        (False, "degraded", False, 0, 1),
        (RuntimeError("down"), "degraded", False, 1, 0),
    ],
)
def test_health_uses_ping_when_available(
    answer: Any, status: str, success: bool, errors: int, warnings: int
) -> None:
    health = run(deps.get_cache_health_status(_Pinging(answer)))
    assert health["ping_available"] is True
    assert health["operation_test"] is False
    assert (health["status"], health["ping_success"]) == (status, success)
    assert (len(health["errors"]), len(health["warnings"])) == (errors, warnings)


def test_health_of_a_broken_cache_is_unhealthy() -> None:
    class Broken:
        async def set(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("cannot write")

    health = run(deps.get_cache_health_status(Broken()))
    assert health["status"] == "unhealthy"
    assert health["errors"] and "cannot write" in health["errors"][0]


def test_fastapi_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    from fastapi import Depends, FastAPI

    health_dependency = Depends(deps.get_cache_health_status)
    cache_dependency = Depends(deps.get_cache_service)
    app = FastAPI()

    @app.get("/health")
    async def health(status: Any = health_dependency) -> Any:
        return status

    @app.get("/id")
    async def cache_id(cache: Any = cache_dependency) -> Any:
        return {"id": id(cache), "type": type(cache).__name__}

    monkeypatch.setenv("CACHE_PRESET", "simple")
    deps.get_settings.cache_clear()

    async def go() -> tuple[Any, Any, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t"
        ) as client:
            first = (await client.get("/id")).json()
            second = (await client.get("/id")).json()
            body = (await client.get("/health")).json()
        return first, second, body

    first, second, body = run(go())
    assert first == second and first["type"] == "InMemoryCache"
    assert body["status"] == "healthy" and set(body) == HEALTH_KEYS


def test_registry_key_distinguishes_security_configs() -> None:
    from aicache.security import SecurityConfig

    one = {
        "redis_url": "redis://h:6379",
        "security_config": SecurityConfig(redis_auth="a"),
    }
    two = {
        "redis_url": "redis://h:6379",
        "security_config": SecurityConfig(redis_auth="b"),
    }
    assert deps._registry_key("p_", one) != deps._registry_key("p_", two)
    assert deps._registry_key("p_", one) == deps._registry_key("p_", dict(one))
