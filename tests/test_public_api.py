"""The package exports the original's public surface (spec sections 1.2 and 20.1)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import aicache

ORIGINAL_ALL = {
    "CacheInterface", "AIResponseCache", "AIResponseCacheConfig", "GenericRedisCache",
    "REDIS_AVAILABLE", "aioredis", "CacheKeyGenerator", "ValidationResult",
    "CacheParameterMapper", "RedisCacheSecurityManager", "SecurityConfig",
    "SecurityValidationResult", "create_security_config_from_env", "InMemoryCache",
    "CachePerformanceMonitor", "PerformanceMetric", "CompressionMetric",
    "MemoryUsageMetric", "InvalidationMetric", "CacheFactory", "CacheConfig",
    "AICacheConfig", "CacheConfigBuilder", "EnvironmentPresets", "ConfigValidationResult",
    "get_settings", "get_cache_config", "get_cache_service", "get_web_cache_service",
    "get_ai_cache_service", "get_test_cache", "get_test_redis_cache",
    "get_fallback_cache_service", "validate_cache_configuration",
    "get_cache_service_conditional", "cleanup_cache_registry", "get_cache_health_status",
    "CacheDependencyManager",
}  # fmt: skip

SUBMODULES = [
    "base", "memory", "key_generator", "redis_generic", "redis_ai", "encryption",
    "security", "monitoring", "config", "ai_config", "cache_presets", "cache_validator",
    "parameter_mapping", "factory", "dependencies", "manager", "exceptions",
]  # fmt: skip


def test_all_original_names_are_exported() -> None:
    assert len(ORIGINAL_ALL) == 38
    missing = ORIGINAL_ALL - set(aicache.__all__)
    assert not missing
    for name in aicache.__all__:
        assert hasattr(aicache, name), name


def test_exported_classes_come_from_the_named_modules() -> None:
    from aicache import config, parameter_mapping

    assert aicache.CacheConfig is config.CacheConfig
    assert aicache.ConfigValidationResult is config.ValidationResult
    assert aicache.ValidationResult is parameter_mapping.ValidationResult
    assert aicache.ValidationResult is not aicache.ConfigValidationResult


def test_class_hierarchy() -> None:
    assert issubclass(aicache.AIResponseCache, aicache.GenericRedisCache)
    assert issubclass(aicache.GenericRedisCache, aicache.CacheInterface)
    assert issubclass(aicache.InMemoryCache, aicache.CacheInterface)


def test_every_submodule_imports_on_its_own() -> None:
    for name in SUBMODULES:
        code = f"import aicache.{name}"
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True
        )
        assert res.returncode == 0, (name, res.stderr[-2000:])
        assert importlib.import_module(f"aicache.{name}")


def test_metadata_strings() -> None:
    for attr in ("__version__", "__author__", "__description__"):
        assert isinstance(getattr(aicache, attr), str)
