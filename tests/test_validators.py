"""aicache.cache_validator and aicache.parameter_mapping (spec 13.5, 13.6)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aicache import cache_validator as validator_module
from aicache import config as config_module
from aicache import parameter_mapping as mapping_module
from aicache.cache_presets import CACHE_PRESETS
from aicache.cache_validator import (
    CacheValidator,
    ValidationMessage,
    ValidationResult,
    ValidationSeverity,
    cache_validator,
)
from aicache.exceptions import ConfigurationError
from aicache.parameter_mapping import CacheParameterMapper


def test_three_distinct_validation_results() -> None:
    classes = {
        config_module.ValidationResult,
        validator_module.ValidationResult,
        mapping_module.ValidationResult,
    }
    assert len(classes) == 3
    from aicache.ai_config import ValidationResult as AIValidationResult

    assert AIValidationResult is mapping_module.ValidationResult


# -- cache_validator.ValidationResult ---------------------------------------------------


def test_validator_result_messages() -> None:
    result = ValidationResult(is_valid=True)
    assert (result.validation_type, result.schema_version) == ("unknown", "1.0")
    result.add_info("i", field_path="a")
    result.add_warning("w", context={"k": 1})
    assert result.is_valid
    result.add_error("e", "f", {"x": 2})
    assert not result.is_valid
    assert (result.errors, result.warnings, result.info) == (["e"], ["w"], ["i"])
    assert result.messages[2] == ValidationMessage(
        ValidationSeverity.ERROR, "e", "f", {"x": 2}
    )
    assert result.messages[0].context == {}
    assert [s.value for s in ValidationSeverity] == ["error", "warning", "info"]


# -- validate_preset -----------------------------------------------------------------------


def preset_dict(**changes: Any) -> dict[str, Any]:
    return {**CACHE_PRESETS["simple"].to_dict(), **changes}


@pytest.mark.parametrize("name", list(CACHE_PRESETS))
def test_builtin_presets_pass(name: str) -> None:
    result = cache_validator.validate_preset(CACHE_PRESETS[name].to_dict())
    assert result.is_valid, result.errors
    assert result.validation_type == "preset"
    if name == "minimal":
        assert len(result.warnings) == 4  # embedded, iot, container, serverless
    else:
        assert result.warnings == []


def test_missing_required_fields_stop_validation() -> None:
    data = preset_dict(compression_level=99)
    del data["name"], data["log_level"]
    result = cache_validator.validate_preset(data)
    assert result.errors == [
        "Missing required field: name",
        "Missing required field: log_level",
    ]
    assert [m.field_path for m in result.messages] == ["name", "log_level"]


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
def test_preset_ranges(field_name: str, low: int, high: int) -> None:
    def check(value: Any) -> ValidationResult:
        return cache_validator.validate_preset(preset_dict(**{field_name: value}))

    assert check(low).is_valid and check(high).is_valid
    for bad in (low - 1, high + 1, str(low), True, None):
        result = check(bad)
        assert not result.is_valid, bad
        message = result.messages[0]
        assert message.field_path == field_name
        assert message.context == {
            "field": field_name,
            "value": bad,
            "allowed": f"integer between {low} and {high}",
        }


def ai_preset(**opts: Any) -> dict[str, Any]:
    return {**CACHE_PRESETS["ai-development"].to_dict(), "ai_optimizations": opts}


@pytest.mark.parametrize(
    ("threshold", "valid"),
    [
        (99, False),
        (100, True),
        (10000, True),
        (10001, False),
        (0, True),
        ("500", False),
    ],
)
def test_preset_text_hash_threshold(threshold: Any, valid: bool) -> None:
    result = cache_validator.validate_preset(ai_preset(text_hash_threshold=threshold))
    assert result.is_valid is valid
    if not valid:
        assert result.messages[0].field_path == "ai_optimizations.text_hash_threshold"


def test_preset_ai_details() -> None:
    result = cache_validator.validate_preset(ai_preset())
    assert result.is_valid
    assert result.info == [
        "AI cache enabled but no optimizations specified - using defaults"
    ]
    result = cache_validator.validate_preset(
        ai_preset(operation_ttls={"qa": 60, "x": 59})
    )
    assert result.errors == [
        "operation_ttls['x'] must be integer >= 60 seconds, got: 59"
    ]
    result = cache_validator.validate_preset(
        ai_preset(text_size_tiers={"small": 9, "medium": 5, "large": 20})
    )
    assert result.is_valid
    assert "ascending" in result.warnings[0]


def test_preset_contexts_and_consistency() -> None:
    result = cache_validator.validate_preset(preset_dict(environment_contexts=[]))
    assert result.warnings == ["No environment contexts specified"]
    result = cache_validator.validate_preset(preset_dict(environment_contexts=["mars"]))
    assert result.is_valid
    assert result.messages[0].context["value"] == "mars"
    result = cache_validator.validate_preset(
        preset_dict(ai_optimizations={"text_hash_threshold": 500})
    )
    assert result.warnings == ["AI optimizations specified but AI cache not enabled"]
    assert cache_validator.validate_preset(
        preset_dict(default_ttl=7201, memory_cache_size=199)
    )
    long_small = cache_validator.validate_preset(
        preset_dict(default_ttl=7201, memory_cache_size=199)
    )
    assert long_small.warnings == [
        "Long TTL with small memory cache may cause frequent evictions"
    ]
    for ttl, size in ((7200, 199), (7201, 200)):
        ok = cache_validator.validate_preset(
            preset_dict(default_ttl=ttl, memory_cache_size=size)
        )
        assert ok.warnings == []


# -- validate_configuration -------------------------------------------------------------


def test_configuration_requires_strategy() -> None:
    result = cache_validator.validate_configuration({"default_ttl": 3600})
    assert result.errors == ["Missing required field: strategy"]
    assert cache_validator.validate_configuration({"cache_strategy": "fast"}).is_valid
    # config.py dicts carry no strategy: they always fail here (as in the original)
    assert not cache_validator.validate_configuration(
        config_module.CacheConfig().to_dict()
    ).is_valid


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [
        ("max_connections", 1, 100),
        ("connection_timeout", 1, 60),
        ("default_ttl", 60, 604800),
        ("compression_level", 1, 9),
        ("memory_cache_size", 1, 10000),
        ("l1_cache_size", 1, 10000),
    ],
)
def test_configuration_ranges(key: str, low: int, high: int) -> None:
    def valid(value: int) -> bool:
        return cache_validator.validate_configuration(
            {"strategy": "fast", key: value}
        ).is_valid

    assert valid(low) and valid(high)
    assert not valid(low - 1) and not valid(high + 1)


def test_configuration_rules() -> None:
    check = cache_validator.validate_configuration
    bad_url = check({"strategy": "fast", "redis_url": "http://x"})
    assert bad_url.errors == ["Invalid Redis URL format: http://x"]
    tls = check({"strategy": "fast", "redis_url": "redis://x", "use_tls": True})
    assert tls.is_valid and tls.warnings == [
        "use_tls=True but Redis URL doesn't use rediss:// scheme"
    ]
    low = check(
        {"strategy": "fast", "enable_ai_cache": True, "text_hash_threshold": 99}
    )
    assert low.is_valid and "very low" in low.warnings[0]
    assert (
        check(
            {"strategy": "fast", "enable_ai_cache": True, "text_hash_threshold": 100}
        ).warnings
        == []
    )
    busy = check({"strategy": "fast", "max_connections": 51, "connection_timeout": 9})
    assert busy.warnings == [
        "High connection count with low timeout may cause connection issues"
    ]
    assert (
        check(
            {"strategy": "fast", "max_connections": 50, "connection_timeout": 9}
        ).warnings
        == []
    )
    plain = check({"strategy": "fast", "redis_password": "pw"})
    assert "plain text" in plain.warnings[0]
    nested = check(
        {"strategy": "fast", "security_config": {"redis_auth": "pw", "use_tls": False}}
    )
    assert "plain text" in nested.warnings[0]
    assert (
        check({"strategy": "fast", "redis_password": "pw", "use_tls": True}).warnings
        == []
    )


def test_custom_overrides() -> None:
    result = cache_validator.validate_custom_overrides(
        {"default_ttl": 60, "use_tls": True, "fail_on_connection_error": True}
    )
    assert result.is_valid
    assert result.warnings == [
        "Unknown override key 'fail_on_connection_error' - will be ignored"
    ]
    assert "log_level" in result.messages[0].context["allowed"]
    bad = cache_validator.validate_custom_overrides(
        {"default_ttl": "60", "use_tls": 1, "redis_url": 5, "max_connections": True}
    )
    assert bad.errors == [
        "Override 'default_ttl' expects int, got str",
        "Override 'use_tls' expects bool, got int",
        "Override 'redis_url' expects str, got int",
        "Override 'max_connections' expects int, got bool",
    ]


def test_templates() -> None:
    assert cache_validator.list_templates() == [
        "fast_development",
        "robust_production",
        "ai_optimized",
    ]
    fast = cache_validator.get_template("fast_development")
    assert fast == {
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
    }
    fast["default_ttl"] = 1
    assert cache_validator.get_template("fast_development")["default_ttl"] == 600
    robust = cache_validator.get_template("robust_production")
    assert (robust["default_ttl"], robust["compression_level"], robust["strategy"]) == (
        7200,
        9,
        "robust",
    )
    ai = cache_validator.get_template("ai_optimized")
    assert (ai["default_ttl"], ai["text_hash_threshold"], ai["enable_ai_cache"]) == (
        14400,
        1000,
        True,
    )
    for name in cache_validator.list_templates():
        assert cache_validator.validate_configuration(
            cache_validator.get_template(name)
        ).is_valid
    with pytest.raises(ValueError, match="Unknown template 'x'"):
        cache_validator.get_template("x")
    assert set(CacheValidator().schemas) == {"preset", "configuration"}


def test_compare_configurations() -> None:
    diff = cache_validator.compare_configurations(
        {"a": 1, "b": 2, "c": 3}, {"b": 2, "c": 4, "d": 5}
    )
    assert diff == {
        "added_keys": ["d"],
        "removed_keys": ["a"],
        "changed_values": [{"key": "c", "old_value": 3, "new_value": 4}],
        "identical_keys": ["b"],
    }


# -- parameter_mapping -------------------------------------------------------------------


def test_mapping_result_defaults() -> None:
    result = mapping_module.ValidationResult()
    assert result.is_valid and result.errors == [] and result.parameter_conflicts == {}
    result.add_recommendation("r")
    result.add_warning("w")
    assert result.is_valid
    result.add_conflict("p", "desc")
    assert not result.is_valid
    assert result.parameter_conflicts == {"p": "desc"}
    assert "desc" in result.errors[0]


def test_map_ai_to_generic(caplog: pytest.LogCaptureFixture) -> None:
    mapper = CacheParameterMapper()
    with caplog.at_level(logging.WARNING, logger="aicache.parameter_mapping"):
        generic, ai = mapper.map_ai_to_generic_params(
            {
                "redis_url": "redis://h",
                "memory_cache_size": 50,
                "text_hash_threshold": 10,
                "compression_level": 3,
                "mystery": 1,
            }
        )
    assert generic == {
        "redis_url": "redis://h",
        "l1_cache_size": 50,
        "compression_level": 3,
        "enable_l1_cache": True,
    }
    assert ai == {"text_hash_threshold": 10, "mystery": 1}
    assert "mystery" in caplog.text
    generic, _ = mapper.map_ai_to_generic_params(
        {"l1_cache_size": 5, "enable_l1_cache": False}
    )
    assert generic["enable_l1_cache"] is False
    with pytest.raises(ConfigurationError):
        mapper.map_ai_to_generic_params([("a", 1)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("default_ttl", 1, 31536000),
        ("l1_cache_size", 1, 10000),
        ("memory_cache_size", 1, 10000),
        ("compression_threshold", 0, 1048576),
        ("compression_level", 1, 9),
        ("text_hash_threshold", 1, 100000),
    ],
)
def test_parameter_ranges(name: str, low: int, high: int) -> None:
    mapper = CacheParameterMapper()

    def errors(value: Any) -> list[str]:
        return mapper.validate_parameter_compatibility({name: value}).errors

    assert errors(low) == [] and errors(high) == [] and errors(None) == []
    assert errors(low - 1) == [f"Parameter '{name}' must be >= {low}, got {low - 1}"]
    assert errors(high + 1) == [f"Parameter '{name}' must be <= {high}, got {high + 1}"]
    assert errors("1") == [f"Parameter '{name}' must be int, got str"]
    assert errors(True) == [f"Parameter '{name}' must be int, got bool"]


def test_parameter_types_and_custom_rules() -> None:
    check = CacheParameterMapper().validate_parameter_compatibility
    assert check({"enable_l1_cache": "yes"}).errors == [
        "Parameter 'enable_l1_cache' must be bool, got str"
    ]
    for url in ("redis://h", "rediss://h", "unix:///s.sock"):
        assert check({"redis_url": url}).is_valid
    assert "valid Redis URL" in check({"redis_url": "http://h"}).errors[0]
    assert check({"text_size_tiers": {"small": 1, "medium": 2, "large": 3}}).is_valid
    missing = check({"text_size_tiers": {"small": 1}})
    assert "missing required tiers" in missing.errors[0]
    unordered = check({"text_size_tiers": {"small": 3, "medium": 2, "large": 1}})
    assert "must be ordered" in unordered.errors[0]
    negative = check({"text_size_tiers": {"small": 0, "medium": 2, "large": 3}})
    assert "positive integer" in negative.errors[0]
    assert check({"text_size_tiers": [1]}).errors == [
        "Parameter 'text_size_tiers' must be dict, got list"
    ]
    ttls = check({"operation_ttls": {"qa": 0, "summarize": 31536001, "translate": 5}})
    assert ttls.errors == ["Operation TTL for 'qa' must be a positive integer, got: 0"]
    assert any("very large" in w for w in ttls.warnings)
    assert any("Unknown operation 'translate'" in w for w in ttls.warnings)
    assert check({"operation_ttls": {"qa": 31536000}}).warnings == []


def test_classification_conflicts_and_warnings() -> None:
    mapper = CacheParameterMapper()
    result = mapper.validate_parameter_compatibility(
        {"memory_cache_size": 10, "l1_cache_size": 20, "text_hash_threshold": 5, "x": 1}
    )
    assert result.generic_params == {"memory_cache_size", "l1_cache_size"}
    assert result.ai_specific_params == {"text_hash_threshold"}
    assert "memory_cache_size" in result.parameter_conflicts
    assert not result.is_valid
    assert (
        mapper.validate_parameter_compatibility(
            {"memory_cache_size": 10, "l1_cache_size": 10}
        ).parameter_conflicts
        == {}
    )
    off = mapper.validate_parameter_compatibility(
        {"enable_l1_cache": False, "l1_cache_size": 5}
    )
    assert any("L1 cache is disabled" in w for w in off.warnings)
    assert any("enable_l1_cache=True" in r for r in off.recommendations)
    zero = mapper.validate_parameter_compatibility(
        {"compression_threshold": 0, "compression_level": 2}
    )
    assert any("Compression threshold is 0" in w for w in zero.warnings)
    one = mapper.validate_parameter_compatibility(
        {"compression_threshold": 0, "compression_level": 1}
    )
    assert one.warnings == []


def test_recommendations() -> None:
    check = CacheParameterMapper().validate_parameter_compatibility
    assert check({}).recommendations == []
    high = check({"compression_threshold": 10001, "compression_level": 8})
    assert any("quite high" in r for r in high.recommendations)
    assert any("Compression level (8)" in r for r in high.recommendations)
    assert any("Text hash threshold (1000)" in r for r in high.recommendations)
    edge = check({"compression_threshold": 10000, "compression_level": 7})
    assert not any(
        "quite high" in r or "Compression level" in r for r in edge.recommendations
    )


def test_parameter_info() -> None:
    info = CacheParameterMapper().get_parameter_info()
    assert info["generic_parameters"] == sorted(
        [
            "redis_url",
            "default_ttl",
            "enable_l1_cache",
            "l1_cache_size",
            "compression_threshold",
            "compression_level",
            "performance_monitor",
            "security_config",
        ]
    )
    assert info["ai_specific_parameters"] == [
        "hash_algorithm",
        "operation_ttls",
        "text_hash_threshold",
        "text_size_tiers",
    ]
    assert info["parameter_mappings"] == {"memory_cache_size": "l1_cache_size"}
    assert info["parameter_conflicts"] == {}
    assert info["total_parameters"] == 12
    assert info["validation_rules"]["default_ttl"]["max_value"] == 31536000
    assert "validator" not in info["validation_rules"]["redis_url"]
