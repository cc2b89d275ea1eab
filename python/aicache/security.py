"""Redis connection security: configuration, TLS, authentication checks, reports.

Public surface of the original ``security.py`` (spec section 12) with its bugs fixed
(spec 21.23-24, documented in docs/migration-redis.md):

* credentials are never invented: authentication comes from the ``SecurityConfig``
  given, from ``REDIS_AUTH`` / ``REDIS_PASSWORD`` / ``REDIS_ACL_USERNAME`` +
  ``REDIS_ACL_PASSWORD`` (through :meth:`SecurityConfig.create_for_environment`), from
  credentials in the URL, or it is absent and production says exactly that;
* development and testing do not force TLS and never rewrite ``redis://`` URLs;
* production requires TLS, authentication, certificate verification and an encryption
  key, and the ``ConfigurationError`` names exactly what is missing;
* ``SecurityConfig`` has an ``encryption_key`` field (the original had none);
* secrets never appear in logs, ``repr`` or status dictionaries.

:meth:`RedisCacheSecurityManager.create_secure_connection` returns a connected
:class:`aicache._connection.RedisConnection` built with an ``ssl.SSLContext`` made from
the configuration. The module global ``aioredis`` stays patchable: when a test replaces
``aioredis`` or ``aioredis.from_url``, that factory is used instead (redis-py keyword
arguments), as in the original.
"""

import asyncio
import logging
import os
import secrets
import ssl
import string
import time
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from aicache._connection import RedisConnection
from aicache.environment import Environment, FeatureContext, get_environment_info
from aicache.exceptions import ConfigurationError, InfrastructureError

__all__ = [
    "RedisCacheSecurityManager",
    "SecurityConfig",
    "SecurityValidationResult",
    "aioredis",
    "create_security_config_from_env",
    "generate_secure_password",
]

logger = logging.getLogger(__name__)

_REDACTED = "***"
_TLS_1_2 = ssl.TLSVersion.TLSv1_2.value
_TLS_1_3 = ssl.TLSVersion.TLSv1_3.value
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")

# Vulnerability strings that make a validation result insecure whatever its score.
VULN_NO_AUTH = "No authentication configured"
# The original's explanatory entries (reports and alerts match on them).
VULN_NO_AUTH_DETAIL = (
    "No authentication configured - Redis is accessible without credentials"
)
VULN_PLAINTEXT = "Unencrypted connection - data transmitted in plain text"
VULN_NO_VERIFY = (
    "Certificate verification disabled - vulnerable to man-in-the-middle attacks"
)
VULN_WEAK_PASSWORD = (
    "Weak password - consider using a stronger password (≥12 characters)"
)
VULN_PLAINTEXT_PRODUCTION = "Unencrypted connection in production"
VULN_BAD_CERTIFICATES = "Invalid or expired certificates"
VULN_WEAK_CIPHERS = "Weak cipher suites"
_CRITICAL_VULNERABILITIES = (
    VULN_NO_AUTH,
    VULN_PLAINTEXT_PRODUCTION,
    VULN_BAD_CERTIFICATES,
    VULN_WEAK_CIPHERS,
)
# Mandatory requirement -> (headline subject, validation_type, security_requirement),
# the original's values (its error for a missing encryption key did not exist).
_MANDATORY: dict[str, tuple[str, str, str]] = {
    "authentication": (
        "Authentication",
        "mandatory_authentication",
        "authentication_required",
    ),
    "tls": ("TLS encryption", "mandatory_tls", "tls_encryption_required"),
    "certificate_verification": (
        "Certificate verification",
        "mandatory_cert_verification",
        "certificate_verification_required",
    ),
    "encryption_key": (
        "An encryption key",
        "mandatory_encryption_key",
        "encryption_key_required",
    ),
}
_WEAK_CIPHER_MARKERS = ("RC4", "DES", "MD5", "NULL", "EXPORT", "ANON", "ADH", "AECDH")


# ---------------------------------------------------------------------------------
# The patchable client factory of the original (``security.aioredis``).
# ---------------------------------------------------------------------------------


class _NativeClientFactory:
    """Stands where the original imported ``redis.asyncio as aioredis``.

    ``from_url`` builds an (unconnected) aicache connection from redis-py style keyword
    arguments. The manager recognises this factory and then builds the connection
    itself (with an ``ssl.SSLContext``); a patched factory is called like redis-py's.
    """

    @staticmethod
    def from_url(url: str, **kwargs: Any) -> RedisConnection:
        return RedisConnection(
            url,
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            ssl_context=kwargs.get("ssl_context"),
            connect_timeout=float(kwargs.get("socket_connect_timeout") or 5.0),
            command_timeout=float(kwargs.get("socket_timeout") or 5.0),
        )


_native_from_url = _NativeClientFactory.from_url
aioredis: Any = _NativeClientFactory()


def _uses_native_factory() -> bool:
    return getattr(aioredis, "from_url", None) is _native_from_url


# ---------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------


def generate_secure_password(length: int = 32) -> str:
    """A random password over letters, digits and ``!@#$%^&*-_=+`` minus look-alikes."""
    if length < 8:
        logger.warning(
            "Generated password length %d is below the recommended 8", length
        )
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*-_=+"
    alphabet = "".join(c for c in alphabet if c not in "0OlI")
    return "".join(secrets.choice(alphabet) for _ in range(max(0, length)))


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(
        f"{name} must be true or false",
        {"variable": name, "value": raw, "validation_type": "environment_variable"},
    )


def _env_number(name: str, default: float, kind: type[int] | type[float]) -> Any:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw.strip())
    except ValueError:
        raise ConfigurationError(
            f"{name} must be a {kind.__name__}",
            {"variable": name, "value": raw, "validation_type": "environment_variable"},
        ) from None


def _url_scheme(redis_url: str | None) -> str:
    """The URL's transport scheme: ``rediss+cluster://`` counts as ``rediss``."""
    if not redis_url:
        return ""
    scheme = redis_url.split("://", 1)[0].lower() if "://" in redis_url else ""
    return scheme.split("+", 1)[0]


def _url_has_credentials(redis_url: str | None) -> bool:
    if not redis_url:
        return False
    try:
        parts = urlsplit(redis_url)
    except ValueError:
        return False
    return bool(parts.password) or bool(parts.username and parts.password is not None)


def redact_url(redis_url: str | None) -> str:
    """The URL with any password replaced by ``***`` (safe to log); text that is
    not a valid Redis URL shows only its host part, never a secret."""
    from aicache.redis_url import redact_redis_url

    return redact_redis_url(redis_url)


def _encryption_key_configured(config: "SecurityConfig") -> bool:
    key = getattr(config, "encryption_key", None)
    return bool(key) or bool(os.environ.get("REDIS_ENCRYPTION_KEY", "").strip())


def _tls_version(value: Any) -> ssl.TLSVersion:
    if isinstance(value, ssl.TLSVersion):
        return value
    if isinstance(value, str):
        named = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
        key = value.strip().upper().replace("TLSV", "").replace("TLS", "").strip("_ ")
        if key.replace("_", ".") in named:
            return named[key.replace("_", ".")]
    try:
        return ssl.TLSVersion(int(value))
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"Unsupported min_tls_version {value!r} (use 771 for TLS 1.2, 772 for TLS 1.3)",
            {"min_tls_version": value, "validation_type": "tls_configuration"},
        ) from None


def _parse_info(raw: Any) -> dict[str, Any]:
    """INFO reply (bulk text or an already-parsed dict) as a dict of strings/numbers."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw).decode("utf-8", "replace")
    out: dict[str, Any] = {}
    if not isinstance(raw, str):
        return out
    for line in raw.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        out[name] = int(value) if value.isdigit() else value
    return out


# ---------------------------------------------------------------------------------
# SecurityConfig
# ---------------------------------------------------------------------------------


@dataclass
class SecurityConfig:
    """Security settings of a Redis connection (spec 12.1, plus ``encryption_key``).

    A plain dataclass: instances accept extra attributes. ``repr`` redacts
    ``redis_auth``, ``acl_password`` and ``encryption_key``.
    """

    redis_auth: str | None = None
    acl_username: str | None = None
    acl_password: str | None = None
    use_tls: bool = False
    tls_cert_path: str | None = None
    tls_key_path: str | None = None
    tls_ca_path: str | None = None
    verify_certificates: bool = True
    min_tls_version: int = _TLS_1_2
    cipher_suites: list[str] | None = None
    connection_timeout: int = 30
    socket_timeout: int = 30
    max_retries: int = 3
    retry_delay: float = 1.0
    enable_security_monitoring: bool = True
    log_security_events: bool = True
    encryption_key: str | None = None

    def __post_init__(self) -> None:
        # The original's messages and context keys (code branches on validation_type).
        if self.use_tls:
            for label, name, key, kind in (
                ("TLS certificate file", "tls_cert_path", "cert_path", "tls_cert"),
                ("TLS key file", "tls_key_path", "key_path", "tls_key"),
                ("TLS CA file", "tls_ca_path", "ca_path", "tls_ca"),
            ):
                path = getattr(self, name)
                if path and not Path(path).exists():
                    raise ConfigurationError(
                        f"{label} not found: {path}",
                        {key: path, "validation_type": kind, "field": name},
                    )
        if self.acl_username and not self.acl_password:
            raise ConfigurationError(
                "ACL password is required when ACL username is provided",
                {"acl_username": self.acl_username, "validation_type": "acl_config"},
            )
        for label, name in (
            ("Connection timeout", "connection_timeout"),
            ("Socket timeout", "socket_timeout"),
        ):
            if getattr(self, name) <= 0:
                raise ConfigurationError(
                    f"{label} must be positive, got {getattr(self, name)!r}",
                    {name: getattr(self, name), "validation_type": "timeout"},
                )
        if self.max_retries < 0:
            raise ConfigurationError(
                f"Max retries cannot be negative, got {self.max_retries!r}",
                {"max_retries": self.max_retries, "validation_type": "retry_config"},
            )
        if self.retry_delay < 0:
            raise ConfigurationError(
                f"Retry delay cannot be negative, got {self.retry_delay!r}",
                {"retry_delay": self.retry_delay, "validation_type": "retry_config"},
            )

    def __repr__(self) -> str:
        shown = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in ("redis_auth", "acl_password", "encryption_key") and value:
                value = _REDACTED
            shown.append(f"{name}={value!r}")
        return f"SecurityConfig({', '.join(shown)})"

    @property
    def has_authentication(self) -> bool:
        return bool(self.redis_auth or (self.acl_username and self.acl_password))

    @property
    def security_level(self) -> str:
        if self.use_tls and self.has_authentication and self.verify_certificates:
            return "HIGH"
        if self.use_tls or self.has_authentication:
            return "MEDIUM"
        return "LOW"

    def validate_mandatory_security_requirements(
        self, redis_url: str | None = None
    ) -> None:
        """Raise ConfigurationError when the detected environment's minimum is not met.

        staging, production and unknown: TLS (``use_tls``, a ``rediss://`` URL, or a
        local ``unix://`` socket) and authentication (this config or URL credentials);
        production and unknown additionally: certificate verification and an encryption key
        (``encryption_key`` or ``REDIS_ENCRYPTION_KEY``). ``REDIS_INSECURE_ALLOW_PLAINTEXT
        =true`` waives the TLS requirement (loud warning). Development and testing only
        log what is missing.
        """
        info = get_environment_info(FeatureContext.SECURITY_ENFORCEMENT)
        env = info.environment
        scheme = _url_scheme(redis_url)
        auth_ok = self.has_authentication or _url_has_credentials(redis_url)
        tls_ok = bool(self.use_tls) or scheme in ("rediss", "unix")
        production_like = env in (Environment.PRODUCTION, Environment.UNKNOWN)
        strict = production_like or env == Environment.STAGING
        missing: list[str] = []
        hints: list[str] = []
        # Checked in the original's order (authentication first), so the headline
        # and validation_type name the same requirement as the original's error.
        if strict and not auth_ok:
            missing.append("authentication")
            hints.append(
                "authentication (set REDIS_PASSWORD or REDIS_AUTH, ACL credentials "
                "REDIS_ACL_USERNAME/REDIS_ACL_PASSWORD, or credentials in the URL)"
            )
        if strict and not tls_ok:
            if _env_bool("REDIS_INSECURE_ALLOW_PLAINTEXT", False):
                logger.warning(
                    "SECURITY WARNING: plaintext Redis connection allowed in %s by "
                    "REDIS_INSECURE_ALLOW_PLAINTEXT; traffic is not encrypted",
                    env.value,
                )
            else:
                missing.append("tls")
                hints.append(
                    "TLS (use a rediss:// URL or SecurityConfig(use_tls=True) / "
                    "REDIS_TLS_ENABLED=true)"
                )
        if production_like:
            if tls_ok and scheme != "unix" and not self.verify_certificates:
                missing.append("certificate_verification")
                hints.append("certificate verification (verify_certificates=True)")
            if not _encryption_key_configured(self):
                missing.append("encryption_key")
                hints.append(
                    "an encryption key (set REDIS_ENCRYPTION_KEY or "
                    "SecurityConfig.encryption_key)"
                )
        if missing:
            what, validation_type, requirement = _MANDATORY[missing[0]]
            advice = "\n".join(f"{n}. Configure {h}" for n, h in enumerate(hints, 1))
            raise ConfigurationError(
                f"🔒 SECURITY ERROR: {what} is mandatory for {env.value} environment.\n"
                "\n"
                f"Missing: {', '.join(missing)}\n"
                "\n"
                f"To fix this issue:\n{advice}\n"
                "\n"
                f"🌍 Environment: {env.value} (confidence: {info.confidence:.1f})",
                {
                    "environment": env.value,
                    "confidence": info.confidence,
                    "validation_type": validation_type,
                    "security_requirement": requirement,
                    "missing_requirements": missing,
                    "redis_url": redact_url(redis_url),
                },
            )
        if not strict and env != Environment.TESTING and not (auth_ok and tls_ok):
            logger.debug(
                "Redis security in %s: authentication=%s, tls=%s (required only in "
                "staging/production)",
                env.value,
                auth_ok,
                tls_ok,
            )

    @classmethod
    def create_for_environment(cls, encryption_key: str | None = None) -> Self:
        """A configuration for the detected environment, from the environment variables.

        Per-environment defaults (certificate verification in staging/production/unknown,
        timeouts 10 s in testing, 20 s in development, 30 s otherwise, TLS 1.3 minimum in
        production/unknown; TLS itself follows the URL scheme unless forced),
        overridden by ``REDIS_USE_TLS``/``REDIS_TLS_ENABLED``, ``REDIS_TLS_CERT_PATH``,
        ``REDIS_TLS_KEY_PATH``, ``REDIS_TLS_CA_PATH``, ``REDIS_VERIFY_CERTIFICATES``,
        ``REDIS_CONNECTION_TIMEOUT``, ``REDIS_MAX_RETRIES``, ``REDIS_RETRY_DELAY``.
        Credentials: ``REDIS_AUTH`` or ``REDIS_PASSWORD``, ``REDIS_ACL_USERNAME`` +
        ``REDIS_ACL_PASSWORD``; none set means no authentication (never a random one).
        """
        info = get_environment_info(FeatureContext.SECURITY_ENFORCEMENT)
        env = info.environment
        if env == Environment.UNKNOWN:
            logger.warning(
                "Environment could not be determined; using the production security profile"
            )
        production_like = env in (Environment.PRODUCTION, Environment.UNKNOWN)
        strict = production_like or env == Environment.STAGING
        if env == Environment.TESTING:
            timeout, retries, monitoring = 10, 1, False
        elif env == Environment.DEVELOPMENT:
            timeout, retries, monitoring = 20, 2, True
        else:
            timeout, retries, monitoring = 30, 3, True

        # TLS comes from the URL scheme (rediss://) unless explicitly forced here:
        # a redis:// URL is never silently upgraded.
        if os.environ.get("REDIS_USE_TLS") is not None:
            use_tls = _env_bool("REDIS_USE_TLS", False)
        else:
            use_tls = _env_bool("REDIS_TLS_ENABLED", False)
        timeout = _env_number("REDIS_CONNECTION_TIMEOUT", timeout, int)
        return cls(
            redis_auth=os.environ.get("REDIS_AUTH")
            or os.environ.get("REDIS_PASSWORD")
            or None,
            acl_username=os.environ.get("REDIS_ACL_USERNAME") or None,
            acl_password=os.environ.get("REDIS_ACL_PASSWORD") or None,
            use_tls=use_tls,
            tls_cert_path=os.environ.get("REDIS_TLS_CERT_PATH") or None,
            tls_key_path=os.environ.get("REDIS_TLS_KEY_PATH") or None,
            tls_ca_path=os.environ.get("REDIS_TLS_CA_PATH") or None,
            verify_certificates=_env_bool("REDIS_VERIFY_CERTIFICATES", strict),
            min_tls_version=_TLS_1_3 if production_like else _TLS_1_2,
            connection_timeout=timeout,
            socket_timeout=timeout,
            max_retries=_env_number("REDIS_MAX_RETRIES", retries, int),
            retry_delay=_env_number("REDIS_RETRY_DELAY", 1.0, float),
            enable_security_monitoring=monitoring,
            log_security_events=monitoring,
            encryption_key=encryption_key or None,
        )


def create_security_config_from_env() -> SecurityConfig:
    """The configuration described by the environment variables (see
    :meth:`SecurityConfig.create_for_environment`); invalid values raise
    ``ConfigurationError`` instead of silently falling back to invented credentials."""
    return SecurityConfig.create_for_environment()


# ---------------------------------------------------------------------------------
# Validation result
# ---------------------------------------------------------------------------------


@dataclass
class SecurityValidationResult:
    """Outcome of :meth:`RedisCacheSecurityManager.validate_connection_security`."""

    is_secure: bool
    auth_configured: bool
    tls_enabled: bool
    acl_enabled: bool
    certificate_valid: bool
    vulnerabilities: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    security_score: int = 0
    detailed_checks: dict[str, Any] = field(default_factory=dict)
    connection_encrypted: bool = False
    auth_method: str | None = None
    tls_version: str | None = None
    cipher_suite: str | None = None
    certificate_expiry_days: int | None = None

    def __post_init__(self) -> None:
        if self.security_score == 0:
            self.security_score = self._compute_score()
        self.is_secure = self.security_score >= 70 and not any(
            v in self.vulnerabilities for v in _CRITICAL_VULNERABILITIES
        )

    def _compute_score(self) -> int:
        score = 0
        if self.auth_configured:
            score += 20
            if self.acl_enabled:
                score += 10
        if self.tls_enabled:
            score += 25
            if self.certificate_valid:
                score += 10
            if self.connection_encrypted:
                score += 5
        days = self.certificate_expiry_days
        if days is not None:
            if days > 90:
                score += 15
            elif days > 30:
                score += 10
            elif days > 7:
                score += 5
        score -= min(5 * len(self.vulnerabilities), 15)
        return max(0, min(100, score))

    def get_security_summary(self) -> str:
        score = self.security_score
        level = "HIGH" if score >= 80 else "MEDIUM" if score >= 60 else "LOW"

        def mark(flag: bool) -> str:
            return "yes" if flag else "no"

        lines = [
            f"Security Level: {level} ({score}/100)",
            f"Secure: {mark(self.is_secure)}",
            f"Authentication: {mark(self.auth_configured)}"
            + (f" ({self.auth_method})" if self.auth_method else ""),
            f"TLS: {mark(self.tls_enabled)}"
            + (f" ({self.tls_version})" if self.tls_version else ""),
            f"ACL: {mark(self.acl_enabled)}",
            f"Certificates valid: {mark(self.certificate_valid)}",
        ]
        if self.vulnerabilities:
            lines.append(f"Vulnerabilities ({len(self.vulnerabilities)}):")
            lines.extend(f"  - {v}" for v in self.vulnerabilities)
        if self.warnings:
            lines.append(f"Warnings ({len(self.warnings)}):")
            lines.extend(f"  - {w}" for w in self.warnings)
        if self.recommendations:
            lines.append(f"Recommendations ({len(self.recommendations)}):")
            lines.extend(f"  - {r}" for r in self.recommendations)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------
# The manager
# ---------------------------------------------------------------------------------


def build_ssl_context(config: SecurityConfig) -> ssl.SSLContext:
    """A client ``SSLContext`` from the config: CA, client cert/key, verification,
    minimum TLS version and cipher list. Errors become ConfigurationError."""
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if config.verify_certificates:
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
            if config.tls_ca_path:
                ctx.load_verify_locations(cafile=config.tls_ca_path)
            else:
                ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if config.tls_cert_path:
            ctx.load_cert_chain(
                certfile=config.tls_cert_path, keyfile=config.tls_key_path or None
            )
        ctx.minimum_version = _tls_version(config.min_tls_version)
        if config.cipher_suites:
            ctx.set_ciphers(":".join(config.cipher_suites))
        return ctx
    except ConfigurationError:
        raise
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(
            f"Invalid TLS configuration: {exc}",
            {
                "validation_type": "tls_configuration",
                "tls_cert_path": config.tls_cert_path,
                "tls_key_path": config.tls_key_path,
                "tls_ca_path": config.tls_ca_path,
                "original_error": str(exc),
            },
        ) from exc


class RedisCacheSecurityManager:
    """Builds secure connections and validates/report on their security (spec 12.4).

    ``config`` is read at call time: replacing ``manager.config`` after construction
    takes effect at the next connection.
    """

    def __init__(self, config: SecurityConfig, performance_monitor: Any = None) -> None:
        self.config = config
        self.performance_monitor = performance_monitor
        self._security_logger = logging.getLogger(f"{__name__}.security")
        self._security_events: deque[dict[str, Any]] = deque(maxlen=1000)
        self._last_validation: SecurityValidationResult | None = None
        self._ssl_context: ssl.SSLContext | None = None
        self._ssl_config_id: int | None = None
        self._last_warning: dict[str, float] = {}
        if config.use_tls:
            self._ssl_context = build_ssl_context(config)
            self._ssl_config_id = id(config)

    # -- connection building ----------------------------------------------------------

    def _uses_tls(self, redis_url: str) -> bool:
        return bool(self.config.use_tls) or _url_scheme(redis_url) == "rediss"

    def get_ssl_context(self, redis_url: str = "") -> ssl.SSLContext | None:
        """The context for this URL under the current config (None: plaintext)."""
        if not self._uses_tls(redis_url):
            return None
        if self._ssl_context is None or self._ssl_config_id != id(self.config):
            self._ssl_context = build_ssl_context(self.config)
            self._ssl_config_id = id(self.config)
        return self._ssl_context

    def _credentials(self, redis_url: str) -> tuple[str | None, str | None]:
        """(username, password): URL credentials win, then ACL, then ``redis_auth``."""
        url_user = url_password = None
        try:
            from aicache.redis_url import parse_redis_url

            parsed = parse_redis_url(redis_url)
            url_user, url_password = parsed.username, parsed.password
        except ConfigurationError:
            pass  # the connection reports the bad URL itself
        if url_password:
            return (url_user or None), url_password
        config = self.config
        if config.acl_username and config.acl_password:
            return config.acl_username, config.acl_password
        return None, config.redis_auth or None

    def build_connection(self, redis_url: str, **overrides: Any) -> RedisConnection:
        """An unconnected aicache connection configured from the current config.

        ``overrides`` are passed to :class:`RedisConnection` (timeouts, breaker...).
        ``redis://`` URLs get TLS only when ``config.use_tls`` says so.
        """
        from aicache.topology import build_topology_connection, is_topology_url

        if is_topology_url(redis_url):  # redis+cluster:// or redis+sentinel://
            return build_topology_connection(self, redis_url, **overrides)  # type: ignore[return-value]
        config = self.config
        username, password = self._credentials(redis_url)
        kwargs: dict[str, Any] = {
            "username": username,
            "password": password,
            "ssl_context": self.get_ssl_context(redis_url),
            "connect_timeout": float(config.connection_timeout),
            "command_timeout": float(config.socket_timeout),
        }
        kwargs.update(overrides)
        return RedisConnection(redis_url, **kwargs)

    def _build_connection_kwargs(self, redis_url: str) -> dict[str, Any]:
        """redis-py style keyword arguments (used only with a patched ``aioredis``)."""
        config = self.config
        kwargs: dict[str, Any] = {
            "socket_timeout": config.socket_timeout,
            "socket_connect_timeout": config.connection_timeout,
            "retry_on_timeout": True,
            "health_check_interval": 30,
        }
        username, password = self._credentials(redis_url)
        if username:
            kwargs["username"] = username
        if password:
            kwargs["password"] = password
        if self._uses_tls(redis_url):
            kwargs["ssl_cert_reqs"] = (
                ssl.CERT_REQUIRED if config.verify_certificates else ssl.CERT_NONE
            )
            kwargs["ssl_check_hostname"] = bool(config.verify_certificates)
            if config.tls_cert_path:
                kwargs["ssl_certfile"] = config.tls_cert_path
            if config.tls_key_path:
                kwargs["ssl_keyfile"] = config.tls_key_path
            if config.tls_ca_path:
                kwargs["ssl_ca_certs"] = config.tls_ca_path
            kwargs["ssl_min_version"] = _tls_version(config.min_tls_version)
            if config.cipher_suites:
                kwargs["ssl_ciphers"] = ":".join(config.cipher_suites)
            if _url_scheme(redis_url) == "redis":
                redis_url = "rediss://" + redis_url.split("://", 1)[1]
        kwargs["url"] = redis_url
        return kwargs

    async def _open_once(self, redis_url: str) -> Any:
        if _uses_native_factory():
            conn = self.build_connection(redis_url)
            try:
                await conn.connect()
                await conn.execute("PING")
            except BaseException:
                await conn.close()
                raise
            return conn
        kwargs = self._build_connection_kwargs(redis_url)
        url = kwargs.pop("url")
        client = aioredis.from_url(url, **kwargs)
        if asyncio.iscoroutine(client):
            client = await client
        await client.ping()
        return client

    async def create_secure_connection(
        self, redis_url: str = "redis://localhost:6379"
    ) -> Any:
        """A connected client: up to ``max_retries + 1`` attempts with exponential
        back-off (``retry_delay * 2**attempt``); the last error is re-raised."""
        start = time.perf_counter()
        attempts = max(0, int(self.config.max_retries)) + 1
        last_error: BaseException | None = None
        client: Any = None
        for attempt in range(attempts):
            try:
                client = await self._open_once(redis_url)
                break
            except (ConfigurationError, asyncio.CancelledError):
                raise
            except Exception as exc:
                last_error = exc
                if _is_auth_error(exc) or attempt + 1 >= attempts:
                    break
                await asyncio.sleep(float(self.config.retry_delay) * (2**attempt))
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        ok = client is not None
        self._log_security_event(
            "secure_connection_created" if ok else "secure_connection_failed",
            {
                "redis_url": redact_url(redis_url),
                "tls": self._uses_tls(redis_url),
                "authenticated": self._credentials(redis_url)[1] is not None,
                "duration_ms": round(elapsed_ms, 2),
                **({} if ok else {"error": _safe_error(last_error, self.config)}),
            },
            success=ok,
        )
        await self._record(elapsed_ms, ok)
        if not ok:
            assert last_error is not None
            raise last_error
        return client

    async def _record(self, elapsed_ms: float, ok: bool) -> None:
        monitor = self.performance_monitor
        if monitor is None:
            return
        try:
            await monitor.record_operation("secure_connection_create", elapsed_ms, ok)
        except Exception as exc:  # monitoring must never break connecting
            logger.debug("Could not record connection metric: %s", exc)

    def note_connection(
        self,
        redis_url: str,
        ok: bool,
        elapsed_ms: float,
        error: BaseException | None = None,
    ) -> None:
        """Record a connection attempt made elsewhere (the cache's own connect):
        a security event, and the monitor's ``secure_connection_create`` metric."""
        details: dict[str, Any] = {
            "redis_url": redact_url(redis_url),
            "tls": self._uses_tls(redis_url),
            "authenticated": self._credentials(redis_url)[1] is not None,
            "duration_ms": round(elapsed_ms, 2),
        }
        if error is not None:
            details["error"] = _safe_error(error, self.config)
        self._log_security_event(
            "secure_connection_created" if ok else "secure_connection_failed",
            details,
            success=ok,
            # The cache logs its failed connects itself (one warning per condition).
            failure_level=logging.INFO,
        )
        monitor = self.performance_monitor
        if monitor is not None:
            try:
                monitor.record_cache_operation_time(
                    "secure_connection_create",
                    elapsed_ms / 1000.0,
                    ok,
                    0,
                    {"source": "integration"},
                )
            except Exception as exc:
                logger.debug("Could not record connection metric: %s", exc)

    def validate_mandatory_security(self, redis_url: str) -> None:
        """Environment-aware fail-fast (spec 12.5), see
        :meth:`SecurityConfig.validate_mandatory_security_requirements`."""
        self.config.validate_mandatory_security_requirements(redis_url)

    def create_secure_connection_with_validation(
        self, redis_url: str = "redis://localhost:6379"
    ) -> Coroutine[Any, Any, Any]:
        """Sync, as in the original: validates, then returns the (un-awaited)
        coroutine of :meth:`create_secure_connection`."""
        self.validate_mandatory_security(redis_url)
        return self.create_secure_connection(redis_url)

    # -- validation -------------------------------------------------------------------

    async def validate_connection_security(
        self, redis_client: Any
    ) -> SecurityValidationResult:
        """Checks a live connection (PING, INFO server, TLS session, certificates)."""
        config = self.config
        try:
            await _client_ping(redis_client)
            server = _parse_info(await _client_info(redis_client, "server"))
            tls_session = _tls_session(redis_client)
            connection_encrypted = tls_session is not None or (
                config.use_tls and not _is_native(redis_client)
            )
            tls_enabled = bool(config.use_tls) or connection_encrypted
            auth_configured = config.has_authentication or _client_authenticated(
                redis_client
            )
            acl_enabled = bool(config.acl_username and config.acl_password)
            vulnerabilities: list[str] = []
            warnings: list[str] = []
            checks: dict[str, Any] = {
                "ping": True,
                "redis_version": server.get("redis_version"),
                "redis_mode": server.get("redis_mode"),
                "tls_in_use": connection_encrypted,
            }
            cert_valid, cert_days, cert_notes = self._check_certificates(tls_session)
            checks["certificates"] = cert_notes
            if not auth_configured:
                vulnerabilities.append(VULN_NO_AUTH)
                vulnerabilities.append(VULN_NO_AUTH_DETAIL)
            if not tls_enabled:
                # Plaintext is a vulnerability everywhere (as in the original);
                # production adds the critical entry that makes the result insecure.
                cert_valid = False
                vulnerabilities.append(VULN_PLAINTEXT)
                if _current_environment() == Environment.PRODUCTION:
                    vulnerabilities.append(VULN_PLAINTEXT_PRODUCTION)
            elif not cert_valid:
                vulnerabilities.append(VULN_BAD_CERTIFICATES)
            if tls_enabled and not config.verify_certificates:
                vulnerabilities.append(VULN_NO_VERIFY)
            if _weak_ciphers(config.cipher_suites):
                vulnerabilities.append(VULN_WEAK_CIPHERS)
            if config.redis_auth and len(config.redis_auth) < 12:
                vulnerabilities.append(VULN_WEAK_PASSWORD)
            elif config.redis_auth and len(config.redis_auth) < 16:
                warnings.append("Redis password shorter than 16 characters")
            if config.connection_timeout > 60:
                warnings.append(
                    "Long connection timeout may increase vulnerability window"
                )
            tls_version = cipher = None
            if tls_session is not None:
                tls_version = tls_session.version()
                cipher_info = tls_session.cipher()
                cipher = cipher_info[0] if cipher_info else None
            result = SecurityValidationResult(
                is_secure=False,
                auth_configured=auth_configured,
                tls_enabled=tls_enabled,
                acl_enabled=acl_enabled,
                certificate_valid=cert_valid,
                vulnerabilities=vulnerabilities,
                recommendations=self.get_security_recommendations(),
                warnings=warnings,
                detailed_checks=checks,
                connection_encrypted=connection_encrypted,
                # The original's names for the two methods.
                auth_method="ACL"
                if acl_enabled
                else "AUTH"
                if auth_configured
                else None,
                tls_version=tls_version,
                cipher_suite=cipher,
                certificate_expiry_days=cert_days,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = self._fallback_validation(exc)
        self._last_validation = result
        self._log_security_event(
            "security_validation",
            {"security_score": result.security_score, "is_secure": result.is_secure},
            success=result.is_secure,
        )
        return result

    def _fallback_validation(self, exc: BaseException) -> SecurityValidationResult:
        config = self.config
        vulnerabilities = ["Security validation failed"]
        if not config.has_authentication:
            vulnerabilities.append(VULN_NO_AUTH)
        if not config.use_tls:
            vulnerabilities.append("Unencrypted connection")
        elif not config.verify_certificates:
            vulnerabilities.append("Certificate verification disabled")
        return SecurityValidationResult(
            is_secure=False,
            auth_configured=config.has_authentication,
            tls_enabled=bool(config.use_tls),
            acl_enabled=bool(config.acl_username and config.acl_password),
            certificate_valid=False,
            vulnerabilities=vulnerabilities,
            recommendations=self.get_security_recommendations(),
            warnings=[f"Validation error: {_safe_error(exc, config)}"],
            detailed_checks={"error": _safe_error(exc, config)},
        )

    def _check_certificates(
        self, tls_session: Any
    ) -> tuple[bool, int | None, dict[str, Any]]:
        config = self.config
        notes: dict[str, Any] = {}
        valid = True
        for name in ("tls_cert_path", "tls_key_path", "tls_ca_path"):
            path = getattr(config, name)
            if path:
                exists = Path(path).exists()
                notes[name] = "present" if exists else "missing"
                valid = valid and exists
        days: int | None = None
        if tls_session is not None:
            try:
                peer = tls_session.getpeercert()
            except (ValueError, ssl.SSLError):
                peer = None
            if peer and peer.get("notAfter"):
                expires = ssl.cert_time_to_seconds(peer["notAfter"])
                days = int((expires - time.time()) // 86400)
                notes["server_certificate_expiry_days"] = days
                if days < 0:
                    valid = False
            notes["peer_verified"] = bool(peer)
        return valid, days, notes

    # -- reports ------------------------------------------------------------------

    def get_security_recommendations(self) -> list[str]:
        config = self.config
        out: list[str] = []
        if not config.has_authentication:
            out.append(
                "🔐 Enable Redis authentication (REDIS_PASSWORD, URL credentials or an "
                "ACL user)"
            )
        if not config.use_tls:
            out.append("🔒 Enable TLS encryption for Redis connections (rediss://)")
        elif not config.verify_certificates:
            out.append("⚠️ Enable certificate verification for TLS connections")
        if config.redis_auth and len(config.redis_auth) < 16:
            out.append("🔑 Use a Redis password of at least 16 characters")
        if not _encryption_key_configured(config):
            out.append("🗝️ Set REDIS_ENCRYPTION_KEY to encrypt cached values at rest")
        out.extend(
            [
                "🌐 Bind Redis to private network interfaces only",
                "🚪 Restrict access to the Redis port with firewall rules",
                "👥 Use ACL users with the minimum required permissions",
                "🛡️ Disable or rename dangerous commands (FLUSHALL, CONFIG, DEBUG)",
                "🔄 Rotate Redis credentials and encryption keys regularly",
                "📊 Monitor Redis security events and failed authentications",
            ]
        )
        return out

    async def test_security_configuration(
        self, redis_url: str = "redis://localhost:6379"
    ) -> dict[str, Any]:
        """Connect once with the current config and report what works."""
        config = self.config
        results: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat(),
            "configuration_valid": False,
            "connection_successful": False,
            "authentication_working": False,
            "encryption_active": False,
            "overall_secure": False,
            "test_details": {},
            "errors": [],
        }
        details: dict[str, Any] = results["test_details"]
        try:
            self.get_ssl_context(redis_url)
            results["configuration_valid"] = True
            details["configuration"] = {
                "security_level": config.security_level,
                "tls": self._uses_tls(redis_url),
                "authentication": self._credentials(redis_url)[1] is not None,
                "at_rest_encryption_key": _encryption_key_configured(config),
            }
        except ConfigurationError as exc:
            results["errors"].append(f"Configuration error: {exc.message}")
            return results
        client: Any = None
        try:
            client = await self._open_once(redis_url)
            results["connection_successful"] = True
            results["authentication_working"] = (
                self._credentials(redis_url)[1] is not None
            )
            validation = await self.validate_connection_security(client)
            results["encryption_active"] = validation.connection_encrypted
            results["overall_secure"] = validation.is_secure
            results["security_score"] = validation.security_score
            details["validation"] = {
                "vulnerabilities": list(validation.vulnerabilities),
                "warnings": list(validation.warnings),
                "tls_version": validation.tls_version,
            }
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = "Authentication" if _is_auth_error(exc) else "Connection"
            results["errors"].append(f"{kind} error: {_safe_error(exc, config)}")
        finally:
            if client is not None:
                await _client_close(client)
        return results

    def generate_security_report(
        self, validation_result: SecurityValidationResult | None = None
    ) -> str:
        result = validation_result or self._last_validation
        if result is None:
            return (
                "No security validation data available. Run "
                "validate_connection_security() first."
            )
        config = self.config
        level = (
            "HIGH"
            if result.security_score >= 80
            else "MEDIUM"
            if result.security_score >= 60
            else "LOW"
        )

        def mark(flag: bool, yes: str = "Enabled", no: str = "Disabled") -> str:
            return f"✅ {yes}" if flag else f"❌ {no}"

        def numbered(title: str, icon: str, items: list[str]) -> list[str]:
            if not items:
                return []
            rule = "-" * len(title)
            return [
                title,
                rule,
                *(f"{i}. {icon} {item}" for i, item in enumerate(items, 1)),
                "",
            ]

        # The original's layout and lines (operators and tests read them), with
        # aicache's live-connection facts added.
        expiry = result.certificate_expiry_days
        lines = [
            "=" * 60,
            "REDIS CACHE SECURITY ASSESSMENT REPORT",
            "=" * 60,
            f"Generated: {datetime.now(UTC).isoformat()}",
            "",
            "EXECUTIVE SUMMARY",
            "-" * 20,
            f"Security Status: {'✅ SECURE' if result.is_secure else '❌ INSECURE'}",
            f"Security Score: {result.security_score}/100",
            f"Score: {result.security_score}/100 ({level})",
            f"Security Level: {config.security_level}",
            "",
            "SECURITY CONFIGURATION",
            "-" * 25,
            f"Authentication: {mark(result.auth_configured)}",
        ]
        if result.auth_method:
            lines.append(f"Auth Method: {result.auth_method}")
        lines.append(f"TLS Encryption: {mark(result.tls_enabled)}")
        if result.tls_version:
            lines.append(f"TLS Version: {result.tls_version}")
        if result.cipher_suite:
            lines.append(f"Cipher: {result.cipher_suite}")
        lines += [
            f"Connection Encrypted: {mark(result.connection_encrypted, 'Yes', 'No')}",
            f"ACL Authentication: {mark(result.acl_enabled)}",
            "Certificate Validation: "
            + mark(result.certificate_valid, "Valid", "Invalid"),
            "Certificate Expiry (days): "
            + (str(expiry) if expiry is not None else "n/a"),
            "Encryption At Rest: "
            + mark(_encryption_key_configured(config), "Key configured", "No key"),
            "",
        ]
        lines += numbered("SECURITY VULNERABILITIES", "❌", result.vulnerabilities)
        lines += numbered("SECURITY WARNINGS", "⚠️", result.warnings)
        lines += numbered("SECURITY RECOMMENDATIONS", "💡", result.recommendations)
        if result.detailed_checks:
            lines += ["DETAILED SECURITY CHECKS", "-" * 26]
            lines += [
                f"{check.title()}: {value}"
                for check, value in result.detailed_checks.items()
            ]
            lines.append("")
        if self._security_events:
            lines += ["RECENT SECURITY EVENTS", "-" * 24]
            lines += [
                f"• {event.get('event_type', 'unknown')}"
                for event in list(self._security_events)[-5:]
            ]
            lines.append("")
        lines += [
            "=" * 60,
            "Report generated by Redis Cache Security Manager",
            f"Configuration Security Level: {config.security_level}",
            f"Connection timeout: {config.connection_timeout}s, socket timeout: "
            f"{config.socket_timeout}s, max retries: {config.max_retries}",
            "=" * 60,
        ]
        return "\n".join(lines)

    def get_security_status(self) -> dict[str, Any]:
        config = self.config
        last = self._last_validation
        return {
            "timestamp": datetime.now(UTC).isoformat(),
            "security_level": config.security_level,
            "configuration": {
                "has_authentication": config.has_authentication,
                "tls_enabled": bool(config.use_tls),
                "acl_configured": bool(config.acl_username),
                "certificate_verification": bool(config.verify_certificates),
                "connection_timeout": config.connection_timeout,
                "max_retries": config.max_retries,
            },
            "last_validation": None
            if last is None
            else {
                "timestamp": "recent",
                "is_secure": last.is_secure,
                "security_score": last.security_score,
                "vulnerabilities_count": len(last.vulnerabilities),
                "recommendations_count": len(last.recommendations),
            },
            "security_events_count": len(self._security_events),
            "recommendations_count": len(self.get_security_recommendations()),
        }

    def _log_security_event(
        self,
        event_type: str,
        details: dict[str, Any],
        success: bool = True,
        failure_level: int = logging.WARNING,
    ) -> None:
        if not getattr(self.config, "enable_security_monitoring", True):
            return
        event = {
            "timestamp": time.time(),
            "event_type": event_type,
            "success": success,
            "details": details,
        }
        self._security_events.append(event)
        if getattr(self.config, "log_security_events", True):
            level = logging.INFO if success else failure_level
            if not success:  # a down server must not flood the log
                now = time.monotonic()
                last = self._last_warning.get(event_type)
                if last is not None and now - last < 10.0:
                    level = logging.DEBUG
                else:
                    self._last_warning[event_type] = now
            self._security_logger.log(
                level, "Security event %s: %s", event_type, details
            )


# ---------------------------------------------------------------------------------
# Client duck-typing: our RedisConnection (``execute``) or a redis-py-like client.
# ---------------------------------------------------------------------------------


def _native(client: Any) -> Any:
    """The aicache RedisConnection behind ``client`` (itself or an adapter), or None."""
    if isinstance(client, RedisConnection):
        return client
    inner = getattr(client, "connection", None)
    return inner if isinstance(inner, RedisConnection) else None


def _is_native(client: Any) -> bool:
    return _native(client) is not None


async def _client_ping(client: Any) -> None:
    conn = _native(client)
    if conn is not None:
        await conn.execute("PING")
        return
    result = client.ping()
    if not asyncio.iscoroutine(result) and not isinstance(result, asyncio.Future):
        raise InfrastructureError("Redis client ping() is not awaitable")
    await result


async def _client_info(client: Any, section: str) -> Any:
    conn = _native(client)
    if conn is not None:
        return await conn.execute("INFO", section)
    result = client.info(section)
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        return await result
    return result


async def _client_close(client: Any) -> None:
    try:
        conn = _native(client)
        if conn is not None:
            await conn.close()
            return
        closer = getattr(client, "aclose", None) or getattr(client, "close", None)
        if closer is not None:
            result = closer()
            if asyncio.iscoroutine(result):
                await result
    except Exception as exc:
        logger.debug("Error closing test connection: %s", exc)


def _tls_session(client: Any) -> Any:
    """The ``ssl.SSLObject`` of a native TLS connection, or None."""
    conn = _native(client)
    if conn is None:
        return None
    # RedisConnection exposes no TLS accessor: read it off its live transport.
    transport = getattr(getattr(conn, "_proto", None), "transport", None)
    if transport is None:
        return None
    obj = transport.get_extra_info("ssl_object")
    return obj if isinstance(obj, ssl.SSLObject | ssl.SSLSocket) else None


def _client_authenticated(client: Any) -> bool:
    conn = _native(client)
    if conn is None:
        return False
    return getattr(conn, "_password", None) is not None


def _weak_ciphers(cipher_suites: list[str] | None) -> bool:
    if not cipher_suites:
        return False
    return any(
        marker in suite.upper()
        for suite in cipher_suites
        for marker in _WEAK_CIPHER_MARKERS
    )


def _current_environment() -> Environment:
    try:
        return get_environment_info(FeatureContext.SECURITY_ENFORCEMENT).environment
    except Exception:
        return Environment.UNKNOWN


def _is_auth_error(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    try:
        from aicache._connection import RedisAuthError
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, RedisAuthError):
        return True
    text = str(exc)
    return (
        "WRONGPASS" in text or "NOAUTH" in text or "invalid username-password" in text
    )


def _safe_error(exc: BaseException | None, config: SecurityConfig | None = None) -> str:
    """An error text for logs: the type and message, never a password or key."""
    if exc is None:
        return ""
    text = f"{type(exc).__name__}: {exc}"
    known = [os.environ.get("REDIS_PASSWORD"), os.environ.get("REDIS_AUTH")]
    if config is not None:
        known += [config.redis_auth, config.acl_password, config.encryption_key]
    for secret in known:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, _REDACTED)
    return text
