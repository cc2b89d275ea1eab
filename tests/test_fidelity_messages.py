"""Drop-in fidelity (issue 11, items 3, 4, 6-10): the original's messages, context
keys and shapes that users grep, branch on and format.

Each test pins one restored behaviour; the security report runs against a real
redis-server (tests/redis_servers.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet as RefFernet

from aicache import cache_presets, encryption
from aicache.cache_presets import CacheStrategy, get_default_presets
from aicache.cache_validator import cache_validator
from aicache.config import AICacheConfig, CacheConfig, CacheConfigBuilder
from aicache.encryption import EncryptedCacheLayer, create_encryption_layer_from_env
from aicache.exceptions import ConfigurationError, ValidationError
from aicache.factory import CacheFactory
from aicache.redis_generic import GenericRedisCache
from aicache.security import RedisCacheSecurityManager, SecurityConfig
from redis_servers import RedisServer

KEYGEN_ONE_LINER = (
    'python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)
AICACHE_KEYGEN = (
    'python -c "from aicache.encryption import FernetKeyring; '
    'print(FernetKeyring.generate_key().decode())"'
)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in (
        "ENVIRONMENT",
        "NODE_ENV",
        "FLASK_ENV",
        "APP_ENV",
        "ENV",
        "DEPLOYMENT_ENV",
        "ENFORCE_AUTH",
        "REDIS_ENCRYPTION_KEY",
        "REDIS_PASSWORD",
        "REDIS_INSECURE_ALLOW_PLAINTEXT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "testing")
    yield monkeypatch


# ------------------------------------------------------- item 6: encryption


def test_invalid_key_message_has_headline_reason_and_advice() -> None:
    with pytest.raises(ConfigurationError) as info:
        EncryptedCacheLayer(encryption_key="QUFBQQ==")
    err = info.value
    first, blank, error_line = err.message.split("\n")[:3]
    assert first == "🔒 ENCRYPTION ERROR: Invalid encryption key."
    assert blank == ""
    assert error_line == "Error: decodes to 4 bytes, a Fernet key is 32"
    for advice in (KEYGEN_ONE_LINER, AICACHE_KEYGEN, "REDIS_ENCRYPTION_KEY", "comma"):
        assert advice in err.message
    assert "pip install cryptography" in err.message  # for the one-liner
    assert err.context["error_type"] == "invalid_encryption_key"
    assert err.context["original_error"] == "decodes to 4 bytes, a Fernet key is 32"
    # aicache's extra keys stay beside the original's
    assert (err.context["key_index"], err.context["key_count"]) == (0, 1)
    assert err.context["reason"]
    assert "QUFBQQ" not in str(err)


def test_serialize_message_lists_supported_types() -> None:
    layer = EncryptedCacheLayer(RefFernet.generate_key())
    with pytest.raises(ConfigurationError) as info:
        layer.encrypt_cache_data({"when": object()})
    err = info.value
    assert err.message.startswith(
        "🔒 ENCRYPTION ERROR: Failed to serialize cache data.\n\nError: "
    )
    assert "str, int, float, bool, None" in err.message
    assert "pip install" not in err.message
    assert err.context["error_type"] == "serialization_error"
    assert err.context["data_type"] == "dict"
    assert "not JSON serializable" in err.context["original_error"]


def test_decryption_failure_keeps_no_downgrade_and_explains_causes() -> None:
    key = RefFernet.generate_key()
    layer = EncryptedCacheLayer(key)
    plaintext = json.dumps({"a": 1}).encode()
    foreign = RefFernet(RefFernet.generate_key()).encrypt(plaintext)
    for payload in (plaintext, foreign):
        with pytest.raises(ConfigurationError) as info:
            layer.decrypt_cache_data(payload)  # never read as plaintext
        err = info.value
        assert err.message.startswith(
            "🔒 DECRYPTION ERROR: Data decryption failed.\n\nError: authentication"
        )
        for cause in ("corrupted", "wrong key", "before encryption was enabled"):
            assert cause in err.message
        assert "rotation" in err.message
        assert err.context["error_type"] == "decryption_failure"
        assert err.context["reason"] == "authentication_failure"
        assert err.context["data_size"] == len(payload)
        assert isinstance(err.context["original_error"], str)
        assert err.context["original_error"]


def test_deserialize_message_and_context() -> None:
    layer = EncryptedCacheLayer()
    with pytest.raises(ConfigurationError) as info:
        layer.decrypt_cache_data(b"{not json")
    err = info.value
    assert err.message.startswith(
        "🔒 DECRYPTION ERROR: Failed to deserialize cache data.\n\nError: "
    )
    assert err.context["error_type"] == "deserialization_error"
    assert err.context["data_size"] == 9
    assert err.context["original_error"].startswith("Expecting property name")


def test_missing_dependency_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encryption, "CRYPTOGRAPHY_AVAILABLE", False)
    with pytest.raises(ConfigurationError) as info:
        EncryptedCacheLayer(RefFernet.generate_key())
    err = info.value
    assert err.message.startswith(
        "🔒 ENCRYPTION ERROR: cryptography library is required"
    )
    assert "CRYPTOGRAPHY_AVAILABLE" in err.message
    assert err.context == {
        "error_type": "missing_dependency",
        "required_package": "cryptography",
        "original_error": "aicache.encryption.CRYPTOGRAPHY_AVAILABLE is False",
    }


def test_security_warnings_go_through_the_instance_logger(
    environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Recorder(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    with caplog.at_level(logging.WARNING, logger="aicache.encryption"):
        create_encryption_layer_from_env()
    assert any(
        r.getMessage().startswith("⚠️  SECURITY WARNING: REDIS_ENCRYPTION_KEY not set!")
        for r in caplog.records
    )
    # One warning per condition (issue 10): the layer built for a missing key does
    # not repeat it; a layer built directly without a key still says it is disabled.
    assert not any(
        r.getMessage().startswith("⚠️  SECURITY WARNING: Cache encryption is disabled!")
        for r in caplog.records
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aicache.encryption"):
        EncryptedCacheLayer()
    assert any(
        r.getMessage().startswith("⚠️  SECURITY WARNING: Cache encryption is disabled!")
        for r in caplog.records
    )
    layer = EncryptedCacheLayer()
    own = logging.getLogger("fidelity.test.layer")
    recorder = Recorder()
    own.addHandler(recorder)
    try:
        layer.logger = own  # the instance's logger is the one used
        layer.encrypt_cache_data({"a": 1})
    finally:
        own.removeHandler(recorder)
    assert recorder.messages == [
        "🔓 Data stored without encryption (encryption disabled)"
    ]


def test_security_initialization_wrapper(environment: pytest.MonkeyPatch) -> None:
    bad_key = base64.urlsafe_b64encode(b"k" * 31).decode()
    environment.setenv("REDIS_ENCRYPTION_KEY", bad_key)
    with pytest.raises(ConfigurationError) as info:
        GenericRedisCache(redis_url="redis://127.0.0.1:1")
    err = info.value
    assert err.message.startswith(
        "🔒 SECURITY ERROR: Failed to initialize mandatory security features.\n\n"
        "Error: 🔒 ENCRYPTION ERROR: Invalid encryption key."
    )
    assert err.context["error_type"] == "security_initialization_failure"
    assert err.context["cause_error_type"] == "invalid_encryption_key"
    assert err.context["original_error"].startswith("🔒 ENCRYPTION ERROR")
    assert bad_key not in str(err)


# ------------------------------------------------- item 7: SecurityConfig


@pytest.mark.parametrize(
    ("kwargs", "start", "validation_type", "key"),
    [
        ({"tls_cert_path": "c.pem"}, "TLS certificate file not found:", "tls_cert", "cert_path"),
        ({"tls_key_path": "k.pem"}, "TLS key file not found:", "tls_key", "key_path"),
        ({"tls_ca_path": "ca.pem"}, "TLS CA file not found:", "tls_ca", "ca_path"),
    ],
)  # fmt: skip
def test_security_config_tls_file_messages(
    tmp_path: Path, kwargs: dict[str, str], start: str, validation_type: str, key: str
) -> None:
    path = str(tmp_path / next(iter(kwargs.values())))
    with pytest.raises(ConfigurationError) as info:
        SecurityConfig(use_tls=True, **{next(iter(kwargs)): path})
    assert info.value.message == f"{start} {path}"
    assert info.value.context[key] == path
    assert info.value.context["validation_type"] == validation_type


@pytest.mark.parametrize(
    ("kwargs", "start", "validation_type"),
    [
        ({"acl_username": "app"}, "ACL password is required when ACL username is provided", "acl_config"),
        ({"connection_timeout": 0}, "Connection timeout must be positive", "timeout"),
        ({"socket_timeout": -1}, "Socket timeout must be positive", "timeout"),
        ({"max_retries": -1}, "Max retries cannot be negative", "retry_config"),
        ({"retry_delay": -0.5}, "Retry delay cannot be negative", "retry_config"),
    ],
)  # fmt: skip
def test_security_config_value_messages(
    kwargs: dict[str, Any], start: str, validation_type: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        SecurityConfig(**kwargs)
    assert info.value.message.startswith(start)
    assert info.value.context["validation_type"] == validation_type
    name, value = next(iter(kwargs.items()))
    assert info.value.context[name] == value


# ------------------------------------------------- item 4: security report


def _validate(manager: RedisCacheSecurityManager, url: str) -> Any:
    async def go() -> Any:
        conn = await manager.create_secure_connection(url)
        try:
            return await manager.validate_connection_security(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.mark.parametrize("env", ["testing", "development", "production"])
def test_plaintext_link_is_a_vulnerability_everywhere(
    env: str, environment: pytest.MonkeyPatch, redis_plain: RedisServer
) -> None:
    manager = RedisCacheSecurityManager(SecurityConfig())
    environment.setenv("ENVIRONMENT", env)
    result = _validate(manager, redis_plain.plain_url)
    assert result.tls_enabled is False
    assert result.certificate_valid is False
    assert "Unencrypted connection - data transmitted in plain text" in (
        result.vulnerabilities
    )
    production_entry = "Unencrypted connection in production" in result.vulnerabilities
    assert production_entry is (env == "production")
    assert not any("not encrypted" in w for w in result.warnings)
    report = manager.generate_security_report(result)
    assert "Unencrypted connection - data transmitted in plain text" in report


def test_security_report_keeps_the_original_layout(
    environment: pytest.MonkeyPatch, redis_plain: RedisServer
) -> None:
    manager = RedisCacheSecurityManager(SecurityConfig())
    # The config is read at call time (the template's tests swap it after connecting):
    # report on a TLS config without verification and with a short password.
    config = SecurityConfig(
        redis_auth="Xq7tiny",
        connection_timeout=90,
        use_tls=True,
        verify_certificates=False,
    )

    async def go() -> Any:
        conn = await manager.create_secure_connection(redis_plain.plain_url)
        try:
            manager.config = config
            return await manager.validate_connection_security(conn)
        finally:
            await conn.close()

    result = asyncio.run(go())
    assert (
        "Certificate verification disabled - vulnerable to man-in-the-middle attacks"
        in result.vulnerabilities
    )
    assert (
        "Weak password - consider using a stronger password (≥12 characters)"
        in result.vulnerabilities
    )
    assert "Long connection timeout may increase vulnerability window" in (
        result.warnings
    )
    assert result.auth_method == "AUTH"
    report = manager.generate_security_report(result)
    lines = report.splitlines()
    assert lines[1] == "REDIS CACHE SECURITY ASSESSMENT REPORT"
    for expected in (
        "EXECUTIVE SUMMARY",
        "Security Status: ❌ INSECURE",
        f"Security Score: {result.security_score}/100",
        f"Security Level: {config.security_level}",
        "SECURITY CONFIGURATION",
        "Authentication: ✅ Enabled",
        "SECURITY VULNERABILITIES",
        "SECURITY RECOMMENDATIONS",
        "Report generated by Redis Cache Security Manager",
    ):
        assert expected in lines, expected
    assert f"Score: {result.security_score}/100" in report
    assert any(line.startswith("1. ❌ ") for line in lines)
    assert "Xq7tiny" not in report  # never the password


# ---------------------------------------------- item 3: preset timeout


def test_preset_config_security_config_gets_the_strategy_timeout() -> None:
    for strategy, config in get_default_presets().items():
        config.redis_password = "secret-password"
        security = config.to_dict()["security_config"]
        assert security.connection_timeout == config.connection_timeout, strategy
    assert get_default_presets()[CacheStrategy.BALANCED].connection_timeout == 5
    custom = cache_presets.CacheConfig(redis_password="pw", connection_timeout=7)
    assert custom.to_dict()["security_config"].connection_timeout == 7


# ------------------------------------------------ item 9: preset validate()


def test_preset_config_validate_checks_to_dict_and_only_warns_about_the_rest() -> None:
    config = cache_presets.CacheConfig(max_connections=500, connection_timeout=120)
    result = config.validate()
    assert result.is_valid  # the original accepted it: nothing consumes them
    assert [m.field_path for m in result.messages] == [
        "max_connections",
        "connection_timeout",
    ]
    assert all(m.severity == "warning" for m in result.messages)
    bad = cache_presets.CacheConfig(default_ttl=10).validate()
    assert bad.errors == [
        "default_ttl must be integer between 60 and 604800 seconds, got: 10"
    ]


# ------------------------------------------------------ item 10: strategy


def test_cache_strategy_str_is_the_enum_default() -> None:
    assert str(CacheStrategy.FAST) == "CacheStrategy.FAST"
    assert f"{CacheStrategy.AI_OPTIMIZED}" == "CacheStrategy.AI_OPTIMIZED"
    assert CacheStrategy.FAST.value == "fast" and CacheStrategy.FAST == "fast"


# --------------------------------------------- item 8: validation messages


def test_cache_config_messages_start_with_the_original_wording() -> None:
    result = CacheConfig(
        redis_url="http://x",
        default_ttl=0,
        memory_cache_size=0,
        compression_level=10,
        compression_threshold=-1,
    ).validate()
    starts = [
        "redis_url must start with 'redis://' or 'rediss://'",
        "default_ttl must be positive",
        "memory_cache_size must be positive",
        "compression_level must be between 1 and 9",
        "compression_threshold must be non-negative",
    ]
    assert len(result.errors) == len(starts)
    for message, start in zip(result.errors, starts, strict=True):
        assert message.startswith(start), message
    assert "unix://" in result.errors[0]
    ai = AICacheConfig(text_hash_threshold=0, max_text_length=0).validate()
    assert ai.errors[0].startswith("text_hash_threshold must be positive")
    assert ai.errors[1].startswith("max_text_length must be positive")


def test_validator_range_messages() -> None:
    preset = cache_presets.CACHE_PRESETS["ai-production"].to_dict()
    preset.update(default_ttl=30, connection_timeout=0, max_connections=0)
    preset["ai_optimizations"] = {
        "text_hash_threshold": 50,
        "operation_ttls": {"qa": 10},
    }
    errors = cache_validator.validate_preset(preset).errors
    assert errors == [
        "default_ttl must be integer between 60 and 604800 seconds, got: 30",
        "max_connections must be integer between 1 and 100, got: 0",
        "connection_timeout must be integer between 1 and 60 seconds, got: 0",
        "text_hash_threshold must be integer between 100 and 10000, got: 50",
        "operation_ttls['qa'] must be integer >= 60 seconds, got: 10",
    ]
    # a memory-size problem is named as users write it, even from l1_cache_size
    result = cache_validator.validate_configuration(
        {"strategy": "fast", "l1_cache_size": 0}
    )
    assert result.errors == [
        "memory_cache_size must be integer between 1 and 10000, got: 0"
    ]
    assert result.messages[0].field_path == "memory_cache_size"


def test_builder_messages(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        CacheConfigBuilder().for_environment("moon")
    assert info.value.message.startswith("Invalid environment: moon")
    broken = tmp_path / "c.json"
    broken.write_text("{nope")
    with pytest.raises(ConfigurationError) as cinfo:
        CacheConfigBuilder().from_file(broken)
    assert cinfo.value.context["json_error"].startswith("Expecting property name")
    assert cinfo.value.message.startswith("Invalid JSON in configuration file: ")
    with pytest.raises(ValidationError) as ainfo:
        CacheConfigBuilder().with_ai_features(colour="blue")
    assert ainfo.value.message.startswith("Unknown AI configuration options:")
    assert ainfo.value.context["unknown_options"] == ["colour"]
    assert "text_hash_threshold" in ainfo.value.context["valid_options"]
    assert info.value.context["provided_environment"] == "moon"
    tiers = AICacheConfig(
        text_size_tiers={"small": 0, "medium": 2, "large": 3},
        operation_ttls={"qa": -1},
    ).validate()
    assert tiers.errors[0].startswith(
        "text_size_tiers['small'] must be a positive integer"
    )
    assert tiers.errors[1].startswith("operation_ttls['qa'] must be a positive integer")


def test_factory_config_messages() -> None:
    factory = CacheFactory()
    cases: list[tuple[Any, str]] = [
        ([], "config must be a dictionary"),
        ({}, "config dictionary cannot be empty"),
        ({"default_ttl": 60}, "redis_url is required in config"),
    ]
    for config, start in cases:
        with pytest.raises(ValidationError) as info:
            asyncio.run(factory.create_cache_from_config(config))
        assert info.value.message.startswith(start)


def test_ai_config_messages_match_the_template_tests() -> None:
    from aicache.ai_config import AIResponseCacheConfig

    low = AIResponseCacheConfig(
        redis_url="invalid://url",
        default_ttl=-1,
        memory_cache_size=-10,
        compression_threshold=-5,
        compression_level=0,
        text_hash_threshold=0,
    ).validate()
    high = AIResponseCacheConfig(
        default_ttl=86400 * 366,
        memory_cache_size=20000,
        compression_threshold=2 * 1024 * 1024,
        compression_level=10,
        text_hash_threshold=200000,
    ).validate()
    assert low.errors[:6] == [
        "redis_url must start with redis://, rediss://, or unix://, got: invalid://url",
        "default_ttl must be positive, got -1",
        "memory_cache_size must be non-negative, got -10",
        "compression_threshold must be non-negative, got -5",
        "compression_level must be 1-9, got 0",
        "text_hash_threshold must be positive, got 0",
    ]
    assert high.errors[:5] == [
        "default_ttl too large (max 1 year), got 31622400",
        "memory_cache_size too large (max 10000), got 20000",
        "compression_threshold too large (max 1MB), got 2097152",
        "compression_level must be 1-9, got 10",
        "text_hash_threshold too large (max 100000), got 200000",
    ]


@pytest.mark.parametrize(
    ("config", "url", "headline", "validation_type", "requirement"),
    [
        (SecurityConfig(), "rediss://cache:6380", "Authentication", "mandatory_authentication", "authentication_required"),
        (SecurityConfig(redis_auth="pw"), "redis://cache:6379", "TLS encryption", "mandatory_tls", "tls_encryption_required"),
        (SecurityConfig(redis_auth="pw", verify_certificates=False), "rediss://c:6380", "Certificate verification", "mandatory_cert_verification", "certificate_verification_required"),
    ],
)  # fmt: skip
def test_mandatory_security_errors_keep_the_original_headline_and_keys(
    environment: pytest.MonkeyPatch,
    config: SecurityConfig,
    url: str,
    headline: str,
    validation_type: str,
    requirement: str,
) -> None:
    environment.setenv("ENVIRONMENT", "production")
    environment.setenv("REDIS_ENCRYPTION_KEY", RefFernet.generate_key().decode())
    with pytest.raises(ConfigurationError) as info:
        config.validate_mandatory_security_requirements(url)
    err = info.value
    assert err.message.startswith(
        f"🔒 SECURITY ERROR: {headline} is mandatory for production environment."
    )
    assert err.context["validation_type"] == validation_type
    assert err.context["security_requirement"] == requirement
    assert err.context["environment"] == "production"
    assert "🌍 Environment: production" in err.message
