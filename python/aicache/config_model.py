"""The configuration dataclasses shared by :mod:`aicache.config` and
:mod:`aicache.cache_presets`: ``ValidationResult``, ``AICacheConfig`` and the
package-level ``CacheConfig`` (spec 13.1), with their validation helpers.

They live here so that ``config`` (which offers the presets through
``EnvironmentPresets``) and ``cache_presets`` (which converts a preset to a
``CacheConfig``) each depend on this module and ``config`` on ``cache_presets``,
never the other way round.  Import them from :mod:`aicache.config`, where they
are re-exported and report ``__module__ == "aicache.config"``; the behaviour
differences from the original are listed in that module's docstring.
"""

import copy
import dataclasses
import hashlib
import logging
from dataclasses import KW_ONLY, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeGuard

from aicache.redis_url import redact_redis_url

__all__ = [
    "AI_FLAT_KEYS",
    "AICacheConfig",
    "CacheConfig",
    "ValidationResult",
    "encryption_key_parts",
]

# The records of these classes belong to the configuration module users know.
logger = logging.getLogger("aicache.config")

#: AI keys ``CacheConfig.to_dict()`` adds at top level when ``enable_ai_cache`` is True.
AI_FLAT_KEYS: tuple[str, ...] = (
    "text_hash_threshold",
    "operation_ttls",
    "text_size_tiers",
    "hash_algorithm",
)

_URL_SCHEMES = ("redis://", "rediss://", "unix://")


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

    def merge(self, other: "ValidationResult") -> None:
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
                name = f"text_size_tiers['{tier}']"
                _check_int(
                    result,
                    name,
                    size,
                    minimum=1,
                    headline=f"{name} must be a positive integer",
                )
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
                _check_int(
                    result,
                    name,
                    ttl,
                    minimum=1,
                    headline=f"{name} must be a positive integer",
                )
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
