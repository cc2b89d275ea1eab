"""Environment detection (aicache.environment, spec 12.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicache.environment import (
    Environment,
    EnvironmentDetector,
    FeatureContext,
    get_environment_info,
    is_development_environment,
    is_production_environment,
)


def detect(
    env: dict[str, str],
    base: Path,
    context: FeatureContext = FeatureContext.DEFAULT,
):
    return get_environment_info(context, environ=env, base_path=base)


def test_no_signal_means_development_with_low_confidence(tmp_path: Path) -> None:
    info = detect({}, tmp_path)
    assert info.environment is Environment.DEVELOPMENT
    assert info.confidence == 0.50
    assert info.detected_by == "fallback"
    assert "No environment signals" in info.reasoning
    assert info.additional_signals == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("development", Environment.DEVELOPMENT),
        ("dev", Environment.DEVELOPMENT),
        ("testing", Environment.TESTING),
        ("test", Environment.TESTING),
        ("staging", Environment.STAGING),
        ("stage", Environment.STAGING),
        ("production", Environment.PRODUCTION),
        ("prod", Environment.PRODUCTION),
        (" LIVE ", Environment.PRODUCTION),
    ],
)
def test_environment_variable_values(
    value: str, expected: Environment, tmp_path: Path
) -> None:
    info = detect({"ENVIRONMENT": value}, tmp_path)
    assert info.environment is expected
    assert info.confidence == 0.95
    assert info.detected_by == "ENVIRONMENT"
    assert "ENVIRONMENT" in info.reasoning


@pytest.mark.parametrize(
    "name",
    [
        "NODE_ENV",
        "FLASK_ENV",
        "APP_ENV",
        "ENV",
        "DEPLOYMENT_ENV",
        "DJANGO_SETTINGS_MODULE",
        "RAILS_ENV",
    ],
)
def test_other_variables_have_lower_confidence(name: str, tmp_path: Path) -> None:
    info = detect({name: "staging"}, tmp_path)
    assert info.environment is Environment.STAGING
    assert info.confidence == 0.85
    assert info.detected_by == name


def test_unrecognised_value_is_not_a_signal(tmp_path: Path) -> None:
    info = detect({"ENVIRONMENT": "qa-eu-west"}, tmp_path)
    assert info.detected_by == "fallback"


def test_agreeing_signals_raise_confidence_capped(tmp_path: Path) -> None:
    info = detect({"ENVIRONMENT": "production", "PRODUCTION": "true"}, tmp_path)
    assert info.environment is Environment.PRODUCTION
    assert info.confidence == pytest.approx(0.98)  # 0.95 + 0.05, capped
    assert "confirmed by 1 additional signals" in info.reasoning
    info = detect({"NODE_ENV": "production", "PROD": "true"}, tmp_path)
    assert info.confidence == pytest.approx(0.90)


def test_strong_conflict_lowers_confidence(tmp_path: Path) -> None:
    info = detect({"ENVIRONMENT": "production", "NODE_ENV": "development"}, tmp_path)
    assert info.environment is Environment.PRODUCTION
    assert info.confidence == pytest.approx(0.95 * 0.85)
    assert "1 conflicting signals" in info.reasoning


def test_weak_conflict_keeps_confidence(tmp_path: Path) -> None:
    # DEBUG=true is a 0.70 development signal: not > 0.70, so no penalty
    info = detect({"ENVIRONMENT": "production", "DEBUG": "true"}, tmp_path)
    assert info.confidence == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("env", "expected", "confidence"),
    [
        ({"DEBUG": "true"}, Environment.DEVELOPMENT, 0.70),
        ({"DEBUG": "1"}, Environment.DEVELOPMENT, 0.70),
        ({"DEBUG": "false"}, Environment.PRODUCTION, 0.75),
        ({"DEBUG": "0"}, Environment.PRODUCTION, 0.75),
        ({"PRODUCTION": "TRUE"}, Environment.PRODUCTION, 0.75),
        ({"PROD": "true"}, Environment.PRODUCTION, 0.75),
    ],
)
def test_system_indicators(
    env: dict[str, str], expected: Environment, confidence: float, tmp_path: Path
) -> None:
    info = detect(env, tmp_path)
    assert (info.environment, info.confidence) == (expected, confidence)
    assert info.detected_by == "system_indicator"


@pytest.mark.parametrize("name", [".env", ".git", "docker-compose.dev.yml"])
def test_indicator_files(name: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text("")
    info = detect({}, tmp_path)
    assert info.environment is Environment.DEVELOPMENT
    assert info.confidence == 0.70


@pytest.mark.parametrize(
    ("hostname", "expected", "confidence"),
    [
        ("dev-box-1", Environment.DEVELOPMENT, 0.60),
        ("api-uat-3", Environment.STAGING, 0.65),
        ("api-prod-01.example.com", Environment.PRODUCTION, 0.70),
        ("release-runner", Environment.PRODUCTION, 0.70),
    ],
)
def test_hostname_patterns(
    hostname: str, expected: Environment, confidence: float, tmp_path: Path
) -> None:
    info = detect({"HOSTNAME": hostname}, tmp_path)
    assert (info.environment, info.confidence) == (expected, confidence)
    assert info.detected_by == "hostname_pattern"


@pytest.mark.parametrize("flag", ["true", "1", "yes", "YES"])
def test_security_enforcement_adds_production_signal(flag: str, tmp_path: Path) -> None:
    info = detect({"ENFORCE_AUTH": flag}, tmp_path, FeatureContext.SECURITY_ENFORCEMENT)
    assert info.environment is Environment.PRODUCTION
    assert info.confidence == 0.98
    assert info.detected_by == "security_override"
    assert info.metadata["enforce_auth_enabled"] is True


def test_security_enforcement_ignored_without_context_or_flag(tmp_path: Path) -> None:
    assert detect({"ENFORCE_AUTH": "true"}, tmp_path).detected_by == "fallback"
    info = detect(
        {"ENFORCE_AUTH": "off"}, tmp_path, FeatureContext.SECURITY_ENFORCEMENT
    )
    assert info.detected_by == "fallback"


def test_ai_context_records_enable_ai_cache(tmp_path: Path) -> None:
    info = detect({"ENABLE_AI_CACHE": "true"}, tmp_path, FeatureContext.AI_ENABLED)
    assert info.metadata == {
        "feature_context": "ai_enabled",
        "enable_ai_cache_enabled": True,
        "ai_prefix": "ai-",
    }
    assert info.feature_context is FeatureContext.AI_ENABLED
    plain = detect({"ENABLE_AI_CACHE": "no"}, tmp_path, FeatureContext.AI_ENABLED)
    assert plain.metadata == {"feature_context": "ai_enabled"}


def test_default_reads_os_environ_and_cwd_at_call_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("NODE_ENV", "FLASK_ENV", "APP_ENV", "ENV", "DEPLOYMENT_ENV"):
        monkeypatch.delenv(name, raising=False)
    for name in ("DJANGO_SETTINGS_MODULE", "RAILS_ENV", "DEBUG", "PRODUCTION", "PROD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HOSTNAME", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert get_environment_info().environment is Environment.PRODUCTION
    assert is_production_environment()
    assert not is_development_environment()
    monkeypatch.setenv("ENVIRONMENT", "dev")
    assert get_environment_info().environment is Environment.DEVELOPMENT
    assert is_development_environment()


def test_summary_and_str(tmp_path: Path) -> None:
    detector = EnvironmentDetector(
        environ={"ENVIRONMENT": "staging"}, base_path=tmp_path
    )
    summary = detector.get_environment_summary()
    assert summary["detected_environment"] == "staging"
    assert summary["all_signals"][0]["source"] == "ENVIRONMENT"
    assert str(detector.detect_environment()) == "staging (confidence: 0.95)"
    assert str(Environment.PRODUCTION) == "production"
    assert Environment("unknown") is Environment.UNKNOWN
