"""CacheFactory (spec section 14) and CacheManager (spec 16), with the fixes of spec
21 items 3 and 12: the AI path only when the configuration asks for AI, preset AI
settings reaching the AI cache, web presets building a GenericRedisCache, and a
manager that falls back to memory.

The preset table (spec 18) is re-done with the fixed outcomes against a real
redis-server (reachable column) and a closed port (fallback column)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Coroutine
from typing import Any

import pytest

from aicache.cache_presets import CACHE_PRESETS
from aicache.exceptions import ConfigurationError, InfrastructureError, ValidationError
from aicache.factory import CacheFactory
from aicache.manager import CacheManager
from aicache.memory import InMemoryCache
from aicache.monitoring import CachePerformanceMonitor
from aicache.redis_ai import AIResponseCache
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from aicache.settings import resolve_cache_config
from redis_servers import PASSWORD, RedisServer, free_port

AnyCache = GenericRedisCache | InMemoryCache


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def _testing_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "testing")
    for name in ("REDIS_ENCRYPTION_KEY", "REDIS_PASSWORD", "REDIS_URL", "CACHE_PRESET"):
        monkeypatch.delenv(name, raising=False)


def closed_url() -> str:
    return f"redis://127.0.0.1:{free_port()}"


async def _close(cache: Any) -> None:
    if isinstance(cache, GenericRedisCache):
        await cache.disconnect()


def build_from_preset(preset: str, redis_url: str | None) -> Any:
    environ = {"CACHE_PRESET": preset}
    if redis_url:
        environ["CACHE_REDIS_URL"] = redis_url

    async def go() -> Any:
        config = resolve_cache_config(environ)
        cache = await CacheFactory().create_cache_from_config(config.to_dict())
        await _close(cache)
        return cache

    return run(go())


# ------------------------------------------------------------------ spec 18, fixed

PRESETS = list(CACHE_PRESETS)
AI_PRESETS = {"ai-development", "ai-production"}


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_without_redis_url_is_a_memory_cache(preset: str) -> None:
    p = CACHE_PRESETS[preset]
    cache = build_from_preset(preset, None)
    assert type(cache) is InMemoryCache
    assert cache.default_ttl == p.default_ttl
    # the preset's memory size (the original always used 100)
    assert cache.max_size == p.memory_cache_size


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_with_reachable_redis(preset: str, redis_plain: RedisServer) -> None:
    p = CACHE_PRESETS[preset]
    cache = build_from_preset(preset, redis_plain.url)
    if preset == "disabled":
        assert type(cache) is InMemoryCache
        assert (cache.default_ttl, cache.max_size) == (300, 10)
        return
    expected = AIResponseCache if preset in AI_PRESETS else GenericRedisCache
    assert type(cache) is expected
    assert cache.default_ttl == p.default_ttl  # kept, not reset to 3600
    assert cache.l1_cache is not None
    assert cache.l1_cache.max_size == p.memory_cache_size
    assert cache.l1_cache.default_ttl == p.default_ttl
    assert cache.compression_threshold == p.compression_threshold
    assert cache.compression_level == p.compression_level
    assert isinstance(cache.performance_monitor, CachePerformanceMonitor)
    if expected is AIResponseCache:
        ai = p.ai_optimizations
        assert cache.text_hash_threshold == ai["text_hash_threshold"]
        assert cache.operation_ttls == ai["operation_ttls"]
        assert cache.text_size_tiers == ai["text_size_tiers"]
        assert cache.key_generator.text_hash_threshold == ai["text_hash_threshold"]


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_with_unreachable_redis_falls_back(preset: str) -> None:
    p = CACHE_PRESETS[preset]
    cache = build_from_preset(preset, closed_url())
    assert type(cache) is InMemoryCache
    assert (cache.default_ttl, cache.max_size) == (p.default_ttl, p.memory_cache_size)


def test_enable_ai_cache_on_a_web_preset_gives_the_ai_cache(
    redis_plain: RedisServer,
) -> None:
    async def go() -> Any:
        config = resolve_cache_config(
            {
                "CACHE_PRESET": "simple",
                "CACHE_REDIS_URL": redis_plain.url,
                "ENABLE_AI_CACHE": "true",
            }
        )
        cache = await CacheFactory().create_cache_from_config(config.to_dict())
        await _close(cache)
        return cache

    cache = run(go())
    assert type(cache) is AIResponseCache
    assert cache.text_hash_threshold == 1000
    assert cache.operation_ttls["summarize"] == 7200


def test_ai_preset_operation_ttl_reaches_redis(redis_plain: RedisServer) -> None:
    redis_plain.flush()

    async def go() -> str:
        config = resolve_cache_config(
            {"CACHE_PRESET": "ai-development", "CACHE_REDIS_URL": redis_plain.url}
        )
        cache = await CacheFactory().create_cache_from_config(config.to_dict())
        assert isinstance(cache, AIResponseCache)
        key = cache.build_key("a text", "sentiment", {})
        try:
            await cache.set(key, {"label": "positive"})
        finally:
            await cache.disconnect()
        return key

    key = run(go())
    # ai-development: sentiment 900 s
    assert 899_000 < int(redis_plain.cli("PTTL", key)) <= 900_000
    redis_plain.flush()


# ------------------------------------------------------------------ AI path choice


def test_memory_cache_size_alone_does_not_select_ai(redis_plain: RedisServer) -> None:
    async def go() -> Any:
        cache = await CacheFactory().create_cache_from_config(
            {"redis_url": redis_plain.url, "memory_cache_size": 33}
        )
        await _close(cache)
        return cache

    cache = run(go())
    assert type(cache) is GenericRedisCache
    assert cache.l1_cache is not None and cache.l1_cache.max_size == 33


def test_explicit_ai_key_selects_ai(redis_plain: RedisServer) -> None:
    async def go() -> Any:
        cache = await CacheFactory().create_cache_from_config(
            {
                "redis_url": redis_plain.url,
                "text_hash_threshold": 321,
                "hash_algorithm": "md5",
                "text_size_tiers": {"small": 5, "medium": 50, "large": 500},
            }
        )
        await _close(cache)
        return cache

    cache = run(go())
    assert type(cache) is AIResponseCache
    assert cache.text_hash_threshold == 321
    assert cache.text_size_tiers == {"small": 5, "medium": 50, "large": 500}
    assert cache.operation_ttls == {}


def test_contradictory_ai_flags_are_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        run(
            CacheFactory().create_cache_from_config(
                {
                    "redis_url": "redis://localhost:6379",
                    "enable_ai_cache": False,
                    "text_hash_threshold": 300,
                }
            )
        )
    assert info.value.context["ai_keys"] == ["text_hash_threshold"]


@pytest.mark.parametrize(
    "config", ["not a dict", {}, {"default_ttl": 60}], ids=["type", "empty", "no-url"]
)
def test_create_cache_from_config_validation(config: Any) -> None:
    with pytest.raises(ValidationError):
        run(CacheFactory().create_cache_from_config(config))


def test_disabled_preset_name_short_circuits() -> None:
    config = {
        "redis_url": "redis://unused:6379",
        "preset_name": "Disabled",
        "default_ttl": 120,
        "l1_cache_size": 7,
    }
    cache = run(CacheFactory().create_cache_from_config(config))
    assert type(cache) is InMemoryCache
    assert (cache.default_ttl, cache.max_size) == (120, 7)


def test_security_fields_of_the_config_are_used(redis_password: RedisServer) -> None:
    async def go() -> Any:
        cache = await CacheFactory().create_cache_from_config(
            {"redis_url": redis_password.plain_url, "redis_password": PASSWORD},
            fail_on_connection_error=True,
        )
        connected = await cache.connect()
        await _close(cache)
        return cache, connected

    cache, connected = run(go())
    assert type(cache) is GenericRedisCache and connected is True
    assert cache.security_config.redis_auth == PASSWORD


def test_wrong_password_with_fail_flag_raises_infrastructure_error(
    redis_password: RedisServer,
) -> None:
    with pytest.raises(InfrastructureError) as info:
        run(
            CacheFactory().create_cache_from_config(
                {"redis_url": redis_password.plain_url, "redis_password": "wrong"},
                fail_on_connection_error=True,
            )
        )
    assert PASSWORD not in str(info.value.context)


def test_from_environment(redis_plain: RedisServer) -> None:
    async def go() -> Any:
        cache = await CacheFactory.from_environment(
            {"CACHE_PRESET": "ai-production", "CACHE_REDIS_URL": redis_plain.url}
        )
        await _close(cache)
        return cache

    cache = run(go())
    assert type(cache) is AIResponseCache and cache.default_ttl == 14400
    memory = run(CacheFactory.from_environment({"CACHE_PRESET": "minimal"}))
    assert type(memory) is InMemoryCache and memory.max_size == 25


# ------------------------------------------------------------------ for_* methods


def test_for_web_app_defaults(redis_plain: RedisServer) -> None:
    async def go() -> Any:
        factory = CacheFactory()
        cache = await factory.for_web_app(redis_url=redis_plain.url)
        await _close(cache)
        return factory, cache

    factory, cache = run(go())
    assert type(cache) is GenericRedisCache
    assert cache.default_ttl == 1800
    assert cache.l1_cache is not None and cache.l1_cache.max_size == 200
    assert (cache.compression_threshold, cache.compression_level) == (2000, 6)
    assert cache.performance_monitor is factory._performance_monitor


def test_for_ai_app_defaults_and_forwarding(redis_plain: RedisServer) -> None:
    async def go() -> Any:
        cache = await CacheFactory().for_ai_app(
            redis_url=redis_plain.url,
            enable_l1_cache=False,
            operation_ttls={"qa": 60},
            security_config=SecurityConfig(connection_timeout=7),
        )
        await _close(cache)
        return cache

    cache = run(go())
    assert type(cache) is AIResponseCache
    assert cache.default_ttl == 3600
    assert cache.text_hash_threshold == 500
    assert cache.operation_ttls == {"qa": 60}
    assert cache.l1_cache is None  # enable_l1_cache is forwarded
    assert cache.security_config.connection_timeout == 7  # security_config too


def test_for_ai_app_memory_cache_size_wins() -> None:
    cache = run(
        CacheFactory().for_ai_app(
            redis_url=closed_url(), memory_cache_size=17, l1_cache_size=99
        )
    )
    assert type(cache) is InMemoryCache
    assert (cache.default_ttl, cache.max_size) == (3600, 17)


@pytest.mark.parametrize(
    ("method", "cache_type", "message"),
    [
        ("for_web_app", "web_app", "Redis connection failed for web application cache"),
        ("for_ai_app", "ai_app", "Redis connection failed for AI application cache"),
        ("for_testing", "testing", "Redis connection failed for testing cache"),
    ],
)
def test_fail_on_connection_error_raises_with_context(
    method: str, cache_type: str, message: str
) -> None:
    url = f"redis://:secret@127.0.0.1:{free_port()}"
    with pytest.raises(InfrastructureError) as info:
        run(
            getattr(CacheFactory(), method)(
                redis_url=url, fail_on_connection_error=True
            )
        )
    assert info.value.message == message
    assert info.value.context["cache_type"] == cache_type
    assert info.value.context["fail_on_connection_error"] is True
    assert set(info.value.context) == {
        "redis_url",
        "cache_type",
        "fail_on_connection_error",
    }
    assert "secret" not in info.value.context["redis_url"]


@pytest.mark.parametrize(
    ("method", "ttl", "size"),
    [("for_web_app", 1800, 200), ("for_ai_app", 3600, 100), ("for_testing", 60, 50)],
)
def test_unreachable_redis_falls_back_to_memory(
    method: str, ttl: int, size: int
) -> None:
    cache = run(getattr(CacheFactory(), method)(redis_url=closed_url()))
    assert type(cache) is InMemoryCache
    assert (cache.default_ttl, cache.max_size) == (ttl, size)


def test_for_testing_memory_and_validation() -> None:
    cache = run(CacheFactory().for_testing(use_memory_cache=True))
    assert type(cache) is InMemoryCache
    assert (cache.default_ttl, cache.max_size) == (60, 50)
    with pytest.raises(ValidationError):
        run(CacheFactory().for_testing(use_memory_cache="yes"))  # type: ignore[arg-type]


def test_for_testing_with_redis(redis_plain: RedisServer) -> None:
    async def go() -> Any:
        cache = await CacheFactory().for_testing(
            redis_url=redis_plain.url + "/15", fail_on_connection_error=True
        )
        await _close(cache)
        return cache

    cache = run(go())
    assert type(cache) is GenericRedisCache
    assert cache.l1_cache is None and cache.default_ttl == 60


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"redis_url": "http://localhost"}, "redis_url must start with"),
        ({"redis_url": "redis://"}, "host"),
        ({"redis_url": "   "}, "non-empty"),
        ({"default_ttl": -1}, "default_ttl must be non-negative"),
        ({"default_ttl": 31536001}, "1 year"),
        ({"default_ttl": "60"}, "default_ttl must be an integer"),
        ({"fail_on_connection_error": "yes"}, "fail_on_connection_error"),
        ({"l1_cache_size": 0}, "l1_cache_size"),
        ({"compression_threshold": -5}, "compression_threshold"),
        ({"compression_level": 10}, "compression_level"),
        ({"enable_l1_cache": "no"}, "enable_l1_cache"),
    ],
)
def test_factory_input_validation(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        run(CacheFactory().for_web_app(**kwargs))
    assert info.value.message.startswith("Factory input validation failed: ")
    assert fragment in info.value.message
    assert set(info.value.context) == {
        "validation_errors", "redis_url", "default_ttl",
        "fail_on_connection_error", "additional_params",
    }  # fmt: skip


def test_validation_collects_every_error() -> None:
    with pytest.raises(ValidationError) as info:
        run(CacheFactory().for_web_app(redis_url="http://x", compression_level=0))
    assert len(info.value.context["validation_errors"]) == 2
    assert "; " in info.value.message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text_hash_threshold": -1},
        {"memory_cache_size": 0},
        {"operation_ttls": {"": 60}},
        {"operation_ttls": {"qa": -1}},
        {"operation_ttls": ["qa"]},
    ],
)
def test_ai_app_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        run(CacheFactory().for_ai_app(redis_url="redis://localhost:6379", **kwargs))
    assert info.value.message.startswith("AI application cache validation failed")


@pytest.mark.parametrize(
    "kwargs",
    [{"default_ttl": 0}, {"l1_cache_size": 20000}, {"compression_threshold": 50}],
)
def test_constructor_range_errors_are_reraised(kwargs: dict[str, Any]) -> None:
    # accepted by the factory validation, rejected by the cache constructor
    with pytest.raises(ConfigurationError):
        run(CacheFactory().for_web_app(redis_url=closed_url(), **kwargs))


def test_invalid_encryption_key_raises_configuration_error() -> None:
    config = SecurityConfig(encryption_key="dGVzdC1rZXktZm9yLXRlc3Rpbmc=")
    with pytest.raises(ConfigurationError):
        run(CacheFactory().for_web_app(redis_url=closed_url(), security_config=config))


def test_caches_are_weak_referenceable() -> None:
    caches = [
        InMemoryCache(),
        GenericRedisCache(redis_url="redis://localhost:6379"),
        AIResponseCache(redis_url="redis://localhost:6379"),
    ]
    for cache in caches:
        assert weakref.ref(cache)() is cache


# ------------------------------------------------------------------ manager


def test_cache_manager_uses_secure_redis(redis_plain: RedisServer) -> None:
    async def go() -> tuple[CacheManager, dict[str, Any]]:
        manager = CacheManager(redis_plain.url)
        try:
            await manager.set("manager-key", {"v": 1})
            assert await manager.get("manager-key") == {"v": 1}
            assert await manager.exists("manager-key")
            assert await manager.delete("manager-key") is True
            health = await manager.health_check()
        finally:
            await manager.disconnect()
        return manager, health

    manager, health = run(go())
    assert manager.cache_type == "redis_secure"
    assert health["healthy"] is True and health["cache_type"] == "redis_secure"
    info = manager.get_cache_info()
    assert info["initialized"] and info["connection_scheme"] == "redis"


def test_cache_manager_falls_back_to_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # production demands TLS + auth: building the secure Redis cache fails
    monkeypatch.setenv("ENVIRONMENT", "production")

    async def go() -> tuple[CacheManager, Any, dict[str, Any]]:
        manager = CacheManager("redis://localhost:6379")
        await manager.set("k", "v")
        value = await manager.get("k")
        await manager.clear()
        return manager, value, await manager.health_check()

    manager, value, health = run(go())
    assert manager.cache_type == "memory"
    assert isinstance(manager.cache, InMemoryCache)
    assert value == "v"
    assert health["healthy"] is True
    info = manager.get_cache_info()
    assert info["cache_type"] == "memory" and "fallback_reason" in info


def test_uninitialised_manager_raises() -> None:
    manager = CacheManager.__new__(CacheManager)
    manager.cache = None
    with pytest.raises(ConfigurationError, match="not initialized"):
        run(manager.get("k"))


@pytest.mark.parametrize("preset", PRESETS)
def test_settings_dicts_have_no_unknown_keys(
    preset: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aicache.factory"):
        build_from_preset(preset, None)
        run(
            CacheFactory().create_cache_from_config(
                CACHE_PRESETS[preset].to_cache_config().to_dict()
            )
        )
    assert not [r for r in caplog.records if "unknown" in r.getMessage()]


def test_unknown_keys_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aicache.factory"):
        run(
            CacheFactory().create_cache_from_config(
                {"redis_url": None, "defualt_ttl": 5}
            )
        )
    assert any("defualt_ttl" in r.getMessage() for r in caplog.records)


def test_conflicting_size_aliases_are_rejected() -> None:
    with pytest.raises(ValidationError):
        run(
            CacheFactory().create_cache_from_config(
                {"redis_url": None, "l1_cache_size": 5, "memory_cache_size": 6}
            )
        )


def test_web_and_testing_accept_memory_cache_size_alias() -> None:
    web = run(CacheFactory().for_web_app(redis_url=closed_url(), memory_cache_size=55))
    assert type(web) is InMemoryCache and web.max_size == 55
    testing = run(
        CacheFactory().for_testing(use_memory_cache=True, memory_cache_size=9)
    )
    assert type(testing) is InMemoryCache and testing.max_size == 9
    with pytest.raises(ValidationError):
        run(CacheFactory().for_web_app(redis_url=closed_url(), memory_cache_size=0))


# ------------------------------------------------------------------ cache options


def test_factories_forward_the_caches_l1_and_journal_options(
    redis_plain: RedisServer,
) -> None:
    options = {
        "l1_admission": False,
        "l1_coherence": False,
        "l1_max_bytes": 1 << 20,
        "compression_max_bytes": 4096,
        "degraded_journal_size": 50,
    }

    async def go() -> list[Any]:
        factory = CacheFactory()
        caches = [
            await factory.for_web_app(redis_url=redis_plain.url, **options),
            await factory.for_ai_app(redis_url=redis_plain.url, **options),
            await factory.for_testing(
                redis_url=redis_plain.url, enable_l1_cache=True, **options
            ),
        ]
        for cache in caches:
            await _close(cache)
        return caches

    for cache in run(go()):
        assert cache.l1_admission is False and cache.l1_coherence is False
        assert cache.l1_cache is not None
        assert not cache.l1_cache._tier.tracks_frequency
        assert cache.l1_cache._tier.max_bytes == 1 << 20
