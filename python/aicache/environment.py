"""Environment detection (spec 12.6; ``app.core.environment`` in the original template).

Classifies the deployment environment from environment variables, the ``HOSTNAME`` and a
few system indicators, with a confidence score and a human-readable reasoning.

Signals, strongest first:

* explicit variables ``ENVIRONMENT`` (confidence 0.95), then ``NODE_ENV``, ``FLASK_ENV``,
  ``APP_ENV``, ``ENV``, ``DEPLOYMENT_ENV``, ``DJANGO_SETTINGS_MODULE``, ``RAILS_ENV``
  (0.85 each) whose value is one of development/dev/testing/test/staging/stage/
  production/prod/live;
* system indicators: ``DEBUG=true|1``, a ``.env``/``.git``/``docker-compose.dev.yml``
  file (development, 0.70); ``PRODUCTION=true``, ``PROD=true``, ``DEBUG=false|0``
  (production, 0.75);
* name patterns matched against ``HOSTNAME``: dev/local/test/sandbox/demo (development,
  0.60), stag/preprod/uat/integration (staging, 0.65), prod/live/release/stable/main/master
  (production, 0.70).

With ``FeatureContext.SECURITY_ENFORCEMENT``, ``ENFORCE_AUTH=true|1|yes`` adds a
production signal of confidence 0.98. With ``FeatureContext.AI_ENABLED``,
``ENABLE_AI_CACHE=true|1|yes`` is recorded in the metadata. No signal at all means
development with confidence 0.50.

Unlike the original, the variables and the directory searched for indicator files can be
injected (``environ=``, ``base_path=``), so detection is testable without touching
``os.environ``; by default both are read at call time.
"""

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "DetectionConfig",
    "Environment",
    "EnvironmentDetector",
    "EnvironmentInfo",
    "EnvironmentSignal",
    "FeatureContext",
    "environment_detector",
    "get_environment_info",
    "is_development_environment",
    "is_production_environment",
]

logger = logging.getLogger(__name__)


class Environment(str, Enum):
    """Deployment environment classification."""

    DEVELOPMENT = "development"
    TESTING = "testing"
    STAGING = "staging"
    PRODUCTION = "production"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


class FeatureContext(str, Enum):
    """Feature-specific flavour of detection."""

    AI_ENABLED = "ai_enabled"
    SECURITY_ENFORCEMENT = "security_enforcement"
    CACHE_OPTIMIZATION = "cache_optimization"
    RESILIENCE_STRATEGY = "resilience_strategy"
    DEFAULT = "default"


class EnvironmentSignal(NamedTuple):
    """One piece of evidence for an environment."""

    source: str
    value: str
    environment: Environment
    confidence: float
    reasoning: str


@dataclass
class EnvironmentInfo:
    """Detection result: the environment, how sure we are, and why."""

    environment: Environment
    confidence: float
    reasoning: str
    detected_by: str
    feature_context: FeatureContext = FeatureContext.DEFAULT
    additional_signals: list[EnvironmentSignal] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.environment.value} (confidence: {self.confidence:.2f})"


_TRUE_FLAGS = ("true", "1", "yes")

_EXPLICIT_VALUES: dict[str, Environment] = {
    "development": Environment.DEVELOPMENT,
    "dev": Environment.DEVELOPMENT,
    "testing": Environment.TESTING,
    "test": Environment.TESTING,
    "staging": Environment.STAGING,
    "stage": Environment.STAGING,
    "production": Environment.PRODUCTION,
    "prod": Environment.PRODUCTION,
    "live": Environment.PRODUCTION,
}


@dataclass
class DetectionConfig:
    """Which variables, patterns and indicators the detector looks at."""

    env_var_precedence: list[str] = field(
        default_factory=lambda: [
            "ENVIRONMENT",
            "NODE_ENV",
            "FLASK_ENV",
            "APP_ENV",
            "ENV",
            "DEPLOYMENT_ENV",
            "DJANGO_SETTINGS_MODULE",
            "RAILS_ENV",
        ]
    )
    development_patterns: list[str] = field(
        default_factory=lambda: [
            r".*dev.*",
            r".*local.*",
            r".*test.*",
            r".*sandbox.*",
            r".*demo.*",
        ]
    )
    staging_patterns: list[str] = field(
        default_factory=lambda: [
            r".*stag.*",
            r".*pre-?prod.*",
            r".*preprod.*",
            r".*uat.*",
            r".*integration.*",
        ]
    )
    production_patterns: list[str] = field(
        default_factory=lambda: [
            r".*prod.*",
            r".*live.*",
            r".*release.*",
            r".*stable.*",
            r".*main.*",
            r".*master.*",
        ]
    )
    development_indicators: list[str] = field(
        default_factory=lambda: [
            "DEBUG=true",
            "DEBUG=1",
            ".env",
            ".git",
            "docker-compose.dev.yml",
        ]
    )
    production_indicators: list[str] = field(
        default_factory=lambda: [
            "PRODUCTION=true",
            "PROD=true",
            "DEBUG=false",
            "DEBUG=0",
        ]
    )
    feature_contexts: dict[FeatureContext, dict[str, Any]] = field(
        default_factory=lambda: {
            FeatureContext.AI_ENABLED: {
                "environment_var": "ENABLE_AI_CACHE",
                "true_values": list(_TRUE_FLAGS),
                "preset_modifier": "ai-",
            },
            FeatureContext.SECURITY_ENFORCEMENT: {
                "environment_var": "ENFORCE_AUTH",
                "true_values": list(_TRUE_FLAGS),
                "production_override": True,
            },
        }
    )


class EnvironmentDetector:
    """Collects signals and resolves them into one :class:`EnvironmentInfo`.

    ``environ`` and ``base_path`` are read at every detection when left as None
    (``os.environ`` and the current directory), so tests can patch either.
    """

    def __init__(
        self,
        config: DetectionConfig | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config if config is not None else DetectionConfig()
        self._environ = environ
        self._base_path = base_path

    # -- public API -----------------------------------------------------------------

    def detect_environment(
        self, feature_context: FeatureContext = FeatureContext.DEFAULT
    ) -> EnvironmentInfo:
        return self.detect_with_context(feature_context)

    def detect_with_context(self, feature_context: FeatureContext) -> EnvironmentInfo:
        env = self._env()
        signals = self._collect_signals(env)
        extra, metadata = self._feature_signals(env, feature_context)
        all_signals = signals + extra
        environment, confidence, reasoning, detected_by = self._resolve(all_signals)
        return EnvironmentInfo(
            environment=environment,
            confidence=confidence,
            reasoning=reasoning,
            detected_by=detected_by,
            feature_context=feature_context,
            additional_signals=all_signals,
            metadata=metadata,
        )

    def get_environment_summary(self) -> dict[str, Any]:
        info = self.detect_environment()
        return {
            "detected_environment": info.environment.value,
            "confidence": info.confidence,
            "reasoning": info.reasoning,
            "detected_by": info.detected_by,
            "all_signals": [
                {
                    "source": s.source,
                    "value": s.value,
                    "environment": s.environment.value,
                    "confidence": s.confidence,
                    "reasoning": s.reasoning,
                }
                for s in info.additional_signals
            ],
            "metadata": info.metadata,
        }

    # -- signal collection ----------------------------------------------------------

    def _env(self) -> Mapping[str, str]:
        return self._environ if self._environ is not None else os.environ

    def _collect_signals(self, env: Mapping[str, str]) -> list[EnvironmentSignal]:
        signals: list[EnvironmentSignal] = []
        for name in self.config.env_var_precedence:
            value = env.get(name, "")
            if not value:
                continue
            mapped = _EXPLICIT_VALUES.get(value.strip().lower())
            if mapped is not None:
                signals.append(
                    EnvironmentSignal(
                        source=name,
                        value=value,
                        environment=mapped,
                        confidence=0.95 if name == "ENVIRONMENT" else 0.85,
                        reasoning=f"Explicit environment from {name}={value}",
                    )
                )
        for indicator in self.config.development_indicators:
            if self._indicator_present(env, indicator):
                signals.append(
                    EnvironmentSignal(
                        "system_indicator",
                        indicator,
                        Environment.DEVELOPMENT,
                        0.70,
                        f"Development indicator detected: {indicator}",
                    )
                )
        for indicator in self.config.production_indicators:
            if self._indicator_present(env, indicator):
                signals.append(
                    EnvironmentSignal(
                        "system_indicator",
                        indicator,
                        Environment.PRODUCTION,
                        0.75,
                        f"Production indicator detected: {indicator}",
                    )
                )
        hostname = env.get("HOSTNAME", "").lower()
        if hostname:
            groups = (
                (self.config.development_patterns, Environment.DEVELOPMENT, 0.60),
                (self.config.staging_patterns, Environment.STAGING, 0.65),
                (self.config.production_patterns, Environment.PRODUCTION, 0.70),
            )
            for patterns, environment, confidence in groups:
                if any(_safe_match(p, hostname) for p in patterns):
                    signals.append(
                        EnvironmentSignal(
                            "hostname_pattern",
                            hostname,
                            environment,
                            confidence,
                            f"Hostname '{hostname}' matches {environment.value} pattern",
                        )
                    )
        return signals

    def _indicator_present(self, env: Mapping[str, str], indicator: str) -> bool:
        if "=" in indicator:
            name, expected = indicator.split("=", 1)
            return env.get(name, "").lower() == expected.lower()
        base = Path(self._base_path) if self._base_path is not None else Path.cwd()
        try:
            return (base / indicator).exists()
        except OSError as exc:  # unreadable directory: not evidence either way
            logger.warning("Unable to check indicator %r: %s", indicator, exc)
            return False

    def _feature_signals(
        self, env: Mapping[str, str], context: FeatureContext
    ) -> tuple[list[EnvironmentSignal], dict[str, Any]]:
        if context == FeatureContext.DEFAULT:
            return [], {}
        metadata: dict[str, Any] = {"feature_context": context.value}
        extra: list[EnvironmentSignal] = []
        settings = self.config.feature_contexts.get(context, {})
        var = settings.get("environment_var")
        if isinstance(var, str):
            value = env.get(var, "").strip().lower()
            if value in settings.get("true_values", ["true"]):
                metadata[f"{var.lower()}_enabled"] = True
                if context == FeatureContext.AI_ENABLED:
                    metadata["ai_prefix"] = settings.get("preset_modifier", "")
                elif context == FeatureContext.SECURITY_ENFORCEMENT and settings.get(
                    "production_override"
                ):
                    extra.append(
                        EnvironmentSignal(
                            "security_override",
                            f"{var}={value}",
                            Environment.PRODUCTION,
                            0.98,
                            f"Security enforcement enabled via {var}",
                        )
                    )
        return extra, metadata

    @staticmethod
    def _resolve(
        signals: list[EnvironmentSignal],
    ) -> tuple[Environment, float, str, str]:
        if not signals:
            return (
                Environment.DEVELOPMENT,
                0.50,
                "No environment signals detected, defaulting to development",
                "fallback",
            )
        ranked = sorted(signals, key=lambda s: s.confidence, reverse=True)
        best = ranked[0]
        agreeing = [s for s in ranked if s.environment == best.environment]
        conflicting = [s for s in ranked if s.environment != best.environment]
        confidence = best.confidence
        if len(agreeing) > 1:
            confidence = min(0.98, confidence + 0.05 * (len(agreeing) - 1))
        if conflicting and max(s.confidence for s in conflicting) > 0.70:
            confidence *= 0.85
        reasoning = best.reasoning
        if len(agreeing) > 1:
            reasoning += f" (confirmed by {len(agreeing) - 1} additional signals)"
        if conflicting:
            reasoning += f" (note: {len(conflicting)} conflicting signals detected)"
        return best.environment, confidence, reasoning, best.source


def _safe_match(pattern: str, text: str) -> bool:
    try:
        return re.match(pattern, text, re.IGNORECASE) is not None
    except re.error as exc:
        logger.warning("Skipping invalid environment pattern %r: %s", pattern, exc)
        return False


environment_detector = EnvironmentDetector()


def get_environment_info(
    feature_context: FeatureContext = FeatureContext.DEFAULT,
    *,
    environ: Mapping[str, str] | None = None,
    base_path: str | os.PathLike[str] | None = None,
) -> EnvironmentInfo:
    """Detect the environment (``environment``, ``confidence``, ``reasoning``, ...).

    Without ``environ``/``base_path`` the module-level :data:`environment_detector` is
    used (it reads ``os.environ`` and the current directory at call time).
    """
    if environ is None and base_path is None:
        return environment_detector.detect_with_context(feature_context)
    detector = EnvironmentDetector(
        environment_detector.config, environ=environ, base_path=base_path
    )
    return detector.detect_with_context(feature_context)


def is_production_environment(
    feature_context: FeatureContext = FeatureContext.DEFAULT,
) -> bool:
    info = get_environment_info(feature_context)
    return info.environment == Environment.PRODUCTION and info.confidence > 0.60


def is_development_environment(
    feature_context: FeatureContext = FeatureContext.DEFAULT,
) -> bool:
    info = get_environment_info(feature_context)
    return info.environment == Environment.DEVELOPMENT and info.confidence > 0.60
