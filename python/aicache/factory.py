"""``CacheFactory``: explicit, validated construction of caches (spec section 14).

Every creation method is an async instance method. A Redis cache is built, then
``connect()`` is awaited; when Redis cannot be reached the factory either raises
``InfrastructureError`` (``fail_on_connection_error=True``) or returns an
``InMemoryCache`` of the same TTL and size.

Differences from the original (docs/migration-factory.md has the full list):

* ``create_cache_from_config`` takes the AI path only when the configuration asks for
  AI (``enable_ai_cache`` True, or an explicit AI key such as ``text_hash_threshold``
  / ``operation_ttls``), not because ``memory_cache_size`` is present, and passes the
  preset's ``text_hash_threshold``, ``operation_ttls``, ``text_size_tiers`` and
  ``hash_algorithm`` to the AI cache; web presets get a ``GenericRedisCache``
  (spec 21 item 3). ``memory_cache_size`` maps to ``l1_cache_size``; the security
  fields of ``aicache.config.CacheConfig`` (password, ACL user, TLS files, timeouts,
  encryption key) become a ``SecurityConfig``.
* ``for_ai_app`` forwards ``enable_l1_cache`` and ``security_config`` (the original
  dropped both) and no longer triggers the ``memory_cache_size`` deprecation warning.
* A cache whose ``connect()`` failed is disconnected before the in-memory fallback is
  returned; URLs in error contexts have their password masked.
* ``CacheFactory.from_environment(environ=None)`` is new.
"""

import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from aicache.config import CacheConfig
from aicache.exceptions import (
    ConfigurationError,
    InfrastructureError,
    RedisAuthError,
    ValidationError,
)
from aicache.memory import InMemoryCache
from aicache.monitoring import CachePerformanceMonitor
from aicache.redis_ai import AIResponseCache
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig, redact_url

__all__ = ["MONITORING_AVAILABLE", "CacheFactory"]

logger = logging.getLogger(__name__)

MONITORING_AVAILABLE = True

_MAX_FACTORY_TTL = 31536000  # one year, the factory-level limit of the original
_DOMAIN_ERRORS = (ValidationError, ConfigurationError, InfrastructureError)
_SECRET_KEYS = frozenset(
    {"redis_password", "encryption_key", "redis_auth", "acl_password", "password"}
)

# Flat AI keys a configuration dict may carry (config.CacheConfig.to_dict() writes
# them when enable_ai_cache is True).
_AI_KEYS = (
    "text_hash_threshold",
    "operation_ttls",
    "text_size_tiers",
    "hash_algorithm",
)

# Keys create_cache_from_config understands. Anything else is reported with a warning
# (a typo such as "defualt_ttl" would otherwise silently use the default).
_CONFIG_KEYS = frozenset(
    {
        # factory / cache constructor keys
        "redis_url",
        "default_ttl",
        "enable_l1_cache",
        "l1_cache_size",
        "memory_cache_size",
        "compression_threshold",
        "compression_level",
        "security_config",
        "fail_on_connection_error",
        "enable_ai_cache",
        *_AI_KEYS,
        # aicache.config.CacheConfig fields
        "redis_password",
        "use_tls",
        "tls_cert_path",
        "tls_key_path",
        "tls_ca_path",
        "environment",
        "preset_name",
        "ai_config",
        "encryption_key",
        "redis_username",
        "verify_certificates",
        "insecure_allow_plaintext",
        "connection_timeout",
        "max_retries",
        "retry_delay",
        # cache_presets.CacheConfig.to_dict() keys
        "enable_monitoring",
        "log_level",
        "cache_strategy",
        "strategy",
        "max_connections",
        "enable_smart_promotion",
        "max_text_length",
    }
)


# Keyword options the factories forward to GenericRedisCache (its keyword-only
# extras) and, for for_ai_app, to AIResponseCache. Anything else is a typo or a
# parameter of another class and raises ValidationError instead of being dropped.
# A new keyword option of the cache classes must be added here.
_CACHE_OPTIONS = frozenset(
    {
        "performance_monitor",
        "key_prefix",
        "enable_compression",
        "connect_timeout",
        "operation_timeout",
        "breaker_failure_threshold",
        "breaker_reset_timeout",
        "health_check_interval",
        "compression_max_bytes",
        "l1_max_bytes",
        "l1_admission",
        "l1_coherence",
        "degraded_journal_size",
    }
)
_AI_OPTIONS = _CACHE_OPTIONS | {
    "hash_all_text",
    "text_size_tiers",
    "hash_algorithm",
    "redis_password",
    "redis_auth",
    "use_tls",
    "tls_cert_path",
    "tls_key_path",
    "tls_ca_path",
    "verify_certificates",
    "acl_username",
    "acl_password",
    "connection_timeout",
    "socket_timeout",
    "min_tls_version",
    "cipher_suites",
    "encryption_key",
}


def _reject_unknown(
    method: str, kwargs: Mapping[str, Any], allowed: frozenset[str]
) -> None:
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        raise ValidationError(
            f"{method}() got unknown argument(s): {', '.join(unknown)}",
            {"unknown_arguments": unknown, "allowed_arguments": sorted(allowed)},
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _redacted_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy that is safe to put in an exception context or a log line."""
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if key in _SECRET_KEYS and value:
            shown[key] = "<redacted>"
        elif key == "redis_url" and isinstance(value, str):
            shown[key] = redact_url(value)
        elif key == "security_config" and value is not None:
            shown[key] = repr(value)  # SecurityConfig.__repr__ redacts secrets
        else:
            shown[key] = value
    return shown


def _safe_url(redis_url: Any) -> Any:
    return redact_url(redis_url) if isinstance(redis_url, str) else redis_url


def _security_config_from(config: Mapping[str, Any]) -> SecurityConfig | None:
    """The ``SecurityConfig`` a configuration dict describes, or None.

    An explicit ``security_config`` wins; otherwise the security fields of
    ``aicache.config.CacheConfig`` are used (the mapping of
    ``CacheConfig.security_kwargs()``). None lets the cache read the environment.
    """
    explicit = config.get("security_config")
    if explicit is not None:
        if not isinstance(explicit, SecurityConfig):
            raise ValidationError(
                "security_config must be an aicache.security.SecurityConfig",
                {"security_config": type(explicit).__name__},
            )
        return explicit
    kwargs: dict[str, Any] = {}
    username = config.get("redis_username")
    password = config.get("redis_password")
    if username:
        kwargs["acl_username"] = username
        kwargs["acl_password"] = password
    elif password:
        kwargs["redis_auth"] = password
    if config.get("use_tls"):
        kwargs["use_tls"] = True
        kwargs["verify_certificates"] = bool(config.get("verify_certificates", True))
        for key in ("tls_cert_path", "tls_key_path", "tls_ca_path"):
            if config.get(key):
                kwargs[key] = config[key]
    if config.get("connection_timeout") is not None:
        kwargs["connection_timeout"] = config["connection_timeout"]
        kwargs["socket_timeout"] = config["connection_timeout"]
    if config.get("max_retries") is not None:
        kwargs["max_retries"] = config["max_retries"]
    if config.get("retry_delay") is not None:
        kwargs["retry_delay"] = config["retry_delay"]
    if config.get("encryption_key"):
        kwargs["encryption_key"] = config["encryption_key"]
    return SecurityConfig(**kwargs) if kwargs else None


def _size_alias(l1_cache_size: Any, kwargs: dict[str, Any]) -> Any:
    """Pop ``memory_cache_size`` from kwargs; when given it replaces
    ``l1_cache_size`` (with a deprecation warning)."""
    size = kwargs.pop("memory_cache_size", None)
    if size is None:
        return l1_cache_size
    warnings.warn(
        f"memory_cache_size is deprecated; use l1_cache_size (using l1_cache_size={size!r})",
        DeprecationWarning,
        stacklevel=3,
    )
    return size


def _l1_size(config: Mapping[str, Any]) -> Any:
    """``l1_cache_size``, or its config.py name ``memory_cache_size`` (100 when
    neither is set). Both set to different values is an error."""
    l1 = config.get("l1_cache_size")
    memory = config.get("memory_cache_size")
    if l1 is not None and memory is not None and l1 != memory:
        raise ValidationError(
            "Configuration sets both l1_cache_size and memory_cache_size (an alias) "
            "to different values",
            {"l1_cache_size": l1, "memory_cache_size": memory},
        )
    if l1 is not None:
        return l1
    return memory if memory is not None else 100


def connection_failure_reason(exc: BaseException | None) -> str:
    """Why a Redis connection failed, in words a user can act on: authentication
    failed (wrong password or ACL user) is told apart from unreachable."""
    if exc is None:
        return "unreachable"
    if isinstance(exc, RedisAuthError) or isinstance(
        getattr(exc, "__cause__", None), RedisAuthError
    ):
        return f"authentication failed ({getattr(exc, 'message', exc)}); check REDIS_PASSWORD / the URL's credentials"
    return f"unreachable ({getattr(exc, 'message', exc)})"


def _stand_in(cache: GenericRedisCache, default_ttl: int, size: int) -> InMemoryCache:
    """The InMemoryCache that replaces an unreachable Redis cache; for an AI cache
    it keeps the operation TTLs and text tiers, so ``cache_response`` behaves the
    same (the memory cache answers the AI interface too)."""
    fallback = InMemoryCache(default_ttl=default_ttl, max_size=size)
    if isinstance(cache, AIResponseCache):
        fallback.operation_ttls = dict(cache.operation_ttls)
        fallback.text_size_tiers = dict(cache.text_size_tiers)
        fallback.key_generator = cache.key_generator  # the same keys (and privacy)
    return fallback


class CacheFactory:
    """Builds caches for web apps, AI apps, tests, or from a configuration dict.

    One ``CachePerformanceMonitor`` (``self._performance_monitor``) is shared by every
    Redis cache this factory creates.
    """

    def __init__(self) -> None:
        self._performance_monitor: CachePerformanceMonitor | None = (
            CachePerformanceMonitor() if MONITORING_AVAILABLE else None
        )

    # ------------------------------------------------------------------ validation

    def _validate_factory_inputs(
        self,
        redis_url: str | None = None,
        default_ttl: int | None = None,
        fail_on_connection_error: bool = False,
        **kwargs: Any,
    ) -> None:
        """Raise ``ValidationError`` listing every invalid input (spec 14.1)."""
        errors: list[str] = []
        if redis_url is not None:
            if not isinstance(redis_url, str) or not redis_url.strip():
                errors.append("redis_url must be a non-empty string")
            elif not redis_url.strip().startswith(("redis://", "rediss://")):
                errors.append(
                    "redis_url must start with 'redis://' or 'rediss://', "
                    f"got {_safe_url(redis_url)!r}"
                )
            else:
                rest = redis_url.strip().split("://", 1)[1]
                if rest in ("", "/"):
                    errors.append("redis_url must include a host after '://'")
        if default_ttl is not None:
            if not _is_int(default_ttl):
                errors.append(
                    f"default_ttl must be an integer, got {type(default_ttl).__name__}"
                )
            elif default_ttl < 0:
                errors.append(f"default_ttl must be non-negative, got {default_ttl}")
            elif default_ttl > _MAX_FACTORY_TTL:
                errors.append(
                    f"default_ttl must not exceed {_MAX_FACTORY_TTL} seconds (1 year), "
                    f"got {default_ttl}"
                )
        if not isinstance(fail_on_connection_error, bool):
            errors.append(
                "fail_on_connection_error must be a boolean, got "
                f"{type(fail_on_connection_error).__name__}"
            )
        if "enable_l1_cache" in kwargs and not isinstance(
            kwargs["enable_l1_cache"], bool
        ):
            errors.append("enable_l1_cache must be a boolean")
        if "l1_cache_size" in kwargs:
            size = kwargs["l1_cache_size"]
            if not _is_int(size) or size <= 0:
                errors.append(f"l1_cache_size must be a positive integer, got {size!r}")
        if "compression_threshold" in kwargs:
            threshold = kwargs["compression_threshold"]
            if not _is_int(threshold) or threshold < 0:
                errors.append(
                    "compression_threshold must be a non-negative integer, "
                    f"got {threshold!r}"
                )
        if "compression_level" in kwargs:
            level = kwargs["compression_level"]
            if not _is_int(level) or not 1 <= level <= 9:
                errors.append(
                    f"compression_level must be an integer between 1 and 9, got {level!r}"
                )
        if errors:
            raise ValidationError(
                "Factory input validation failed: " + "; ".join(errors),
                {
                    "validation_errors": errors,
                    "redis_url": _safe_url(redis_url),
                    "default_ttl": default_ttl,
                    "fail_on_connection_error": fail_on_connection_error,
                    "additional_params": list(kwargs),
                },
            )

    # ------------------------------------------------------------------ helpers

    async def _create_connected(
        self,
        build: Callable[[], GenericRedisCache],
        *,
        label: str,
        cache_type: str,
        redis_url: str,
        default_ttl: int,
        fallback_size: int,
        fail_on_connection_error: bool,
    ) -> GenericRedisCache | InMemoryCache:
        """Builds a Redis-backed cache and connects it, with the spec's policy:
        domain errors propagate unchanged; a failed connection or any other error
        raises InfrastructureError when fail_on_connection_error, else falls back to
        an InMemoryCache(default_ttl, fallback_size)."""
        policy: dict[str, Any] = {
            "label": label,
            "cache_type": cache_type,
            "redis_url": redis_url,
            "default_ttl": default_ttl,
            "fallback_size": fallback_size,
            "fail_on_connection_error": fail_on_connection_error,
        }
        try:
            return await self._connect_or_fallback(build(), **policy)
        except _DOMAIN_ERRORS:
            raise
        except Exception as exc:
            return self._unexpected(exc, **policy)

    async def _generic_cache(
        self,
        label: str,
        cache_type: str,
        *,
        redis_url: str,
        default_ttl: int,
        enable_l1_cache: bool,
        l1_cache_size: int,
        compression_threshold: int,
        compression_level: int,
        security_config: Any,
        fail_on_connection_error: bool,
        **kwargs: Any,
    ) -> GenericRedisCache | InMemoryCache:
        """A connected GenericRedisCache sharing this factory's monitor, or the
        fallback policy of _create_connected (for_web_app and for_testing)."""
        # A caller's own monitor replaces the factory's (passing both used to
        # raise a swallowed TypeError and silently return an InMemoryCache).
        monitor = kwargs.pop("performance_monitor", self._performance_monitor)
        return await self._create_connected(
            lambda: GenericRedisCache(
                redis_url=redis_url,
                default_ttl=default_ttl,
                enable_l1_cache=enable_l1_cache,
                l1_cache_size=l1_cache_size,
                compression_threshold=compression_threshold,
                compression_level=compression_level,
                performance_monitor=monitor,
                security_config=security_config,
                **kwargs,
            ),
            label=label,
            cache_type=cache_type,
            redis_url=redis_url,
            default_ttl=default_ttl,
            fallback_size=l1_cache_size,
            fail_on_connection_error=fail_on_connection_error,
        )

    async def _connect_or_fallback(
        self,
        cache: GenericRedisCache,
        *,
        label: str,
        cache_type: str,
        redis_url: str,
        default_ttl: int,
        fallback_size: int,
        fail_on_connection_error: bool,
    ) -> GenericRedisCache | InMemoryCache:
        # The factory reports a failed connect itself (with the fallback it takes):
        # mark the cache's rate limiter so the same failure is not logged twice.
        cache._last_error_log["connect"] = time.monotonic()
        if await cache.connect():
            logger.info(
                "Created %s cache with Redis at %s", cache_type, redact_url(redis_url)
            )
            return cache
        await self._discard(cache)
        if fail_on_connection_error:
            raise InfrastructureError(
                f"Redis connection failed for {label} cache",
                {
                    "redis_url": redact_url(redis_url),
                    "cache_type": cache_type,
                    "fail_on_connection_error": fail_on_connection_error,
                },
            ) from cache.last_connect_error  # the cause says why (auth or network)
        reason = connection_failure_reason(cache.last_connect_error)
        logger.warning(
            "Redis at %s: %s; using InMemoryCache for the %s cache",
            redact_url(redis_url),
            reason,
            cache_type,
        )
        fallback = _stand_in(cache, default_ttl, fallback_size)
        fallback.fallback_reason = reason
        return fallback

    @staticmethod
    async def _discard(cache: GenericRedisCache) -> None:
        try:
            await cache.disconnect()
        except Exception as exc:  # a failed close must not hide the real outcome
            logger.debug("Ignoring error while discarding a cache: %s", exc)

    @staticmethod
    def _unexpected(
        exc: Exception,
        *,
        label: str,
        cache_type: str,
        redis_url: str,
        default_ttl: int,
        fallback_size: int,
        fail_on_connection_error: bool,
    ) -> InMemoryCache:
        if fail_on_connection_error:
            raise InfrastructureError(
                f"Failed to create {label} cache: {exc}",
                {
                    "redis_url": redact_url(redis_url),
                    "cache_type": cache_type,
                    "original_error": str(exc),
                },
            ) from exc
        logger.warning(
            "Failed to create %s cache (%s); using InMemoryCache", cache_type, exc
        )
        return InMemoryCache(default_ttl=default_ttl, max_size=fallback_size)

    # ------------------------------------------------------------------ factories

    async def for_web_app(
        self,
        redis_url: str = "redis://redis:6379",
        default_ttl: int = 1800,
        enable_l1_cache: bool = True,
        l1_cache_size: int = 200,
        compression_threshold: int = 2000,
        compression_level: int = 6,
        security_config: SecurityConfig | None = None,
        fail_on_connection_error: bool = False,
        **kwargs: Any,
    ) -> GenericRedisCache | InMemoryCache:
        """A ``GenericRedisCache`` for web responses (30 min TTL, 200-entry L1).

        ``memory_cache_size`` is accepted as a deprecated alias of
        ``l1_cache_size`` (the original silently ignored it here)."""
        l1_cache_size = _size_alias(l1_cache_size, kwargs)
        _reject_unknown("for_web_app", kwargs, _CACHE_OPTIONS)
        self._validate_factory_inputs(
            redis_url,
            default_ttl,
            fail_on_connection_error,
            enable_l1_cache=enable_l1_cache,
            l1_cache_size=l1_cache_size,
            compression_threshold=compression_threshold,
            compression_level=compression_level,
            **kwargs,
        )
        return await self._generic_cache(
            "web application",
            "web_app",
            redis_url=redis_url,
            default_ttl=default_ttl,
            enable_l1_cache=enable_l1_cache,
            l1_cache_size=l1_cache_size,
            compression_threshold=compression_threshold,
            compression_level=compression_level,
            security_config=security_config,
            fail_on_connection_error=fail_on_connection_error,
            **kwargs,
        )

    async def for_ai_app(
        self,
        redis_url: str = "redis://redis:6379",
        default_ttl: int = 3600,
        enable_l1_cache: bool = True,
        l1_cache_size: int = 100,
        compression_threshold: int = 1000,
        compression_level: int = 6,
        text_hash_threshold: int = 500,
        memory_cache_size: int | None = None,
        operation_ttls: dict[str, int] | None = None,
        security_config: SecurityConfig | None = None,
        fail_on_connection_error: bool = False,
        **kwargs: Any,
    ) -> AIResponseCache | InMemoryCache:
        """An ``AIResponseCache`` for AI responses (1 h TTL, 100-entry L1).

        ``memory_cache_size`` (deprecated) overrides ``l1_cache_size`` when given.
        ``text_size_tiers`` and ``hash_algorithm`` may be passed as keywords.
        """
        _reject_unknown("for_ai_app", kwargs, _AI_OPTIONS)
        self._validate_factory_inputs(
            redis_url,
            default_ttl,
            fail_on_connection_error,
            enable_l1_cache=enable_l1_cache,
            l1_cache_size=l1_cache_size,
            compression_threshold=compression_threshold,
            compression_level=compression_level,
        )
        errors: list[str] = []
        if not _is_int(text_hash_threshold) or text_hash_threshold < 0:
            errors.append(
                "text_hash_threshold must be a non-negative integer, "
                f"got {text_hash_threshold!r}"
            )
        if memory_cache_size is not None and (
            not _is_int(memory_cache_size) or memory_cache_size <= 0
        ):
            errors.append(
                f"memory_cache_size must be a positive integer, got {memory_cache_size!r}"
            )
        if operation_ttls is not None:
            if not isinstance(operation_ttls, dict):
                errors.append("operation_ttls must be a dictionary")
            else:
                for op, ttl in operation_ttls.items():
                    if not isinstance(op, str) or not op.strip():
                        errors.append(
                            f"operation_ttls keys must be non-empty strings, got {op!r}"
                        )
                    elif not _is_int(ttl) or ttl < 0:
                        errors.append(
                            f"operation_ttls[{op!r}] must be a non-negative integer, "
                            f"got {ttl!r}"
                        )
        if errors:
            raise ValidationError(
                "AI application cache validation failed: " + "; ".join(errors),
                {
                    "validation_errors": errors,
                    "text_hash_threshold": text_hash_threshold,
                    "memory_cache_size": memory_cache_size,
                    "operation_ttls": operation_ttls,
                },
            )
        size = memory_cache_size if memory_cache_size is not None else l1_cache_size
        monitor = kwargs.pop("performance_monitor", self._performance_monitor)
        result = await self._create_connected(
            lambda: AIResponseCache(
                redis_url=redis_url,
                default_ttl=default_ttl,
                enable_l1_cache=enable_l1_cache,
                l1_cache_size=size,
                compression_threshold=compression_threshold,
                compression_level=compression_level,
                text_hash_threshold=text_hash_threshold,
                operation_ttls=dict(operation_ttls or {}),
                performance_monitor=monitor,
                security_config=security_config,
                **kwargs,
            ),
            label="AI application",
            cache_type="ai_app",
            redis_url=redis_url,
            default_ttl=default_ttl,
            fallback_size=size,
            fail_on_connection_error=fail_on_connection_error,
        )
        assert isinstance(result, AIResponseCache | InMemoryCache)
        return result

    async def for_testing(
        self,
        redis_url: str = "redis://redis:6379/15",
        default_ttl: int = 60,
        enable_l1_cache: bool = False,
        l1_cache_size: int = 50,
        compression_threshold: int = 1000,
        compression_level: int = 1,
        security_config: SecurityConfig | None = None,
        fail_on_connection_error: bool = False,
        use_memory_cache: bool = False,
        **kwargs: Any,
    ) -> GenericRedisCache | InMemoryCache:
        """A short-TTL cache for tests: ``InMemoryCache`` when ``use_memory_cache``,
        else a ``GenericRedisCache`` on database 15 by default.
        ``memory_cache_size`` is a deprecated alias of ``l1_cache_size``."""
        l1_cache_size = _size_alias(l1_cache_size, kwargs)
        _reject_unknown("for_testing", kwargs, _CACHE_OPTIONS)
        if not isinstance(use_memory_cache, bool):
            raise ValidationError(
                "use_memory_cache must be a boolean",
                {"use_memory_cache": use_memory_cache},
            )
        self._validate_factory_inputs(
            redis_url,
            default_ttl,
            fail_on_connection_error,
            enable_l1_cache=enable_l1_cache,
            l1_cache_size=l1_cache_size,
            compression_threshold=compression_threshold,
            compression_level=compression_level,
            **kwargs,
        )
        if use_memory_cache:
            return InMemoryCache(default_ttl=default_ttl, max_size=l1_cache_size)
        return await self._generic_cache(
            "testing",
            "testing",
            redis_url=redis_url,
            default_ttl=default_ttl,
            enable_l1_cache=enable_l1_cache,
            l1_cache_size=l1_cache_size,
            compression_threshold=compression_threshold,
            compression_level=compression_level,
            security_config=security_config,
            fail_on_connection_error=fail_on_connection_error,
            **kwargs,
        )

    # ------------------------------------------------------------------ from config

    @staticmethod
    def _wants_ai(config: Mapping[str, Any]) -> bool:
        explicit = [
            key
            for key in _AI_KEYS
            if config.get(key) is not None and config.get(key) != {}
        ]
        flag = config.get("enable_ai_cache")
        if flag is False and explicit:
            raise ValidationError(
                "Configuration sets enable_ai_cache=False but also AI options "
                f"{explicit}; enable AI caching or remove them",
                {"enable_ai_cache": False, "ai_keys": explicit},
            )
        return flag is True or bool(explicit)

    async def create_cache_from_config(
        self,
        config: Mapping[str, Any] | CacheConfig,
        fail_on_connection_error: bool = False,
    ) -> GenericRedisCache | AIResponseCache | InMemoryCache:
        """Build the cache a configuration dict describes.

        ``config`` is a dict such as ``aicache.config.CacheConfig.to_dict()`` or
        ``cache_presets.CacheConfig.to_dict()`` (a ``CacheConfig`` object is accepted
        too). Without a ``redis_url``, or for the "disabled" preset, the result is an
        ``InMemoryCache(default_ttl, max_size=memory_cache_size or l1_cache_size)``.
        Otherwise an ``AIResponseCache`` when the config asks for AI
        (``enable_ai_cache`` or explicit AI keys), else a ``GenericRedisCache``.
        """
        if isinstance(config, CacheConfig):
            config = config.to_dict()
        if not isinstance(config, Mapping):
            raise ValidationError(
                f"config must be a dictionary, got {type(config).__name__}",
                {"config_type": type(config).__name__},
            )
        if not config:
            raise ValidationError("config dictionary cannot be empty", {})
        if "redis_url" not in config:
            raise ValidationError(
                "redis_url is required in config (None for a memory-only cache)",
                {"config_keys": sorted(config)},
            )
        unknown = sorted(k for k in config if k not in _CONFIG_KEYS)
        if unknown:
            logger.warning("Ignoring unknown cache configuration keys: %s", unknown)

        has_ai_params = False
        try:
            has_ai_params = self._wants_ai(config)
            preset = config.get("preset_name") or ""
            size = _l1_size(config)
            if (isinstance(preset, str) and preset.lower() == "disabled") or not config[
                "redis_url"
            ]:
                return InMemoryCache(
                    default_ttl=config.get("default_ttl", 300), max_size=size
                )
            security_config = _security_config_from(config)
            common: dict[str, Any] = {
                "redis_url": config["redis_url"],
                "default_ttl": config.get("default_ttl", 3600),
                "enable_l1_cache": config.get("enable_l1_cache", True),
                "l1_cache_size": size,
                "compression_threshold": config.get("compression_threshold", 1000),
                "compression_level": config.get("compression_level", 6),
                "security_config": security_config,
                "fail_on_connection_error": fail_on_connection_error,
            }
            if has_ai_params:
                # Flat keys win; a nested ai_config dict fills the gaps.
                nested = config.get("ai_config")
                source = dict(nested) if isinstance(nested, Mapping) else {}
                source.update({k: config[k] for k in _AI_KEYS if k in config})
                threshold = source.get("text_hash_threshold")
                ai: dict[str, Any] = {
                    "text_hash_threshold": 500 if threshold is None else threshold,
                    "operation_ttls": source.get("operation_ttls") or {},
                }
                for key in ("text_size_tiers", "hash_algorithm"):
                    if source.get(key) is not None:
                        ai[key] = source[key]
                return await self.for_ai_app(**common, **ai)
            return await self.for_web_app(**common)
        except _DOMAIN_ERRORS:
            raise
        except Exception as exc:
            raise ConfigurationError(
                f"Failed to create cache from configuration: {exc}",
                {
                    "config": _redacted_config(config),
                    "has_ai_params": has_ai_params,
                    "fail_on_connection_error": fail_on_connection_error,
                    "original_error": str(exc),
                },
            ) from exc

    @classmethod
    async def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        fail_on_connection_error: bool = False,
    ) -> GenericRedisCache | AIResponseCache | InMemoryCache:
        """The cache described by the environment variables (``CACHE_PRESET``,
        ``CACHE_REDIS_URL``, ...; see :mod:`aicache.settings`)."""
        from aicache.settings import resolve_cache_config

        config = resolve_cache_config(os.environ if environ is None else environ)
        return await cls().create_cache_from_config(
            config.to_dict(), fail_on_connection_error=fail_on_connection_error
        )
