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

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeGuard

from aicache.exceptions import ConfigurationError, ValidationError
from aicache.redis_url import redact_redis_url

__all__ = [
    "AI_FLAT_KEYS",
    "AICacheConfig",
    "CacheConfig",
    "CacheConfigBuilder",
    "EnvironmentPresets",
    "ValidationResult",
    "apply_config_overrides",
    "valid_override_keys",
]

logger = logging.getLogger(__name__)

#: AI keys ``CacheConfig.to_dict()`` adds at top level when ``enable_ai_cache`` is True.
AI_FLAT_KEYS: tuple[str, ...] = (
    "text_hash_threshold",
    "operation_ttls",
    "text_size_tiers",
    "hash_algorithm",
)

_URL_SCHEMES = ("redis://", "rediss://", "unix://")
_BUILDER_ENVIRONMENTS: dict[str, tuple[int, int, int, int]] = {
    # environment: (default_ttl, memory_cache_size, compression_threshold, level)
    "development": (1800, 50, 2000, 4),
    "testing": (60, 25, 1000, 1),
    "production": (7200, 200, 1000, 6),
}


# ---------------------------------------------------------------------------------------
# Validation result (exported at package level as ConfigValidationResult)
# ---------------------------------------------------------------------------------------


@dataclass
class ValidationResult:
    """Outcome of ``CacheConfig.validate()`` / ``AICacheConfig.validate()``.

    ``details`` (an addition) holds ``{"field", "value", "allowed"}`` for each error that
    concerns one field, in the order of ``errors``.
    """

    is_valid: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)

    def add_error(
        self,
        message: str,
        *,
        field_name: str | None = None,
        value: Any = None,
        allowed: Any = None,
    ) -> None:
        self.errors.append(message)
        self.is_valid = False
        if field_name is not None:
            self.details.append(
                {"field": field_name, "value": value, "allowed": allowed}
            )

    def add_warning(self, message: str) -> None:
        self.warnings.append(message)

    def merge(self, other: ValidationResult) -> None:
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)
        self.details.extend(other.details)
        if not other.is_valid:
            self.is_valid = False

    def error_context(self) -> dict[str, Any]:
        """Context for an exception: all messages plus the first error's field."""
        context: dict[str, Any] = {
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }
        if self.details:
            context.update(self.details[0])
            context["details"] = [dict(d) for d in self.details]
        return context


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(
    result: ValidationResult,
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    headline: str | None = None,
) -> None:
    """Record an error unless ``value`` is an int within [minimum, maximum].

    ``headline`` is the original's message for this field ("default_ttl must be
    positive"); it starts the message so code matching on it keeps working.
    """
    if minimum is not None and maximum is not None:
        allowed = f"an integer between {minimum} and {maximum}"
    elif minimum is not None:
        allowed = f"an integer >= {minimum}"
    elif maximum is not None:
        allowed = f"an integer <= {maximum}"
    else:
        allowed = "an integer"
    ok = _is_int(value)
    if ok and minimum is not None and value < minimum:
        ok = False
    if ok and maximum is not None and value > maximum:
        ok = False
    if not ok:
        message = (
            f"{headline} ({allowed}), got {value!r}"
            if headline is not None
            else f"{name} must be {allowed}, got {value!r}"
        )
        result.add_error(
            message,
            field_name=name,
            value=value,
            allowed=allowed,
        )


def _check_type(
    result: ValidationResult, name: str, value: Any, kind: type, what: str
) -> bool:
    # bool is a subclass of int: only accept it where a bool is wanted
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return True
    result.add_error(
        f"{name} must be {what}, got {value!r}",
        field_name=name,
        value=value,
        allowed=what,
    )
    return False


def _check_optional_str(result: ValidationResult, name: str, value: Any) -> None:
    if value is not None:
        _check_type(result, name, value, str, "a string or None")


def _check_optional_number(
    result: ValidationResult, name: str, value: Any, *, strictly_positive: bool
) -> None:
    if value is None:
        return
    allowed = "a number > 0 or None" if strictly_positive else "a number >= 0 or None"
    bad = not _is_number(value) or (value <= 0 if strictly_positive else value < 0)
    if bad:
        result.add_error(
            f"{name} must be {allowed}, got {value!r}",
            field_name=name,
            value=value,
            allowed=allowed,
        )


def encryption_key_parts(value: str) -> list[str]:
    """Split REDIS_ENCRYPTION_KEY-style text into its comma-separated keys."""
    return [part.strip() for part in value.split(",")]


# ---------------------------------------------------------------------------------------
# AICacheConfig
# ---------------------------------------------------------------------------------------


def _default_tiers() -> dict[str, int]:
    return {"small": 1000, "medium": 10000, "large": 100000}


def _default_operation_ttls() -> dict[str, int]:
    return {
        "summarize": 7200,
        "sentiment": 3600,
        "key_points": 5400,
        "questions": 4800,
        "qa": 3600,
    }


@dataclass
class AICacheConfig:
    """AI-specific settings nested in :class:`CacheConfig` (``ai_config``)."""

    text_hash_threshold: int = 1000
    hash_algorithm: str = "sha256"
    text_size_tiers: dict[str, int] = field(default_factory=_default_tiers)
    operation_ttls: dict[str, int] = field(default_factory=_default_operation_ttls)
    enable_smart_promotion: bool = True
    max_text_length: int = 100000

    def validate(self) -> ValidationResult:
        result = ValidationResult(is_valid=True)
        _check_int(
            result,
            "text_hash_threshold",
            self.text_hash_threshold,
            minimum=1,
            headline="text_hash_threshold must be positive",
        )
        if _check_type(
            result,
            "text_size_tiers",
            self.text_size_tiers,
            dict,
            "a dict of tier: size",
        ):
            for tier, size in self.text_size_tiers.items():
                _check_int(result, f"text_size_tiers['{tier}']", size, minimum=1)
            sizes = list(self.text_size_tiers.values())
            if all(_is_int(s) for s in sizes) and sizes != sorted(sizes):
                result.add_warning(
                    "text_size_tiers values should be in ascending order"
                )
        if _check_type(
            result,
            "operation_ttls",
            self.operation_ttls,
            dict,
            "a dict of operation: ttl",
        ):
            for operation, ttl in self.operation_ttls.items():
                name = f"operation_ttls['{operation}']"
                _check_int(result, name, ttl, minimum=1)
                if _is_int(ttl) and ttl > 604800:
                    result.add_warning(f"{name} is very long (>1 week)")
        if _check_type(
            result, "hash_algorithm", self.hash_algorithm, str, "a hashlib name"
        ):
            try:
                hashlib.new(self.hash_algorithm)
            except (ValueError, TypeError):
                result.add_error(
                    f"hash_algorithm '{self.hash_algorithm}' is not supported",
                    field_name="hash_algorithm",
                    value=self.hash_algorithm,
                    allowed=sorted(hashlib.algorithms_available),
                )
        _check_type(
            result,
            "enable_smart_promotion",
            self.enable_smart_promotion,
            bool,
            "a boolean",
        )
        _check_int(
            result,
            "max_text_length",
            self.max_text_length,
            minimum=1,
            headline="max_text_length must be positive",
        )
        return result


_AI_FIELD_NAMES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(AICacheConfig)
)


# ---------------------------------------------------------------------------------------
# CacheConfig
# ---------------------------------------------------------------------------------------


@dataclass
class CacheConfig:
    """Complete cache configuration (package-level ``CacheConfig``).

    The first thirteen fields are the original ones, in the original order. Fields after
    them are keyword-only additions (see the module docstring, item 4).
    """

    redis_url: str | None = None
    redis_password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    tls_cert_path: str | None = None
    tls_key_path: str | None = None
    default_ttl: int = 3600
    memory_cache_size: int = 100
    compression_threshold: int = 1000
    compression_level: int = 6
    environment: str = "development"
    preset_name: str = ""
    ai_config: AICacheConfig | None = None
    enable_ai_cache: bool = False
    _from_env: bool = field(default=False, init=False, repr=False)
    _: KW_ONLY
    encryption_key: str | None = field(default=None, repr=False)
    redis_username: str | None = None
    tls_ca_path: str | None = None
    verify_certificates: bool = True
    insecure_allow_plaintext: bool = False
    connection_timeout: float | None = None
    max_retries: int | None = None
    retry_delay: float | None = None

    def __post_init__(self) -> None:
        if self._from_env:
            self._load_from_environment()

    def __repr__(self) -> str:
        # The dataclass repr with the URL's password replaced by ***.
        shown = []
        for f in fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name == "redis_url" and isinstance(value, str):
                value = redact_redis_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- deprecated original API ----------------------------------------------------

    def _load_from_environment(self) -> None:
        logger.warning(
            "CacheConfig._load_from_environment() is deprecated and does nothing; "
            "use aicache.settings.resolve_cache_config()"
        )

    def _load_ai_config_from_environment(self) -> None:
        logger.warning(
            "CacheConfig._load_ai_config_from_environment() is deprecated and does "
            "nothing; use aicache.settings.resolve_cache_config()"
        )

    @staticmethod
    def _parse_bool(value: str) -> bool:
        """The original lenient parser: true for true/1/yes/on, false otherwise."""
        return value.lower() in ("true", "1", "yes", "on")

    # -- validation ------------------------------------------------------------------

    def validate(self) -> ValidationResult:
        result = ValidationResult(is_valid=True)
        if self.redis_url is not None and (
            not isinstance(self.redis_url, str)
            or not self.redis_url.startswith(_URL_SCHEMES)
        ):
            allowed = "a URL starting with redis://, rediss:// or unix://"
            shown: Any = self.redis_url
            if isinstance(shown, str) and "@" in shown:  # may hold a password
                shown = redact_redis_url(shown)
            result.add_error(
                "redis_url must start with 'redis://' or 'rediss://' "
                f"(unix:// is also accepted), got {shown!r}",
                field_name="redis_url",
                value=shown,
                allowed=allowed,
            )
        # The original's messages start each error (code and tests match on them).
        _check_int(
            result,
            "default_ttl",
            self.default_ttl,
            minimum=1,
            headline="default_ttl must be positive",
        )
        _check_int(
            result,
            "memory_cache_size",
            self.memory_cache_size,
            minimum=1,
            headline="memory_cache_size must be positive",
        )
        _check_int(
            result,
            "compression_level",
            self.compression_level,
            minimum=1,
            maximum=9,
            headline="compression_level must be between 1 and 9",
        )
        _check_int(
            result,
            "compression_threshold",
            self.compression_threshold,
            minimum=0,
            headline="compression_threshold must be non-negative",
        )
        for name in ("use_tls", "enable_ai_cache", "verify_certificates"):
            _check_type(result, name, getattr(self, name), bool, "a boolean")
        _check_type(
            result,
            "insecure_allow_plaintext",
            self.insecure_allow_plaintext,
            bool,
            "a boolean",
        )
        _check_type(result, "environment", self.environment, str, "a string")
        _check_type(result, "preset_name", self.preset_name, str, "a string")
        for name in ("redis_password", "tls_cert_path", "tls_key_path", "tls_ca_path"):
            _check_optional_str(result, name, getattr(self, name))
        _check_optional_str(result, "redis_username", self.redis_username)
        self._validate_security(result)
        if self.ai_config is not None:
            if isinstance(self.ai_config, AICacheConfig):
                result.merge(self.ai_config.validate())
            else:
                _check_type(
                    result,
                    "ai_config",
                    self.ai_config,
                    AICacheConfig,
                    "an AICacheConfig",
                )
        return result

    def _validate_security(self, result: ValidationResult) -> None:
        if self.encryption_key is not None:
            allowed = "one or more comma-separated Fernet keys, none empty"
            if not isinstance(self.encryption_key, str) or not all(
                encryption_key_parts(self.encryption_key)
            ):
                result.add_error(
                    f"encryption_key must be {allowed}",
                    field_name="encryption_key",
                    value="<redacted>",
                    allowed=allowed,
                )
        if self.redis_username and not self.redis_password:
            allowed = "a redis_password when redis_username is set"
            result.add_error(
                "redis_username requires redis_password (ACL authentication)",
                field_name="redis_username",
                value=self.redis_username,
                allowed=allowed,
            )
        _check_optional_number(
            result,
            "connection_timeout",
            self.connection_timeout,
            strictly_positive=True,
        )
        _check_optional_number(
            result, "retry_delay", self.retry_delay, strictly_positive=False
        )
        if self.max_retries is not None:
            _check_int(result, "max_retries", self.max_retries, minimum=0)
        if self.use_tls is True:
            for label, name in (
                ("TLS certificate file", "tls_cert_path"),
                ("TLS key file", "tls_key_path"),
                ("TLS CA file", "tls_ca_path"),
            ):
                path = getattr(self, name)
                if isinstance(path, str) and path and not Path(path).exists():
                    message = f"{label} not found: {path}"
                    if self.environment == "production":
                        result.add_error(
                            message,
                            field_name=name,
                            value=path,
                            allowed="an existing file",
                        )
                    else:
                        result.add_warning(message)

    # -- export ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict`` minus ``_from_env``, plus flat AI keys (see item 3)."""
        data = dataclasses.asdict(self)
        data.pop("_from_env", None)
        if self.enable_ai_cache:
            ai = (
                self.ai_config
                if isinstance(self.ai_config, AICacheConfig)
                else AICacheConfig()
            )
            for key in AI_FLAT_KEYS:
                data[key] = copy.deepcopy(getattr(ai, key))
        return data

    def security_kwargs(self) -> dict[str, Any] | None:
        """Keyword arguments for ``aicache.security.SecurityConfig``, or None when no
        security-related field is set."""
        kwargs: dict[str, Any] = {}
        if self.redis_username:
            kwargs["acl_username"] = self.redis_username
            kwargs["acl_password"] = self.redis_password
        elif self.redis_password:
            kwargs["redis_auth"] = self.redis_password
        if self.use_tls:
            kwargs["use_tls"] = True
            kwargs["verify_certificates"] = self.verify_certificates
            for key in ("tls_cert_path", "tls_key_path", "tls_ca_path"):
                value = getattr(self, key)
                if value:
                    kwargs[key] = value
        if self.connection_timeout is not None:
            kwargs["connection_timeout"] = self.connection_timeout
            kwargs["socket_timeout"] = self.connection_timeout
        if self.max_retries is not None:
            kwargs["max_retries"] = self.max_retries
        if self.retry_delay is not None:
            kwargs["retry_delay"] = self.retry_delay
        if self.encryption_key:
            kwargs["encryption_key"] = self.encryption_key
        return kwargs or None


_CONFIG_FIELD_NAMES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(CacheConfig) if not f.name.startswith("_")
)


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

    def for_environment(self, environment: str) -> CacheConfigBuilder:
        if environment not in _BUILDER_ENVIRONMENTS:
            allowed = list(_BUILDER_ENVIRONMENTS)
            raise ValidationError(
                f"Invalid environment: {environment}. Must be one of: {allowed}",
                context={
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
    ) -> CacheConfigBuilder:
        self._config.redis_url = redis_url
        self._config.redis_password = password
        self._config.use_tls = use_tls
        return self

    def with_security(
        self, tls_cert_path: str | None = None, tls_key_path: str | None = None
    ) -> CacheConfigBuilder:
        self._config.tls_cert_path = tls_cert_path
        self._config.tls_key_path = tls_key_path
        if tls_cert_path or tls_key_path:
            self._config.use_tls = True
        return self

    def with_compression(
        self, threshold: int = 1000, level: int = 6
    ) -> CacheConfigBuilder:
        self._config.compression_threshold = threshold
        self._config.compression_level = level
        return self

    def with_memory_cache(self, size: int) -> CacheConfigBuilder:
        self._config.memory_cache_size = size
        return self

    def with_ai_features(self, **ai_options: Any) -> CacheConfigBuilder:
        """Set AI options and enable AI caching (the original left it disabled)."""
        allowed = list(_AI_FIELD_NAMES)
        unknown = [key for key in ai_options if key not in allowed]
        if unknown:
            raise ValidationError(
                f"Invalid AI options: {unknown}. Allowed options: {allowed}",
                context={
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

    def from_file(self, file_path: str | Path) -> CacheConfigBuilder:
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
                f"Cannot read configuration file {path}: {exc}",
                context={"file_path": str(path), "error_type": type(exc).__name__},
            ) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"Invalid JSON in configuration file {path}: {exc.msg} "
                f"(line {exc.lineno}, column {exc.colno}, char {exc.pos})",
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

    def from_environment(self) -> CacheConfigBuilder:
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
            logger.warning("Cache configuration warning: %s", warning)
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
                f"Failed to save configuration to {path}: {exc}",
                context={"file_path": str(path), "error_type": type(exc).__name__},
            ) from exc


# ---------------------------------------------------------------------------------------
# EnvironmentPresets
# ---------------------------------------------------------------------------------------


def _preset_config(name: str) -> CacheConfig:
    from aicache.cache_presets import cache_preset_manager

    return cache_preset_manager.get_preset(name).to_cache_config()


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
        from aicache.cache_presets import cache_preset_manager

        return cache_preset_manager.list_presets()

    @staticmethod
    def get_preset_details(preset_name: str) -> dict[str, Any]:
        from aicache.cache_presets import cache_preset_manager

        return cache_preset_manager.get_preset_details(preset_name)

    @staticmethod
    def recommend_preset(environment: str | None = None) -> str:
        from aicache.cache_presets import cache_preset_manager

        return cache_preset_manager.recommend_preset(environment)
