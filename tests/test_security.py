"""aicache.security (spec section 12) with the original's bugs fixed (21.23-24).

Configuration and reports are checked directly; connections are made to real
redis-server processes (plain, password, ACL user, TLS, mutual TLS, unix socket)
started by tests/redis_servers.py.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from aicache import security
from aicache._connection import RedisAuthError, RedisConnection, RedisConnectionError
from aicache.exceptions import ConfigurationError
from aicache.monitoring import CachePerformanceMonitor
from aicache.security import (
    RedisCacheSecurityManager,
    SecurityConfig,
    SecurityValidationResult,
    build_ssl_context,
    create_security_config_from_env,
    generate_secure_password,
)
from redis_servers import ACL_PASSWORD, ACL_USER, PASSWORD, RedisServer

ENV_VARS = (
    "ENVIRONMENT",
    "NODE_ENV",
    "FLASK_ENV",
    "APP_ENV",
    "ENV",
    "DEPLOYMENT_ENV",
    "DJANGO_SETTINGS_MODULE",
    "RAILS_ENV",
    "DEBUG",
    "PRODUCTION",
    "PROD",
    "ENFORCE_AUTH",
    "HOSTNAME",
    "REDIS_AUTH",
    "REDIS_PASSWORD",
    "REDIS_ACL_USERNAME",
    "REDIS_ACL_PASSWORD",
    "REDIS_USE_TLS",
    "REDIS_TLS_ENABLED",
    "REDIS_TLS_CERT_PATH",
    "REDIS_TLS_KEY_PATH",
    "REDIS_TLS_CA_PATH",
    "REDIS_VERIFY_CERTIFICATES",
    "REDIS_CONNECTION_TIMEOUT",
    "REDIS_MAX_RETRIES",
    "REDIS_RETRY_DELAY",
    "REDIS_ENCRYPTION_KEY",
    "REDIS_INSECURE_ALLOW_PLAINTEXT",
)
FERNET_KEY = "u7aE1Qw5m0J6yqZr3mXyFv0fP7Jb3XQ0u3z8c9WvR1c="


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "testing")
    yield monkeypatch


def set_env(monkeypatch: pytest.MonkeyPatch, environment: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)


# ------------------------------------------------------------------ SecurityConfig


def test_defaults_match_the_original_plus_encryption_key() -> None:
    c = SecurityConfig()
    assert c.redis_auth is None and c.acl_username is None and c.acl_password is None
    assert c.use_tls is False and c.verify_certificates is True
    assert c.tls_cert_path is None and c.tls_key_path is None and c.tls_ca_path is None
    assert c.min_tls_version == ssl.TLSVersion.TLSv1_2.value == 771
    assert c.cipher_suites is None
    assert (c.connection_timeout, c.socket_timeout) == (30, 30)
    assert (c.max_retries, c.retry_delay) == (3, 1.0)
    assert c.enable_security_monitoring and c.log_security_events
    assert c.encryption_key is None
    c.some_extra_attribute = 1  # type: ignore[attr-defined]  # plain dataclass


def test_post_init_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as e:
        SecurityConfig(use_tls=True, tls_ca_path=str(tmp_path / "missing.pem"))
    assert e.value.context["validation_type"] == "tls_ca"
    # Paths are only checked with TLS on; empty strings are skipped.
    SecurityConfig(use_tls=False, tls_ca_path=str(tmp_path / "missing.pem"))
    SecurityConfig(use_tls=True, tls_cert_path="", tls_key_path="")
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert SecurityConfig(use_tls=True, tls_ca_path=str(ca)).tls_ca_path == str(ca)
    with pytest.raises(ConfigurationError) as e:
        SecurityConfig(acl_username="app")
    assert e.value.context["validation_type"] == "acl_config"
    for kwargs in (
        {"connection_timeout": 0},
        {"socket_timeout": -1},
        {"max_retries": -1},
        {"retry_delay": -0.5},
    ):
        with pytest.raises(ConfigurationError) as e:
            SecurityConfig(**kwargs)  # type: ignore[arg-type]
        assert "validation_type" in e.value.context


def test_path_exists_is_looked_up_at_call_time() -> None:
    # The template's fixtures build TLS configs under patch("pathlib.Path.exists").
    with mock.patch("pathlib.Path.exists", return_value=True):
        c = SecurityConfig(use_tls=True, tls_cert_path="/nope/c.pem", tls_ca_path="/x")
    assert c.tls_cert_path == "/nope/c.pem"


def test_repr_never_shows_secrets() -> None:
    c = SecurityConfig(
        redis_auth="super-secret-password",
        acl_username="app",
        acl_password="acl-secret-password",
        encryption_key=FERNET_KEY,
    )
    text = repr(c) + str(c)
    for secret in ("super-secret-password", "acl-secret-password", FERNET_KEY):
        assert secret not in text
    assert "redis_auth='***'" in text and "acl_username='app'" in text
    assert "redis_auth=None" in repr(SecurityConfig())


def test_authentication_and_level() -> None:
    assert not SecurityConfig().has_authentication
    assert SecurityConfig(redis_auth="pw").has_authentication
    assert SecurityConfig(acl_username="u", acl_password="p").has_authentication
    assert SecurityConfig().security_level == "LOW"
    assert SecurityConfig(redis_auth="pw").security_level == "MEDIUM"
    assert SecurityConfig(use_tls=True).security_level == "MEDIUM"
    assert SecurityConfig(use_tls=True, redis_auth="pw").security_level == "HIGH"
    assert (
        SecurityConfig(
            use_tls=True, redis_auth="p", verify_certificates=False
        ).security_level
        == "MEDIUM"
    )


# ------------------------------------------------------------------ environments


def test_production_names_exactly_what_is_missing(
    clean_env: pytest.MonkeyPatch,
) -> None:
    set_env(clean_env, "production")
    with pytest.raises(ConfigurationError) as e:
        SecurityConfig().validate_mandatory_security_requirements("redis://cache:6379")
    ctx = e.value.context
    assert ctx["missing_requirements"] == ["authentication", "tls", "encryption_key"]
    assert ctx["environment"] == "production"
    # the original's values for its first check (authentication)
    assert ctx["validation_type"] == "mandatory_authentication"
    assert ctx["security_requirement"] == "authentication_required"
    assert e.value.message.startswith(
        "🔒 SECURITY ERROR: Authentication is mandatory for production environment."
    )
    assert "confidence" in ctx
    for word in ("TLS", "REDIS_PASSWORD", "REDIS_ENCRYPTION_KEY"):
        assert word in e.value.message
    # Only the encryption key missing.
    with pytest.raises(ConfigurationError) as e:
        SecurityConfig(redis_auth="pw").validate_mandatory_security_requirements(
            "rediss://cache:6380"
        )
    assert e.value.context["missing_requirements"] == ["encryption_key"]
    # Verification off with TLS.
    cfg = SecurityConfig(redis_auth="pw", verify_certificates=False, encryption_key="k")
    with pytest.raises(ConfigurationError) as e:
        cfg.validate_mandatory_security_requirements("rediss://cache:6380")
    assert e.value.context["missing_requirements"] == ["certificate_verification"]


def test_production_accepts_each_source_of_credentials(
    clean_env: pytest.MonkeyPatch,
) -> None:
    set_env(clean_env, "production")
    clean_env.setenv("REDIS_ENCRYPTION_KEY", FERNET_KEY)
    SecurityConfig().validate_mandatory_security_requirements("rediss://:pw@cache:6380")
    SecurityConfig().validate_mandatory_security_requirements(
        "rediss://user:pw@cache:6380"
    )
    SecurityConfig(
        acl_username="u", acl_password="p"
    ).validate_mandatory_security_requirements("rediss://cache:6380")
    SecurityConfig(
        redis_auth="pw", use_tls=True
    ).validate_mandatory_security_requirements("redis://cache:6379")
    # A local unix socket never leaves the host: no TLS needed.
    SecurityConfig(redis_auth="pw").validate_mandatory_security_requirements(
        "unix:///run/redis.sock"
    )
    # "@" alone is not a credential (the original's check was fooled by it).
    with pytest.raises(ConfigurationError) as e:
        SecurityConfig().validate_mandatory_security_requirements("rediss://user@cache")
    assert e.value.context["missing_requirements"] == ["authentication"]


def test_production_plaintext_override(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    set_env(clean_env, "production")
    clean_env.setenv("REDIS_ENCRYPTION_KEY", FERNET_KEY)
    clean_env.setenv("REDIS_INSECURE_ALLOW_PLAINTEXT", "true")
    with caplog.at_level(logging.WARNING, logger="aicache.security"):
        SecurityConfig(redis_auth="pw").validate_mandatory_security_requirements(
            "redis://cache:6379"
        )
    assert "REDIS_INSECURE_ALLOW_PLAINTEXT" in caplog.text


def test_staging_requires_tls_and_auth_but_not_a_key(
    clean_env: pytest.MonkeyPatch,
) -> None:
    set_env(clean_env, "staging")
    with pytest.raises(ConfigurationError) as e:
        SecurityConfig().validate_mandatory_security_requirements("redis://c:6379")
    assert e.value.context["missing_requirements"] == ["authentication", "tls"]
    SecurityConfig(redis_auth="pw").validate_mandatory_security_requirements(
        "rediss://c:6380"
    )


@pytest.mark.parametrize("environment", ["development", "testing"])
def test_development_and_testing_require_nothing(
    clean_env: pytest.MonkeyPatch, environment: str
) -> None:
    set_env(clean_env, environment)
    SecurityConfig().validate_mandatory_security_requirements("redis://localhost:6379")
    SecurityConfig().validate_mandatory_security_requirements(None)


def test_environment_detection_is_patchable(clean_env: pytest.MonkeyPatch) -> None:
    from aicache.environment import Environment

    info = mock.Mock(environment=Environment.PRODUCTION, confidence=0.9, reasoning="x")
    with (
        mock.patch.object(security, "get_environment_info", return_value=info),
        pytest.raises(ConfigurationError),
    ):
        SecurityConfig().validate_mandatory_security_requirements("redis://c")


def test_create_for_environment_reads_credentials_never_invents_them(
    clean_env: pytest.MonkeyPatch,
) -> None:
    a = SecurityConfig.create_for_environment()
    b = SecurityConfig.create_for_environment()
    assert a.redis_auth is None and b.redis_auth is None  # no random passwords
    clean_env.setenv("REDIS_PASSWORD", "from-redis-password")
    assert SecurityConfig.create_for_environment().redis_auth == "from-redis-password"
    clean_env.setenv("REDIS_AUTH", "from-redis-auth")
    assert SecurityConfig.create_for_environment().redis_auth == "from-redis-auth"
    clean_env.setenv("REDIS_ACL_USERNAME", "app")
    clean_env.setenv("REDIS_ACL_PASSWORD", "acl-pw")
    c = SecurityConfig.create_for_environment(encryption_key=FERNET_KEY)
    assert (c.acl_username, c.acl_password) == ("app", "acl-pw")
    assert c.encryption_key == FERNET_KEY  # the argument is no longer ignored


def test_create_for_environment_profiles(clean_env: pytest.MonkeyPatch) -> None:
    set_env(clean_env, "testing")
    t = SecurityConfig.create_for_environment()
    assert (t.connection_timeout, t.socket_timeout, t.max_retries) == (10, 10, 1)
    assert not t.enable_security_monitoring and not t.log_security_events
    assert t.use_tls is False and t.verify_certificates is False
    set_env(clean_env, "development")
    d = SecurityConfig.create_for_environment()
    assert (d.connection_timeout, d.max_retries) == (20, 2)
    assert d.use_tls is False  # development never forces TLS
    assert d.tls_cert_path is None  # no fixed /etc/ssl paths
    set_env(clean_env, "production")
    p = SecurityConfig.create_for_environment()
    assert p.verify_certificates is True and p.min_tls_version == 772
    assert (p.connection_timeout, p.max_retries) == (30, 3)
    assert p.use_tls is False and p.tls_ca_path is None  # TLS follows the URL
    set_env(clean_env, "staging")
    s = SecurityConfig.create_for_environment()
    assert s.verify_certificates is True and s.min_tls_version == 771


def test_create_for_environment_env_overrides(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    clean_env.setenv("REDIS_TLS_ENABLED", "true")
    clean_env.setenv("REDIS_TLS_CA_PATH", str(ca))
    clean_env.setenv("REDIS_VERIFY_CERTIFICATES", "false")
    clean_env.setenv("REDIS_CONNECTION_TIMEOUT", "7")
    clean_env.setenv("REDIS_MAX_RETRIES", "0")
    clean_env.setenv("REDIS_RETRY_DELAY", "0.25")
    c = SecurityConfig.create_for_environment()
    assert c.use_tls and c.tls_ca_path == str(ca) and not c.verify_certificates
    assert (c.connection_timeout, c.max_retries, c.retry_delay) == (7, 0, 0.25)
    clean_env.setenv("REDIS_USE_TLS", "no")  # wins over REDIS_TLS_ENABLED
    assert SecurityConfig.create_for_environment().use_tls is False
    clean_env.setenv("REDIS_TLS_CERT_PATH", str(tmp_path / "missing.pem"))
    clean_env.setenv("REDIS_USE_TLS", "yes")
    with pytest.raises(ConfigurationError):
        SecurityConfig.create_for_environment()


@pytest.mark.parametrize(
    ("name", "value"),
    [("REDIS_MAX_RETRIES", "three"), ("REDIS_USE_TLS", "maybe")],
)
def test_invalid_environment_values_raise(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigurationError) as e:
        create_security_config_from_env()
    assert e.value.context["variable"] == name


def test_generate_secure_password(caplog: pytest.LogCaptureFixture) -> None:
    pw = generate_secure_password(64)
    assert len(pw) == 64
    assert not set(pw) & set("0OlI")
    assert generate_secure_password(32) != generate_secure_password(32)
    with caplog.at_level(logging.WARNING):
        assert len(generate_secure_password(4)) == 4
    assert "below the recommended" in caplog.text


# ------------------------------------------------------------------ validation result


def result(**kw: Any) -> SecurityValidationResult:
    base: dict[str, Any] = {
        "is_secure": False,
        "auth_configured": False,
        "tls_enabled": False,
        "acl_enabled": False,
        "certificate_valid": False,
    }
    base.update(kw)
    return SecurityValidationResult(**base)


def test_score_computation_and_is_secure() -> None:
    full = dict(
        auth_configured=True,
        acl_enabled=True,
        tls_enabled=True,
        certificate_valid=True,
        connection_encrypted=True,
    )
    assert result(**full).security_score == 70 and result(**full).is_secure
    assert result(**full, certificate_expiry_days=120).security_score == 85
    assert result(**full, certificate_expiry_days=60).security_score == 80
    assert result(**full, certificate_expiry_days=10).security_score == 75
    assert result(**full, certificate_expiry_days=3).security_score == 70
    assert result(auth_configured=True).security_score == 20
    assert result(acl_enabled=True).security_score == 0  # ACL counts only with auth
    assert result(tls_enabled=True, certificate_valid=True).security_score == 35
    # -5 per vulnerability, at most -15, never below 0.
    many = ["a", "b", "c", "d", "e"]
    assert result(**full, vulnerabilities=many).security_score == 55
    assert result(vulnerabilities=many).security_score == 0
    one = result(**full, certificate_expiry_days=120, vulnerabilities=["minor"])
    assert one.security_score == 80 and one.is_secure
    # Critical vulnerabilities make it insecure whatever the score.
    for critical in (
        "No authentication configured",
        "Unencrypted connection in production",
        "Invalid or expired certificates",
        "Weak cipher suites",
    ):
        r = result(**full, certificate_expiry_days=120, vulnerabilities=[critical])
        assert r.security_score == 80 and not r.is_secure
    # An explicit score is kept (and decides is_secure).
    assert result(security_score=95, is_secure=False).is_secure is True
    assert result(security_score=50, is_secure=True).is_secure is False


def test_security_summary_levels() -> None:
    assert "HIGH" in result(security_score=85).get_security_summary()
    assert "MEDIUM" in result(security_score=65).get_security_summary()
    summary = result(security_score=10, vulnerabilities=["Weak cipher suites"])
    text = summary.get_security_summary()
    assert "LOW" in text and "Weak cipher suites" in text


# ------------------------------------------------------------------ manager (offline)


def test_ssl_context_from_config(redis_tls: RedisServer) -> None:
    assert redis_tls.tls is not None
    files = redis_tls.tls
    ctx = build_ssl_context(
        SecurityConfig(
            use_tls=True,
            tls_ca_path=str(files.ca_cert),
            tls_cert_path=str(files.client_cert),
            tls_key_path=str(files.client_key),
            min_tls_version=772,
            cipher_suites=["ECDHE-ECDSA-AES128-GCM-SHA256"],
        )
    )
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    names = {c["name"] for c in ctx.get_ciphers()}
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in names
    off = build_ssl_context(SecurityConfig(use_tls=True, verify_certificates=False))
    assert off.verify_mode == ssl.CERT_NONE and not off.check_hostname
    assert off.minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(ConfigurationError) as e:
        build_ssl_context(SecurityConfig(cipher_suites=["NOT-A-CIPHER"]))
    assert e.value.context["validation_type"] == "tls_configuration"
    with pytest.raises(ConfigurationError):
        build_ssl_context(SecurityConfig(min_tls_version=12345))


def test_manager_with_patched_ssl_loading() -> None:
    """The template's fixture: nonexistent paths under patched exists/load calls."""
    with (
        mock.patch("pathlib.Path.exists", return_value=True),
        mock.patch("ssl.SSLContext.load_cert_chain") as chain,
        mock.patch("ssl.SSLContext.load_verify_locations") as verify,
    ):
        cfg = SecurityConfig(
            redis_auth="pw",
            acl_username="u",
            acl_password="p",
            use_tls=True,
            tls_cert_path="/certs/c.pem",
            tls_key_path="/certs/c.key",
            tls_ca_path="/certs/ca.pem",
            cipher_suites=["ECDHE-RSA-AES256-GCM-SHA384"],
            min_tls_version=772,
        )
        manager = RedisCacheSecurityManager(cfg)
    chain.assert_called_once()
    verify.assert_called_once()
    assert manager._ssl_context is not None
    assert manager.config is cfg


def test_status_recommendations_and_report_without_validation() -> None:
    manager = RedisCacheSecurityManager(SecurityConfig(redis_auth="short"))
    status = manager.get_security_status()
    assert set(status) == {
        "timestamp",
        "security_level",
        "configuration",
        "last_validation",
        "security_events_count",
        "recommendations_count",
    }
    assert set(status["configuration"]) == {
        "has_authentication",
        "tls_enabled",
        "acl_configured",
        "certificate_verification",
        "connection_timeout",
        "max_retries",
    }
    assert status["last_validation"] is None
    assert "short" not in repr(status)
    recs = manager.get_security_recommendations()
    assert any("TLS" in r for r in recs)
    assert any("16 characters" in r for r in recs)
    assert any("REDIS_ENCRYPTION_KEY" in r for r in recs)
    assert status["recommendations_count"] == len(recs)
    assert "No security validation data" in manager.generate_security_report()


def test_validation_wrapper_is_sync_and_validates_first(
    clean_env: pytest.MonkeyPatch,
) -> None:
    manager = RedisCacheSecurityManager(SecurityConfig())
    coro = manager.create_secure_connection_with_validation("redis://127.0.0.1:1")
    assert asyncio.iscoroutine(coro)
    coro.close()
    set_env(clean_env, "production")
    with pytest.raises(ConfigurationError):
        manager.create_secure_connection_with_validation("redis://127.0.0.1:1")


def test_patched_aioredis_factory_gets_redis_py_kwargs() -> None:
    """The original's patch point ``security.aioredis`` is honoured."""

    class FakeClient:
        pinged = 0

        async def ping(self) -> bool:
            FakeClient.pinged += 1
            return True

    factory = mock.Mock()
    factory.from_url.return_value = FakeClient()
    cfg = SecurityConfig(redis_auth="pw", use_tls=True, verify_certificates=False)
    with mock.patch.object(security, "aioredis", factory):
        manager = RedisCacheSecurityManager(cfg)
        client = run(manager.create_secure_connection("redis://cache:6379"))
    assert isinstance(client, FakeClient) and FakeClient.pinged == 1
    (url,), kwargs = factory.from_url.call_args
    assert url == "rediss://cache:6379"  # explicit use_tls: the redis-py way
    assert kwargs["password"] == "pw"
    assert kwargs["ssl_cert_reqs"] == ssl.CERT_NONE
    assert kwargs["socket_connect_timeout"] == 30


def test_patched_factory_failure_retries_with_backoff() -> None:
    factory = mock.Mock()
    factory.from_url.side_effect = OSError("refused")
    cfg = SecurityConfig(max_retries=2, retry_delay=0.01)
    with mock.patch.object(security, "aioredis", factory):
        manager = RedisCacheSecurityManager(cfg)
        with pytest.raises(OSError):
            run(manager.create_secure_connection("redis://cache:6379"))
    assert factory.from_url.call_count == 3


# ------------------------------------------------------------------ real servers


async def _connect_and_ping(manager: RedisCacheSecurityManager, url: str) -> Any:
    conn = await manager.create_secure_connection(url)
    try:
        assert isinstance(conn, RedisConnection) and conn.is_connected
        return await conn.execute("PING")
    finally:
        await conn.close()


def test_plain_and_unix(redis_plain: RedisServer, redis_unix: RedisServer) -> None:
    manager = RedisCacheSecurityManager(SecurityConfig(max_retries=0))
    assert run(_connect_and_ping(manager, redis_plain.url)) == "PONG"
    assert run(_connect_and_ping(manager, redis_unix.url)) == "PONG"


def test_password_from_config_or_url(redis_password: RedisServer) -> None:
    by_config = RedisCacheSecurityManager(SecurityConfig(redis_auth=PASSWORD))
    assert run(_connect_and_ping(by_config, redis_password.plain_url)) == "PONG"
    # URL credentials win over the config (as with redis-py's from_url).
    wrong_config = RedisCacheSecurityManager(SecurityConfig(redis_auth="wrong"))
    assert run(_connect_and_ping(wrong_config, redis_password.url)) == "PONG"


def test_acl_user(redis_acl: RedisServer) -> None:
    manager = RedisCacheSecurityManager(
        SecurityConfig(acl_username=ACL_USER, acl_password=ACL_PASSWORD)
    )

    async def who() -> Any:
        conn = await manager.create_secure_connection(redis_acl.plain_url)
        try:
            return await conn.execute("ACL", "WHOAMI")
        finally:
            await conn.close()

    assert run(who()) in (ACL_USER, ACL_USER.encode())


def test_wrong_password_fails_fast_without_leaking_it(
    redis_password: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "definitely-wrong-password-123"
    manager = RedisCacheSecurityManager(
        SecurityConfig(redis_auth=secret, max_retries=3, retry_delay=1.0)
    )
    t0 = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(RedisAuthError):
        run(manager.create_secure_connection(redis_password.plain_url))
    assert time.monotonic() - t0 < 1.0  # no back-off retries on bad credentials
    assert secret not in caplog.text
    assert manager.get_security_status()["security_events_count"] == 1
    report = run(manager.test_security_configuration(redis_password.plain_url))
    assert report["connection_successful"] is False
    assert any(e.startswith("Authentication error") for e in report["errors"])
    assert secret not in repr(report)


def test_tls_verified_connection_and_validation(redis_tls: RedisServer) -> None:
    assert redis_tls.tls is not None
    monitor = CachePerformanceMonitor()
    manager = RedisCacheSecurityManager(
        SecurityConfig(use_tls=True, tls_ca_path=str(redis_tls.tls.ca_cert)),
        performance_monitor=monitor,
    )

    async def go() -> SecurityValidationResult:
        conn = await manager.create_secure_connection(redis_tls.plain_url)
        try:
            return await manager.validate_connection_security(conn)
        finally:
            await conn.close()

    r = run(go())
    assert r.connection_encrypted and r.tls_enabled and r.certificate_valid
    assert r.tls_version in ("TLSv1.2", "TLSv1.3") and r.cipher_suite
    assert r.certificate_expiry_days is not None and r.certificate_expiry_days >= 0
    assert r.detailed_checks["redis_version"]
    assert r.auth_method is None and "No authentication configured" in r.vulnerabilities
    assert not r.is_secure
    assert manager.get_security_status()["last_validation"]["security_score"] == (
        r.security_score
    )
    report = manager.generate_security_report()
    assert (
        "REDIS CACHE SECURITY ASSESSMENT REPORT" in report and r.tls_version in report
    )
    assert monitor.total_operations >= 1  # secure_connection_create recorded


def test_certificate_that_does_not_verify(redis_tls: RedisServer) -> None:
    assert redis_tls.tls is not None
    manager = RedisCacheSecurityManager(
        SecurityConfig(
            use_tls=True, tls_ca_path=str(redis_tls.tls.rogue_ca_cert), max_retries=0
        )
    )
    with pytest.raises(RedisConnectionError) as e:
        run(manager.create_secure_connection(redis_tls.plain_url))
    assert "certificate" in e.value.message.lower()


def test_mutual_tls(redis_mtls: RedisServer) -> None:
    assert redis_mtls.tls is not None
    files = redis_mtls.tls
    with_cert = RedisCacheSecurityManager(
        SecurityConfig(
            use_tls=True,
            tls_ca_path=str(files.ca_cert),
            tls_cert_path=str(files.client_cert),
            tls_key_path=str(files.client_key),
            max_retries=0,
        )
    )
    assert run(_connect_and_ping(with_cert, redis_mtls.plain_url)) == "PONG"
    without = RedisCacheSecurityManager(
        SecurityConfig(use_tls=True, tls_ca_path=str(files.ca_cert), max_retries=0)
    )
    with pytest.raises(RedisConnectionError):
        run(_connect_and_ping(without, redis_mtls.plain_url))


def test_plaintext_validation_and_test_configuration(
    redis_password: RedisServer,
) -> None:
    manager = RedisCacheSecurityManager(SecurityConfig(redis_auth=PASSWORD))
    out = run(manager.test_security_configuration(redis_password.plain_url))
    assert set(out) >= {
        "timestamp",
        "configuration_valid",
        "connection_successful",
        "authentication_working",
        "encryption_active",
        "overall_secure",
        "test_details",
        "errors",
        "security_score",
    }
    assert out["configuration_valid"] and out["connection_successful"]
    assert out["authentication_working"] and not out["encryption_active"]
    assert out["overall_secure"] is False  # no TLS: 20 points only
    assert out["errors"] == []
    assert PASSWORD not in repr(out)


def test_validation_of_a_broken_client_falls_back() -> None:
    class Broken:
        async def ping(self) -> bool:
            raise OSError("gone")

    manager = RedisCacheSecurityManager(SecurityConfig())
    r = run(manager.validate_connection_security(Broken()))
    assert not r.is_secure
    assert "Security validation failed" in r.vulnerabilities
    assert "No authentication configured" in r.vulnerabilities
