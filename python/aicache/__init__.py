"""aicache: a multi-tier cache (C memory tier in front of Redis) for FastAPI and LLM apps.

The public names are those of the original template's ``app.infrastructure.cache``
package (spec section 1.2), so ``from aicache import ...`` replaces
``from app.infrastructure.cache import ...``.

Every name is imported on first use (PEP 562 ``__getattr__``): ``import aicache``
loads no submodule, and FastAPI is imported only by the modules that use it
(``aicache.dependencies``, ``aicache.fastapi``), so an application or a test that
needs only ``aicache.memory`` never pays for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__author__ = "aicache developers"
__description__ = (
    "Multi-tier memory + Redis cache with a C core for FastAPI and LLM apps"
)

# public name -> (submodule, attribute in it)
_EXPORTS: dict[str, tuple[str, str]] = {
    "AIResponseCacheConfig": ("ai_config", "AIResponseCacheConfig"),
    "CacheInterface": ("base", "CacheInterface"),
    "AICacheConfig": ("config", "AICacheConfig"),
    "CacheConfig": ("config", "CacheConfig"),
    "CacheConfigBuilder": ("config", "CacheConfigBuilder"),
    "EnvironmentPresets": ("config", "EnvironmentPresets"),
    "ConfigValidationResult": ("config", "ValidationResult"),
    "CacheDependencyManager": ("dependencies", "CacheDependencyManager"),
    "cleanup_cache_registry": ("dependencies", "cleanup_cache_registry"),
    "get_ai_cache_service": ("dependencies", "get_ai_cache_service"),
    "get_cache_config": ("dependencies", "get_cache_config"),
    "get_cache_health_status": ("dependencies", "get_cache_health_status"),
    "get_cache_service": ("dependencies", "get_cache_service"),
    "get_cache_service_conditional": ("dependencies", "get_cache_service_conditional"),
    "get_fallback_cache_service": ("dependencies", "get_fallback_cache_service"),
    "get_settings": ("dependencies", "get_settings"),
    "get_test_cache": ("dependencies", "get_test_cache"),
    "get_test_redis_cache": ("dependencies", "get_test_redis_cache"),
    "get_web_cache_service": ("dependencies", "get_web_cache_service"),
    "validate_cache_configuration": ("dependencies", "validate_cache_configuration"),
    "ApplicationError": ("exceptions", "ApplicationError"),
    "ConfigurationError": ("exceptions", "ConfigurationError"),
    "InfrastructureError": ("exceptions", "InfrastructureError"),
    "RedisAuthError": ("exceptions", "RedisAuthError"),
    "RedisConnectionError": ("exceptions", "RedisConnectionError"),
    "RedisReplyError": ("exceptions", "RedisReplyError"),
    "RedisTimeoutError": ("exceptions", "RedisTimeoutError"),
    "ValidationError": ("exceptions", "ValidationError"),
    "CacheFactory": ("factory", "CacheFactory"),
    "CacheKeyGenerator": ("key_generator", "CacheKeyGenerator"),
    "InMemoryCache": ("memory", "InMemoryCache"),
    "CachePerformanceMonitor": ("monitoring", "CachePerformanceMonitor"),
    "CompressionMetric": ("monitoring", "CompressionMetric"),
    "InvalidationMetric": ("monitoring", "InvalidationMetric"),
    "MemoryUsageMetric": ("monitoring", "MemoryUsageMetric"),
    "PerformanceMetric": ("monitoring", "PerformanceMetric"),
    "CacheParameterMapper": ("parameter_mapping", "CacheParameterMapper"),
    "AICacheService": ("protocols", "AICacheService"),
    "CacheService": ("protocols", "CacheService"),
    "ValidationResult": ("parameter_mapping", "ValidationResult"),
    "AIResponseCache": ("redis_ai", "AIResponseCache"),
    "REDIS_AVAILABLE": ("redis_generic", "REDIS_AVAILABLE"),
    "GenericRedisCache": ("redis_generic", "GenericRedisCache"),
    "aioredis": ("redis_generic", "aioredis"),
    "RedisCacheSecurityManager": ("security", "RedisCacheSecurityManager"),
    "SecurityConfig": ("security", "SecurityConfig"),
    "SecurityValidationResult": ("security", "SecurityValidationResult"),
    "create_security_config_from_env": ("security", "create_security_config_from_env"),
    "resolve_cache_config": ("settings", "resolve_cache_config"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access, then cache it."""
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'aicache' has no attribute {name!r}") from None
    try:
        module = importlib.import_module(f"aicache.{module_name}")
    except AttributeError as exc:
        # An AttributeError escaping __getattr__ would read as "no attribute".
        raise ImportError(f"importing aicache.{module_name} failed: {exc}") from exc
    value = getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and IDEs see: plain imports
    from aicache.ai_config import AIResponseCacheConfig as AIResponseCacheConfig
    from aicache.base import CacheInterface as CacheInterface
    from aicache.config import AICacheConfig as AICacheConfig
    from aicache.config import CacheConfig as CacheConfig
    from aicache.config import CacheConfigBuilder as CacheConfigBuilder
    from aicache.config import EnvironmentPresets as EnvironmentPresets
    from aicache.config import (
        ValidationResult as ConfigValidationResult,  # noqa: F401
    )
    from aicache.dependencies import CacheDependencyManager as CacheDependencyManager
    from aicache.dependencies import cleanup_cache_registry as cleanup_cache_registry
    from aicache.dependencies import get_ai_cache_service as get_ai_cache_service
    from aicache.dependencies import get_cache_config as get_cache_config
    from aicache.dependencies import (
        get_cache_health_status as get_cache_health_status,
    )
    from aicache.dependencies import get_cache_service as get_cache_service
    from aicache.dependencies import (
        get_cache_service_conditional as get_cache_service_conditional,
    )
    from aicache.dependencies import (
        get_fallback_cache_service as get_fallback_cache_service,
    )
    from aicache.dependencies import get_settings as get_settings
    from aicache.dependencies import get_test_cache as get_test_cache
    from aicache.dependencies import get_test_redis_cache as get_test_redis_cache
    from aicache.dependencies import get_web_cache_service as get_web_cache_service
    from aicache.dependencies import (
        validate_cache_configuration as validate_cache_configuration,
    )
    from aicache.exceptions import ApplicationError as ApplicationError
    from aicache.exceptions import ConfigurationError as ConfigurationError
    from aicache.exceptions import InfrastructureError as InfrastructureError
    from aicache.exceptions import RedisAuthError as RedisAuthError
    from aicache.exceptions import RedisConnectionError as RedisConnectionError
    from aicache.exceptions import RedisReplyError as RedisReplyError
    from aicache.exceptions import RedisTimeoutError as RedisTimeoutError
    from aicache.exceptions import ValidationError as ValidationError
    from aicache.factory import CacheFactory as CacheFactory
    from aicache.key_generator import CacheKeyGenerator as CacheKeyGenerator
    from aicache.memory import InMemoryCache as InMemoryCache
    from aicache.monitoring import CachePerformanceMonitor as CachePerformanceMonitor
    from aicache.monitoring import CompressionMetric as CompressionMetric
    from aicache.monitoring import InvalidationMetric as InvalidationMetric
    from aicache.monitoring import MemoryUsageMetric as MemoryUsageMetric
    from aicache.monitoring import PerformanceMetric as PerformanceMetric
    from aicache.parameter_mapping import CacheParameterMapper as CacheParameterMapper
    from aicache.parameter_mapping import ValidationResult as ValidationResult
    from aicache.protocols import AICacheService as AICacheService
    from aicache.protocols import CacheService as CacheService
    from aicache.redis_ai import AIResponseCache as AIResponseCache
    from aicache.redis_generic import REDIS_AVAILABLE as REDIS_AVAILABLE
    from aicache.redis_generic import GenericRedisCache as GenericRedisCache
    from aicache.redis_generic import aioredis as aioredis
    from aicache.security import (
        RedisCacheSecurityManager as RedisCacheSecurityManager,
    )
    from aicache.security import SecurityConfig as SecurityConfig
    from aicache.security import SecurityValidationResult as SecurityValidationResult
    from aicache.security import (
        create_security_config_from_env as create_security_config_from_env,
    )
    from aicache.settings import resolve_cache_config as resolve_cache_config
