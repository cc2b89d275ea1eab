"""Validation of preset dicts, strategy-config dicts and custom overrides (spec 13.5).

Its ``ValidationResult`` is the *third* class of that name in the package (message list
with severities); it is distinct from ``aicache.config.ValidationResult`` and
``aicache.parameter_mapping.ValidationResult``.

Every error and warning about one field carries ``field_path`` and a context
``{"field", "value", "allowed"}``. A bool is not accepted where an integer is expected
(the original's ``isinstance(x, int)`` let ``True`` through).
"""

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeGuard

__all__ = [
    "CacheValidator",
    "ValidationMessage",
    "ValidationResult",
    "ValidationSeverity",
    "cache_validator",
]

logger = logging.getLogger(__name__)


class ValidationSeverity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass
class ValidationMessage:
    severity: ValidationSeverity
    message: str
    field_path: str = ""
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationResult:
    """Validation outcome as a list of messages of three severities."""

    is_valid: bool
    messages: list[ValidationMessage] = field(default_factory=list)
    validation_type: str = "unknown"
    schema_version: str = "1.0"

    @property
    def errors(self) -> list[str]:
        return [
            m.message for m in self.messages if m.severity == ValidationSeverity.ERROR
        ]

    @property
    def warnings(self) -> list[str]:
        return [
            m.message for m in self.messages if m.severity == ValidationSeverity.WARNING
        ]

    @property
    def info(self) -> list[str]:
        return [
            m.message for m in self.messages if m.severity == ValidationSeverity.INFO
        ]

    def add_error(
        self, message: str, field_path: str = "", context: dict[str, Any] | None = None
    ) -> None:
        self.messages.append(
            ValidationMessage(
                ValidationSeverity.ERROR, message, field_path, context or {}
            )
        )
        self.is_valid = False

    def add_warning(
        self, message: str, field_path: str = "", context: dict[str, Any] | None = None
    ) -> None:
        self.messages.append(
            ValidationMessage(
                ValidationSeverity.WARNING, message, field_path, context or {}
            )
        )

    def add_info(
        self, message: str, field_path: str = "", context: dict[str, Any] | None = None
    ) -> None:
        self.messages.append(
            ValidationMessage(
                ValidationSeverity.INFO, message, field_path, context or {}
            )
        )


_PRESET_REQUIRED = (
    "name",
    "description",
    "strategy",
    "default_ttl",
    "max_connections",
    "connection_timeout",
    "memory_cache_size",
    "compression_threshold",
    "compression_level",
    "enable_ai_cache",
    "enable_monitoring",
    "log_level",
    "environment_contexts",
)
# (key, minimum, maximum) shared by presets and configurations
_RANGES: tuple[tuple[str, int, int], ...] = (
    ("default_ttl", 60, 604800),
    ("max_connections", 1, 100),
    ("connection_timeout", 1, 60),
    ("memory_cache_size", 1, 10000),
    ("compression_level", 1, 9),
)
_VALID_CONTEXTS = frozenset(
    {
        "development",
        "dev",
        "testing",
        "test",
        "staging",
        "stage",
        "production",
        "prod",
        "ai-development",
        "ai-production",
        "local",
        "demo",
        "sandbox",
        "minimal",
    }
)
_OVERRIDE_KEYS = (
    "redis_url",
    "redis_password",
    "use_tls",
    "tls_cert_path",
    "tls_key_path",
    "max_connections",
    "connection_timeout",
    "default_ttl",
    "memory_cache_size",
    "compression_threshold",
    "compression_level",
    "enable_ai_cache",
    "text_hash_threshold",
    "hash_algorithm",
    "text_size_tiers",
    "operation_ttls",
    "enable_smart_promotion",
    "max_text_length",
    "enable_monitoring",
    "log_level",
)
_OVERRIDE_TYPES: dict[str, type] = {
    "redis_url": str,
    "redis_password": str,
    "tls_cert_path": str,
    "tls_key_path": str,
    "hash_algorithm": str,
    "log_level": str,
    "max_connections": int,
    "connection_timeout": int,
    "default_ttl": int,
    "memory_cache_size": int,
    "compression_threshold": int,
    "compression_level": int,
    "text_hash_threshold": int,
    "max_text_length": int,
    "use_tls": bool,
    "enable_ai_cache": bool,
    "enable_smart_promotion": bool,
    "enable_monitoring": bool,
}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_type(value: Any, kind: type) -> bool:
    if kind is int:
        return _is_int(value)
    return isinstance(value, kind)


# Fields whose range messages say "seconds", as the original's do.
_SECONDS_FIELDS = frozenset({"default_ttl", "connection_timeout"})


def _range_error(
    result: ValidationResult,
    path: str,
    value: Any,
    low: int,
    high: int | None,
    *,
    name: str | None = None,
) -> None:
    """The original's "{name} must be integer between {lo} and {hi}[ seconds], got:
    {v}" message; ``path`` is the field path, ``name`` what the message calls it."""
    name = name if name is not None else path
    unit = " seconds" if name in _SECONDS_FIELDS else ""
    allowed = (
        f"integer between {low} and {high}" if high is not None else f"integer >= {low}"
    )
    result.add_error(
        f"{name} must be {allowed}{unit}, got: {value}",
        field_path=path,
        context={"field": path, "value": value, "allowed": allowed},
    )


def _check_range(
    result: ValidationResult,
    path: str,
    value: Any,
    low: int,
    high: int | None,
    *,
    name: str | None = None,
) -> None:
    if not _is_int(value) or value < low or (high is not None and value > high):
        _range_error(result, path, value, low, high, name=name)


def _security_value(config: Mapping[str, Any], name: str) -> Any:
    """``name`` at top level or inside ``security_config`` (object or dict)."""
    if name in config:
        return config[name]
    security = config.get("security_config")
    if isinstance(security, Mapping):
        return security.get(name)
    return getattr(security, name, None) if security is not None else None


class CacheValidator:
    """Validates presets, configurations and overrides; holds config templates."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = self._load_schemas()
        self.templates: dict[str, dict[str, Any]] = self._load_templates()
        self._validation_cache: dict[str, ValidationResult] = {}

    # -- presets ------------------------------------------------------------------------

    def validate_preset(self, preset_dict: Mapping[str, Any]) -> ValidationResult:
        result = ValidationResult(is_valid=True, validation_type="preset")
        for name in _PRESET_REQUIRED:
            if name not in preset_dict:
                result.add_error(
                    f"Missing required field: {name}",
                    field_path=name,
                    context={"field": name, "value": None, "allowed": "required"},
                )
        if not result.is_valid:
            return result
        for name, low, high in _RANGES:
            _check_range(result, name, preset_dict[name], low, high)
        ai_enabled = bool(preset_dict.get("enable_ai_cache"))
        optimizations = preset_dict.get("ai_optimizations") or {}
        if ai_enabled:
            self._validate_ai_optimizations(optimizations, result)
        self._validate_environment_contexts(
            preset_dict.get("environment_contexts"), result
        )
        if not ai_enabled and optimizations:
            result.add_warning(
                "AI optimizations specified but AI cache not enabled",
                field_path="ai_optimizations",
            )
        ttl, size = preset_dict.get("default_ttl"), preset_dict.get("memory_cache_size")
        if _is_int(ttl) and _is_int(size) and ttl > 7200 and size < 200:
            result.add_warning(
                "Long TTL with small memory cache may cause frequent evictions",
                context={"ttl": ttl, "cache_size": size},
            )
        return result

    def _validate_ai_optimizations(self, opts: Any, result: ValidationResult) -> None:
        if not opts:
            result.add_info(
                "AI cache enabled but no optimizations specified - using defaults"
            )
            return
        if not isinstance(opts, Mapping):
            result.add_error(
                f"ai_optimizations must be a dict, got: {opts!r}",
                field_path="ai_optimizations",
                context={"field": "ai_optimizations", "value": opts, "allowed": "dict"},
            )
            return
        threshold = opts.get("text_hash_threshold")
        if threshold:
            _check_range(
                result,
                "ai_optimizations.text_hash_threshold",
                threshold,
                100,
                10000,
                name="text_hash_threshold",
            )
        ttls = opts.get("operation_ttls")
        if isinstance(ttls, Mapping):
            for operation, ttl in ttls.items():
                if not _is_int(ttl) or ttl < 60:
                    path = f"ai_optimizations.operation_ttls.{operation}"
                    result.add_error(
                        f"operation_ttls['{operation}'] must be integer >= 60 "
                        f"seconds, got: {ttl}",
                        field_path=path,
                        context={
                            "field": path,
                            "value": ttl,
                            "allowed": "integer >= 60",
                        },
                    )
        tiers = opts.get("text_size_tiers")
        if isinstance(tiers, Mapping):
            values = list(tiers.values())
            if all(_is_int(v) for v in values) and values != sorted(values):
                result.add_warning(
                    "text_size_tiers values should be in ascending order for optimal "
                    "performance",
                    field_path="ai_optimizations.text_size_tiers",
                )

    def _validate_environment_contexts(
        self, contexts: Any, result: ValidationResult
    ) -> None:
        if not contexts:
            result.add_warning(
                "No environment contexts specified", field_path="environment_contexts"
            )
            return
        for context in contexts:
            if context not in _VALID_CONTEXTS:
                result.add_warning(
                    f"Unknown environment context '{context}' - may not match auto-detection",
                    field_path="environment_contexts",
                    context={
                        "field": "environment_contexts",
                        "value": context,
                        "allowed": sorted(_VALID_CONTEXTS),
                    },
                )

    # -- configurations -------------------------------------------------------------

    def validate_configuration(
        self, config_dict: Mapping[str, Any]
    ) -> ValidationResult:
        """Validate a strategy-config dict (``cache_presets.CacheConfig.to_dict()``).

        A dict without ``strategy``/``cache_strategy`` is an error, so the dicts of
        ``aicache.config.CacheConfig`` always fail here (as in the original).
        """
        result = ValidationResult(is_valid=True, validation_type="configuration")
        if "strategy" not in config_dict and "cache_strategy" not in config_dict:
            result.add_error(
                "Missing required field: strategy",
                field_path="strategy",
                context={"field": "strategy", "value": None, "allowed": "required"},
            )
        url = config_dict.get("redis_url")
        use_tls = bool(_security_value(config_dict, "use_tls"))
        if url:
            if not isinstance(url, str) or not url.startswith(
                ("redis://", "rediss://")
            ):
                result.add_error(
                    f"Invalid Redis URL format: {url}",
                    field_path="redis_url",
                    context={
                        "field": "redis_url",
                        "value": url,
                        "allowed": "redis:// or rediss:// URL",
                    },
                )
            elif use_tls and not url.startswith("rediss://"):
                result.add_warning(
                    "use_tls=True but Redis URL doesn't use rediss:// scheme",
                    field_path="use_tls",
                )
        if config_dict.get("enable_ai_cache"):
            threshold = config_dict.get("text_hash_threshold", 1000)
            if _is_int(threshold) and threshold < 100:
                result.add_warning(
                    f"text_hash_threshold {threshold} is very low - may cause excessive hashing",
                    field_path="text_hash_threshold",
                )
        for name, low, high in _RANGES:
            key = name
            if name == "memory_cache_size" and key not in config_dict:
                key = "l1_cache_size"
            if key in config_dict:
                # Reported under the name users write (memory_cache_size), even
                # when the factory dict spells it l1_cache_size.
                _check_range(result, name, config_dict[key], low, high)
        connections = config_dict.get("max_connections", 10)
        timeout = config_dict.get("connection_timeout", 5)
        if (
            _is_int(connections)
            and _is_int(timeout)
            and connections > 50
            and timeout < 10
        ):
            result.add_warning(
                "High connection count with low timeout may cause connection issues",
                context={"max_connections": connections, "connection_timeout": timeout},
            )
        has_password = bool(
            _security_value(config_dict, "redis_password")
            or _security_value(config_dict, "redis_auth")
        )
        if has_password and not use_tls:
            result.add_warning(
                "Redis password specified without TLS - password transmitted in plain text",
                field_path="security",
            )
        return result

    def validate_custom_overrides(
        self, overrides: Mapping[str, Any]
    ) -> ValidationResult:
        result = ValidationResult(is_valid=True, validation_type="custom_overrides")
        for key, value in overrides.items():
            if key not in _OVERRIDE_KEYS:
                result.add_warning(
                    f"Unknown override key '{key}' - will be ignored",
                    field_path=key,
                    context={
                        "field": key,
                        "value": value,
                        "allowed": sorted(_OVERRIDE_KEYS),
                    },
                )
                continue
            kind = _OVERRIDE_TYPES.get(key)
            if kind is not None and not _has_type(value, kind):
                result.add_error(
                    f"Override '{key}' expects {kind.__name__}, got {type(value).__name__}",
                    field_path=key,
                    context={"field": key, "value": value, "allowed": kind.__name__},
                )
        return result

    # -- templates ------------------------------------------------------------------

    def get_template(self, template_name: str) -> dict[str, Any]:
        if template_name not in self.templates:
            available = list(self.templates)
            raise ValueError(
                f"Unknown template '{template_name}'. Available: {available}"
            )
        return copy.deepcopy(self.templates[template_name])

    def list_templates(self) -> list[str]:
        return list(self.templates)

    def compare_configurations(
        self, config1: Mapping[str, Any], config2: Mapping[str, Any]
    ) -> dict[str, Any]:
        keys1, keys2 = set(config1), set(config2)
        changed: list[dict[str, Any]] = []
        identical: list[str] = []
        for key in sorted(keys1 & keys2):
            if config1[key] == config2[key]:
                identical.append(key)
            else:
                changed.append(
                    {"key": key, "old_value": config1[key], "new_value": config2[key]}
                )
        return {
            "added_keys": sorted(keys2 - keys1),
            "removed_keys": sorted(keys1 - keys2),
            "changed_values": changed,
            "identical_keys": identical,
        }

    @staticmethod
    def _load_schemas() -> dict[str, dict[str, Any]]:
        return {
            "preset": {
                "type": "object",
                "required": ["name", "description", "strategy"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "strategy": {
                        "type": "string",
                        "enum": ["fast", "balanced", "robust", "ai_optimized"],
                    },
                },
            },
            "configuration": {
                "type": "object",
                "properties": {
                    "redis_url": {"type": "string"},
                    "default_ttl": {
                        "type": "integer",
                        "minimum": 60,
                        "maximum": 604800,
                    },
                },
            },
        }

    @staticmethod
    def _load_templates() -> dict[str, dict[str, Any]]:
        return {
            "fast_development": {
                "strategy": "fast",
                "default_ttl": 600,
                "max_connections": 3,
                "connection_timeout": 2,
                "memory_cache_size": 50,
                "compression_threshold": 2000,
                "compression_level": 3,
                "enable_ai_cache": False,
                "enable_monitoring": True,
                "log_level": "DEBUG",
            },
            "robust_production": {
                "strategy": "robust",
                "default_ttl": 7200,
                "max_connections": 20,
                "connection_timeout": 10,
                "memory_cache_size": 500,
                "compression_threshold": 500,
                "compression_level": 9,
                "enable_ai_cache": False,
                "enable_monitoring": True,
                "log_level": "INFO",
            },
            "ai_optimized": {
                "strategy": "ai_optimized",
                "default_ttl": 14400,
                "max_connections": 25,
                "connection_timeout": 15,
                "memory_cache_size": 1000,
                "compression_threshold": 300,
                "compression_level": 9,
                "enable_ai_cache": True,
                "text_hash_threshold": 1000,
                "enable_monitoring": True,
                "log_level": "INFO",
            },
        }


cache_validator = CacheValidator()
