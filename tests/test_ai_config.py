"""AIResponseCacheConfig (aicache.ai_config, spec 13.7)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from aicache import ai_config as ai_config_module
from aicache.ai_config import AIResponseCacheConfig
from aicache.exceptions import ConfigurationError

DEFAULT_TIERS = {"small": 500, "medium": 5000, "large": 50000}
DEFAULT_TTLS = {
    "summarize": 7200,
    "sentiment": 86400,
    "key_points": 7200,
    "questions": 3600,
    "qa": 1800,
}
HAVE_MONITORING = importlib.util.find_spec("aicache.monitoring") is not None


class Monitor:
    def record_cache_operation_time(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_defaults() -> None:
    config = AIResponseCacheConfig()
    assert config.redis_url == "redis://redis:6379"
    assert (config.default_ttl, config.enable_l1_cache) == (3600, True)
    assert (config.compression_threshold, config.compression_level) == (1000, 6)
    assert config.security_config is None
    assert config.text_hash_threshold == 1000
    assert config.hash_algorithm is hashlib.sha256
    assert config.text_size_tiers == DEFAULT_TIERS
    assert config.operation_ttls == DEFAULT_TTLS
    assert config.enable_smart_promotion is None
    assert config.memory_cache_size == 100
    if HAVE_MONITORING:
        from aicache.monitoring import CachePerformanceMonitor

        assert isinstance(config.performance_monitor, CachePerformanceMonitor)
    result = config.validate()
    assert result.is_valid, result.errors
    assert any("operation-specific TTLs" in r for r in result.recommendations)
    assert AIResponseCacheConfig().text_size_tiers is not config.text_size_tiers


def test_explicit_l1_off_is_kept_and_reported() -> None:
    config = AIResponseCacheConfig(enable_l1_cache=False)
    assert config.enable_l1_cache is False  # no silent auto-enable
    result = config.validate()
    assert not result.is_valid
    assert "enable_l1_cache=False but memory_cache_size > 0" in result.errors[0]
    assert (
        AIResponseCacheConfig(enable_l1_cache=False, memory_cache_size=0)
        .validate()
        .is_valid
    )


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("default_ttl", 1, 31536000),
        ("memory_cache_size", 0, 10000),
        ("compression_threshold", 0, 1048576),
        ("compression_level", 1, 9),
        ("text_hash_threshold", 1, 100000),
    ],
)
def test_validate_ranges(name: str, low: int, high: int) -> None:
    def result(value: Any) -> Any:
        return AIResponseCacheConfig(
            **{name: value}, performance_monitor=Monitor()
        ).validate()

    assert result(low).is_valid and result(high).is_valid
    for bad in (low - 1, high + 1, "5", True):
        outcome = result(bad)
        assert not outcome.is_valid, bad
        issue = outcome.context["issues"][0]
        assert issue == {
            "field": name,
            "value": bad,
            "allowed": f"an integer between {low} and {high}",
        }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"redis_url": "http://x"}, "redis_url must start with redis://"),
        ({"text_size_tiers": {"small": 1, "medium": 2}}, "missing required tiers"),
        ({"text_size_tiers": {"small": 3, "medium": 2, "large": 1}}, "must be ordered"),
        (
            {"text_size_tiers": {"small": 0, "medium": 2, "large": 3}},
            "positive integer",
        ),
        ({"operation_ttls": {"qa": 0}}, "operation_ttls['qa'] must be positive"),
        ({"hash_algorithm": "sha1"}, "hash_algorithm must be callable or valid string"),
        ({"hash_algorithm": 42}, "hash_algorithm must be callable"),
        ({"performance_monitor": object()}, "record_cache_operation_time"),
    ],
)
def test_validate_errors(changes: dict[str, Any], message: str) -> None:
    result = AIResponseCacheConfig(**changes).validate()
    assert not result.is_valid
    assert any(message in e for e in result.errors), result.errors


def test_validate_warnings_and_recommendations() -> None:
    result = AIResponseCacheConfig(
        operation_ttls={"qa": 31536001, "translate": 60},
        compression_threshold=10001,
        compression_level=8,
        memory_cache_size=501,
        default_ttl=86401,
        text_hash_threshold=10001,
    ).validate()
    assert result.is_valid
    assert any("very large" in w for w in result.warnings)
    assert any("Unknown operation 'translate'" in w for w in result.warnings)
    texts = " ".join(result.recommendations)
    for fragment in ("quite high", "Compression level (8)", "Memory cache size (501)",
                     "Default TTL (86401", ):  # fmt: skip
        assert fragment in texts
    assert "Text hash threshold" not in texts  # equal thresholds
    assert "operation-specific" not in texts  # TTLs were given


def test_kwargs() -> None:
    monitor = Monitor()
    config = AIResponseCacheConfig(
        redis_url="redis://h:1",
        hash_algorithm="md5",
        performance_monitor=monitor,
        security_config="sec",
    )
    ai = config.to_ai_cache_kwargs()
    assert ai == {
        "redis_url": "redis://h:1",
        "default_ttl": 3600,
        "compression_threshold": 1000,
        "compression_level": 6,
        "performance_monitor": monitor,
        "text_hash_threshold": 1000,
        "hash_algorithm": hashlib.md5,
        "text_size_tiers": DEFAULT_TIERS,
        "memory_cache_size": 100,
        "operation_ttls": DEFAULT_TTLS,
    }
    generic = config.to_generic_cache_kwargs()
    assert generic == {
        "redis_url": "redis://h:1",
        "default_ttl": 3600,
        "enable_l1_cache": True,
        "l1_cache_size": 100,
        "compression_threshold": 1000,
        "compression_level": 6,
        "performance_monitor": monitor,
        "security_config": "sec",
    }
    with pytest.raises(ConfigurationError) as info:
        AIResponseCacheConfig(hash_algorithm="sha1").to_ai_cache_kwargs()
    assert info.value.context["allowed"] == ["sha256", "md5"]


@pytest.mark.parametrize(
    ("factory", "values"),
    [
        ("create_default", ("redis://redis:6379", 3600, 100, 1000, 6, 1000)),
        ("create_development", ("redis://localhost:6379", 1800, 50, 2000, 3, 2000)),
        ("create_testing", ("redis://localhost:6379", 300, 10, 5000, 1, 5000)),
    ],
)
def test_factories(factory: str, values: tuple[Any, ...]) -> None:
    config = getattr(AIResponseCacheConfig, factory)()
    assert (
        config.redis_url,
        config.default_ttl,
        config.memory_cache_size,
        config.compression_threshold,
        config.compression_level,
        config.text_hash_threshold,
    ) == values
    assert config.validate().is_valid
    if factory == "create_testing":
        assert config.operation_ttls == dict.fromkeys(DEFAULT_TTLS, 300)


def test_create_production() -> None:
    config = AIResponseCacheConfig.create_production("rediss://prod:6380")
    assert (config.redis_url, config.default_ttl, config.memory_cache_size) == (
        "rediss://prod:6380",
        7200,
        200,
    )
    assert (config.compression_threshold, config.compression_level) == (500, 7)
    assert config.text_hash_threshold == 500


def test_from_dict(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aicache.ai_config"):
        config = AIResponseCacheConfig.from_dict(
            {"redis_url": "redis://d", "hash_algorithm": "md5", "bogus": 1}
        )
    assert config.redis_url == "redis://d"
    assert config.hash_algorithm is hashlib.md5
    assert "bogus" in caplog.text
    kept = AIResponseCacheConfig.from_dict(
        {"hash_algorithm": "md5"}, convert_hash_algorithm=False
    )
    assert kept.hash_algorithm == "md5"
    with pytest.raises(ConfigurationError) as info:
        AIResponseCacheConfig.from_dict({"hash_algorithm": "sha1"})
    assert info.value.context == {
        "field": "hash_algorithm",
        "value": "sha1",
        "allowed": ["sha256", "md5"],
    }
    with pytest.raises(ConfigurationError):
        AIResponseCacheConfig.from_dict(["x"])  # type: ignore[arg-type]


@pytest.mark.skipif(not HAVE_MONITORING, reason="no aicache.monitoring")
def test_from_dict_monitor_true() -> None:
    from aicache.monitoring import CachePerformanceMonitor

    config = AIResponseCacheConfig.from_dict({"performance_monitor": True})
    assert isinstance(config.performance_monitor, CachePerformanceMonitor)


FILE_DATA = {
    "redis_url": "redis://file:6379",
    "default_ttl": 1234,
    "memory_cache_size": 77,
    "hash_algorithm": "md5",
    "text_size_tiers": {"small": 10, "medium": 20, "large": 30},
    "operation_ttls": {"qa": 99},
    "enable_smart_promotion": False,
}


def assert_file_values(config: AIResponseCacheConfig) -> None:
    assert config.redis_url == "redis://file:6379"
    assert (config.default_ttl, config.memory_cache_size) == (1234, 77)
    assert config.hash_algorithm is hashlib.md5
    assert config.text_size_tiers == {"small": 10, "medium": 20, "large": 30}
    assert config.operation_ttls == {"qa": 99}
    assert config.enable_smart_promotion is False


def test_from_json(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(FILE_DATA))
    assert_file_values(AIResponseCacheConfig.from_json(path))
    assert_file_values(AIResponseCacheConfig.from_json(str(path)))
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1\n "b": 2}')
    with pytest.raises(ConfigurationError) as info:
        AIResponseCacheConfig.from_json(bad)
    assert (info.value.context["line"], info.value.context["column"]) == (2, 2)
    with pytest.raises(ConfigurationError, match="not found"):
        AIResponseCacheConfig.from_json(tmp_path / "absent.json")
    listing = tmp_path / "list.json"
    listing.write_text("[1]")
    with pytest.raises(ConfigurationError, match="must contain an object"):
        AIResponseCacheConfig.from_json(listing)


def test_from_yaml(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(FILE_DATA))
    assert_file_values(AIResponseCacheConfig.from_yaml(path))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(ConfigurationError) as info:
        AIResponseCacheConfig.from_yaml(bad)
    assert info.value.context["line"] >= 2
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(ConfigurationError, match="must contain a mapping"):
        AIResponseCacheConfig.from_yaml(scalar)


def test_from_yaml_without_pyyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def fake(name: str, package: str | None = None) -> Any:
        return None if name == "yaml" else real(name, package)

    monkeypatch.setattr(ai_config_module.importlib.util, "find_spec", fake)
    path = tmp_path / "c.yaml"
    path.write_text("default_ttl: 5\n")
    with pytest.raises(ConfigurationError) as info:
        AIResponseCacheConfig.from_yaml(path)
    assert "PyYAML is required" in info.value.message
    assert info.value.context["missing_dependency"] == "PyYAML"


def test_from_env_values() -> None:
    env = {
        "AI_CACHE_REDIS_URL": "redis://env:6379",
        "AI_CACHE_DEFAULT_TTL": "120",
        "AI_CACHE_MEMORY_CACHE_SIZE": "10",
        "AI_CACHE_TEXT_HASH_THRESHOLD": "300",
        "AI_CACHE_COMPRESSION_THRESHOLD": "0",
        "AI_CACHE_COMPRESSION_LEVEL": "9",
        "AI_CACHE_ENABLE_L1_CACHE": "yes",
        "AI_CACHE_HASH_ALGORITHM": "md5",
        "AI_CACHE_TEXT_SIZE_TIERS": '{"small": 1, "medium": 2, "large": 3}',
        "AI_CACHE_OPERATION_TTLS": '{"qa": 60}',
        "UNRELATED": "x",
    }
    config = AIResponseCacheConfig.from_env(environ=env)
    assert config.redis_url == "redis://env:6379"
    assert (
        config.default_ttl,
        config.memory_cache_size,
        config.text_hash_threshold,
    ) == (
        120,
        10,
        300,
    )
    assert (config.compression_threshold, config.compression_level) == (0, 9)
    assert config.enable_l1_cache is True
    assert config.hash_algorithm == "md5"  # kept as a string from the environment
    assert config.text_size_tiers == {"small": 1, "medium": 2, "large": 3}
    assert config.operation_ttls == {"qa": 60}
    assert config._from_env_load is True
    assert config.to_ai_cache_kwargs()["hash_algorithm"] is hashlib.md5


def test_from_env_defaults_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AIResponseCacheConfig.from_env(environ={}) == AIResponseCacheConfig(
        _from_env_load=True
    )
    config = AIResponseCacheConfig.from_env(
        "MY_", {"MY_DEFAULT_TTL": "5", "AI_CACHE_DEFAULT_TTL": "9"}
    )
    assert config.default_ttl == 5
    off = AIResponseCacheConfig.from_env(environ={"AI_CACHE_ENABLE_L1_CACHE": "false"})
    assert (off.enable_l1_cache, off.memory_cache_size) == (False, 0)
    assert off.validate().is_valid
    monkeypatch.setenv("AI_CACHE_DEFAULT_TTL", "77")
    assert AIResponseCacheConfig.from_env().default_ttl == 77


@pytest.mark.parametrize(
    ("env", "field_name"),
    [
        ({"AI_CACHE_DEFAULT_TTL": "soon"}, "AI_CACHE_DEFAULT_TTL"),
        ({"AI_CACHE_MEMORY_CACHE_SIZE": "1.5"}, "AI_CACHE_MEMORY_CACHE_SIZE"),
        ({"AI_CACHE_ENABLE_L1_CACHE": "maybe"}, "AI_CACHE_ENABLE_L1_CACHE"),
        ({"AI_CACHE_TEXT_SIZE_TIERS": "{small: 1}"}, "AI_CACHE_TEXT_SIZE_TIERS"),
        ({"AI_CACHE_OPERATION_TTLS": "[1]"}, "AI_CACHE_OPERATION_TTLS"),
        ({"AI_CACHE_COMPRESSION_LEVEL": "12"}, "AI_CACHE_COMPRESSION_LEVEL"),
        ({"AI_CACHE_DEFAULT_TTL": "0"}, "AI_CACHE_DEFAULT_TTL"),
        ({"AI_CACHE_REDIS_URL": "http://x"}, "AI_CACHE_REDIS_URL"),
        ({"AI_CACHE_OPERATION_TTLS": '{"qa": -1}'}, "AI_CACHE_OPERATION_TTLS"),
        (
            {"AI_CACHE_ENABLE_L1_CACHE": "false", "AI_CACHE_MEMORY_CACHE_SIZE": "5"},
            "AI_CACHE_ENABLE_L1_CACHE",
        ),
    ],
)
def test_from_env_rejects(env: dict[str, str], field_name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AIResponseCacheConfig.from_env(environ=env)
    assert info.value.context["field"] == field_name
    assert info.value.context["allowed"]


def test_from_env_invalid_json_position() -> None:
    with pytest.raises(ConfigurationError) as info:
        AIResponseCacheConfig.from_env(
            environ={"AI_CACHE_TEXT_SIZE_TIERS": '{"small": }'}
        )
    assert (info.value.context["line"], info.value.context["column"]) == (1, 11)


def test_merge_with() -> None:
    base = AIResponseCacheConfig(redis_url="redis://base:6379", default_ttl=100)
    merged = base.merge_with(redis_url="redis://override:6379", default_ttl=None)
    assert merged.redis_url == "redis://override:6379"
    assert merged.default_ttl == 100  # None is skipped
    assert merged is not base and base.redis_url == "redis://base:6379"
    assert merged.performance_monitor is base.performance_monitor
    with pytest.raises(ConfigurationError) as info:
        base.merge_with(redis_uri="x")
    assert info.value.context["field"] == "redis_uri"


def test_merge() -> None:
    mine = Monitor()
    base = AIResponseCacheConfig(
        redis_url="redis://base:6379", default_ttl=100, performance_monitor=mine
    )
    other = AIResponseCacheConfig(
        redis_url="redis://other:6379",
        compression_level=2,
        default_ttl=3600,  # equal to the default: does not override
        hash_algorithm="sha256",  # same as the default function
    )
    merged = base.merge(other)
    assert merged.redis_url == "redis://other:6379"
    assert merged.compression_level == 2
    assert merged.default_ttl == 100
    assert merged.hash_algorithm is hashlib.sha256
    assert merged.performance_monitor is mine  # other's monitor was auto-created
    theirs = Monitor()
    merged = base.merge(AIResponseCacheConfig(performance_monitor=theirs))
    assert merged.performance_monitor is theirs
    merged = base.merge(AIResponseCacheConfig(operation_ttls={"qa": 5}))
    assert merged.operation_ttls == {"qa": 5}


def test_repr_and_equality() -> None:
    config = AIResponseCacheConfig()
    assert repr(config) == (
        "AIResponseCacheConfig(redis_url='redis://redis:6379', default_ttl=3600, "
        "memory_cache_size=100, text_hash_threshold=1000)"
    )
    assert AIResponseCacheConfig() == AIResponseCacheConfig()  # monitors differ
    assert AIResponseCacheConfig(default_ttl=5) != AIResponseCacheConfig()
