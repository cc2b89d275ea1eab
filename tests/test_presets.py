"""Presets, strategies and preset recommendation (aicache.cache_presets, spec 13.2)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import pytest

from aicache import cache_presets
from aicache.cache_presets import (
    CACHE_PRESETS,
    DEFAULT_PRESETS,
    CacheConfig,
    CachePreset,
    CachePresetManager,
    CacheStrategy,
    EnvironmentRecommendation,
    cache_preset_manager,
    contains_ai_token,
    get_default_presets,
)
from aicache.config import AICacheConfig
from aicache.config import CacheConfig as PackageCacheConfig
from aicache.exceptions import ConfigurationError

# name: (display, strategy, ttl, max_conn, timeout, memory, threshold, level, ai,
#        monitoring, log level, environment contexts)
PRESET_TABLE: dict[str, tuple[Any, ...]] = {
    "disabled": (
        "Disabled", "fast", 300, 1, 1, 10, 10000, 1, False, False, "WARNING",
        ["testing", "minimal"],
    ),
    "minimal": (
        "Minimal", "fast", 900, 2, 3, 25, 5000, 1, False, False, "ERROR",
        ["minimal", "embedded", "iot", "container", "serverless"],
    ),
    "simple": (
        "Simple", "balanced", 3600, 5, 5, 100, 1000, 6, False, True, "INFO",
        ["development", "testing", "staging", "production"],
    ),
    "development": (
        "Development", "fast", 600, 3, 2, 50, 2000, 3, False, True, "DEBUG",
        ["development", "local"],
    ),
    "production": (
        "Production", "robust", 7200, 20, 10, 500, 500, 9, False, True, "INFO",
        ["production", "staging"],
    ),
    "ai-development": (
        "AI Development", "ai_optimized", 1800, 5, 5, 100, 1000, 6, True, True, "DEBUG",
        ["development", "ai-development"],
    ),
    "ai-production": (
        "AI Production", "ai_optimized", 14400, 25, 15, 1000, 300, 9, True, True, "INFO",
        ["production", "ai-production"],
    ),
}  # fmt: skip

DESCRIPTIONS = {
    "disabled": "Cache completely disabled, no Redis connection, memory-only fallback",
    "minimal": "Ultra-lightweight caching for resource-constrained environments",
    "simple": "Basic cache configuration suitable for most use cases",
    "development": "Fast-feedback configuration optimized for development speed",
    "production": "High-performance configuration for production workloads",
    "ai-development": (
        "AI-optimized configuration for development with text processing features"
    ),
    "ai-production": (
        "AI-optimized configuration for production with advanced text processing"
    ),
}

AI_OPTIMIZATIONS = {
    "ai-development": {
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
    "ai-production": {
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
}

STANDARD_TTLS = {
    "summarize": 7200,
    "sentiment": 3600,
    "key_points": 5400,
    "questions": 4800,
    "qa": 3600,
}


def test_preset_names_in_order() -> None:
    assert list(CACHE_PRESETS) == list(PRESET_TABLE)
    assert cache_preset_manager.list_presets() == list(PRESET_TABLE)


@pytest.mark.parametrize("key", list(PRESET_TABLE))
def test_every_preset_value(key: str) -> None:
    (name, strategy, ttl, conn, timeout, memory, threshold, level, ai, monitoring, log,
     contexts) = PRESET_TABLE[key]  # fmt: skip
    preset = CACHE_PRESETS[key]
    assert preset.name == name
    assert preset.description == DESCRIPTIONS[key]
    assert preset.strategy is CacheStrategy(strategy)
    assert preset.default_ttl == ttl
    assert preset.max_connections == conn
    assert preset.connection_timeout == timeout
    assert preset.memory_cache_size == memory
    assert preset.compression_threshold == threshold
    assert preset.compression_level == level
    assert preset.enable_ai_cache is ai
    assert preset.enable_monitoring is monitoring
    assert preset.log_level == log
    assert preset.environment_contexts == contexts
    assert preset.ai_optimizations == AI_OPTIMIZATIONS.get(key, {})


@pytest.mark.parametrize("key", list(PRESET_TABLE))
def test_preset_to_cache_config(key: str) -> None:
    preset = CACHE_PRESETS[key]
    config = preset.to_cache_config()
    assert isinstance(config, PackageCacheConfig)
    assert config.preset_name == preset.name
    assert config.environment == preset.environment_contexts[0]
    assert config.redis_url is None
    assert config.redis_password is None
    assert config.use_tls is False
    assert (config.tls_cert_path, config.tls_key_path) == (None, None)
    assert config.default_ttl == preset.default_ttl
    assert config.memory_cache_size == preset.memory_cache_size
    assert config.compression_threshold == preset.compression_threshold
    assert config.compression_level == preset.compression_level
    assert config.enable_ai_cache is preset.enable_ai_cache
    assert config.validate().is_valid
    if key in AI_OPTIMIZATIONS:
        assert isinstance(config.ai_config, AICacheConfig)
        opts = AI_OPTIMIZATIONS[key]
        for field_name, value in opts.items():
            assert getattr(config.ai_config, field_name) == value
    else:
        assert config.ai_config is None


@pytest.mark.parametrize("key", list(PRESET_TABLE))
def test_preset_ai_settings_reach_to_dict(key: str) -> None:
    data = CACHE_PRESETS[key].to_cache_config().to_dict()
    if key in AI_OPTIMIZATIONS:
        opts = AI_OPTIMIZATIONS[key]
        assert data["enable_ai_cache"] is True
        assert data["text_hash_threshold"] == opts["text_hash_threshold"]
        assert data["operation_ttls"] == opts["operation_ttls"]
        assert data["text_size_tiers"] == opts["text_size_tiers"]
        assert data["hash_algorithm"] == "sha256"
        assert data["ai_config"]["max_text_length"] == opts["max_text_length"]
    else:
        assert data["enable_ai_cache"] is False
        for flat in ("text_hash_threshold", "operation_ttls", "text_size_tiers"):
            assert flat not in data
        assert "hash_algorithm" not in data


def test_to_cache_config_returns_independent_objects() -> None:
    first = CACHE_PRESETS["ai-production"].to_cache_config()
    assert first.ai_config is not None
    first.ai_config.operation_ttls["summarize"] = 1
    second = CACHE_PRESETS["ai-production"].to_cache_config()
    assert second.ai_config is not None
    assert second.ai_config.operation_ttls["summarize"] == 14400
    assert CACHE_PRESETS["ai-production"].ai_optimizations["operation_ttls"][
        "summarize"
    ] == (14400)


def test_ai_preset_without_optimizations_uses_defaults() -> None:
    preset = CachePreset(
        name="Custom AI",
        description="d",
        strategy=CacheStrategy.AI_OPTIMIZED,
        default_ttl=600,
        max_connections=2,
        connection_timeout=2,
        memory_cache_size=10,
        compression_threshold=100,
        compression_level=1,
        enable_ai_cache=True,
        enable_monitoring=False,
        log_level="INFO",
        environment_contexts=[],
    )
    config = preset.to_cache_config()
    assert config.environment == "development"
    assert config.ai_config == AICacheConfig(
        text_hash_threshold=1000,
        hash_algorithm="sha256",
        text_size_tiers={"small": 1000, "medium": 5000, "large": 20000},
        operation_ttls=STANDARD_TTLS,
        enable_smart_promotion=True,
        max_text_length=100000,
    )
    assert preset.to_dict()["strategy"] is CacheStrategy.AI_OPTIMIZED


def test_get_preset_unknown() -> None:
    with pytest.raises(ConfigurationError) as info:
        cache_preset_manager.get_preset("turbo")
    assert "Unknown preset 'turbo'" in info.value.message
    assert info.value.context["requested_preset"] == "turbo"
    assert info.value.context["available"] == list(PRESET_TABLE)
    assert info.value.context["allowed"] == list(PRESET_TABLE)


def test_manager_presets_is_a_copy() -> None:
    manager = CachePresetManager()
    del manager.presets["disabled"]
    assert "disabled" in CACHE_PRESETS
    assert "disabled" in cache_preset_manager.presets


@pytest.mark.parametrize("key", list(PRESET_TABLE))
def test_preset_details(key: str) -> None:
    (name, strategy, ttl, conn, _t, memory, _th, _l, ai, monitoring, log,
     contexts) = PRESET_TABLE[key]  # fmt: skip
    details = cache_preset_manager.get_preset_details(key)
    assert details == {
        "name": name,
        "description": DESCRIPTIONS[key],
        "configuration": {
            "strategy": strategy,
            "default_ttl": ttl,
            "max_connections": conn,
            "memory_cache_size": memory,
            "enable_ai_cache": ai,
            "enable_monitoring": monitoring,
            "log_level": log,
        },
        "environment_contexts": contexts,
        "ai_optimizations": AI_OPTIMIZATIONS[key] if ai else None,
    }


def test_all_presets_summary() -> None:
    summary = cache_preset_manager.get_all_presets_summary()
    assert list(summary) == list(PRESET_TABLE)
    assert summary["production"]["name"] == "Production"


@pytest.mark.parametrize("key", list(PRESET_TABLE))
def test_builtin_presets_validate(key: str) -> None:
    assert cache_preset_manager.validate_preset(CACHE_PRESETS[key]) is True
    assert cache_preset_manager._basic_validate_preset(CACHE_PRESETS[key]) is True


def test_validate_preset_rejects_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    bad = CachePreset(**{**CACHE_PRESETS["simple"].to_dict(), "compression_level": 10})
    with caplog.at_level(logging.ERROR, logger="aicache.cache_presets"):
        assert cache_preset_manager.validate_preset(bad) is False
    assert "compression_level" in caplog.text
    assert cache_preset_manager._basic_validate_preset(bad) is False


@pytest.mark.parametrize(
    ("field_name", "low", "high"),
    [
        ("default_ttl", 1, 604800),
        ("max_connections", 1, 100),
        ("connection_timeout", 1, 60),
        ("memory_cache_size", 1, 10000),
        ("compression_level", 1, 9),
    ],
)
def test_basic_validate_preset_boundaries(field_name: str, low: int, high: int) -> None:
    base = CACHE_PRESETS["simple"].to_dict()

    def ok(value: int) -> bool:
        return cache_preset_manager._basic_validate_preset(
            CachePreset(**{**base, field_name: value})
        )

    assert ok(low) and ok(high)
    assert not ok(low - 1)
    assert not ok(high + 1)


def test_basic_validate_preset_ai_ttls() -> None:
    base = CACHE_PRESETS["ai-development"].to_dict()
    bad = {**base["ai_optimizations"], "operation_ttls": {"qa": 0}}
    assert not cache_preset_manager._basic_validate_preset(
        CachePreset(**{**base, "ai_optimizations": bad})
    )


# -- strategy CacheConfig ---------------------------------------------------------------

# strategy: (ttl, max_conn, timeout, memory, threshold, level, ai, log)
DEFAULT_TABLE = {
    CacheStrategy.FAST: (600, 3, 2, 50, 2000, 3, False, "DEBUG"),
    CacheStrategy.BALANCED: (3600, 10, 5, 100, 1000, 6, False, "INFO"),
    CacheStrategy.ROBUST: (7200, 20, 10, 500, 500, 9, False, "INFO"),
    CacheStrategy.AI_OPTIMIZED: (14400, 25, 15, 1000, 300, 9, True, "INFO"),
}


@pytest.mark.parametrize("strategy", list(CacheStrategy))
def test_default_presets(strategy: CacheStrategy) -> None:
    ttl, conn, timeout, memory, threshold, level, ai, log = DEFAULT_TABLE[strategy]
    for presets in (DEFAULT_PRESETS, get_default_presets()):
        config = presets[strategy]
        assert config.strategy is strategy
        assert (
            config.default_ttl,
            config.max_connections,
            config.connection_timeout,
        ) == (
            ttl,
            conn,
            timeout,
        )
        assert (config.memory_cache_size, config.compression_threshold) == (
            memory,
            threshold,
        )
        assert config.compression_level == level
        assert config.enable_ai_cache is ai
        assert config.log_level == log
        assert config.enable_monitoring is True
        assert config.text_hash_threshold == 1000
    assert get_default_presets()[strategy] is not DEFAULT_PRESETS[strategy]


def test_strategy_enum() -> None:
    assert [s.value for s in CacheStrategy] == [
        "fast",
        "balanced",
        "robust",
        "ai_optimized",
    ]
    assert CacheStrategy("robust") is CacheStrategy.ROBUST
    # The original's str Enum: str()/f-strings show the member, .value the string.
    assert str(CacheStrategy.FAST) == f"{CacheStrategy.FAST}" == "CacheStrategy.FAST"
    assert CacheStrategy.FAST == "fast"


def test_strategy_config_defaults() -> None:
    config = CacheConfig()
    assert config.strategy is CacheStrategy.BALANCED
    assert config.redis_url is None and config.redis_password is None
    assert config.use_tls is False
    assert (config.max_connections, config.connection_timeout) == (10, 5)
    assert (config.default_ttl, config.memory_cache_size) == (3600, 100)
    assert (config.compression_threshold, config.compression_level) == (1000, 6)
    assert config.enable_ai_cache is False
    assert config.text_hash_threshold == 1000
    assert config.hash_algorithm == "sha256"
    assert config.text_size_tiers == {"small": 1000, "medium": 5000, "large": 20000}
    assert config.operation_ttls == STANDARD_TTLS
    assert config.enable_smart_promotion is True
    assert config.max_text_length == 100000
    assert config.enable_monitoring is True
    assert config.log_level == "INFO"


def test_strategy_config_to_dict_web() -> None:
    data = CacheConfig(redis_url="redis://r:6379").to_dict()
    assert data == {
        "redis_url": "redis://r:6379",
        "default_ttl": 3600,
        "l1_cache_size": 100,
        "enable_l1_cache": True,
        "compression_threshold": 1000,
        "compression_level": 6,
        "enable_ai_cache": False,
        "enable_monitoring": True,
        "log_level": "INFO",
        "cache_strategy": "balanced",
    }


def test_strategy_config_to_dict_ai() -> None:
    data = DEFAULT_PRESETS[CacheStrategy.AI_OPTIMIZED].to_dict()
    assert "redis_url" not in data  # None removed
    assert data["cache_strategy"] == "ai_optimized"
    assert data["text_hash_threshold"] == 1000
    assert data["hash_algorithm"] == "sha256"
    assert data["text_size_tiers"] == {"small": 1000, "medium": 5000, "large": 20000}
    assert data["operation_ttls"] == STANDARD_TTLS
    assert data["enable_smart_promotion"] is True
    assert data["max_text_length"] == 100000
    assert data["l1_cache_size"] == 1000


def test_strategy_config_security_config() -> None:
    data = CacheConfig(redis_password="s3cret-password").to_dict()
    security = data["security_config"]
    if importlib.util.find_spec("aicache.security") is not None:
        from aicache.security import SecurityConfig

        assert isinstance(security, SecurityConfig)
        assert security.redis_auth == "s3cret-password"
        assert security.use_tls is False
        assert security.max_retries == 3
    else:
        assert security["redis_auth"] == "s3cret-password"
    assert "security_config" not in CacheConfig().to_dict()


def test_strategy_config_security_config_without_security_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def fake(name: str, package: str | None = None) -> Any:
        return None if name == "aicache.security" else real(name, package)

    monkeypatch.setattr(cache_presets.importlib.util, "find_spec", fake)
    data = CacheConfig(
        use_tls=True, tls_cert_path="/c.pem", tls_key_path="/k.pem"
    ).to_dict()
    assert data["security_config"] == {
        "redis_auth": None,
        "use_tls": True,
        "tls_cert_path": "/c.pem",
        "tls_key_path": "/k.pem",
        "connection_timeout": 5,
        "max_retries": 3,
    }


@pytest.mark.skipif(
    importlib.util.find_spec("aicache.security") is None, reason="no aicache.security"
)
def test_strategy_config_security_errors_propagate(tmp_path: Path) -> None:
    config = CacheConfig(use_tls=True, tls_cert_path=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError):
        config.to_dict()
    # validate() checks what to_dict() holds: the failing SecurityConfig is an error
    result = config.validate()
    assert not result.is_valid
    assert result.messages[-1].field_path == "security_config"
    assert result.messages[-1].context["validation_type"] == "tls_cert"


@pytest.mark.parametrize(
    ("field_name", "low", "high"),
    [
        ("default_ttl", 60, 604800),
        ("max_connections", 1, 100),
        ("connection_timeout", 1, 60),
        ("memory_cache_size", 1, 10000),
        ("compression_level", 1, 9),
    ],
)
def test_strategy_config_validate_boundaries(
    field_name: str, low: int, high: int
) -> None:
    # max_connections and connection_timeout are not in to_dict(): validate() only
    # warns about them (as the original accepted them); _basic_validate() errors.
    warn_only = field_name in ("max_connections", "connection_timeout")
    for check in ("validate", "_basic_validate"):

        def valid(value: int, check: str = check) -> bool:
            config = CacheConfig(**{field_name: value})
            result = getattr(config, check)()
            return bool(result.is_valid)

        assert valid(low) and valid(high), check
        if warn_only and check == "validate":
            assert valid(low - 1) and valid(high + 1)
            continue
        assert not valid(low - 1), check
        assert not valid(high + 1), check
    result = CacheConfig(**{field_name: high + 1}).validate()
    assert result.messages[0].context == {
        "field": field_name,
        "value": high + 1,
        "allowed": [low, high] if warn_only else f"integer between {low} and {high}",
    }


def test_strategy_config_validate_warnings() -> None:
    result = CacheConfig(
        redis_url="redis://r", redis_password="pw", use_tls=True
    ).validate()
    assert result.is_valid
    assert any("rediss://" in w for w in result.warnings)
    result = CacheConfig(redis_url="rediss://r", redis_password="pw").validate()
    assert any("plain text" in w for w in result.warnings)
    assert not CacheConfig(redis_url="http://r").validate().is_valid


# -- recommendation ---------------------------------------------------------------------

EXACT = {
    "development": ("development", 0.95),
    "dev": ("development", 0.90),
    "testing": ("development", 0.85),
    "test": ("development", 0.85),
    "staging": ("production", 0.90),
    "stage": ("production", 0.85),
    "production": ("production", 0.95),
    "prod": ("production", 0.90),
    "live": ("production", 0.85),
    "ai-development": ("ai-development", 0.95),
    "ai-dev": ("ai-development", 0.90),
    "ai-production": ("ai-production", 0.95),
    "ai-prod": ("ai-production", 0.90),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_recommend_exact(name: str) -> None:
    rec = cache_preset_manager.recommend_preset_with_details(name)
    assert isinstance(rec, EnvironmentRecommendation)
    assert (rec.preset_name, rec.confidence) == EXACT[name]
    assert rec.environment_detected == name
    assert cache_preset_manager.recommend_preset(f"  {name.upper()} ") == EXACT[name][0]


@pytest.mark.parametrize(
    ("name", "preset", "confidence"),
    [
        # AI only as a token (the fix of spec 21 item 14)
        ("ai", "ai-development", 0.75),
        ("my_ai", "ai-development", 0.75),
        ("ai.dev.eu", "ai-development", 0.75),
        ("team ai", "ai-development", 0.75),
        ("AI_Prod_EU", "ai-production", 0.80),
        ("ai-live", "ai-production", 0.80),
        ("eu-ai-production-2", "ai-production", 0.80),
        ("prod-ai", "ai-development", 0.75),  # prod must follow "ai" (original order)
        # words merely containing "ai" are not AI environments
        ("main", "production", 0.75),
        ("domain", "production", 0.75),
        ("maintenance", "production", 0.75),
        ("gmail-dev", "development", 0.75),
        ("rain", "simple", 0.40),
        ("trained-model", "simple", 0.40),
        # staging first, then development, then production
        ("staging-eu", "production", 0.70),
        ("pre-prod", "production", 0.70),
        ("preprod2", "production", 0.70),
        ("uat", "production", 0.70),
        ("integration", "production", 0.70),
        ("local", "development", 0.75),
        ("sandbox-1", "development", 0.75),
        ("demo", "development", 0.75),
        ("unit-test-runner", "development", 0.75),
        ("prod-eu", "production", 0.75),
        ("release", "production", 0.75),
        ("stable", "production", 0.75),
        ("master", "production", 0.75),
        ("qa", "simple", 0.40),
    ],
)
def test_recommend_patterns(name: str, preset: str, confidence: float) -> None:
    rec = cache_preset_manager.recommend_preset_with_details(name)
    assert (rec.preset_name, rec.confidence) == (preset, confidence)
    assert rec.environment_detected == name


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("ai", True),
        ("ai-prod", True),
        ("x_ai", True),
        ("a.ai.b", True),
        ("AI", True),
        ("main", False),
        ("domain", False),
        ("maintenance", False),
        ("aide", False),
        ("", False),
    ],
)
def test_contains_ai_token(word: str, expected: bool) -> None:
    assert contains_ai_token(word) is expected


@pytest.fixture()
def empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no .git/.env indicator files
    return tmp_path


@pytest.mark.parametrize(
    ("env", "preset", "confidence"),
    [
        ({}, "simple", 0.50),
        ({"ENABLE_AI_CACHE": "true"}, "ai-development", 0.50),
        ({"CACHE_PRESET": "production"}, "production", 0.60),
        ({"CACHE_PRESET": "minimal"}, "minimal", 0.60),
        ({"CACHE_PRESET": "testing"}, "development", 0.60),
        ({"CACHE_PRESET": "AI-Production"}, "ai-production", 0.60),
        ({"ENVIRONMENT": "production"}, "production", 0.95),
        ({"ENVIRONMENT": "production", "ENABLE_AI_CACHE": "1"}, "ai-production", 0.95),
        ({"ENVIRONMENT": "staging", "ENABLE_AI_CACHE": "yes"}, "ai-production", 0.95),
        ({"ENVIRONMENT": "testing"}, "development", 0.95),
        ({"ENVIRONMENT": "testing", "ENABLE_AI_CACHE": "true"}, "ai-development", 0.95),
        ({"NODE_ENV": "production"}, "production", 0.85),
        ({"ENVIRONMENT": "ai-production"}, "ai-production", 0.90),
        ({"ENVIRONMENT": "ai-live-eu"}, "ai-production", 0.90),
        ({"ENVIRONMENT": "ai-dev"}, "ai-development", 0.90),
        ({"ENVIRONMENT": "main"}, "simple", 0.50),
        ({"ENVIRONMENT": "domain"}, "simple", 0.50),
        ({"ENABLE_AI_CACHE": "false", "ENVIRONMENT": "prod"}, "production", 0.95),
    ],
)
def test_recommend_auto_detect(
    env: dict[str, str], preset: str, confidence: float, empty_dir: Path
) -> None:
    rec = cache_preset_manager.recommend_preset_with_details(environ=env)
    assert (rec.preset_name, rec.confidence) == (preset, pytest.approx(confidence))
    assert cache_preset_manager.recommend_preset(environ=env) == preset


def test_recommend_auto_detect_unknown_cache_preset_warns(
    empty_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aicache.cache_presets"):
        rec = cache_preset_manager.recommend_preset_with_details(
            environ={"CACHE_PRESET": "turbo", "ENVIRONMENT": "production"}
        )
    assert rec.preset_name == "production"
    assert "turbo" in caplog.text


def test_recommend_auto_detect_reads_os_environ(
    empty_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_PRESET", "ai-development")
    assert cache_preset_manager.recommend_preset() == "ai-development"
