"""Environment variables -> validated CacheConfig (aicache.settings)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from aicache.cache_presets import CACHE_PRESETS
from aicache.config import CacheConfig, valid_override_keys
from aicache.exceptions import ConfigurationError
from aicache.settings import (
    CacheSettings,
    allowed_preset_names,
    parse_bool,
    parse_float,
    parse_int,
    resolve_cache_config,
)

ALL_PRESETS = list(CACHE_PRESETS)


def resolve(**env: str) -> CacheConfig:
    return resolve_cache_config(env)


def error(**env: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        resolve_cache_config(env)
    return info.value


def test_default_is_development_preset() -> None:
    config = resolve()
    assert config == CACHE_PRESETS["development"].to_cache_config()
    assert config.preset_name == "Development"
    assert config.redis_url is None
    assert config.default_ttl == 600


# Spec section 18 table, as aicache resolves it: preset -> (ttl, memory, threshold,
# level, AI, text_hash_threshold or None)
RESOLVED = {
    "disabled": (300, 10, 10000, 1, False, None),
    "minimal": (900, 25, 5000, 1, False, None),
    "simple": (3600, 100, 1000, 6, False, None),
    "development": (600, 50, 2000, 3, False, None),
    "production": (7200, 500, 500, 9, False, None),
    "ai-development": (1800, 100, 1000, 6, True, 500),
    "ai-production": (14400, 1000, 300, 9, True, 1000),
}


@pytest.mark.parametrize("preset", ALL_PRESETS)
@pytest.mark.parametrize("url", [None, "redis://cache:6379/2"])
def test_every_preset_end_to_end(preset: str, url: str | None) -> None:
    env = {"CACHE_PRESET": preset}
    if url:
        env["CACHE_REDIS_URL"] = url
    config = resolve_cache_config(env)
    ttl, memory, threshold, level, ai, text_threshold = RESOLVED[preset]
    data = config.to_dict()
    assert data["redis_url"] == url
    assert data["preset_name"] == CACHE_PRESETS[preset].name
    assert (data["default_ttl"], data["memory_cache_size"]) == (ttl, memory)
    assert (data["compression_threshold"], data["compression_level"]) == (
        threshold,
        level,
    )
    assert data["enable_ai_cache"] is ai
    assert data.get("text_hash_threshold") == text_threshold
    if ai:
        opts = CACHE_PRESETS[preset].ai_optimizations
        assert data["operation_ttls"] == opts["operation_ttls"]
        assert data["text_size_tiers"] == opts["text_size_tiers"]
        assert data["hash_algorithm"] == "sha256"
    else:
        assert "operation_ttls" not in data


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("testing", "development"),
        ("minimal", "minimal"),
        ("Production", "production"),
        ("  AI-Production ", "ai-production"),
        ("TESTING", "development"),
    ],
)
def test_preset_aliases_and_case(name: str, expected: str) -> None:
    assert resolve(CACHE_PRESET=name) == CACHE_PRESETS[expected].to_cache_config()


def test_variable_names_are_case_insensitive() -> None:
    config = resolve_cache_config(
        {"cache_preset": "production", "Cache_Redis_Url": "redis://h"}
    )
    assert config.preset_name == "Production"
    assert config.redis_url == "redis://h"
    # the exact upper-case spelling wins
    config = resolve_cache_config(
        {"cache_preset": "production", "CACHE_PRESET": "minimal"}
    )
    assert config.preset_name == "Minimal"


def test_empty_values_count_as_unset() -> None:
    config = resolve(CACHE_PRESET="", CACHE_REDIS_URL="  ", ENABLE_AI_CACHE="")
    assert config == CACHE_PRESETS["development"].to_cache_config()


def test_unknown_preset() -> None:
    exc = error(CACHE_PRESET="turbo")
    assert exc.context == {
        "field": "CACHE_PRESET",
        "value": "turbo",
        "allowed": allowed_preset_names(),
    }
    assert "testing" in exc.context["allowed"]
    assert "Available presets" in exc.message


def test_reads_os_environ_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_PRESET", "ai-production")
    monkeypatch.setenv("CACHE_REDIS_URL", "redis://env-host:6379")
    monkeypatch.delenv("CACHE_CUSTOM_CONFIG", raising=False)
    monkeypatch.delenv("ENABLE_AI_CACHE", raising=False)
    config = resolve_cache_config()
    assert config.preset_name == "AI Production"
    assert config.redis_url == "redis://env-host:6379"
    monkeypatch.setenv("CACHE_PRESET", "minimal")
    assert resolve_cache_config().preset_name == "Minimal"


# -- URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://h:6379", "localhost:6379", "redis:/h"])
def test_invalid_cache_url(url: str) -> None:
    exc = error(CACHE_REDIS_URL=url)
    assert exc.context["field"] == "CACHE_REDIS_URL"
    assert exc.context["value"] == url
    assert "redis://" in exc.context["allowed"]


def test_invalid_url_redacts_credentials() -> None:
    exc = error(CACHE_REDIS_URL="http://user:hunter2@h:6379")
    assert "hunter2" not in str(exc)


def test_rediss_url_turns_tls_on() -> None:
    assert resolve(CACHE_REDIS_URL="rediss://h:6380").use_tls is True
    assert resolve(CACHE_REDIS_URL="redis://h:6379").use_tls is False
    exc = error(CACHE_REDIS_URL="rediss://h:6380", REDIS_TLS_ENABLED="false")
    assert exc.context["field"] == "REDIS_TLS_ENABLED"


def test_other_urls() -> None:
    settings = CacheSettings.from_environ({})
    assert settings.redis_url == "redis://localhost:6379"
    assert settings.test_redis_url == "redis://localhost:6379/15"
    settings = CacheSettings.from_environ(
        {"REDIS_URL": "rediss://prod:6380", "TEST_REDIS_URL": "redis://t:1/3"}
    )
    assert settings.redis_url == "rediss://prod:6380"
    assert settings.test_redis_url == "redis://t:1/3"
    assert (
        resolve(REDIS_URL="rediss://prod:6380").redis_url is None
    )  # not the cache URL
    assert error(TEST_REDIS_URL="nope").context["field"] == "TEST_REDIS_URL"


# -- ENABLE_AI_CACHE -------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["true", "1", "yes", "on", "TRUE", " Yes "])
def test_enable_ai_cache_on_web_preset(flag: str) -> None:
    config = resolve(CACHE_PRESET="production", ENABLE_AI_CACHE=flag)
    assert config.enable_ai_cache is True
    assert config.ai_config is not None
    # the preset defaults for an AI preset without optimizations
    assert config.ai_config.text_hash_threshold == 1000
    assert config.ai_config.text_size_tiers == {
        "small": 1000,
        "medium": 5000,
        "large": 20000,
    }
    data = config.to_dict()
    assert data["text_hash_threshold"] == 1000
    assert data["operation_ttls"]["summarize"] == 7200
    assert config.default_ttl == 7200  # the rest of the preset is kept


@pytest.mark.parametrize("flag", ["false", "0", "no", "off", "FALSE"])
def test_disable_ai_cache_on_ai_preset(flag: str) -> None:
    config = resolve(CACHE_PRESET="ai-production", ENABLE_AI_CACHE=flag)
    assert config.enable_ai_cache is False
    data = config.to_dict()
    assert "text_hash_threshold" not in data
    assert data["default_ttl"] == 14400


@pytest.mark.parametrize("flag", ["maybe", "2", "enabled", "tru"])
def test_invalid_boolean(flag: str) -> None:
    exc = error(ENABLE_AI_CACHE=flag)
    assert exc.context["field"] == "ENABLE_AI_CACHE"
    assert exc.context["value"] == flag
    assert exc.context["allowed"] == "one of true/false/1/0/yes/no/on/off"
    assert "ENABLE_AI_CACHE" in exc.message


# -- CACHE_CUSTOM_CONFIG -----------------------------------------------------------------


def test_custom_config_overrides() -> None:
    config = resolve(
        CACHE_PRESET="production",
        CACHE_CUSTOM_CONFIG=json.dumps(
            {
                "compression_level": 8,
                "l1_cache_size": 250,
                "default_ttl": 60,
                "use_tls": True,
            }
        ),
    )
    assert config.compression_level == 8
    assert config.memory_cache_size == 250
    assert config.default_ttl == 60
    assert config.use_tls is True


def test_custom_config_ai_keys_merge_into_preset() -> None:
    config = resolve(
        CACHE_PRESET="ai-development",
        CACHE_CUSTOM_CONFIG=json.dumps(
            {
                "text_hash_threshold": 800,
                "operation_ttls": {"summarize": 60, "translate": 90},
            }
        ),
    )
    assert config.ai_config is not None
    assert config.ai_config.text_hash_threshold == 800
    assert config.ai_config.operation_ttls == {
        "summarize": 60,
        "sentiment": 900,
        "key_points": 1200,
        "questions": 1500,
        "qa": 900,
        "translate": 90,
    }
    data = config.to_dict()
    assert data["text_hash_threshold"] == 800
    assert data["operation_ttls"]["translate"] == 90


def test_custom_config_can_enable_ai() -> None:
    config = resolve(
        CACHE_PRESET="simple",
        CACHE_CUSTOM_CONFIG='{"enable_ai_cache": true, "text_hash_threshold": 300}',
    )
    assert config.enable_ai_cache is True
    assert config.to_dict()["text_hash_threshold"] == 300


def test_custom_config_ai_keys_without_ai_are_an_error() -> None:
    exc = error(
        CACHE_PRESET="production", CACHE_CUSTOM_CONFIG='{"text_hash_threshold": 300}'
    )
    assert exc.context["field"] == "text_hash_threshold"
    assert exc.context["source"] == "CACHE_CUSTOM_CONFIG"


@pytest.mark.parametrize("key", ["max_connections", "fail_on_connection_error", "ttl"])
def test_custom_config_unknown_key(key: str) -> None:
    exc = error(CACHE_CUSTOM_CONFIG=json.dumps({key: 1}))
    assert exc.context["field"] == key
    assert exc.context["value"] == 1
    assert exc.context["allowed"] == valid_override_keys()
    assert "Valid keys" in exc.message and "compression_level" in exc.message


@pytest.mark.parametrize(
    ("text", "line", "column", "position"),
    [
        ('{"compression_level": 9,}', 1, 25, 24),
        ('{\n "default_ttl": 60\n "x": 1}', 3, 2, 22),
        ("compression_level=9", 1, 1, 0),
    ],
)
def test_custom_config_invalid_json(
    text: str, line: int, column: int, position: int
) -> None:
    exc = error(CACHE_CUSTOM_CONFIG=text)
    assert exc.context["field"] == "CACHE_CUSTOM_CONFIG"
    assert (exc.context["line"], exc.context["column"], exc.context["position"]) == (
        line,
        column,
        position,
    )
    assert f"line {line}, column {column}" in exc.message


@pytest.mark.parametrize("text", ["[1, 2]", '"x"', "3", "null"])
def test_custom_config_must_be_object(text: str) -> None:
    exc = error(CACHE_CUSTOM_CONFIG=text)
    assert exc.context["field"] == "CACHE_CUSTOM_CONFIG"
    assert exc.context["allowed"] == "a JSON object"


@pytest.mark.parametrize(
    ("overrides", "field_name", "value"),
    [
        ({"compression_level": 12}, "compression_level", 12),
        ({"compression_level": 0}, "compression_level", 0),
        ({"default_ttl": 0}, "default_ttl", 0),
        ({"memory_cache_size": -5}, "memory_cache_size", -5),
        ({"compression_threshold": -1}, "compression_threshold", -1),
        ({"default_ttl": "3600"}, "default_ttl", "3600"),
        ({"use_tls": "true"}, "use_tls", "true"),
        ({"redis_url": "http://x"}, "redis_url", "http://x"),
    ],
)
def test_custom_config_invalid_values(
    overrides: dict[str, Any], field_name: str, value: Any
) -> None:
    exc = error(CACHE_CUSTOM_CONFIG=json.dumps(overrides))
    assert exc.context["field"] == field_name
    assert exc.context["value"] == value
    assert exc.context["allowed"]
    assert exc.context["source"] == "CACHE_CUSTOM_CONFIG"
    assert exc.context["preset"] == "development"


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [({"compression_level": 1}, "compression_level"), ({"compression_level": 9}, None)],
)
def test_custom_config_edges(overrides: dict[str, Any], field_name: str | None) -> None:
    config = resolve(CACHE_CUSTOM_CONFIG=json.dumps(overrides))
    assert config.compression_level == overrides["compression_level"]


def test_preset_problems_report_defaults_source() -> None:
    exc = error(CACHE_PRESET="production", REDIS_TLS_CERT_PATH="/nonexistent/c.pem")
    # production preset: a missing TLS file is an error
    assert exc.context["field"] == "tls_cert_path"
    assert exc.context["source"] == "defaults"


# -- passwords, ACL, encryption keys ---------------------------------------------------------


def test_redis_password_reaches_config() -> None:
    config = resolve(REDIS_PASSWORD="s3cret")
    assert config.redis_password == "s3cret"
    assert config.to_dict()["redis_password"] == "s3cret"
    assert config.security_kwargs() == {"redis_auth": "s3cret"}
    assert resolve(REDIS_AUTH="other").redis_password == "other"
    assert resolve(REDIS_AUTH="same", REDIS_PASSWORD="same").redis_password == "same"


def test_conflicting_passwords() -> None:
    exc = error(REDIS_AUTH="secret-a", REDIS_PASSWORD="secret-b")
    assert exc.context["field"] == "REDIS_AUTH"
    assert exc.context["value"] == "<redacted>"
    assert "secret" not in str(exc)


def test_acl_settings() -> None:
    config = resolve(REDIS_ACL_USERNAME="app", REDIS_ACL_PASSWORD="pw")
    assert (config.redis_username, config.redis_password) == ("app", "pw")
    assert config.security_kwargs() == {"acl_username": "app", "acl_password": "pw"}
    config = resolve(REDIS_ACL_USERNAME="app", REDIS_PASSWORD="pw")
    assert (config.redis_username, config.redis_password) == ("app", "pw")
    assert error(REDIS_ACL_USERNAME="app").context["field"] == "REDIS_ACL_USERNAME"
    assert error(REDIS_ACL_PASSWORD="pw").context["field"] == "REDIS_ACL_PASSWORD"
    exc = error(REDIS_ACL_USERNAME="app", REDIS_ACL_PASSWORD="a", REDIS_PASSWORD="b")
    assert exc.context["field"] == "REDIS_ACL_PASSWORD"


def test_encryption_keys() -> None:
    key1, key2 = "A" * 43 + "=", "B" * 43 + "="
    assert resolve(REDIS_ENCRYPTION_KEY=key1).encryption_key == key1
    config = resolve(REDIS_ENCRYPTION_KEY=f" {key1} , {key2} ")
    assert config.encryption_key == f"{key1},{key2}"
    assert config.to_dict()["encryption_key"] == f"{key1},{key2}"
    exc = error(REDIS_ENCRYPTION_KEY=f"{key1},,{key2}")
    assert exc.context["field"] == "REDIS_ENCRYPTION_KEY"
    assert exc.context["value"] == "<redacted>"
    assert key1 not in str(exc)
    assert (
        error(REDIS_ENCRYPTION_KEY=f"{key1},").context["field"]
        == "REDIS_ENCRYPTION_KEY"
    )


# -- TLS -----------------------------------------------------------------------------------


def test_tls_settings(tmp_path: Path) -> None:
    cert, key, ca = (tmp_path / n for n in ("c.pem", "k.pem", "ca.pem"))
    for path in (cert, key, ca):
        path.write_text("x")
    config = resolve(
        CACHE_PRESET="production",
        REDIS_TLS_ENABLED="true",
        REDIS_TLS_CERT_PATH=str(cert),
        REDIS_TLS_KEY_PATH=str(key),
        REDIS_TLS_CA_PATH=str(ca),
        REDIS_VERIFY_CERTIFICATES="false",
        REDIS_INSECURE_ALLOW_PLAINTEXT="yes",
    )
    assert config.use_tls is True
    assert (config.tls_cert_path, config.tls_key_path, config.tls_ca_path) == (
        str(cert),
        str(key),
        str(ca),
    )
    assert config.verify_certificates is False
    assert config.insecure_allow_plaintext is True
    # a path alone turns TLS on; REDIS_USE_TLS is an alias
    assert resolve(REDIS_TLS_CA_PATH=str(ca)).use_tls is True
    assert resolve(REDIS_USE_TLS="1").use_tls is True
    assert resolve(REDIS_USE_TLS="on", REDIS_TLS_ENABLED="yes").use_tls is True
    defaults = resolve()
    assert defaults.use_tls is False
    assert defaults.verify_certificates is True
    assert defaults.insecure_allow_plaintext is False


def test_tls_conflicts() -> None:
    exc = error(REDIS_TLS_ENABLED="false", REDIS_TLS_CERT_PATH="/c.pem")
    assert exc.context["field"] == "REDIS_TLS_CERT_PATH"
    assert exc.context["value"] == "/c.pem"
    assert exc.context["conflicts_with"] == "REDIS_TLS_ENABLED"
    exc = error(REDIS_TLS_ENABLED="true", REDIS_USE_TLS="false")
    assert exc.context["field"] == "REDIS_USE_TLS"
    assert error(REDIS_VERIFY_CERTIFICATES="sure").context["field"] == (
        "REDIS_VERIFY_CERTIFICATES"
    )
    assert error(REDIS_INSECURE_ALLOW_PLAINTEXT="2").context["field"] == (
        "REDIS_INSECURE_ALLOW_PLAINTEXT"
    )


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("REDIS_CONNECTION_TIMEOUT", "2.5", 2.5),
        ("REDIS_CONNECTION_TIMEOUT", "0.001", 0.001),
        ("REDIS_MAX_RETRIES", "0", 0),
        ("REDIS_MAX_RETRIES", " 7 ", 7),
        ("REDIS_RETRY_DELAY", "0", 0.0),
        ("REDIS_RETRY_DELAY", "1.5", 1.5),
    ],
)
def test_numbers_accepted(name: str, raw: str, expected: float) -> None:
    config = resolve_cache_config({name: raw})
    attr = {
        "REDIS_CONNECTION_TIMEOUT": "connection_timeout",
        "REDIS_MAX_RETRIES": "max_retries",
        "REDIS_RETRY_DELAY": "retry_delay",
    }[name]
    assert getattr(config, attr) == expected


@pytest.mark.parametrize(
    ("name", "raw", "allowed"),
    [
        ("REDIS_CONNECTION_TIMEOUT", "abc", "a number > 0"),
        ("REDIS_CONNECTION_TIMEOUT", "0", "a number > 0"),
        ("REDIS_CONNECTION_TIMEOUT", "-1", "a number > 0"),
        ("REDIS_CONNECTION_TIMEOUT", "nan", "a number > 0"),
        ("REDIS_CONNECTION_TIMEOUT", "inf", "a number > 0"),
        ("REDIS_MAX_RETRIES", "-1", "an integer >= 0"),
        ("REDIS_MAX_RETRIES", "1.5", "an integer >= 0"),
        ("REDIS_MAX_RETRIES", "three", "an integer >= 0"),
        ("REDIS_RETRY_DELAY", "-0.1", "a number >= 0"),
        ("REDIS_RETRY_DELAY", "soon", "a number >= 0"),
    ],
)
def test_numbers_rejected(name: str, raw: str, allowed: str) -> None:
    exc = error(**{name: raw})
    assert exc.context == {"field": name, "value": raw, "allowed": allowed}
    assert name in exc.message


def test_parsers_directly() -> None:
    assert parse_bool("X", "On") is True and parse_bool("X", "oFF") is False
    assert parse_int("X", "10", minimum=1, maximum=10) == 10
    with pytest.raises(ConfigurationError) as info:
        parse_int("X", "11", minimum=1, maximum=10)
    assert info.value.context["allowed"] == "an integer between 1 and 10"
    assert parse_float("X", "0", minimum=0) == 0.0


# -- misc ----------------------------------------------------------------------------------


def test_legacy_variables_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="aicache.settings"):
        config = resolve(CACHE_DEFAULT_TTL="5", CACHE_PRESET="simple")
    assert config.default_ttl == 3600  # ignored, but reported
    assert "CACHE_DEFAULT_TTL" in caplog.text


def test_settings_repr_has_no_secrets() -> None:
    settings = CacheSettings.from_environ(
        {
            "REDIS_PASSWORD": "hunter2",
            "REDIS_ENCRYPTION_KEY": "k" * 44,
            "CACHE_REDIS_URL": "redis://:hunter2@h:6379",
        }
    )
    text = repr(settings)
    assert "hunter2" not in text and "kkkk" not in text
    assert "***@h:6379" in text


def test_result_is_a_fresh_object_each_time() -> None:
    first = resolve(CACHE_PRESET="ai-production")
    assert first.ai_config is not None
    first.ai_config.operation_ttls["qa"] = 1
    second = resolve(CACHE_PRESET="ai-production")
    assert second.ai_config is not None
    assert second.ai_config.operation_ttls["qa"] == 7200


@pytest.mark.parametrize(
    ("overrides", "url", "field_name"),
    [
        ({"default_ttl": 86401}, None, "default_ttl"),
        ({"memory_cache_size": 10001}, None, "memory_cache_size"),
        ({"l1_cache_size": 10001}, None, "memory_cache_size"),
        ({"compression_threshold": 99}, "redis://h", "compression_threshold"),
        ({"compression_threshold": 100001}, "redis://h", "compression_threshold"),
    ],
)
def test_cache_constructor_limits(
    overrides: dict[str, Any], url: str | None, field_name: str
) -> None:
    env = {"CACHE_CUSTOM_CONFIG": json.dumps(overrides)}
    if url:
        env["CACHE_REDIS_URL"] = url
    with pytest.raises(ConfigurationError) as info:
        resolve_cache_config(env)
    assert info.value.context["field"] == field_name
    assert "accepted by the caches" in info.value.context["allowed"]


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        ({"default_ttl": 86400, "memory_cache_size": 10000}, None),
        ({"default_ttl": 1, "memory_cache_size": 1}, None),
        ({"compression_threshold": 0}, None),  # no Redis: threshold unused
        ({"compression_threshold": 100}, "redis://h"),
        ({"compression_threshold": 100000}, "redis://h"),
    ],
)
def test_cache_constructor_limits_edges(
    overrides: dict[str, Any], url: str | None
) -> None:
    env = {"CACHE_CUSTOM_CONFIG": json.dumps(overrides)}
    if url:
        env["CACHE_REDIS_URL"] = url
    config = resolve_cache_config(env)
    for key, value in overrides.items():
        assert getattr(config, key) == value


def test_get_cache_config_accepts_template_arguments() -> None:
    settings = CacheSettings.from_environ({"CACHE_PRESET": "simple"})
    assert (
        settings.get_cache_config(session_id="s", user_context="u").preset_name
        == "Simple"
    )
