"""Cache configuration: ``AICacheConfig``, ``CacheConfig``, ``CacheConfigBuilder``,
``EnvironmentPresets`` and the config-level ``ValidationResult`` (spec 13.1).

``CacheConfig`` is the package-level configuration class (``aicache.CacheConfig``); it is
what presets convert to and what :func:`aicache.settings.resolve_cache_config` returns.

Differences from the original template (docs/migration-config.md has the same list):

1. ``CacheConfigBuilder.build()`` returns an independent deep copy; building again or
   calling more builder methods never changes a configuration already built.
2. ``CacheConfigBuilder.with_ai_features()`` also sets ``enable_ai_cache=True``.
3. ``CacheConfig.to_dict()`` keeps every original key (``ai_config`` stays a nested dict
   or None) and, only when ``enable_ai_cache`` is True, adds the top-level keys
   ``text_hash_threshold``, ``operation_ttls``, ``text_size_tiers`` and
   ``hash_algorithm`` taken from ``ai_config`` (``AICacheConfig()`` defaults when it is
   None), so a factory can hand a preset's AI settings to the cache. With
   ``enable_ai_cache`` False those keys are absent and a web preset builds a web cache.
4. New keyword-only ``CacheConfig`` fields, so an application needs nothing but
   environment variables: ``encryption_key`` (REDIS_ENCRYPTION_KEY, one or several
   comma-separated Fernet keys, first one encrypts), ``redis_username``
   (REDIS_ACL_USERNAME), ``tls_ca_path``, ``verify_certificates``,
   ``insecure_allow_plaintext``, ``connection_timeout``, ``max_retries``,
   ``retry_delay`` (None = transport default). They appear in ``to_dict()``.
   ``security_kwargs()`` is new: the ``SecurityConfig`` keyword arguments, or None.
   ``redis_password`` and ``encryption_key`` are hidden from ``repr()``.
5. ``validate()`` also checks types (a bool is not an integer, a string is not a
   number) and the new fields, accepts ``unix://`` URLs besides ``redis://`` and
   ``rediss://``, and records ``{"field", "value", "allowed"}`` for every error in
   ``ValidationResult.details``; ``build()`` puts the first error's field/value/allowed
   in the ``ValidationError`` context next to ``errors``/``warnings``. Ranges are the
   original ones (ttl > 0, memory > 0, level 1..9, threshold >= 0, ...).
6. ``CacheConfigBuilder.from_file()`` raises ``ConfigurationError`` listing the valid keys
   for an unknown key (the original ignored it), reports the line/column of invalid
   JSON, accepts the flat AI keys that ``to_dict()`` writes (applied to ``ai_config``) and
   ``l1_cache_size`` as an alias of ``memory_cache_size``; flat AI keys on a config whose
   ``enable_ai_cache`` stays False are an error instead of being silently unused.
7. Settings (``aicache.settings.resolve_cache_config``, the role of
   ``Settings.get_cache_config``): ``CACHE_PRESET=testing`` (alias of development) and
   ``minimal`` are accepted; preset and variable names are case-insensitive; invalid
   values raise ``ConfigurationError`` (variable, value, allowed) instead of falling back
   to the ``simple`` preset; unknown ``CACHE_CUSTOM_CONFIG`` keys and invalid JSON are
   errors (with line/column); ``CACHE_CUSTOM_CONFIG`` may set the AI keys (merged into
   the preset's dicts); ``ENABLE_AI_CACHE=true`` on a non-AI preset creates an
   ``ai_config`` with the preset defaults (the original created none); REDIS_PASSWORD
   (used for the connection), REDIS_ENCRYPTION_KEY and the REDIS_TLS_* / REDIS_ACL_* /
   REDIS_CONNECTION_TIMEOUT / REDIS_MAX_RETRIES / REDIS_RETRY_DELAY variables reach the
   config; a ``rediss://`` CACHE_REDIS_URL or a TLS file path turns ``use_tls`` on, and
   contradictions (REDIS_TLS_ENABLED=false with a path or ``rediss://``, REDIS_AUTH !=
   REDIS_PASSWORD, ...) are errors; legacy ``CACHE_*`` variables are reported with a
   warning; empty values count as unset. Besides ``validate()``, the cache
   constructors' ranges are checked (default_ttl 1..86400, memory_cache_size 1..10000,
   and with a Redis URL compression_threshold 100..100000), so a value the caches would
   reject fails at resolution, naming the field, not when the cache is built (21.5).
8. Preset recommendation: ``"ai"`` selects an AI preset only as a token (start/end or
   separated by ``-``, ``_``, ``.``, space), so "main", "domain", "maintenance" no
   longer pick ``ai-*`` presets. ``CACHE_PRESET=testing`` is honoured by auto-detection.
9. ``cache_presets.CacheConfig.to_dict()``: a failing ``SecurityConfig`` construction
   raises instead of silently yielding ``security_config=None`` (``validate()`` reports
   it as an error); the ``SecurityConfig`` gets the config's ``connection_timeout``.
10. ``AIResponseCacheConfig``: ``from_env`` raises on invalid numbers/booleans/JSON and on
    an invalid result (the original logged and ignored them); ``merge_with`` rejects
    unknown keys; ``merge`` has no test-specific heuristics; the L1 auto-enable special
    case is gone (``enable_l1_cache=False`` with a size is reported by ``validate``);
    ``performance_monitor`` is excluded from equality.
11. ``cache_validator``: a bool is not accepted where an integer is expected; the
    password-without-TLS warning also looks inside ``security_config``;
    ``cache_presets.CacheConfig.validate()`` warns (never errs) about
    ``max_connections`` and ``connection_timeout`` (absent from ``to_dict()``).
12. ``aicache.environment.get_environment_info`` takes optional ``environ`` and
    ``base_path`` so detection can be run against a given mapping and directory; the
    recommendation's auto-detection accepts ``environ=`` likewise.
"""

import copy
import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from aicache import cache_presets
from aicache.config_model import (
    _AI_FIELD_NAMES,
    _CONFIG_FIELD_NAMES,
    AI_FLAT_KEYS,
    AICacheConfig,
    CacheConfig,
    ValidationResult,
    encryption_key_parts,
)
from aicache.exceptions import ConfigurationError, ValidationError

__all__ = [
    "AI_FLAT_KEYS",
    "AICacheConfig",
    "CacheConfig",
    "CacheConfigBuilder",
    "EnvironmentPresets",
    "ValidationResult",
    "apply_config_overrides",
    "encryption_key_parts",
    "valid_override_keys",
]

# The shared dataclasses are defined in aicache.config_model (so that config and
# cache_presets do not import each other) but belong to this module, as in the
# original: their __module__ says so, which also keeps pickles and reprs stable.
for _cls in (ValidationResult, AICacheConfig, CacheConfig):
    _cls.__module__ = __name__
del _cls

logger = logging.getLogger(__name__)

_BUILDER_ENVIRONMENTS: dict[str, tuple[int, int, int, int]] = {
    # environment: (default_ttl, memory_cache_size, compression_threshold, level)
    "development": (1800, 50, 2000, 4),
    "testing": (60, 25, 1000, 1),
    "production": (7200, 200, 1000, 6),
}


def valid_override_keys() -> list[str]:
    """Keys :func:`apply_config_overrides` accepts, sorted."""
    return sorted({*_CONFIG_FIELD_NAMES, *_AI_FIELD_NAMES, "l1_cache_size"})


def apply_config_overrides(
    config: CacheConfig,
    overrides: Mapping[str, Any],
    *,
    source: str,
    merge_dicts: bool = False,
) -> None:
    """Apply ``overrides`` to ``config`` in place.

    Accepts every public ``CacheConfig`` field, ``ai_config`` as a dict (applied key by
    key), the AI keys at top level (applied to ``ai_config``, created if needed) and
    ``l1_cache_size`` (alias of ``memory_cache_size``). Unknown keys raise
    ``ConfigurationError`` naming ``source`` and listing the valid keys. With
    ``merge_dicts`` the dict-valued ``text_size_tiers``/``operation_ttls`` update the
    current dicts instead of replacing them. Values are not checked here: call
    ``config.validate()`` afterwards.
    """
    if not isinstance(overrides, Mapping):
        raise ConfigurationError(
            f"{source} must be a JSON object of configuration keys, "
            f"got {type(overrides).__name__}",
            context={
                "field": source,
                "value": overrides,
                "allowed": "a JSON object",
                "source": source,
            },
        )
    valid = valid_override_keys()
    for key, value in overrides.items():
        if key not in valid:
            raise ConfigurationError(
                f"Unknown configuration key '{key}' in {source}. Valid keys: {valid}",
                context={
                    "field": key,
                    "value": value,
                    "allowed": valid,
                    "source": source,
                },
            )
    both_sizes = "l1_cache_size" in overrides and "memory_cache_size" in overrides
    if both_sizes and overrides["l1_cache_size"] != overrides["memory_cache_size"]:
        raise ConfigurationError(
            f"{source} sets both l1_cache_size ({overrides['l1_cache_size']!r}) and "
            f"memory_cache_size ({overrides['memory_cache_size']!r}); they are the "
            "same setting",
            context={
                "field": "l1_cache_size",
                "value": overrides["l1_cache_size"],
                "allowed": overrides["memory_cache_size"],
                "source": source,
            },
        )

    # Work on a copy so a failure half-way leaves ``config`` untouched.
    work = copy.deepcopy(config)
    ai_keys_given: list[str] = []
    if "ai_config" in overrides:
        nested = overrides["ai_config"]
        if nested is None or isinstance(nested, AICacheConfig):
            work.ai_config = copy.deepcopy(nested)
        elif isinstance(nested, Mapping):
            for key, value in nested.items():
                if key not in _AI_FIELD_NAMES:
                    raise ConfigurationError(
                        f"Unknown key 'ai_config.{key}' in {source}. "
                        f"Valid keys: {list(_AI_FIELD_NAMES)}",
                        context={
                            "field": f"ai_config.{key}",
                            "value": value,
                            "allowed": list(_AI_FIELD_NAMES),
                            "source": source,
                        },
                    )
            ai = work.ai_config if work.ai_config is not None else AICacheConfig()
            for key, value in nested.items():
                _set_ai_value(ai, key, value, merge_dicts)
            work.ai_config = ai
        else:
            raise ConfigurationError(
                f"ai_config in {source} must be an object or null, got {nested!r}",
                context={
                    "field": "ai_config",
                    "value": nested,
                    "allowed": "an object or null",
                    "source": source,
                },
            )

    for key, value in overrides.items():
        if key == "ai_config":
            continue
        if key == "l1_cache_size":
            work.memory_cache_size = value
        elif key in _CONFIG_FIELD_NAMES:
            setattr(work, key, copy.deepcopy(value))
        else:  # an AI key at top level
            ai_keys_given.append(key)
            if work.ai_config is None:
                work.ai_config = AICacheConfig()
            _set_ai_value(work.ai_config, key, value, merge_dicts)

    if ai_keys_given and work.enable_ai_cache is not True:
        raise ConfigurationError(
            f"{source} sets AI settings {ai_keys_given} but enable_ai_cache is false; "
            "set enable_ai_cache (or ENABLE_AI_CACHE=true, or an ai-* preset)",
            context={
                "field": ai_keys_given[0],
                "value": overrides[ai_keys_given[0]],
                "allowed": "only with enable_ai_cache=true",
                "source": source,
            },
        )
    for f in dataclasses.fields(CacheConfig):
        setattr(config, f.name, getattr(work, f.name))


def _set_ai_value(ai: AICacheConfig, key: str, value: Any, merge_dicts: bool) -> None:
    if (
        merge_dicts
        and key in ("text_size_tiers", "operation_ttls")
        and isinstance(value, Mapping)
        and isinstance(getattr(ai, key), dict)
    ):
        merged = dict(getattr(ai, key))
        merged.update(value)
        setattr(ai, key, merged)
    else:
        setattr(ai, key, copy.deepcopy(value))


# ---------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------


class CacheConfigBuilder:
    """Fluent builder; every method returns the builder."""

    def __init__(self) -> None:
        self._config = CacheConfig()

    def for_environment(self, environment: str) -> Self:
        if environment not in _BUILDER_ENVIRONMENTS:
            allowed = list(_BUILDER_ENVIRONMENTS)
            raise ValidationError(
                f"Invalid environment: {environment}. Must be one of: {allowed}",
                context={
                    "provided_environment": environment,
                    "valid_environments": allowed,
                    "field": "environment",
                    "value": environment,
                    "allowed": allowed,
                },
            )
        ttl, memory, threshold, level = _BUILDER_ENVIRONMENTS[environment]
        self._config.environment = environment
        self._config.default_ttl = ttl
        self._config.memory_cache_size = memory
        self._config.compression_threshold = threshold
        self._config.compression_level = level
        return self

    def with_redis(
        self, redis_url: str, password: str | None = None, use_tls: bool = False
    ) -> Self:
        self._config.redis_url = redis_url
        self._config.redis_password = password
        self._config.use_tls = use_tls
        return self

    def with_security(
        self, tls_cert_path: str | None = None, tls_key_path: str | None = None
    ) -> Self:
        self._config.tls_cert_path = tls_cert_path
        self._config.tls_key_path = tls_key_path
        if tls_cert_path or tls_key_path:
            self._config.use_tls = True
        return self

    def with_compression(self, threshold: int = 1000, level: int = 6) -> Self:
        self._config.compression_threshold = threshold
        self._config.compression_level = level
        return self

    def with_memory_cache(self, size: int) -> Self:
        self._config.memory_cache_size = size
        return self

    def with_ai_features(self, **ai_options: Any) -> Self:
        """Set AI options and enable AI caching (the original left it disabled)."""
        allowed = list(_AI_FIELD_NAMES)
        unknown = [key for key in ai_options if key not in allowed]
        if unknown:
            raise ValidationError(
                f"Unknown AI configuration options: {unknown}. Allowed options: "
                f"{allowed}",
                context={
                    "unknown_options": unknown,
                    "valid_options": allowed,
                    "field": unknown[0],
                    "value": ai_options[unknown[0]],
                    "allowed": allowed,
                    "invalid_options": unknown,
                },
            )
        if self._config.ai_config is None:
            self._config.ai_config = AICacheConfig()
        for key, value in ai_options.items():
            setattr(self._config.ai_config, key, copy.deepcopy(value))
        self._config.enable_ai_cache = True
        return self

    def from_file(self, file_path: str | Path) -> Self:
        """Load a JSON file written by :meth:`save_to_file` (or by hand)."""
        path = Path(file_path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(
                f"Configuration file not found: {path}",
                context={"file_path": str(path)},
            ) from None
        except OSError as exc:
            raise ConfigurationError(
                f"Failed to load configuration from file: {exc}",
                context={"file_path": str(path), "error_type": type(exc).__name__},
            ) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"Invalid JSON in configuration file: {exc} (file {path})",
                context={
                    "file_path": str(path),
                    "json_error": str(exc),
                    "line": exc.lineno,
                    "column": exc.colno,
                    "position": exc.pos,
                },
            ) from exc
        apply_config_overrides(self._config, data, source=str(path))
        return self

    def from_environment(self) -> Self:
        logger.warning(
            "CacheConfigBuilder.from_environment() is deprecated and does nothing; "
            "use aicache.settings.resolve_cache_config()"
        )
        return self

    def validate(self) -> ValidationResult:
        return self._config.validate()

    def build(self) -> CacheConfig:
        """Validate and return an independent copy of the configuration."""
        result = self._config.validate()
        if not result.is_valid:
            raise ValidationError(
                "Configuration validation failed: " + "; ".join(result.errors),
                context=result.error_context(),
            )
        for warning in result.warnings:
            logger.warning("Configuration warning: %s", warning)
        return copy.deepcopy(self._config)

    def to_dict(self) -> dict[str, Any]:
        return self._config.to_dict()

    def save_to_file(self, file_path: str | Path, create_dirs: bool = True) -> None:
        path = Path(file_path)
        try:
            if create_dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps(self._config.to_dict(), indent=2), encoding="utf-8"
            )
        except (OSError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"Failed to save configuration to file: {exc} (file {path})",
                context={"file_path": str(path), "error_type": type(exc).__name__},
            ) from exc


# ---------------------------------------------------------------------------------------
# EnvironmentPresets
# ---------------------------------------------------------------------------------------


def _preset_config(name: str) -> CacheConfig:
    return cache_presets.cache_preset_manager.get_preset(name).to_cache_config()


class EnvironmentPresets:
    """Static shortcuts to the presets of :mod:`aicache.cache_presets`."""

    @staticmethod
    def disabled() -> CacheConfig:
        return _preset_config("disabled")

    @staticmethod
    def minimal() -> CacheConfig:
        return _preset_config("minimal")

    @staticmethod
    def simple() -> CacheConfig:
        return _preset_config("simple")

    @staticmethod
    def development() -> CacheConfig:
        return _preset_config("development")

    @staticmethod
    def testing() -> CacheConfig:
        """The *development* preset (there is no separate testing preset)."""
        return _preset_config("development")

    @staticmethod
    def production() -> CacheConfig:
        return _preset_config("production")

    @staticmethod
    def ai_development() -> CacheConfig:
        return _preset_config("ai-development")

    @staticmethod
    def ai_production() -> CacheConfig:
        return _preset_config("ai-production")

    @staticmethod
    def get_preset_names() -> list[str]:
        return cache_presets.cache_preset_manager.list_presets()

    @staticmethod
    def get_preset_details(preset_name: str) -> dict[str, Any]:
        return cache_presets.cache_preset_manager.get_preset_details(preset_name)

    @staticmethod
    def recommend_preset(environment: str | None = None) -> str:
        return cache_presets.cache_preset_manager.recommend_preset(environment)
