"""Separation of AI-cache parameters into generic and AI-specific ones (spec 13.6).

``ValidationResult`` here is the one exported at package level
(``aicache.ValidationResult``); it differs from ``aicache.config.ValidationResult`` and
``aicache.cache_validator.ValidationResult``.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from aicache.exceptions import ConfigurationError

__all__ = ["CacheParameterMapper", "ValidationResult"]

logger = logging.getLogger(__name__)

_ONE_YEAR = 86400 * 365
_KNOWN_OPERATIONS = ("summarize", "sentiment", "key_points", "questions", "qa")


@dataclass
class ValidationResult:
    """Validation outcome with recommendations, conflicts and parameter classes."""

    is_valid: bool = True
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    parameter_conflicts: dict[str, str] = field(default_factory=dict)
    ai_specific_params: set[str] = field(default_factory=set)
    generic_params: set[str] = field(default_factory=set)
    context: dict[str, Any] = field(default_factory=dict)

    def add_error(self, message: str) -> None:
        self.errors.append(message)
        self.is_valid = False

    def add_warning(self, message: str) -> None:
        self.warnings.append(message)

    def add_recommendation(self, message: str) -> None:
        self.recommendations.append(message)

    def add_conflict(self, parameter: str, description: str) -> None:
        """Record a conflict; a conflict is also an error."""
        self.parameter_conflicts[parameter] = description
        self.add_error(f"Parameter conflict for '{parameter}': {description}")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


_Validator = Callable[[Any, ValidationResult, str], None]


class CacheParameterMapper:
    """Classifies, maps and validates AI cache constructor parameters."""

    def __init__(self) -> None:
        self._generic_parameters: set[str] = {
            "redis_url",
            "default_ttl",
            "enable_l1_cache",
            "l1_cache_size",
            "compression_threshold",
            "compression_level",
            "performance_monitor",
            "security_config",
        }
        self._ai_specific_parameters: set[str] = {
            "text_hash_threshold",
            "hash_algorithm",
            "text_size_tiers",
            "operation_ttls",
        }
        self._parameter_mappings: dict[str, str] = {
            "memory_cache_size": "l1_cache_size"
        }
        self._parameter_conflicts: dict[str, str] = {}
        self._parameter_validators: dict[str, dict[str, Any]] = {
            "redis_url": {
                "type": str,
                "required": False,
                "validator": self._validate_redis_url,
            },
            "default_ttl": {
                "type": int,
                "required": False,
                "min_value": 1,
                "max_value": _ONE_YEAR,
            },
            "enable_l1_cache": {"type": bool, "required": False},
            "l1_cache_size": {
                "type": int,
                "required": False,
                "min_value": 1,
                "max_value": 10000,
            },
            "memory_cache_size": {
                "type": int,
                "required": False,
                "min_value": 1,
                "max_value": 10000,
            },
            "compression_threshold": {
                "type": int,
                "required": False,
                "min_value": 0,
                "max_value": 1024 * 1024,
            },
            "compression_level": {
                "type": int,
                "required": False,
                "min_value": 1,
                "max_value": 9,
            },
            "text_hash_threshold": {
                "type": int,
                "required": False,
                "min_value": 1,
                "max_value": 100000,
            },
            "text_size_tiers": {
                "type": dict,
                "required": False,
                "validator": self._validate_text_size_tiers,
            },
            "operation_ttls": {
                "type": dict,
                "required": False,
                "validator": self._validate_operation_ttls,
            },
        }

    # -- mapping --------------------------------------------------------------------

    def map_ai_to_generic_params(
        self, ai_params: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split ``ai_params`` into (generic, AI-specific) dicts.

        ``memory_cache_size`` becomes ``l1_cache_size``; unknown keys go to the
        AI-specific dict with a warning; ``enable_l1_cache`` defaults to True when a size
        is given.
        """
        if not isinstance(ai_params, Mapping):
            raise ConfigurationError(
                f"AI cache parameters must be a mapping, got {type(ai_params).__name__}",
                context={
                    "field": "ai_params",
                    "value": repr(ai_params),
                    "allowed": "a mapping",
                },
            )
        generic: dict[str, Any] = {}
        ai_specific: dict[str, Any] = {}
        for name, value in ai_params.items():
            if name in self._parameter_mappings:
                generic[self._parameter_mappings[name]] = value
            elif name in self._generic_parameters:
                generic[name] = value
            elif name in self._ai_specific_parameters:
                ai_specific[name] = value
            else:
                logger.warning("Unknown parameter '%s' - treating as AI-specific", name)
                ai_specific[name] = value
        if "l1_cache_size" in generic and "enable_l1_cache" not in generic:
            generic["enable_l1_cache"] = True
        return generic, ai_specific

    # -- validation -----------------------------------------------------------------

    def validate_parameter_compatibility(
        self, ai_params: Mapping[str, Any]
    ) -> ValidationResult:
        result = ValidationResult()
        result.context = {
            "total_parameters": len(ai_params),
            "parameter_names": list(ai_params),
        }
        for name in ai_params:
            if name in self._generic_parameters or name in self._parameter_mappings:
                result.generic_params.add(name)
            elif name in self._ai_specific_parameters:
                result.ai_specific_params.add(name)
        for name, value in ai_params.items():
            self._validate_single_parameter(name, value, result)
        self._check_parameter_conflicts(ai_params, result)
        self._add_configuration_recommendations(ai_params, result)
        return result

    def _validate_single_parameter(
        self, name: str, value: Any, result: ValidationResult
    ) -> None:
        rules = self._parameter_validators.get(name)
        if rules is None or value is None:
            return
        expected: type = rules["type"]
        type_ok = _is_int(value) if expected is int else isinstance(value, expected)
        if not type_ok:
            result.add_error(
                f"Parameter '{name}' must be {expected.__name__}, got {type(value).__name__}"
            )
            return
        low = rules.get("min_value")
        high = rules.get("max_value")
        if low is not None and value < low:
            result.add_error(f"Parameter '{name}' must be >= {low}, got {value}")
        if high is not None and value > high:
            result.add_error(f"Parameter '{name}' must be <= {high}, got {value}")
        validator: _Validator | None = rules.get("validator")
        if validator is not None:
            validator(value, result, name)

    @staticmethod
    def _validate_redis_url(url: str, result: ValidationResult, name: str) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            result.add_error(
                f"Parameter '{name}' must be a valid Redis URL "
                f"(redis://, rediss://, or unix://), got: {url}"
            )

    @staticmethod
    def _validate_text_size_tiers(
        tiers: dict[str, Any], result: ValidationResult, name: str
    ) -> None:
        missing = [t for t in ("small", "medium", "large") if t not in tiers]
        if missing:
            result.add_error(f"Parameter '{name}' missing required tiers: {missing}")
        for tier, size in tiers.items():
            if not _is_int(size) or size <= 0:
                result.add_error(
                    f"Text size tier '{tier}' must be a positive integer, got: {size!r}"
                )
        ordered_ints = not missing and all(
            _is_int(tiers[t]) for t in ("small", "medium", "large")
        )
        if ordered_ints and not tiers["small"] < tiers["medium"] < tiers["large"]:
            result.add_error(
                "Text size tiers must be ordered: small < medium < large, got: "
                f"small={tiers['small']}, medium={tiers['medium']}, large={tiers['large']}"
            )

    @staticmethod
    def _validate_operation_ttls(
        ttls: dict[str, Any], result: ValidationResult, name: str
    ) -> None:
        for operation, ttl in ttls.items():
            if not _is_int(ttl) or ttl <= 0:
                result.add_error(
                    f"Operation TTL for '{operation}' must be a positive integer, got: {ttl!r}"
                )
            elif ttl > _ONE_YEAR:
                result.add_warning(
                    f"Operation TTL for '{operation}' is very large ({ttl} seconds = "
                    f"{ttl // 86400} days). Consider if this is intentional."
                )
            if operation not in _KNOWN_OPERATIONS:
                result.add_warning(
                    f"Unknown operation '{operation}' in {name}. "
                    f"Valid operations: {list(_KNOWN_OPERATIONS)}"
                )

    @staticmethod
    def _check_parameter_conflicts(
        params: Mapping[str, Any], result: ValidationResult
    ) -> None:
        if "memory_cache_size" in params and "l1_cache_size" in params:
            memory, l1 = params["memory_cache_size"], params["l1_cache_size"]
            if memory != l1:
                result.add_conflict(
                    "memory_cache_size",
                    f"memory_cache_size ({memory}) conflicts with l1_cache_size ({l1}). "
                    "These parameters map to the same GenericRedisCache parameter.",
                )
        l1_off = "enable_l1_cache" in params and not params["enable_l1_cache"]
        if l1_off and ("l1_cache_size" in params or "memory_cache_size" in params):
            result.add_warning(
                "L1 cache is disabled but cache size is specified. "
                "The size parameter will be ignored."
            )
        if "compression_level" in params and "compression_threshold" in params:
            threshold, level = (
                params["compression_threshold"],
                params["compression_level"],
            )
            if threshold == 0 and _is_int(level) and level > 1:
                result.add_warning(
                    "Compression threshold is 0 (compression disabled) but compression "
                    "level is > 1. Consider setting compression_level to 1 or increasing "
                    "compression_threshold."
                )

    @staticmethod
    def _add_configuration_recommendations(
        params: Mapping[str, Any], result: ValidationResult
    ) -> None:
        has_size = "l1_cache_size" in params or "memory_cache_size" in params
        if has_size and params.get("enable_l1_cache") is False:
            result.add_recommendation(
                "Consider enabling L1 cache (enable_l1_cache=True) for better performance "
                "when cache size is specified"
            )
        threshold = params.get("compression_threshold", 1000)
        level = params.get("compression_level", 6)
        if _is_int(threshold) and threshold > 10000:
            result.add_recommendation(
                f"Compression threshold ({threshold}) is quite high. "
                "Consider lowering it to compress more responses and save memory."
            )
        if _is_int(level) and level > 7:
            result.add_recommendation(
                f"Compression level ({level}) is high, which uses more CPU. "
                "Consider level 6 for balanced performance and compression."
            )
        text_threshold = params.get("text_hash_threshold", 1000)
        if text_threshold != threshold:
            result.add_recommendation(
                f"Text hash threshold ({text_threshold}) differs from compression threshold "
                f"({threshold}). Consider aligning these values for consistency."
            )

    def get_parameter_info(self) -> dict[str, Any]:
        return {
            "generic_parameters": sorted(self._generic_parameters),
            "ai_specific_parameters": sorted(self._ai_specific_parameters),
            "parameter_mappings": dict(self._parameter_mappings),
            "parameter_conflicts": dict(self._parameter_conflicts),
            "validation_rules": {
                name: {k: v for k, v in rules.items() if k != "validator"}
                for name, rules in self._parameter_validators.items()
            },
            "total_parameters": len(self._generic_parameters)
            + len(self._ai_specific_parameters),
        }
