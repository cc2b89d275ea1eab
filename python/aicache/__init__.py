"""aicache: a multi-tier cache (C memory tier in front of Redis) for FastAPI and LLM apps.

The public names are those of the original template's ``app.infrastructure.cache``
package (spec section 1.2), so ``from aicache import ...`` replaces
``from app.infrastructure.cache import ...``.
"""

from aicache.ai_config import AIResponseCacheConfig
from aicache.base import CacheInterface
from aicache.config import (
    AICacheConfig,
    CacheConfig,
    CacheConfigBuilder,
    EnvironmentPresets,
)
from aicache.config import ValidationResult as ConfigValidationResult
from aicache.dependencies import (
    CacheDependencyManager,
    cleanup_cache_registry,
    get_ai_cache_service,
    get_cache_config,
    get_cache_health_status,
    get_cache_service,
    get_cache_service_conditional,
    get_fallback_cache_service,
    get_settings,
    get_test_cache,
    get_test_redis_cache,
    get_web_cache_service,
    validate_cache_configuration,
)
from aicache.exceptions import (
    ApplicationError,
    ConfigurationError,
    InfrastructureError,
    ValidationError,
)
from aicache.factory import CacheFactory
from aicache.key_generator import CacheKeyGenerator
from aicache.memory import InMemoryCache
from aicache.monitoring import (
    CachePerformanceMonitor,
    CompressionMetric,
    InvalidationMetric,
    MemoryUsageMetric,
    PerformanceMetric,
)
from aicache.parameter_mapping import CacheParameterMapper, ValidationResult
from aicache.redis_ai import AIResponseCache
from aicache.redis_generic import REDIS_AVAILABLE, GenericRedisCache, aioredis
from aicache.security import (
    RedisCacheSecurityManager,
    SecurityConfig,
    SecurityValidationResult,
    create_security_config_from_env,
)
from aicache.settings import resolve_cache_config

__version__ = "0.1.0"
__author__ = "aicache developers"
__description__ = (
    "Multi-tier memory + Redis cache with a C core for FastAPI and LLM apps"
)

__all__ = [
    "REDIS_AVAILABLE",
    "AICacheConfig",
    "AIResponseCache",
    "AIResponseCacheConfig",
    "ApplicationError",
    "CacheConfig",
    "CacheConfigBuilder",
    "CacheDependencyManager",
    "CacheFactory",
    "CacheInterface",
    "CacheKeyGenerator",
    "CacheParameterMapper",
    "CachePerformanceMonitor",
    "CompressionMetric",
    "ConfigValidationResult",
    "ConfigurationError",
    "EnvironmentPresets",
    "GenericRedisCache",
    "InMemoryCache",
    "InfrastructureError",
    "InvalidationMetric",
    "MemoryUsageMetric",
    "PerformanceMetric",
    "RedisCacheSecurityManager",
    "SecurityConfig",
    "SecurityValidationResult",
    "ValidationError",
    "ValidationResult",
    "aioredis",
    "cleanup_cache_registry",
    "create_security_config_from_env",
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
    "resolve_cache_config",
    "validate_cache_configuration",
]
