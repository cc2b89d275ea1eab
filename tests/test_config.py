"""aicache.config: AICacheConfig, CacheConfig, CacheConfigBuilder, EnvironmentPresets."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from aicache.cache_presets import CACHE_PRESETS
from aicache.config import (
    AI_FLAT_KEYS,
    AICacheConfig,
    CacheConfig,
    CacheConfigBuilder,
    EnvironmentPresets,
    ValidationResult,
    apply_config_overrides,
    valid_override_keys,
)
from aicache.exceptions import ConfigurationError, ValidationError

ORIGINAL_KEYS = {
    "redis_url",
    "redis_password",
    "use_tls",
    "tls_cert_path",
    "tls_key_path",
    "default_ttl",
    "memory_cache_size",
    "compression_threshold",
    "compression_level",
    "environment",
    "preset_name",
    "ai_config",
    "enable_ai_cache",
}


# -- ValidationResult -----------------------------------------------------------------


def test_validation_result() -> None:
    result = ValidationResult(is_valid=True)
    result.add_warning("w")
    assert result.is_valid and result.warnings == ["w"]
    result.add_error("plain")
    assert not result.is_valid and result.errors == ["plain"] and result.details == []
    result.add_error("x bad", field_name="x", value=1, allowed="2")
    assert result.error_context()["field"] == "x"
    assert result.error_context()["errors"] == ["plain", "x bad"]


# -- AICacheConfig ----------------------------------------------------------------------


def test_ai_config_defaults() -> None:
    ai = AICacheConfig()
    assert ai.text_hash_threshold == 1000
    assert ai.hash_algorithm == "sha256"
    assert ai.text_size_tiers == {"small": 1000, "medium": 10000, "large": 100000}
    assert ai.operation_ttls == {
        "summarize": 7200,
        "sentiment": 3600,
        "key_points": 5400,
        "questions": 4800,
        "qa": 3600,
    }
    assert ai.enable_smart_promotion is True
    assert ai.max_text_length == 100000
    assert ai.validate().is_valid
    assert AICacheConfig().text_size_tiers is not ai.text_size_tiers


@pytest.mark.parametrize(
    ("changes", "valid", "field_name"),
    [
        ({"text_hash_threshold": 1}, True, None),
        ({"text_hash_threshold": 0}, False, "text_hash_threshold"),
        ({"text_hash_threshold": True}, False, "text_hash_threshold"),
        ({"text_size_tiers": {"small": 1}}, True, None),
        ({"text_size_tiers": {"small": 0}}, False, "text_size_tiers['small']"),
        ({"text_size_tiers": {"small": "9"}}, False, "text_size_tiers['small']"),
        ({"text_size_tiers": [1, 2]}, False, "text_size_tiers"),
        ({"operation_ttls": {"qa": 1}}, True, None),
        ({"operation_ttls": {"qa": 0}}, False, "operation_ttls['qa']"),
        ({"operation_ttls": {"qa": 1.5}}, False, "operation_ttls['qa']"),
        ({"hash_algorithm": "md5"}, True, None),
        ({"hash_algorithm": "sha3_256"}, True, None),
        ({"hash_algorithm": "nope"}, False, "hash_algorithm"),
        ({"hash_algorithm": 5}, False, "hash_algorithm"),
        ({"max_text_length": 1}, True, None),
        ({"max_text_length": 0}, False, "max_text_length"),
        ({"enable_smart_promotion": "yes"}, False, "enable_smart_promotion"),
    ],
)
def test_ai_config_validate(
    changes: dict[str, Any], valid: bool, field_name: str | None
) -> None:
    result = AICacheConfig(**changes).validate()
    assert result.is_valid is valid, result.errors
    if field_name is not None:
        assert result.details[0]["field"] == field_name
        assert field_name.split("[")[0] in result.errors[0]


def test_ai_config_warnings() -> None:
    result = AICacheConfig(
        text_size_tiers={"small": 10, "medium": 5, "large": 20}
    ).validate()
    assert result.is_valid
    assert result.warnings == ["text_size_tiers values should be in ascending order"]
    ok = AICacheConfig(operation_ttls={"qa": 604800}).validate()
    assert ok.warnings == []
    long = AICacheConfig(operation_ttls={"qa": 604801}).validate()
    assert long.is_valid
    assert long.warnings == ["operation_ttls['qa'] is very long (>1 week)"]


# -- CacheConfig --------------------------------------------------------------------------


def test_cache_config_defaults() -> None:
    config = CacheConfig()
    assert config.redis_url is None
    assert config.redis_password is None
    assert config.use_tls is False
    assert config.tls_cert_path is None and config.tls_key_path is None
    assert config.default_ttl == 3600
    assert config.memory_cache_size == 100
    assert config.compression_threshold == 1000
    assert config.compression_level == 6
    assert config.environment == "development"
    assert config.preset_name == ""
    assert config.ai_config is None
    assert config.enable_ai_cache is False
    assert config._from_env is False
    # additions
    assert config.encryption_key is None
    assert config.redis_username is None
    assert config.tls_ca_path is None
    assert config.verify_certificates is True
    assert config.insecure_allow_plaintext is False
    assert (config.connection_timeout, config.max_retries, config.retry_delay) == (
        None,
        None,
        None,
    )
    assert config.validate().is_valid


def test_cache_config_positional_order_is_original() -> None:
    ai = AICacheConfig()
    config = CacheConfig(
        "redis://h", "pw", True, "c", "k", 10, 20, 30, 4, "testing", "P", ai, True
    )
    assert (config.redis_url, config.redis_password, config.use_tls) == (
        "redis://h",
        "pw",
        True,
    )
    assert (config.tls_cert_path, config.tls_key_path) == ("c", "k")
    assert (config.default_ttl, config.memory_cache_size) == (10, 20)
    assert (config.compression_threshold, config.compression_level) == (30, 4)
    assert (config.environment, config.preset_name) == ("testing", "P")
    assert config.ai_config is ai and config.enable_ai_cache is True
    with pytest.raises(TypeError):
        CacheConfig(*([None] * 14))  # the additions are keyword-only


@pytest.mark.parametrize(
    ("changes", "field_name", "allowed"),
    [
        ({"default_ttl": 0}, "default_ttl", "an integer >= 1"),
        ({"default_ttl": "60"}, "default_ttl", "an integer >= 1"),
        ({"memory_cache_size": 0}, "memory_cache_size", "an integer >= 1"),
        ({"compression_level": 0}, "compression_level", "an integer between 1 and 9"),
        ({"compression_level": 10}, "compression_level", "an integer between 1 and 9"),
        ({"compression_threshold": -1}, "compression_threshold", "an integer >= 0"),
        ({"compression_threshold": False}, "compression_threshold", "an integer >= 0"),
        ({"redis_url": "http://x"}, "redis_url", None),
        ({"redis_url": 5}, "redis_url", None),
        ({"use_tls": "yes"}, "use_tls", "a boolean"),
        ({"enable_ai_cache": 1}, "enable_ai_cache", "a boolean"),
        ({"environment": None}, "environment", "a string"),
        ({"encryption_key": "k1,,k2"}, "encryption_key", None),
        ({"encryption_key": ""}, "encryption_key", None),
        ({"redis_username": "app"}, "redis_username", None),
        ({"connection_timeout": 0}, "connection_timeout", "a number > 0 or None"),
        ({"retry_delay": -0.5}, "retry_delay", "a number >= 0 or None"),
        ({"max_retries": -1}, "max_retries", "an integer >= 0"),
        ({"ai_config": {"text_hash_threshold": 5}}, "ai_config", "an AICacheConfig"),
    ],
)
def test_cache_config_invalid(
    changes: dict[str, Any], field_name: str, allowed: str | None
) -> None:
    result = CacheConfig(**changes).validate()
    assert not result.is_valid
    detail = result.details[0]
    assert detail["field"] == field_name
    if allowed is not None:
        assert detail["allowed"] == allowed
        assert allowed in result.errors[0]
    if field_name != "encryption_key":
        assert detail["value"] == changes[field_name]
    else:
        assert detail["value"] == "<redacted>"  # never echo key material


@pytest.mark.parametrize(
    "changes",
    [
        {"default_ttl": 1},
        {"memory_cache_size": 1},
        {"compression_level": 1},
        {"compression_level": 9},
        {"compression_threshold": 0},
        {"redis_url": "redis://localhost:6379/0"},
        {"redis_url": "rediss://:pw@host:6380"},
        {"redis_url": "unix:///tmp/redis.sock"},
        {"encryption_key": "k1, k2"},
        {"redis_username": "app", "redis_password": "pw"},
        {"connection_timeout": 0.1, "retry_delay": 0, "max_retries": 0},
        {"ai_config": AICacheConfig()},
    ],
)
def test_cache_config_valid_edges(changes: dict[str, Any]) -> None:
    result = CacheConfig(**changes).validate()
    assert result.is_valid, result.errors


def test_cache_config_merges_ai_errors() -> None:
    result = CacheConfig(ai_config=AICacheConfig(text_hash_threshold=0)).validate()
    assert not result.is_valid
    assert result.details[0]["field"] == "text_hash_threshold"


@pytest.mark.parametrize("env", ["production", "development"])
def test_tls_file_checks(env: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    config = CacheConfig(
        use_tls=True,
        tls_cert_path=missing,
        tls_key_path=missing,
        tls_ca_path=missing,
        environment=env,
    )
    result = config.validate()
    if env == "production":
        assert not result.is_valid
        assert [d["field"] for d in result.details] == [
            "tls_cert_path",
            "tls_key_path",
            "tls_ca_path",
        ]
        assert result.errors[0] == f"TLS certificate file not found: {missing}"
    else:
        assert result.is_valid
        assert len(result.warnings) == 3
    existing = tmp_path / "c.pem"
    existing.write_text("x")
    ok = CacheConfig(
        use_tls=True,
        tls_cert_path=str(existing),
        tls_key_path=str(existing),
        environment=env,
    ).validate()
    assert ok.is_valid and ok.warnings == []
    # without TLS the paths are not checked
    assert CacheConfig(tls_cert_path=missing, environment=env).validate().warnings == []


def test_to_dict_keeps_original_keys_without_ai() -> None:
    config = CacheConfig(ai_config=AICacheConfig(), enable_ai_cache=False)
    data = config.to_dict()
    assert set(data) >= ORIGINAL_KEYS
    assert "_from_env" not in data
    assert isinstance(data["ai_config"], dict)
    for key in AI_FLAT_KEYS:
        assert key not in data


def test_to_dict_flat_ai_keys() -> None:
    ai = AICacheConfig(
        text_hash_threshold=321,
        hash_algorithm="md5",
        text_size_tiers={"small": 1, "medium": 2, "large": 3},
        operation_ttls={"qa": 60},
    )
    data = CacheConfig(ai_config=ai, enable_ai_cache=True).to_dict()
    assert data["text_hash_threshold"] == 321
    assert data["hash_algorithm"] == "md5"
    assert data["text_size_tiers"] == {"small": 1, "medium": 2, "large": 3}
    assert data["operation_ttls"] == {"qa": 60}
    assert data["ai_config"]["text_hash_threshold"] == 321
    data["operation_ttls"]["qa"] = 1
    assert ai.operation_ttls == {"qa": 60}  # a copy


def test_to_dict_flat_ai_keys_default_when_no_ai_config() -> None:
    data = CacheConfig(enable_ai_cache=True).to_dict()
    defaults = AICacheConfig()
    assert data["ai_config"] is None
    for key in AI_FLAT_KEYS:
        assert data[key] == getattr(defaults, key)


def test_to_dict_is_json_serialisable() -> None:
    config = CACHE_PRESETS["ai-production"].to_cache_config()
    assert json.loads(json.dumps(config.to_dict()))["operation_ttls"]["qa"] == 7200


def test_repr_hides_secrets() -> None:
    text = repr(CacheConfig(redis_password="hunter2", encryption_key="k" * 44))
    assert "hunter2" not in text
    assert "kkkk" not in text


def test_parse_bool_original_semantics() -> None:
    for text in ("true", "1", "yes", "on", "TRUE"):
        assert CacheConfig._parse_bool(text) is True
    for text in ("false", "0", "nah", ""):
        assert CacheConfig._parse_bool(text) is False


def test_deprecated_loaders_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    config = CacheConfig()
    with caplog.at_level(logging.WARNING, logger="aicache.config"):
        config._load_from_environment()
        config._load_ai_config_from_environment()
    assert caplog.text.count("deprecated") == 2
    assert config == CacheConfig()


def test_security_kwargs() -> None:
    assert CacheConfig().security_kwargs() is None
    assert CacheConfig(redis_password="pw").security_kwargs() == {"redis_auth": "pw"}
    kwargs = CacheConfig(
        redis_username="app",
        redis_password="pw",
        use_tls=True,
        tls_ca_path="/ca.pem",
        verify_certificates=False,
        connection_timeout=2.5,
        max_retries=0,
        retry_delay=0.0,
        encryption_key="k",
    ).security_kwargs()
    assert kwargs == {
        "acl_username": "app",
        "acl_password": "pw",
        "use_tls": True,
        "verify_certificates": False,
        "tls_ca_path": "/ca.pem",
        "connection_timeout": 2.5,
        "socket_timeout": 2.5,
        "max_retries": 0,
        "retry_delay": 0.0,
        "encryption_key": "k",
    }


# -- apply_config_overrides ---------------------------------------------------------------


def test_overrides_unknown_key_lists_valid_keys() -> None:
    config = CacheConfig()
    with pytest.raises(ConfigurationError) as info:
        apply_config_overrides(config, {"max_connections": 5}, source="test")
    assert info.value.context["field"] == "max_connections"
    assert info.value.context["value"] == 5
    assert info.value.context["allowed"] == valid_override_keys()
    assert "memory_cache_size" in info.value.message
    assert config == CacheConfig()


def test_overrides_ai_keys_need_ai_enabled() -> None:
    config = CacheConfig()
    with pytest.raises(ConfigurationError) as info:
        apply_config_overrides(config, {"text_hash_threshold": 50}, source="test")
    assert info.value.context["field"] == "text_hash_threshold"
    assert config.ai_config is None  # nothing half-applied
    apply_config_overrides(
        config, {"enable_ai_cache": True, "text_hash_threshold": 50}, source="test"
    )
    assert config.ai_config is not None and config.ai_config.text_hash_threshold == 50


def test_overrides_merge_or_replace_dicts() -> None:
    base = CacheConfig(enable_ai_cache=True, ai_config=AICacheConfig())
    merged = dataclasses.replace(base, ai_config=AICacheConfig())
    apply_config_overrides(
        merged, {"operation_ttls": {"qa": 5}}, source="t", merge_dicts=True
    )
    assert merged.ai_config is not None
    assert merged.ai_config.operation_ttls["qa"] == 5
    assert merged.ai_config.operation_ttls["summarize"] == 7200
    replaced = dataclasses.replace(base, ai_config=AICacheConfig())
    apply_config_overrides(replaced, {"operation_ttls": {"qa": 5}}, source="t")
    assert replaced.ai_config is not None
    assert replaced.ai_config.operation_ttls == {"qa": 5}


def test_overrides_alias_and_conflict() -> None:
    config = CacheConfig()
    apply_config_overrides(config, {"l1_cache_size": 7}, source="t")
    assert config.memory_cache_size == 7
    with pytest.raises(ConfigurationError) as info:
        apply_config_overrides(
            config, {"l1_cache_size": 7, "memory_cache_size": 8}, source="t"
        )
    assert info.value.context["field"] == "l1_cache_size"


def test_overrides_nested_ai_config() -> None:
    config = CacheConfig()
    apply_config_overrides(config, {"ai_config": {"max_text_length": 5}}, source="t")
    assert config.ai_config == AICacheConfig(max_text_length=5)
    with pytest.raises(ConfigurationError) as info:
        apply_config_overrides(config, {"ai_config": {"bogus": 1}}, source="t")
    assert info.value.context["field"] == "ai_config.bogus"
    with pytest.raises(ConfigurationError):
        apply_config_overrides(config, {"ai_config": 3}, source="t")
    with pytest.raises(ConfigurationError):
        apply_config_overrides(config, ["not", "a", "mapping"], source="t")  # type: ignore[arg-type]
    apply_config_overrides(config, {"ai_config": None}, source="t")
    assert config.ai_config is None


# -- builder ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "values"),
    [
        ("development", (1800, 50, 2000, 4)),
        ("testing", (60, 25, 1000, 1)),
        ("production", (7200, 200, 1000, 6)),
    ],
)
def test_for_environment(env: str, values: tuple[int, int, int, int]) -> None:
    config = CacheConfigBuilder().for_environment(env).build()
    assert config.environment == env
    assert (
        config.default_ttl,
        config.memory_cache_size,
        config.compression_threshold,
        config.compression_level,
    ) == values


def test_for_environment_rejects_unknown() -> None:
    with pytest.raises(ValidationError) as info:
        CacheConfigBuilder().for_environment("staging")
    allowed = ["development", "testing", "production"]
    assert info.value.context == {
        "provided_environment": "staging",
        "valid_environments": allowed,
        "field": "environment",
        "value": "staging",
        "allowed": allowed,
    }


def test_builder_methods() -> None:
    builder = CacheConfigBuilder()
    assert builder.with_redis("rediss://h:6380", password="pw", use_tls=True) is builder
    assert builder.with_compression(threshold=5, level=2) is builder
    assert builder.with_memory_cache(7) is builder
    config = builder.build()
    assert (config.redis_url, config.redis_password, config.use_tls) == (
        "rediss://h:6380",
        "pw",
        True,
    )
    assert (config.compression_threshold, config.compression_level) == (5, 2)
    assert config.memory_cache_size == 7
    assert CacheConfigBuilder().with_compression().build().compression_level == 6


def test_with_security_turns_tls_on(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    config = CacheConfigBuilder().with_security(tls_cert_path=str(cert)).build()
    assert config.use_tls is True and config.tls_cert_path == str(cert)
    plain = CacheConfigBuilder().with_security().build()
    assert plain.use_tls is False


def test_with_ai_features_enables_ai() -> None:
    config = (
        CacheConfigBuilder()
        .with_ai_features(text_hash_threshold=2000, operation_ttls={"translate": 43200})
        .build()
    )
    assert config.enable_ai_cache is True
    assert config.ai_config is not None
    assert config.ai_config.text_hash_threshold == 2000
    assert config.ai_config.operation_ttls == {"translate": 43200}
    data = config.to_dict()
    assert data["text_hash_threshold"] == 2000
    assert data["operation_ttls"] == {"translate": 43200}


def test_with_ai_features_rejects_unknown_options() -> None:
    builder = CacheConfigBuilder()
    with pytest.raises(ValidationError) as info:
        builder.with_ai_features(text_hash_threshold=5, turbo=True)
    assert info.value.context["field"] == "turbo"
    assert info.value.context["invalid_options"] == ["turbo"]
    assert "max_text_length" in info.value.context["allowed"]
    assert builder.build().enable_ai_cache is False  # nothing applied


def test_build_returns_independent_copies() -> None:
    builder = CacheConfigBuilder().with_ai_features(text_hash_threshold=10)
    first = builder.build()
    second = builder.build()
    assert first is not second and first == second
    assert first.ai_config is not second.ai_config
    builder.with_memory_cache(999).with_ai_features(text_hash_threshold=20)
    assert first.memory_cache_size == 100
    assert first.ai_config is not None and first.ai_config.text_hash_threshold == 10
    first.compression_level = 1
    first.ai_config.operation_ttls["qa"] = 1
    third = builder.build()
    assert third.compression_level == 6
    assert third.ai_config is not None and third.ai_config.operation_ttls["qa"] == 3600


def test_build_invalid_raises_with_context() -> None:
    builder = CacheConfigBuilder().with_compression(level=12).with_memory_cache(0)
    with pytest.raises(ValidationError) as info:
        builder.build()
    context = info.value.context
    assert info.value.message.startswith("Configuration validation failed: ")
    assert len(context["errors"]) == 2
    assert context["warnings"] == []
    assert (context["field"], context["value"]) == ("memory_cache_size", 0)
    assert context["allowed"] == "an integer >= 1"
    assert [d["field"] for d in context["details"]] == [
        "memory_cache_size",
        "compression_level",
    ]
    assert not builder.validate().is_valid


def test_build_logs_warnings(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    builder = CacheConfigBuilder().with_security(
        tls_cert_path=str(tmp_path / "missing")
    )
    with caplog.at_level(logging.WARNING, logger="aicache.config"):
        builder.build()
    assert "TLS certificate file not found" in caplog.text


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    builder = (
        CacheConfigBuilder()
        .for_environment("production")
        .with_redis("redis://r:6379", password="pw")
        .with_ai_features(text_hash_threshold=1500, operation_ttls={"qa": 120})
    )
    path = tmp_path / "nested" / "dir" / "cache.json"
    builder.save_to_file(path)
    assert json.loads(path.read_text())["text_hash_threshold"] == 1500
    loaded = CacheConfigBuilder().from_file(path).build()
    assert loaded == builder.build()
    assert loaded.to_dict() == builder.to_dict()


def test_save_without_create_dirs_fails(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheConfigBuilder().save_to_file(tmp_path / "no" / "x.json", create_dirs=False)
    assert info.value.context["file_path"].endswith("x.json")


def test_from_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        CacheConfigBuilder().from_file(tmp_path / "absent.json")
    assert "not found" in info.value.message
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "default_ttl": 60,\n  "x": }')
    with pytest.raises(ConfigurationError) as info:
        CacheConfigBuilder().from_file(bad)
    assert (info.value.context["line"], info.value.context["column"]) == (3, 8)
    assert "line 3 column 8" in info.value.message
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"default_ttl": 60, "max_connections": 5}')
    builder = CacheConfigBuilder()
    with pytest.raises(ConfigurationError) as info:
        builder.from_file(unknown)
    assert info.value.context["field"] == "max_connections"
    assert builder.build().default_ttl == 3600  # untouched by the failed load
    wrong_type = tmp_path / "list.json"
    wrong_type.write_text("[1, 2]")
    with pytest.raises(ConfigurationError):
        CacheConfigBuilder().from_file(wrong_type)


def test_from_file_values_are_validated_at_build(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"default_ttl": "soon"}')
    builder = CacheConfigBuilder().from_file(path)
    with pytest.raises(ValidationError) as info:
        builder.build()
    assert (info.value.context["field"], info.value.context["value"]) == (
        "default_ttl",
        "soon",
    )


def test_from_environment_is_a_noop(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CACHE_DEFAULT_TTL", "5")
    builder = CacheConfigBuilder()
    with caplog.at_level(logging.WARNING, logger="aicache.config"):
        assert builder.from_environment() is builder
    assert "deprecated" in caplog.text
    assert builder.build() == CacheConfig()


# -- EnvironmentPresets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "preset"),
    [
        ("disabled", "disabled"),
        ("minimal", "minimal"),
        ("simple", "simple"),
        ("development", "development"),
        ("testing", "development"),
        ("production", "production"),
        ("ai_development", "ai-development"),
        ("ai_production", "ai-production"),
    ],
)
def test_environment_presets(method: str, preset: str) -> None:
    config = getattr(EnvironmentPresets, method)()
    assert config == CACHE_PRESETS[preset].to_cache_config()
    assert config.preset_name == CACHE_PRESETS[preset].name


def test_environment_presets_helpers() -> None:
    assert EnvironmentPresets.get_preset_names() == list(CACHE_PRESETS)
    assert EnvironmentPresets.get_preset_details("minimal")["name"] == "Minimal"
    assert EnvironmentPresets.recommend_preset("prod") == "production"
    assert EnvironmentPresets.recommend_preset("main") == "production"
    with pytest.raises(ConfigurationError):
        EnvironmentPresets.get_preset_details("nope")
