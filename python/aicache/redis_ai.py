"""``AIResponseCache``: the AI-response flavour of ``GenericRedisCache`` (spec section 10).

Keys come from :meth:`AIResponseCache.build_key` (``ai_cache:op:<op>|txt:...``); the
operation in a key selects its TTL (``operation_ttls``) when ``set`` gets no ``ttl``.

Differences from the original (docs/migration-factory.md, spec 21):

* The constructor keeps the ``default_ttl`` and ``performance_monitor`` it was given
  (the original reset them to 3600 / None, item 2), and honours security arguments:
  ``security_config`` reaches the parent (TLS, AUTH, encryption), and the individual
  ``redis_password`` / ``use_tls`` / ``tls_*`` / ``acl_*`` / timeout arguments build one
  when no ``security_config`` is given (the original dropped them all). ``connect()``
  goes through the security manager like ``GenericRedisCache``.
* ``set(key, value)`` without ``ttl`` uses ``operation_ttls[<op of key>]`` when the
  key's operation has one, else ``default_ttl`` (item 4).
* ``invalidate_pattern(pattern)`` has one semantics for both tiers: the glob
  ``ai_cache:*<pattern>*`` (a pattern already starting with ``ai_cache:`` is used as
  the whole glob), removed from L1 and from Redis with SCAN + batched UNLINK; it
  returns the number of distinct keys removed (the original used a substring test in
  L1, ``KEYS`` in Redis, and returned None; item 7).
* ``invalidate_by_operation(op)`` removes exactly ``ai_cache:op:<op>|*``: "sum" no
  longer also removes "summarize" keys.
* ``clear()`` removes only ``ai_cache:`` keys, from both tiers, and returns the count
  (the original emptied all of L1 and reported 0).
* ``text_size_tiers`` is a plain dict (no ``unittest.mock`` in production, item 15);
  hits are attributed to the text tier read from the key (embedded text: its length;
  hashed text longer than the ``large`` tier: ``xlarge``; otherwise ``unknown``).
* ``hash_algorithm`` may also be given by name (``"sha256"``, ``"md5"``...).
* ``memory_cache_order`` returns the L1's LRU order (the original: always ``[]``).
"""

import hashlib
import logging
import math
import sys
import time
import warnings
from collections import defaultdict, deque
from collections.abc import Callable
from statistics import mean
from typing import Any

from aicache import stampede
from aicache.ai_responses import (
    RetrievalCounter,
    build_entry,
    mark_retrieved,
    response_key,
)
from aicache.exceptions import ConfigurationError, InfrastructureError, ValidationError
from aicache.key_generator import CacheKeyGenerator
from aicache.monitoring import CachePerformanceMonitor
from aicache.parameter_mapping import CacheParameterMapper
from aicache.redis_generic import _GLOB_SPECIAL, GenericRedisCache
from aicache.redis_generic import REDIS_AVAILABLE as REDIS_AVAILABLE
from aicache.redis_generic import aioredis as aioredis
from aicache.security import SecurityConfig, redact_url

__all__ = ["REDIS_AVAILABLE", "AIResponseCache", "aioredis"]

logger = logging.getLogger(__name__)

AI_KEY_PREFIX = "ai_cache:"
_OP_PREFIX = "ai_cache:op:"
_DEFAULT_TIERS = {"small": 500, "medium": 5000, "large": 50000}
_TIER_NAMES = ("small", "medium", "large", "xlarge")
_MAX_RECENT = 1000  # operation_performance entries and durations kept per operation
_PRIORITY = {"high": 0, "medium": 1, "low": 2}

# Security arguments accepted individually (spec 10.1 step 2) -> SecurityConfig field.
_SECURITY_ARGS = {
    "redis_password": "redis_auth",
    "redis_auth": "redis_auth",
    "use_tls": "use_tls",
    "tls_cert_path": "tls_cert_path",
    "tls_key_path": "tls_key_path",
    "tls_ca_path": "tls_ca_path",
    "verify_certificates": "verify_certificates",
    "acl_username": "acl_username",
    "acl_password": "acl_password",
    "connection_timeout": "connection_timeout",
    "socket_timeout": "socket_timeout",
    "min_tls_version": "min_tls_version",
    "cipher_suites": "cipher_suites",
    "encryption_key": "encryption_key",
}


def _resolve_hash_algorithm(value: Any) -> Callable[..., Any]:
    if callable(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        name = value.strip().lower()
        try:
            hashlib.new(name)
        except (ValueError, TypeError):
            raise ValidationError(
                f"Unknown hash_algorithm {value!r}",
                {
                    "hash_algorithm": value,
                    "allowed": sorted(hashlib.algorithms_available),
                },
            ) from None
        constructor = getattr(hashlib, name, None)
        if callable(constructor):
            return constructor  # type: ignore[no-any-return]

        def _named(data: bytes = b"") -> Any:
            return hashlib.new(name, data)

        return _named
    raise ValidationError(
        "hash_algorithm must be a hashlib constructor or an algorithm name",
        {"hash_algorithm": repr(value)},
    )


_MAX_KEY_META = 65536  # side-table entries before it starts over


def _int_counter() -> defaultdict[Any, int]:
    return defaultdict(int)


def _float_counter() -> defaultdict[Any, float]:
    return defaultdict(float)


def _duration_samples() -> deque[float]:
    return deque(maxlen=_MAX_RECENT)


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class AIResponseCache(GenericRedisCache):
    """Redis cache for AI responses with operation-aware keys and TTLs.

    Args (besides those of ``GenericRedisCache``):
        text_hash_threshold: texts longer than this are hashed in keys.
        hash_algorithm: hashlib constructor (or its name) for long texts.
        text_size_tiers: ``{"small", "medium", "large"}`` character limits
            (default 500 / 5000 / 50000), used for metrics.
        memory_cache_size: deprecated alias of ``l1_cache_size`` (wins, DeprecationWarning).
        operation_ttls: seconds per operation, used by ``set`` without ``ttl``.
        hash_all_text (keyword): hash every text in keys, however short, so that
            keys carry no user text (privacy; docs/security.md).

    Raises:
        ValidationError: parameters fail ``CacheParameterMapper`` validation.
        ConfigurationError: the parent rejects a value, or security setup fails.
    """

    def __init__(
        self,
        redis_url: str = "redis://redis:6379",
        default_ttl: int = 3600,
        text_hash_threshold: int = 1000,
        hash_algorithm: Any = hashlib.sha256,
        compression_threshold: int = 1000,
        compression_level: int = 6,
        text_size_tiers: dict[str, int] | None = None,
        memory_cache_size: int | None = None,
        l1_cache_size: int = 100,
        enable_l1_cache: bool = True,
        performance_monitor: CachePerformanceMonitor | None = None,
        operation_ttls: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        if memory_cache_size is not None:
            warnings.warn(
                "memory_cache_size is deprecated; use l1_cache_size "
                f"(using l1_cache_size={memory_cache_size!r})",
                DeprecationWarning,
                stacklevel=2,
            )
            l1_cache_size = memory_cache_size
        security_config = self._security_config_from(kwargs)
        hash_all_text = bool(kwargs.pop("hash_all_text", False))

        ai_params: dict[str, Any] = {
            "redis_url": redis_url,
            "default_ttl": default_ttl,
            "enable_l1_cache": enable_l1_cache,
            "l1_cache_size": l1_cache_size,
            "compression_threshold": compression_threshold,
            "compression_level": compression_level,
            "text_hash_threshold": text_hash_threshold,
            "text_size_tiers": text_size_tiers,
            "operation_ttls": operation_ttls,
        }
        ai_params = {k: v for k, v in ai_params.items() if v is not None}
        result = CacheParameterMapper().validate_parameter_compatibility(ai_params)
        if not result.is_valid:
            raise ValidationError(
                "AIResponseCache parameter validation failed: "
                + "; ".join(result.errors),
                {
                    "validation_errors": result.errors,
                    "validation_warnings": result.warnings,
                    "ai_params": {
                        k: (
                            redact_url(v)
                            if k == "redis_url" and isinstance(v, str)
                            else v
                        )
                        for k, v in ai_params.items()
                    },
                },
            )
        for warning in result.warnings:
            logger.warning("AIResponseCache parameter warning: %s", warning)

        try:
            hasher = _resolve_hash_algorithm(hash_algorithm)
            super().__init__(
                redis_url=redis_url,
                default_ttl=default_ttl,
                enable_l1_cache=enable_l1_cache,
                l1_cache_size=l1_cache_size,
                compression_threshold=compression_threshold,
                compression_level=compression_level,
                performance_monitor=performance_monitor,
                security_config=security_config,
                **kwargs,
            )
            self._setup_ai_configuration(
                text_hash_threshold=text_hash_threshold,
                hash_algorithm=hasher,
                text_size_tiers=text_size_tiers,
                operation_ttls=operation_ttls,
            )
            self._setup_ai_components()
            if hash_all_text:
                # Privacy: no raw text in any key (docs/security.md, "Privacy").
                self.key_generator = CacheKeyGenerator(
                    text_hash_threshold=0,
                    hash_algorithm=self.hash_algorithm,
                    performance_monitor=self.performance_monitor,
                )
            self._register_ai_callbacks()
            self._rebuild_hit_path()
        except (ValidationError, ConfigurationError):
            raise
        except Exception as exc:
            raise ConfigurationError(
                f"Failed to initialize AIResponseCache: {exc}",
                {
                    "initialization_params": sorted(ai_params),
                    "error_type": type(exc).__name__,
                },
            ) from exc

    # ------------------------------------------------------------------ setup

    @staticmethod
    def _security_config_from(kwargs: dict[str, Any]) -> SecurityConfig | None:
        """Pop the security arguments from kwargs: ``security_config`` or the
        individual ones (not both)."""
        explicit = kwargs.pop("security_config", None)
        individual = {
            name: kwargs.pop(name) for name in list(kwargs) if name in _SECURITY_ARGS
        }
        individual = {k: v for k, v in individual.items() if v is not None}
        if explicit is not None and individual:
            raise ValidationError(
                "Pass either security_config or individual security arguments, not both",
                {"individual_arguments": sorted(individual)},
            )
        if explicit is not None:
            if not isinstance(explicit, SecurityConfig):
                raise ValidationError(
                    "security_config must be an aicache.security.SecurityConfig",
                    {"security_config": type(explicit).__name__},
                )
            return explicit
        if not individual:
            return None
        fields: dict[str, Any] = {}
        for name, value in individual.items():
            field = _SECURITY_ARGS[name]
            if field in fields and fields[field] != value:
                raise ValidationError(
                    f"Conflicting values for {field}",
                    {"field": field, "arguments": sorted(individual)},
                )
            fields[field] = value
        return SecurityConfig(**fields)

    def _setup_ai_configuration(
        self,
        text_hash_threshold: int = 1000,
        hash_algorithm: Callable[..., Any] = hashlib.sha256,
        text_size_tiers: dict[str, int] | None = None,
        operation_ttls: dict[str, int] | None = None,
    ) -> None:
        self.text_hash_threshold = text_hash_threshold
        self.hash_algorithm = hash_algorithm
        self.operation_ttls: dict[str, int] = dict(operation_ttls or {})
        self.text_size_tiers: dict[str, int] = dict(text_size_tiers or _DEFAULT_TIERS)

    def _setup_ai_components(self) -> None:
        self.key_generator = CacheKeyGenerator(
            text_hash_threshold=self.text_hash_threshold,
            hash_algorithm=self.hash_algorithm,
            performance_monitor=self.performance_monitor,
        )
        self._ai_metrics: dict[str, Any] = {
            "cache_hits_by_operation": defaultdict(int),
            "cache_misses_by_operation": defaultdict(int),
            "text_tier_distribution": defaultdict(int),
            "operation_performance": [],
        }
        self._op_durations: dict[str, deque[float]] = {}
        self._pending_set_ttl: dict[str, int] = {}
        # key -> (operation, text tier, is an "ai_cache:op:" key) or None: filled
        # on a key's first get or set (by the C hit path or _key_metadata), so a
        # key is parsed once, not on every operation.
        self._key_meta: dict[str, tuple[str, str, bool] | None] = {}

    def _register_ai_callbacks(self) -> None:
        # The C hit path does these callbacks' accounting itself, and recognises
        # them in the callback lists by identity: the very objects are registered.
        self._hit_accounted = self._ai_get_success_callback
        self._miss_accounted = self._ai_get_miss_callback
        self.register_callback("get_success", self._hit_accounted)
        self.register_callback("get_miss", self._miss_accounted)
        self.register_callback("set_success", self._ai_set_success_callback)

    # The C hit path notes the AI accounting of its gets and applies it to these
    # dicts in batches; reading them through these properties applies what is
    # pending first, so every reader sees the dicts as one-by-one updates would
    # have left them (values and key order).

    @property
    def ai_metrics(self) -> dict[str, Any]:
        """Per-operation hit, miss, tier and timing counters (spec 10.5)."""
        self._flush_ai_accounting()
        return self._ai_metrics

    @ai_metrics.setter
    def ai_metrics(self, value: dict[str, Any]) -> None:
        self._flush_ai_accounting()
        self._ai_metrics = value
        self._rebuild_hit_path()  # the C accounting writes to the new dict

    @property
    def _operation_durations(self) -> dict[str, deque[float]]:
        self._flush_ai_accounting()
        return self._op_durations

    def _flush_ai_accounting(self) -> None:
        hot = self.__dict__.get("_hot")
        if hot is not None:
            hot.flush_ai()

    def _retire_hit_path(self) -> None:
        self._flush_ai_accounting()  # into the dicts this hit path writes to
        super()._retire_hit_path()

    def _metric(
        self, name: str, factory: Callable[[], Any] = lambda: defaultdict(int)
    ) -> Any:
        """An ``ai_metrics`` entry created on first use (the lazily added keys)."""
        value = self.ai_metrics.get(name)
        if value is None:
            value = self.ai_metrics[name] = factory()
        return value

    # ------------------------------------------------------------------ connection

    async def connect(self) -> bool:
        """As ``GenericRedisCache.connect`` (secure connection, throttle, reconnect);
        ``redis_ai.REDIS_AVAILABLE`` is honoured too."""
        if not REDIS_AVAILABLE:
            logger.warning("Redis support is not available; using the memory tier only")
            return self._connect_failed(None, "redis support unavailable")
        return await super().connect()

    # ------------------------------------------------------------------ keys

    def build_key(self, text: str, operation: str, options: dict[str, Any]) -> str:
        """``ai_cache:op:<operation>|txt:<text or hash>[|opts:..][|q:..]`` (spec 5)."""
        key: str = self.key_generator.generate_cache_key(text, operation, options)
        return key

    def _resolve_key_meta(self, key: str) -> tuple[str, str, bool] | None:
        """(operation, text tier, is an op key) of an ``ai_cache:`` key, else None."""
        if not isinstance(key, str) or not key.startswith(AI_KEY_PREFIX):
            return None
        operation = self._extract_operation_from_key(key)
        if type(operation) is str:
            # Interned: the C accounting groups gets by the operation's identity.
            operation = sys.intern(operation)
        return (
            operation,
            self._get_text_tier_from_key(key),
            key.startswith(_OP_PREFIX),
        )

    def _key_metadata(self, key: str) -> tuple[str, str, bool] | None:
        """The side-table entry of key, resolved and remembered on first sight."""
        meta = self._key_meta
        try:
            return meta[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable key: nothing to remember
            return None
        if len(meta) >= _MAX_KEY_META:
            meta.clear()
        found = meta[key] = self._resolve_key_meta(key)
        return found

    def _hit_path_ai(self) -> Any:
        if not self._hit_accounting_in_c():
            return None
        return (
            self._key_meta,
            self._resolve_key_meta,
            self._ai_metrics,
            self._op_durations,
            _int_counter,
            _float_counter,
            _duration_samples,
        )

    def _hit_accounting_in_c(self) -> bool:
        """Whether the C hit path can do the AI accounting of an L1 hit: after
        setup, and while no subclass replaced the methods it stands for."""
        cls = type(self)
        return (
            "_ai_metrics" in self.__dict__
            and cls._ai_get_success_callback is AIResponseCache._ai_get_success_callback
            and cls._record_ai_cache_hit is AIResponseCache._record_ai_cache_hit
            and cls._record_operation_performance
            is AIResponseCache._record_operation_performance
        )

    def _miss_accounting_in_c(self) -> bool:
        cls = type(self)
        return (
            cls._miss is GenericRedisCache._miss
            and cls._get_done_in_python is AIResponseCache._get_done_in_python
            and cls._ai_get_miss_callback is AIResponseCache._ai_get_miss_callback
            and cls._record_ai_cache_miss is AIResponseCache._record_ai_cache_miss
        )

    def _rebuild_hit_path(self) -> None:
        super()._rebuild_hit_path()
        hot = self._hot
        if hot is not None and not self._hit_accounting_in_c():
            self._retire_hit_path()  # hits go through Python, with the AI callbacks

    def _generate_cache_key(
        self, text: str, operation: str, options: dict[str, Any]
    ) -> str:
        return self.build_key(text, operation, options)

    @staticmethod
    def _extract_operation_from_key(key: str) -> str:
        """The operation of an ``ai_cache:op:<op>|...`` key, else "unknown"."""
        if not isinstance(key, str) or not key.startswith(_OP_PREFIX):
            return "unknown"
        first = key.split("|", 1)[0]
        parts = first.split(":", 2)
        return parts[2] if len(parts) == 3 and parts[2] else "unknown"

    def _get_text_tier(self, text: str) -> str:
        """small / medium / large / xlarge by character count."""
        if not isinstance(text, str):
            raise ValidationError(
                "text must be a string to determine its tier",
                {"text_type": type(text).__name__},
            )
        n = len(text)
        tiers = self.text_size_tiers
        if n < tiers["small"]:
            return "small"
        if n < tiers["medium"]:
            return "medium"
        if n < tiers["large"]:
            return "large"
        return "xlarge"

    def _get_text_tier_from_key(self, key: str) -> str:
        """The text tier a key's ``txt:`` part reveals, or "unknown"."""
        if not isinstance(key, str) or not key.startswith(_OP_PREFIX):
            return "unknown"
        for part in key.split("|")[1:]:
            if part.startswith("txt:hash:"):
                # Hashed texts are longer than text_hash_threshold.
                if self.text_hash_threshold + 1 >= self.text_size_tiers["large"]:
                    return "xlarge"
                return "unknown"
            if part.startswith("txt:"):
                return self._get_text_tier(part[4:])
        return "unknown"

    # ------------------------------------------------------------------ get / set

    async def get(self, key: str) -> Any:
        hot = self._hot
        if hot is not None and type(key) is str:
            # L1 hit: lookup, counters, monitor record, the AI accounting of the
            # original's callbacks and any other get_success callback, in one C call.
            value = hot.get(key)
            if value is not None:
                return value
            # A Redis hit is completed (and accounted) in C as well.
            return await self._get_after_l1_miss(hot, key)
        start = time.perf_counter()
        value = await self._get_below_l1(key, False)
        self._get_done_in_python(key, start)
        return value

    def _get_done_in_python(self, key: str, start: float) -> None:
        meta = self._key_metadata(key)
        if meta is not None:
            self._record_operation_performance(meta[0], time.perf_counter() - start)

    def _key_operation(self, key: str) -> str:
        meta = self._key_metadata(key)
        return meta[0] if meta is not None else self._extract_operation_from_key(key)

    async def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store value; without ``ttl`` the key's operation TTL applies (from
        ``operation_ttls``), else ``default_ttl``."""
        start = time.perf_counter()
        operation = self._key_operation(key)
        if ttl is None and operation in self.operation_ttls:
            ttl = self.operation_ttls[operation]
        self._pending_set_ttl[key] = self._effective_ttl(ttl)
        try:
            await super().set(key, value, ttl)
        finally:
            self._pending_set_ttl.pop(key, None)
        if isinstance(key, str) and key.startswith(AI_KEY_PREFIX):
            self._record_operation_performance(operation, time.perf_counter() - start)

    async def get_or_set_response(
        self,
        text: str,
        operation: str,
        options: dict[str, Any] | None,
        factory: Callable[[], Any],
        question: str | None = None,
        ttl: float | None = None,
        **compute_options: Any,
    ) -> Any:
        """``get_or_set`` keyed like ``build_key(text, operation, options)`` (a
        ``question`` joins the options); without ``ttl`` the operation's TTL applies."""
        return await stampede.get_or_set_response(
            self, text, operation, options, factory, question, ttl, compute_options
        )

    # ------------------------------------------------------------------ invalidation

    @staticmethod
    def _ai_glob(pattern: str) -> str:
        if pattern.startswith(AI_KEY_PREFIX):
            return pattern
        return f"{AI_KEY_PREFIX}*{pattern}*" if pattern else f"{AI_KEY_PREFIX}*"

    async def invalidate_pattern(
        self, pattern: str, operation_context: str = ""
    ) -> int:
        """Remove the keys matching the glob ``ai_cache:*<pattern>*`` (or ``pattern``
        itself when it starts with ``ai_cache:``) from L1 and Redis; the number of
        distinct keys removed. An empty pattern removes every ``ai_cache:`` key."""
        if not isinstance(pattern, str):
            raise ValidationError(
                "pattern must be a string", {"pattern_type": type(pattern).__name__}
            )
        return await super().invalidate_pattern(
            self._ai_glob(pattern), operation_context
        )

    async def invalidate_by_operation(
        self, operation: str, operation_context: str = ""
    ) -> int:
        """Remove every key of exactly this operation (``ai_cache:op:<op>|*``);
        the number removed.

        Raises:
            ValidationError: ``operation`` is not a non-empty string.
            InfrastructureError: an unexpected failure.
        """
        if not isinstance(operation, str) or not operation.strip():
            raise ValidationError(
                "operation must be a non-empty string",
                {"operation": repr(operation)},
            )
        context = operation_context or f"operation_specific_{operation}"
        prefix = f"{_OP_PREFIX}{operation}|"
        try:
            count = await self._remove_namespace(
                prefix, f"{prefix}*", "manual", context
            )
        except (ValidationError, InfrastructureError):
            raise
        except Exception as exc:
            raise InfrastructureError(
                f"Failed to invalidate cache entries for operation {operation!r}: {exc}",
                {"operation": operation, "operation_context": context},
            ) from exc
        self._metric("invalidations_by_operation")[operation] += count
        return count

    async def clear(self, operation_context: str = "test_clear") -> int:
        """Remove every ``ai_cache:`` key from L1 and Redis (other keys stay);
        the number of distinct keys removed."""
        return await self._remove_namespace(
            AI_KEY_PREFIX, AI_KEY_PREFIX + "*", "clear", operation_context
        )

    async def _remove_namespace(
        self, key_prefix: str, label: str, kind: str, context: str
    ) -> int:
        """Remove every key starting with ``key_prefix`` (taken literally) from
        Redis (SCAN + UNLINK) and L1; the number of distinct keys removed."""
        start = time.perf_counter()
        names: set[str] = set()
        prefix = self.key_prefix
        try:
            removed = await self._scan_unlink(
                (prefix + key_prefix).translate(_GLOB_SPECIAL) + "*"
            )
            names.update(k[len(prefix) :] for k in removed)
        except Exception as exc:
            self._redis_failed(kind, exc)
        l1 = self.l1_cache
        if l1 is not None:
            mine = [k for k in l1.get_keys() if k.startswith(key_prefix)]
            for key in mine:
                await l1.delete(key)
            names.update(mine)
        for key in names:
            self._invalidate_reads(key)
        self._record_invalidation(label, len(names), start, kind, context)
        return len(names)

    # ------------------------------------------------------------------ callbacks

    def _ai_get_success_callback(self, key: str, value: Any) -> None:
        meta = self._key_metadata(key)
        if meta is not None and meta[2]:
            self._record_ai_cache_hit(meta[0], meta[1])

    def _ai_get_miss_callback(self, key: str) -> None:
        meta = self._key_metadata(key)
        if meta is not None and meta[2]:
            self._record_ai_cache_miss(meta[0])

    def _ai_set_success_callback(self, key: str, value: Any) -> None:
        meta = self._key_metadata(key)
        if meta is None or not meta[2]:
            return
        operation = meta[0]
        # len(str(value)) of the original renders every value; sizes of non-text
        # values are the (shallow) object size instead.
        if isinstance(value, str | bytes | bytearray):
            size = len(value)
        else:
            size = sys.getsizeof(value)
        entries: list[dict[str, Any]] = self.ai_metrics["operation_performance"]
        entries.append(
            {
                "operation": operation,
                "timestamp": time.time(),
                "data_size": size,
                "ttl": self._pending_set_ttl.get(
                    key, self.operation_ttls.get(operation, self.default_ttl)
                ),
            }
        )
        if len(entries) > _MAX_RECENT:
            del entries[: len(entries) - _MAX_RECENT]
        self._metric("cache_stores_by_operation")[operation] += 1

    def _record_ai_cache_hit(
        self, operation: str, text_tier: str = "unknown", cache_type: str = "redis"
    ) -> None:
        self.ai_metrics["cache_hits_by_operation"][operation] += 1
        self.ai_metrics["text_tier_distribution"][text_tier] += 1
        self._metric("cache_hits_by_type")[cache_type] += 1

    def _record_ai_cache_miss(
        self, operation: str, reason: str = "key_not_found"
    ) -> None:
        self.ai_metrics["cache_misses_by_operation"][operation] += 1
        self._metric("cache_miss_reasons")[reason] += 1

    def _record_operation_performance(
        self, operation_type: str, duration: float
    ) -> None:
        """One get/set of ``operation_type`` took ``duration`` seconds."""
        samples = self._operation_durations.get(operation_type)
        if samples is None:
            samples = self._operation_durations[operation_type] = deque(
                maxlen=_MAX_RECENT
            )
        samples.append(duration)
        self._metric("operation_duration_totals", lambda: defaultdict(float))[
            operation_type
        ] += duration
        self._metric("operation_count_totals")[operation_type] += 1

    def _record_cache_operation(
        self,
        operation: str,
        duration: float,
        cache_hit: bool,
        text_length: int = 0,
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        """Forward one measurement to the performance monitor (never raises)."""
        monitor = self.performance_monitor
        if monitor is None:
            return
        try:
            monitor.record_cache_operation_time(
                operation, duration, cache_hit, text_length, additional_data
            )
        except Exception as exc:
            logger.debug("Could not record %s metric: %s", operation, exc)

    def _should_promote_to_memory(self, text_tier: str, operation: str) -> bool:
        """Whether an entry of this tier/operation deserves the memory tier."""
        if text_tier == "small":
            return True
        if text_tier == "medium" and operation in (
            "sentiment",
            "summarize",
            "key_points",
            "classify",
        ):
            return True
        if text_tier == "large" and operation == "sentiment":
            return True
        hits = int(self.ai_metrics["cache_hits_by_operation"].get(operation, 0))
        return hits >= 10 and text_tier in ("small", "medium")

    # ------------------------------------------------------------------ properties

    @property
    def memory_cache(self) -> dict[str, Any]:
        """Snapshot of the L1 entries (``{}`` without L1)."""
        return self.l1_cache._cache if self.l1_cache is not None else {}

    @memory_cache.setter
    def memory_cache(self, value: Any) -> None:
        logger.warning("memory_cache cannot be assigned; use the cache methods")

    @memory_cache.deleter
    def memory_cache(self) -> None:
        if self.l1_cache is not None:
            self.l1_cache.clear()

    @property
    def memory_cache_size(self) -> int:
        return self.l1_cache.max_size if self.l1_cache is not None else 0

    @property
    def memory_cache_order(self) -> list[str]:
        """L1 keys, least recently used first."""
        return self.l1_cache._access_order if self.l1_cache is not None else []

    # ------------------------------------------------------------------ statistics

    async def get_cache_stats(self) -> dict[str, Any]:
        """``{"redis", "memory", "performance", "ai_metrics", "security"}`` (spec 10.5);
        ``redis.keys`` counts the ``ai_cache:`` keys (SCAN)."""
        redis_stats = await self._redis_status()
        if redis_stats.get("status") == "connected":
            try:
                redis_stats["keys"] = await self._count_ai_keys()
            except Exception as exc:
                redis_stats = {"status": "error", "error": str(exc)}
        l1 = self.l1_cache
        if l1 is not None:
            entries = l1.size()
            memory: dict[str, Any] = {
                "status": "active",
                "memory_cache_entries": entries,
                "memory_cache_size_limit": l1.max_size,
                "memory_cache_utilization": f"{entries}/{l1.max_size}",
            }
        else:
            memory = {
                "status": "disabled",
                "memory_cache_entries": 0,
                "memory_cache_size_limit": 0,
                "memory_cache_utilization": "0/0",
            }
        monitor = self.performance_monitor
        security = self.get_security_status()
        configuration = security.get("configuration")
        if isinstance(configuration, dict):
            configuration["tls_enabled"] = bool(
                configuration.get("tls_enabled")
            ) or self.redis_url.startswith("rediss://")
        return {
            "redis": redis_stats,
            "memory": memory,
            "performance": monitor.get_performance_stats() if monitor else {},
            "ai_metrics": self.ai_metrics,
            "security": security,
        }

    async def _count_ai_keys(self) -> int:
        redis = await self._client()
        if redis is None:
            return 0
        match = self.key_prefix.translate(_GLOB_SPECIAL) + AI_KEY_PREFIX + "*"
        if not hasattr(redis, "scan"):  # an assigned client without SCAN
            return len(await redis.keys(match))
        count = 0
        cursor: Any = 0
        while True:
            cursor, batch = await redis.scan(cursor, match=match, count=1000)
            count += len(batch)
            if int(cursor) == 0:
                return count

    def get_cache_hit_ratio(self) -> float:
        """Hit rate of ``get`` operations, percent (0.0 without data)."""
        monitor = self.performance_monitor
        return float(monitor._calculate_hit_rate()) if monitor else 0.0

    def _get_recent_avg_cache_operation_time(self) -> float:
        monitor = self.performance_monitor
        if monitor is None:
            return 0.0
        recent = list(monitor.cache_operation_times)[-10:]
        return mean(m.duration for m in recent) if recent else 0.0

    def get_performance_summary(self) -> dict[str, Any]:
        monitor = self.performance_monitor
        return {
            "hit_ratio": self.get_cache_hit_ratio(),
            "total_operations": monitor.total_operations if monitor else 0,
            "cache_hits": monitor.cache_hits if monitor else 0,
            "cache_misses": monitor.cache_misses if monitor else 0,
            "recent_avg_cache_operation_time": self._get_recent_avg_cache_operation_time(),
            "ai_operation_metrics": dict(self.ai_metrics["cache_hits_by_operation"]),
            "ai_miss_metrics": dict(self.ai_metrics["cache_misses_by_operation"]),
            "text_tier_distribution": dict(self.ai_metrics["text_tier_distribution"]),
            "recent_ai_operations": len(self.ai_metrics["operation_performance"]),
        }

    def _hit_rates_by_operation(self) -> dict[str, dict[str, Any]]:
        hits = self.ai_metrics["cache_hits_by_operation"]
        misses = self.ai_metrics["cache_misses_by_operation"]
        result: dict[str, dict[str, Any]] = {}
        for op in sorted(set(hits) | set(misses)):
            h, m = int(hits.get(op, 0)), int(misses.get(op, 0))
            total = h + m
            result[op] = {
                "hit_rate": round(h / total * 100, 2) if total else 0.0,
                "total_requests": total,
                "hits": h,
                "misses": m,
            }
        return result

    def get_ai_performance_summary(self) -> dict[str, Any]:
        """Hit rates per operation, tier distribution, key-generation stats and
        recommendations. ``overall_hit_rate`` and each ``hit_rate_by_operation``
        value are percentages (float, 2 dp), as in the original; the per-operation
        hits, misses and totals are under ``operation_hit_details``;
        ``inherited_stats`` is the monitor's ``get_performance_stats()``."""
        hits = sum(self.ai_metrics["cache_hits_by_operation"].values())
        misses = sum(self.ai_metrics["cache_misses_by_operation"].values())
        total = hits + misses
        summary: dict[str, Any] = {
            "total_operations": total,
            "overall_hit_rate": 0.0,
            "hit_rate_by_operation": {},
            "text_tier_distribution": dict(self.ai_metrics["text_tier_distribution"]),
            "key_generation_stats": {},
            "optimization_recommendations": [],
            "inherited_stats": {},
        }
        if total == 0:
            summary["message"] = "No AI cache operations recorded yet"
            return summary
        try:
            summary["overall_hit_rate"] = round(hits / total * 100, 2)
            details = self._hit_rates_by_operation()
            summary["hit_rate_by_operation"] = {
                op: rates["hit_rate"] for op, rates in details.items()
            }
            summary["operation_hit_details"] = details
            summary["key_generation_stats"] = (
                self.key_generator.get_key_generation_stats()
            )
            summary["optimization_recommendations"] = (
                self._generate_ai_optimization_recommendations()
            )
            monitor = self.performance_monitor
            summary["inherited_stats"] = (
                monitor.get_performance_stats() if monitor is not None else {}
            )
        except Exception as exc:
            summary["error"] = str(exc)
        return summary

    def get_text_tier_statistics(self) -> dict[str, Any]:
        recorded = {
            k: int(v) for k, v in self.ai_metrics["text_tier_distribution"].items()
        }
        distribution = {tier: recorded.get(tier, 0) for tier in _TIER_NAMES}
        for tier, count in recorded.items():
            distribution.setdefault(tier, count)
        present = [t for t in _TIER_NAMES if recorded.get(t, 0) > 0]
        missing = [t for t in _TIER_NAMES if t not in present]
        return {
            "tier_configuration": {
                name: self.text_size_tiers[name]
                for name in ("small", "medium", "large")
            },
            "tier_distribution": distribution,
            "tier_performance_analysis": self._analyze_tier_performance(distribution),
            "data_completeness": {
                "expected_tiers": list(_TIER_NAMES),
                "recorded_tiers": present,
                "missing_tiers": missing,
                "completeness_percentage": len(present) / len(_TIER_NAMES) * 100,
            },
        }

    def _analyze_tier_performance(self, distribution: dict[str, int]) -> dict[str, Any]:
        total = sum(distribution.values())
        analysis: dict[str, Any] = {"total_requests": total, "tiers": {}}
        for tier, count in distribution.items():
            analysis["tiers"][tier] = {
                "requests": count,
                "percentage": round(count / total * 100, 2) if total else 0.0,
            }
        if total:
            analysis["dominant_tier"] = max(distribution, key=lambda t: distribution[t])
        return analysis

    def get_operation_performance(self) -> dict[str, Any]:
        """Per-operation get/set latency (ms) with percentiles and configured TTL."""
        operations: dict[str, dict[str, Any]] = {}
        all_ms: list[float] = []
        for op, samples in sorted(self._operation_durations.items()):
            if not samples:
                continue
            ms = sorted(d * 1000.0 for d in samples)
            all_ms.extend(ms)
            operations[op] = {
                "avg_duration_ms": mean(ms),
                "min_duration_ms": ms[0],
                "max_duration_ms": ms[-1],
                "percentiles": {
                    "p50": _percentile(ms, 0.50),
                    "p95": _percentile(ms, 0.95),
                    "p99": _percentile(ms, 0.99),
                },
                "total_operations": int(
                    self.ai_metrics.get("operation_count_totals", {}).get(op, len(ms))
                ),
                "configured_ttl": self.operation_ttls.get(op, self.default_ttl),
                "sample_count": len(ms),
            }
        fastest = min(
            operations, key=lambda o: operations[o]["avg_duration_ms"], default=None
        )
        slowest = max(
            operations, key=lambda o: operations[o]["avg_duration_ms"], default=None
        )
        return {
            "operations": operations,
            "summary": {
                "total_operations_measured": len(all_ms),
                "total_operation_types": len(operations),
                "overall_avg_duration_ms": mean(all_ms) if all_ms else 0.0,
                "fastest_operation": fastest,
                "slowest_operation": slowest,
            },
        }

    def _generate_ai_optimization_recommendations(self) -> list[dict[str, Any]]:
        recs: list[dict[str, Any]] = []

        def add(kind: str, priority: str, title: str, description: str, action: str,
                impact: str, metrics: dict[str, Any]) -> None:  # fmt: skip
            recs.append(
                {
                    "type": kind,
                    "priority": priority,
                    "title": title,
                    "description": description,
                    "action": action,
                    "estimated_impact": impact,
                    "metrics": metrics,
                }
            )

        for op, rates in self._hit_rates_by_operation().items():
            if rates["total_requests"] < 10:
                continue
            if rates["hit_rate"] < 30:
                add("hit_rate", "high", f"Low hit rate for '{op}'",
                    f"'{op}' hits {rates['hit_rate']}% of {rates['total_requests']} requests",
                    f"Increase the TTL of '{op}' or review its key options",
                    "Fewer AI calls for this operation", rates)  # fmt: skip
            elif rates["hit_rate"] > 90:
                add("hit_rate", "low", f"Very high hit rate for '{op}'",
                    f"'{op}' hits {rates['hit_rate']}% of requests",
                    f"Consider a longer TTL for '{op}'",
                    "Slightly fewer AI calls", rates)  # fmt: skip

        tiers = {
            k: int(v) for k, v in self.ai_metrics["text_tier_distribution"].items()
        }
        tier_total = sum(tiers.values())
        if tier_total:
            xlarge = tiers.get("xlarge", 0) / tier_total
            small = tiers.get("small", 0) / tier_total
            if xlarge > 0.2:
                add("text_tier", "medium", "Many very large texts",
                    f"{xlarge:.0%} of hits are xlarge texts",
                    "Raise compression or lower text_hash_threshold",
                    "Less memory and network per entry", tiers)  # fmt: skip
            if small < 0.1:
                add("text_tier", "low", "Few small texts",
                    f"{small:.0%} of hits are small texts",
                    "Review text_size_tiers for this workload",
                    "Better tier statistics", tiers)  # fmt: skip

        l1 = self.l1_cache
        lookups = sum(self.ai_metrics["cache_hits_by_operation"].values()) + sum(
            self.ai_metrics["cache_misses_by_operation"].values()
        )
        if l1 is not None and lookups >= 10:
            used = l1.size() / l1.max_size
            metrics = {"entries": l1.size(), "max_size": l1.max_size}
            if used > 0.9:
                add("memory", "high", "Memory tier nearly full",
                    f"L1 is {used:.0%} full", "Increase l1_cache_size",
                    "Higher L1 hit rate", metrics)  # fmt: skip
            elif used < 0.3:
                add("memory", "low", "Memory tier mostly empty",
                    f"L1 is {used:.0%} full", "Decrease l1_cache_size",
                    "Less process memory", metrics)  # fmt: skip

        for op, samples in self._operation_durations.items():
            if len(samples) < 5:
                continue
            avg_ms = sum(samples) / len(samples) * 1000.0
            ttl = self.operation_ttls.get(op, self.default_ttl)
            if avg_ms < 100 and ttl < 7200:
                add("ttl", "medium", f"Short TTL for fast operation '{op}'",
                    f"'{op}' averages {avg_ms:.1f} ms with a {ttl} s TTL",
                    f"Raise operation_ttls['{op}']", "Fewer recomputations",
                    {"avg_duration_ms": avg_ms, "ttl": ttl})  # fmt: skip

        monitor = self.performance_monitor
        if monitor is not None:
            ratios = [m.compression_ratio for m in monitor.compression_ratios]
            if len(ratios) > 10 and sum(ratios) / len(ratios) > 0.8:
                avg = sum(ratios) / len(ratios)
                add("compression", "medium", "Compression is ineffective",
                    f"Average compression ratio {avg:.2f}",
                    "Raise compression_threshold", "Less CPU per write",
                    {"avg_compression_ratio": avg, "samples": len(ratios)})  # fmt: skip

        recs.sort(key=lambda r: _PRIORITY[r["priority"]])
        return recs

    # ------------------------------------------------------------------ AI calls
    # The seeds' cache_response / get_cached_response (spec 10.3 records their
    # removal from the original); metadata in aicache.ai_responses.

    async def cache_response(
        self,
        text: str,
        operation: str,
        options: dict[str, Any] | None,
        response: Any,
        question: str | None = None,
    ) -> None:
        """Store an AI response with ``cached_at``, ``cache_hit``, ``operation``,
        ``text_length`` and ``text_tier``, for ``operation_ttls[operation]`` seconds
        (else ``default_ttl``).

        Raises:
            ValidationError: text, operation, options or question of a wrong type.
        """
        key = response_key(self, text, operation, options, question)
        entry = build_entry(response, text, operation, self.text_size_tiers)
        await self.set(key, entry, self.operation_ttls.get(operation, self.default_ttl))
        self._retrievals().forget(key)

    async def get_cached_response(
        self,
        text: str,
        operation: str,
        options: dict[str, Any] | None = None,
        question: str | None = None,
    ) -> dict[str, Any] | None:
        """The response stored by ``cache_response`` with ``cache_hit`` (True),
        ``retrieved_at`` and ``retrieval_count`` added, or None on a miss."""
        key = response_key(self, text, operation, options, question)
        value = await self.get(key)
        if value is None:
            return None
        result: dict[str, Any] | None = mark_retrieved(value, key, self._retrievals())
        return result

    def _retrievals(self) -> RetrievalCounter:
        counter: RetrievalCounter | None = self.__dict__.get("_retrieval_counter")
        if counter is None:
            counter = self.__dict__["_retrieval_counter"] = RetrievalCounter()
        return counter
