"""Cache presets, strategies and preset recommendation (spec 13.2).

``CACHE_PRESETS`` holds the seven named presets (disabled, minimal, simple, development,
production, ai-development, ai-production) with the original values.
``CachePreset.to_cache_config()`` turns one into the package-level
:class:`aicache.config.CacheConfig`; ``cache_preset_manager`` looks presets up and
recommends one for an environment name or for the detected environment.

This module also defines a *second* ``CacheConfig`` (strategy-based, factory-ready
``to_dict()``), as the original does; it is not the package-level ``CacheConfig``.

Differences from the original: "ai" selects an AI preset only as a token (so "main",
"domain" or "maintenance" do not), ``CACHE_PRESET=testing`` is honoured by
auto-detection as the development preset, and a failing ``SecurityConfig`` raises from
``CacheConfig.to_dict()`` instead of silently yielding ``security_config=None``
(``validate()`` reports it as an error); that ``SecurityConfig`` gets the config's
``connection_timeout`` (the original left the 30 s default).
"""

import copy
import dataclasses
import importlib
import importlib.util
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from aicache import cache_validator as _validator
from aicache.config_model import AICacheConfig
from aicache.config_model import CacheConfig as PackageCacheConfig
from aicache.environment import Environment, FeatureContext, get_environment_info
from aicache.exceptions import ConfigurationError

__all__ = [
    "CACHE_PRESETS",
    "DEFAULT_PRESETS",
    "PRESET_ALIASES",
    "CacheConfig",
    "CachePreset",
    "CachePresetManager",
    "CacheStrategy",
    "EnvironmentRecommendation",
    "cache_preset_manager",
    "contains_ai_token",
    "get_default_presets",
]

logger = logging.getLogger(__name__)

#: Preset names accepted as aliases by the settings resolver and auto-detection.
PRESET_ALIASES: dict[str, str] = {"testing": "development"}


class EnvironmentRecommendation(NamedTuple):
    """A recommended preset with confidence (0..1) and reasoning."""

    preset_name: str
    confidence: float
    reasoning: str
    environment_detected: str


class CacheStrategy(str, Enum):
    FAST = "fast"
    BALANCED = "balanced"
    ROBUST = "robust"
    AI_OPTIMIZED = "ai_optimized"


def _preset_tiers() -> dict[str, int]:
    return {"small": 1000, "medium": 5000, "large": 20000}


def _standard_operation_ttls() -> dict[str, int]:
    return {
        "summarize": 7200,
        "sentiment": 3600,
        "key_points": 5400,
        "questions": 4800,
        "qa": 3600,
    }


@dataclass
class CacheConfig:
    """Strategy-based configuration (the *second* ``CacheConfig`` of the package)."""

    strategy: CacheStrategy = CacheStrategy.BALANCED
    redis_url: str | None = None
    redis_password: str | None = field(default=None, repr=False)
    use_tls: bool = False
    tls_cert_path: str | None = None
    tls_key_path: str | None = None
    max_connections: int = 10
    connection_timeout: int = 5
    default_ttl: int = 3600
    memory_cache_size: int = 100
    compression_threshold: int = 1000
    compression_level: int = 6
    enable_ai_cache: bool = False
    text_hash_threshold: int = 1000
    hash_algorithm: str = "sha256"
    text_size_tiers: dict[str, int] = field(default_factory=_preset_tiers)
    operation_ttls: dict[str, int] = field(default_factory=_standard_operation_ttls)
    enable_smart_promotion: bool = True
    max_text_length: int = 100000
    enable_monitoring: bool = True
    log_level: str = "INFO"

    def to_dict(self) -> dict[str, Any]:
        """Factory-ready dict; ``None`` values are removed.

        ``security_config`` is an ``aicache.security.SecurityConfig`` when a password or
        TLS field is set (a plain dict of the same fields while that module is absent).
        """
        return self._factory_dict(self._security_config())

    def _factory_dict(self, security_config: Any) -> dict[str, Any]:
        ai = self.enable_ai_cache
        data: dict[str, Any] = {
            "redis_url": self.redis_url,
            "security_config": security_config,
            "default_ttl": self.default_ttl,
            "l1_cache_size": self.memory_cache_size,
            "enable_l1_cache": True,
            "compression_threshold": self.compression_threshold,
            "compression_level": self.compression_level,
            "text_hash_threshold": self.text_hash_threshold if ai else None,
            "hash_algorithm": self.hash_algorithm if ai else None,
            "text_size_tiers": copy.deepcopy(self.text_size_tiers) if ai else None,
            "operation_ttls": copy.deepcopy(self.operation_ttls) if ai else None,
            "enable_smart_promotion": self.enable_smart_promotion if ai else None,
            "max_text_length": self.max_text_length if ai else None,
            "enable_ai_cache": self.enable_ai_cache,
            "enable_monitoring": self.enable_monitoring,
            "log_level": self.log_level,
            "cache_strategy": CacheStrategy(self.strategy).value,
        }
        return {key: value for key, value in data.items() if value is not None}

    def _security_config(self) -> Any:
        if not (
            self.redis_password
            or self.use_tls
            or self.tls_cert_path
            or self.tls_key_path
        ):
            return None
        fields: dict[str, Any] = {
            "redis_auth": self.redis_password,
            "use_tls": self.use_tls,
            "tls_cert_path": self.tls_cert_path,
            "tls_key_path": self.tls_key_path,
            "connection_timeout": self.connection_timeout,
            "max_retries": 3,
        }
        if importlib.util.find_spec("aicache.security") is None:
            return fields  # the security module is not installed yet
        security = importlib.import_module("aicache.security")
        # Errors (e.g. a missing certificate file) propagate: no silent None.
        return security.SecurityConfig(**fields)

    def validate(self) -> _validator.ValidationResult:
        """``cache_validator.validate_configuration(self.to_dict())``, as the original.

        ``max_connections`` and ``connection_timeout`` are not in ``to_dict()``
        (nothing consumes the former; the latter travels inside ``security_config``):
        values outside the validator's ranges are warnings, never errors, so every
        config the original accepted still validates. A ``SecurityConfig`` that
        cannot be built (e.g. a missing certificate file) is an error here, where
        the original silently dropped it.
        """
        cache_validator = _validator.cache_validator
        try:
            data = self.to_dict()
        except ConfigurationError as exc:
            data = self._factory_dict(None)
            result = cache_validator.validate_configuration(data)
            result.add_error(
                f"security_config cannot be built: {exc.message}",
                field_path="security_config",
                context={
                    "field": "security_config",
                    "value": None,
                    "allowed": "a valid SecurityConfig",
                    **exc.context,
                },
            )
        else:
            result = cache_validator.validate_configuration(data)
        for name, low, high in (
            ("max_connections", 1, 100),
            ("connection_timeout", 1, 60),
        ):
            value = getattr(self, name)
            ok = isinstance(value, int) and not isinstance(value, bool)
            if not ok or not low <= value <= high:
                result.add_warning(
                    f"{name} should be integer between {low} and {high}, got: {value}",
                    field_path=name,
                    context={"field": name, "value": value, "allowed": [low, high]},
                )
        return result

    def _basic_validate(self) -> _validator.ValidationResult:
        result = _validator.ValidationResult(is_valid=True, validation_type="basic")
        checks = (
            ("default_ttl", self.default_ttl, 60, 604800),
            ("max_connections", self.max_connections, 1, 100),
            ("connection_timeout", self.connection_timeout, 1, 60),
            ("memory_cache_size", self.memory_cache_size, 1, 10000),
            ("compression_level", self.compression_level, 1, 9),
        )
        for name, value, low, high in checks:
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not low <= value <= high
            ):
                result.add_error(
                    f"{name} must be between {low} and {high}, got {value!r}",
                    field_path=name,
                    context={"field": name, "value": value, "allowed": [low, high]},
                )
        return result


@dataclass
class CachePreset:
    """A named, documented set of cache settings."""

    name: str
    description: str
    strategy: CacheStrategy
    default_ttl: int
    max_connections: int
    connection_timeout: int
    memory_cache_size: int
    compression_threshold: int
    compression_level: int
    enable_ai_cache: bool
    enable_monitoring: bool
    log_level: str
    environment_contexts: list[str]
    ai_optimizations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_cache_config(self) -> PackageCacheConfig:
        """The package-level ``CacheConfig`` for this preset (no Redis URL, no TLS).

        ``preset_name`` is the display name (e.g. "AI Production"); ``environment`` is
        the first environment context. ``max_connections``, ``connection_timeout``,
        ``enable_monitoring`` and ``log_level`` have no counterpart and are dropped.
        """
        return PackageCacheConfig(
            redis_url=None,
            redis_password=None,
            use_tls=False,
            tls_cert_path=None,
            tls_key_path=None,
            default_ttl=self.default_ttl,
            memory_cache_size=self.memory_cache_size,
            compression_threshold=self.compression_threshold,
            compression_level=self.compression_level,
            environment=self.environment_contexts[0]
            if self.environment_contexts
            else "development",
            preset_name=self.name,
            ai_config=ai_config_from_optimizations(self.ai_optimizations)
            if self.enable_ai_cache
            else None,
            enable_ai_cache=self.enable_ai_cache,
        )


def ai_config_from_optimizations(
    optimizations: Mapping[str, Any],
) -> AICacheConfig:
    """``AICacheConfig`` from a preset's ``ai_optimizations``; missing keys take the
    preset defaults (1000, sha256, tiers 1000/5000/20000, the five standard TTLs,
    smart promotion on, max length 100000)."""
    return AICacheConfig(
        text_hash_threshold=optimizations.get("text_hash_threshold", 1000),
        hash_algorithm=optimizations.get("hash_algorithm", "sha256"),
        text_size_tiers=copy.deepcopy(
            optimizations.get("text_size_tiers", _preset_tiers())
        ),
        operation_ttls=copy.deepcopy(
            optimizations.get("operation_ttls", _standard_operation_ttls())
        ),
        enable_smart_promotion=optimizations.get("enable_smart_promotion", True),
        max_text_length=optimizations.get("max_text_length", 100000),
    )


CACHE_PRESETS: dict[str, CachePreset] = {
    "disabled": CachePreset(
        name="Disabled",
        description="Cache completely disabled, no Redis connection, memory-only fallback",
        strategy=CacheStrategy.FAST,
        default_ttl=300,
        max_connections=1,
        connection_timeout=1,
        memory_cache_size=10,
        compression_threshold=10000,
        compression_level=1,
        enable_ai_cache=False,
        enable_monitoring=False,
        log_level="WARNING",
        environment_contexts=["testing", "minimal"],
        ai_optimizations={},
    ),
    "minimal": CachePreset(
        name="Minimal",
        description="Ultra-lightweight caching for resource-constrained environments",
        strategy=CacheStrategy.FAST,
        default_ttl=900,
        max_connections=2,
        connection_timeout=3,
        memory_cache_size=25,
        compression_threshold=5000,
        compression_level=1,
        enable_ai_cache=False,
        enable_monitoring=False,
        log_level="ERROR",
        environment_contexts=["minimal", "embedded", "iot", "container", "serverless"],
        ai_optimizations={},
    ),
    "simple": CachePreset(
        name="Simple",
        description="Basic cache configuration suitable for most use cases",
        strategy=CacheStrategy.BALANCED,
        default_ttl=3600,
        max_connections=5,
        connection_timeout=5,
        memory_cache_size=100,
        compression_threshold=1000,
        compression_level=6,
        enable_ai_cache=False,
        enable_monitoring=True,
        log_level="INFO",
        environment_contexts=["development", "testing", "staging", "production"],
        ai_optimizations={},
    ),
    "development": CachePreset(
        name="Development",
        description="Fast-feedback configuration optimized for development speed",
        strategy=CacheStrategy.FAST,
        default_ttl=600,
        max_connections=3,
        connection_timeout=2,
        memory_cache_size=50,
        compression_threshold=2000,
        compression_level=3,
        enable_ai_cache=False,
        enable_monitoring=True,
        log_level="DEBUG",
        environment_contexts=["development", "local"],
        ai_optimizations={},
    ),
    "production": CachePreset(
        name="Production",
        description="High-performance configuration for production workloads",
        strategy=CacheStrategy.ROBUST,
        default_ttl=7200,
        max_connections=20,
        connection_timeout=10,
        memory_cache_size=500,
        compression_threshold=500,
        compression_level=9,
        enable_ai_cache=False,
        enable_monitoring=True,
        log_level="INFO",
        environment_contexts=["production", "staging"],
        ai_optimizations={},
    ),
    "ai-development": CachePreset(
        name="AI Development",
        description="AI-optimized configuration for development with text processing features",
        strategy=CacheStrategy.AI_OPTIMIZED,
        default_ttl=1800,
        max_connections=5,
        connection_timeout=5,
        memory_cache_size=100,
        compression_threshold=1000,
        compression_level=6,
        enable_ai_cache=True,
        enable_monitoring=True,
        log_level="DEBUG",
        environment_contexts=["development", "ai-development"],
        ai_optimizations={
            "text_hash_threshold": 500,
            "hash_algorithm": "sha256",
            "text_size_tiers": {"small": 500, "medium": 2000, "large": 10000},
            "operation_ttls": {
                "summarize": 1800,
                "sentiment": 900,
                "key_points": 1200,
                "questions": 1500,
                "qa": 900,
            },
            "enable_smart_promotion": True,
            "max_text_length": 50000,
        },
    ),
    "ai-production": CachePreset(
        name="AI Production",
        description="AI-optimized configuration for production with advanced text processing",
        strategy=CacheStrategy.AI_OPTIMIZED,
        default_ttl=14400,
        max_connections=25,
        connection_timeout=15,
        memory_cache_size=1000,
        compression_threshold=300,
        compression_level=9,
        enable_ai_cache=True,
        enable_monitoring=True,
        log_level="INFO",
        environment_contexts=["production", "ai-production"],
        ai_optimizations={
            "text_hash_threshold": 1000,
            "hash_algorithm": "sha256",
            "text_size_tiers": {"small": 1000, "medium": 5000, "large": 25000},
            "operation_ttls": {
                "summarize": 14400,
                "sentiment": 7200,
                "key_points": 10800,
                "questions": 9600,
                "qa": 7200,
            },
            "enable_smart_promotion": True,
            "max_text_length": 200000,
        },
    ),
}


# "ai" as a token: at the start/end or separated by - _ . or space (fix of spec 21.14).
_AI_TOKEN = re.compile(r"(?:^|[-_. ])ai(?:$|[-_. ])", re.IGNORECASE)
_AI_PROD_AFTER_TOKEN = re.compile(
    r"(?:^|[-_. ])ai(?:[-_. ].*)?(?:prod|production|live)", re.I
)
_PROD_WORDS = ("prod", "production", "live")

_EXACT_MATCHES: dict[str, tuple[str, float, str]] = {
    "development": ("development", 0.95, "Exact match for development environment"),
    "dev": ("development", 0.90, "Standard abbreviation for development"),
    "testing": (
        "development",
        0.85,
        "Testing typically uses development-like settings",
    ),
    "test": ("development", 0.85, "Test environment should fail fast"),
    "staging": ("production", 0.90, "Staging should mirror production settings"),
    "stage": ("production", 0.85, "Stage environment abbreviation"),
    "production": ("production", 0.95, "Exact match for production environment"),
    "prod": ("production", 0.90, "Standard abbreviation for production"),
    "live": ("production", 0.85, "Live environment implies production"),
    "ai-development": ("ai-development", 0.95, "Exact match for AI development"),
    "ai-dev": ("ai-development", 0.90, "AI development abbreviation"),
    "ai-production": ("ai-production", 0.95, "Exact match for AI production"),
    "ai-prod": ("ai-production", 0.90, "AI production abbreviation"),
}
_STAGING_PATTERNS = (
    r".*stag.*",
    r".*pre-?prod.*",
    r".*preprod.*",
    r".*uat.*",
    r".*integration.*",
)
_DEV_PATTERNS = (r".*dev.*", r".*local.*", r".*test.*", r".*sandbox.*", r".*demo.*")
_PROD_PATTERNS = (
    r".*prod.*",
    r".*live.*",
    r".*release.*",
    r".*stable.*",
    r".*main.*",
    r".*master.*",
)
_DETECTED_TO_PRESET: dict[Environment, str] = {
    Environment.DEVELOPMENT: "development",
    Environment.TESTING: "development",
    Environment.STAGING: "production",
    Environment.PRODUCTION: "production",
    Environment.UNKNOWN: "simple",
}


def contains_ai_token(name: str) -> bool:
    """True when ``name`` contains "ai" as a separate token ("ai-prod", "my_ai", "ai"),
    False for words that merely contain the letters ("main", "domain", "maintenance")."""
    return _AI_TOKEN.search(name) is not None


def _matches_any(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.match(p, text, re.IGNORECASE) for p in patterns)


class CachePresetManager:
    """Looks up, validates, describes and recommends presets."""

    def __init__(self) -> None:
        self.presets: dict[str, CachePreset] = dict(CACHE_PRESETS)

    def get_preset(self, name: str) -> CachePreset:
        if name not in self.presets:
            available = list(self.presets)
            raise ConfigurationError(
                f"Unknown preset '{name}'. Available presets: {available}",
                context={
                    "requested_preset": name,
                    "available": available,
                    "field": "preset",
                    "value": name,
                    "allowed": available,
                },
            )
        return self.presets[name]

    def list_presets(self) -> list[str]:
        return list(self.presets)

    def get_preset_details(self, name: str) -> dict[str, Any]:
        preset = self.get_preset(name)
        return {
            "name": preset.name,
            "description": preset.description,
            "configuration": {
                "strategy": CacheStrategy(preset.strategy).value,
                "default_ttl": preset.default_ttl,
                "max_connections": preset.max_connections,
                "memory_cache_size": preset.memory_cache_size,
                "enable_ai_cache": preset.enable_ai_cache,
                "enable_monitoring": preset.enable_monitoring,
                "log_level": preset.log_level,
            },
            "environment_contexts": list(preset.environment_contexts),
            "ai_optimizations": copy.deepcopy(preset.ai_optimizations)
            if preset.enable_ai_cache
            else None,
        }

    def validate_preset(self, preset: CachePreset) -> bool:
        result = _validator.cache_validator.validate_preset(preset.to_dict())
        for error in result.errors:
            logger.error("Cache preset validation error: %s", error)
        for warning in result.warnings:
            logger.warning("Cache preset validation warning: %s", warning)
        return result.is_valid

    def _basic_validate_preset(self, preset: CachePreset) -> bool:
        checks = (
            ("default_ttl", preset.default_ttl, 1, 604800),
            ("max_connections", preset.max_connections, 1, 100),
            ("connection_timeout", preset.connection_timeout, 1, 60),
            ("memory_cache_size", preset.memory_cache_size, 1, 10000),
            ("compression_level", preset.compression_level, 1, 9),
        )
        for name, value, low, high in checks:
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not low <= value <= high
            ):
                logger.error("Invalid %s: %r (must be %d-%d)", name, value, low, high)
                return False
        if preset.enable_ai_cache:
            for operation, ttl in preset.ai_optimizations.get(
                "operation_ttls", {}
            ).items():
                if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
                    logger.error("Invalid AI operation TTL for %s: %r", operation, ttl)
                    return False
        return True

    def recommend_preset(
        self,
        environment: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> str:
        return self.recommend_preset_with_details(
            environment, environ=environ
        ).preset_name

    def recommend_preset_with_details(
        self,
        environment: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> EnvironmentRecommendation:
        """Recommend a preset for ``environment`` or, when None, for the detected
        environment (``environ`` defaults to ``os.environ`` read at call time)."""
        if environment is None:
            return self._auto_detect(environ if environ is not None else os.environ)
        name = environment.lower().strip()
        if name in _EXACT_MATCHES:
            preset, confidence, reasoning = _EXACT_MATCHES[name]
        else:
            preset, confidence, reasoning = self._pattern_match_environment(name)
        return EnvironmentRecommendation(preset, confidence, reasoning, environment)

    @staticmethod
    def _pattern_match_environment(name: str) -> tuple[str, float, str]:
        if contains_ai_token(name):
            if _AI_PROD_AFTER_TOKEN.search(name):
                return (
                    "ai-production",
                    0.80,
                    f"Environment name '{name}' matches AI production pattern",
                )
            return (
                "ai-development",
                0.75,
                f"Environment name '{name}' contains 'ai', using AI development preset",
            )
        if _matches_any(_STAGING_PATTERNS, name):
            return (
                "production",
                0.70,
                f"Environment name '{name}' matches staging pattern, using production preset",
            )
        if _matches_any(_DEV_PATTERNS, name):
            return (
                "development",
                0.75,
                f"Environment name '{name}' matches development pattern",
            )
        if _matches_any(_PROD_PATTERNS, name):
            return (
                "production",
                0.75,
                f"Environment name '{name}' matches production pattern",
            )
        return (
            "simple",
            0.40,
            f"Unknown environment pattern '{name}', defaulting to simple preset",
        )

    def _auto_detect(self, environ: Mapping[str, str]) -> EnvironmentRecommendation:
        ai_enabled = environ.get("ENABLE_AI_CACHE", "").strip().lower() in (
            "true",
            "1",
            "yes",
        )

        explicit = environ.get("CACHE_PRESET", "").strip()
        if explicit:
            resolved = PRESET_ALIASES.get(explicit.lower(), explicit.lower())
            if resolved in self.presets:
                return EnvironmentRecommendation(
                    resolved,
                    0.60,
                    f"Explicit CACHE_PRESET={explicit} environment variable",
                    f"{explicit} (CACHE_PRESET)",
                )
            logger.warning(
                "CACHE_PRESET=%r is not a preset (available: %s); recommending from the "
                "detected environment instead",
                explicit,
                self.list_presets(),
            )

        info = get_environment_info(FeatureContext.AI_ENABLED, environ=environ)
        preset = _DETECTED_TO_PRESET.get(info.environment, "simple")
        confidence = info.confidence
        reasoning = f"Detected {info.environment.value} environment: {info.reasoning}"
        detected = f"{info.environment.value} (auto-detected)"
        if confidence <= 0.5 and info.environment in (
            Environment.UNKNOWN,
            Environment.DEVELOPMENT,
        ):
            preset = "ai-development" if ai_enabled else "simple"
            reasoning = (
                f"Low-confidence detection ({confidence:.2f}): {info.reasoning}; "
                f"using {preset} preset as safe default"
            )
        elif ai_enabled and f"ai-{preset}" in self.presets:
            preset = f"ai-{preset}"
            reasoning += " with AI features enabled (ENABLE_AI_CACHE)"
            detected = f"{info.environment.value} (auto-detected, AI-enabled)"

        env_name = environ.get("ENVIRONMENT", "").strip().lower()
        if env_name and contains_ai_token(env_name):
            if any(word in env_name for word in _PROD_WORDS):
                preset = "ai-production"
            else:
                preset = "ai-development"
            confidence = 0.90
            reasoning = f"AI environment named by ENVIRONMENT={env_name}"
            detected = f"{env_name} (ENVIRONMENT)"
        return EnvironmentRecommendation(preset, confidence, reasoning, detected)

    def get_all_presets_summary(self) -> dict[str, dict[str, Any]]:
        return {name: self.get_preset_details(name) for name in self.presets}


def get_default_presets() -> dict[CacheStrategy, CacheConfig]:
    """One strategy-based ``CacheConfig`` per :class:`CacheStrategy`."""
    return {
        CacheStrategy.FAST: CacheConfig(
            strategy=CacheStrategy.FAST,
            default_ttl=600,
            max_connections=3,
            connection_timeout=2,
            memory_cache_size=50,
            compression_threshold=2000,
            compression_level=3,
            enable_monitoring=True,
            log_level="DEBUG",
        ),
        CacheStrategy.BALANCED: CacheConfig(
            strategy=CacheStrategy.BALANCED,
            default_ttl=3600,
            max_connections=10,
            connection_timeout=5,
            memory_cache_size=100,
            compression_threshold=1000,
            compression_level=6,
            enable_monitoring=True,
            log_level="INFO",
        ),
        CacheStrategy.ROBUST: CacheConfig(
            strategy=CacheStrategy.ROBUST,
            default_ttl=7200,
            max_connections=20,
            connection_timeout=10,
            memory_cache_size=500,
            compression_threshold=500,
            compression_level=9,
            enable_monitoring=True,
            log_level="INFO",
        ),
        CacheStrategy.AI_OPTIMIZED: CacheConfig(
            strategy=CacheStrategy.AI_OPTIMIZED,
            default_ttl=14400,
            max_connections=25,
            connection_timeout=15,
            memory_cache_size=1000,
            compression_threshold=300,
            compression_level=9,
            enable_ai_cache=True,
            text_hash_threshold=1000,
            enable_monitoring=True,
            log_level="INFO",
        ),
    }


DEFAULT_PRESETS: dict[CacheStrategy, CacheConfig] = get_default_presets()

cache_preset_manager = CachePresetManager()
