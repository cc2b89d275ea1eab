"""Environment-variable configuration (the role of the template's ``Settings``; spec 13.3/13.4).

One call turns the process environment into a validated
:class:`aicache.config.CacheConfig`::

    from aicache.settings import resolve_cache_config
    config = resolve_cache_config()          # reads os.environ
    config = resolve_cache_config({"CACHE_PRESET": "ai-production", ...})

Variables (names are case-insensitive; empty values count as unset):

=============================== ===========================================================
``CACHE_PRESET``                preset name (default ``development``): disabled, minimal,
                                simple, development, production, ai-development,
                                ai-production, or ``testing`` (alias of development)
``CACHE_REDIS_URL``             the cache's Redis URL (unset: memory-only cache)
``ENABLE_AI_CACHE``             true/false: force AI caching on or off
``CACHE_CUSTOM_CONFIG``         JSON object of overrides (keys: ``CacheConfig`` fields, the AI
                                keys ``text_hash_threshold``, ``hash_algorithm``,
                                ``text_size_tiers``, ``operation_ttls``,
                                ``enable_smart_promotion``, ``max_text_length``, and
                                ``l1_cache_size`` = ``memory_cache_size``)
``REDIS_PASSWORD``              password for the cache connection (``redis_password``)
``REDIS_AUTH``                  same as REDIS_PASSWORD (must agree when both are set)
``REDIS_ACL_USERNAME``          ACL user (needs REDIS_ACL_PASSWORD or REDIS_PASSWORD)
``REDIS_ACL_PASSWORD``          ACL password
``REDIS_ENCRYPTION_KEY``        Fernet key(s), comma-separated; the first encrypts
``REDIS_TLS_ENABLED``           true/false (``REDIS_USE_TLS`` is an alias; they must agree)
``REDIS_TLS_CERT_PATH``         client certificate (turns TLS on unless it is set false)
``REDIS_TLS_KEY_PATH``          client key (idem)
``REDIS_TLS_CA_PATH``           CA bundle (idem)
``REDIS_VERIFY_CERTIFICATES``   true/false (default true)
``REDIS_INSECURE_ALLOW_PLAINTEXT`` true/false (default false): allow plaintext in production
``REDIS_CONNECTION_TIMEOUT``    seconds > 0
``REDIS_MAX_RETRIES``           integer >= 0
``REDIS_RETRY_DELAY``           seconds >= 0
``REDIS_URL``                   URL checked by the startup security validation (default
                                ``redis://localhost:6379``); *not* the cache's URL
``TEST_REDIS_URL``              URL of the test Redis (default ``redis://localhost:6379/15``)
=============================== ===========================================================

The result passes ``CacheConfig.validate()`` and the cache constructors' ranges
(``default_ttl`` 1..86400, ``memory_cache_size`` 1..10000 and, with a Redis URL,
``compression_threshold`` 100..100000), so the factory can build it.

Booleans accept true/false/1/0/yes/no/on/off (any case). Every invalid value raises
:class:`~aicache.exceptions.ConfigurationError` whose context names the variable
(``field``), the ``value`` and what is ``allowed``; nothing falls back silently. Legacy
``CACHE_*`` variables that nothing reads (e.g. ``CACHE_DEFAULT_TTL``) are reported with a
warning. ``ENVIRONMENT`` & co. are read by :mod:`aicache.environment`, and the
``AI_CACHE_*`` variables by ``AIResponseCacheConfig.from_env``.
"""

import copy
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from aicache.cache_presets import (
    PRESET_ALIASES,
    ai_config_from_optimizations,
    cache_preset_manager,
)
from aicache.config import (
    CacheConfig,
    ValidationResult,
    apply_config_overrides,
    encryption_key_parts,
)
from aicache.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_PRESET",
    "KNOWN_VARIABLES",
    "LEGACY_VARIABLES",
    "UNSUPPORTED_VARIABLES",
    "CacheSettings",
    "allowed_preset_names",
    "parse_bool",
    "parse_float",
    "parse_int",
    "parse_json_object",
    "resolve_cache_config",
]

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "development"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_BOOL_ALLOWED = "one of true/false/1/0/yes/no/on/off"
_URL_SCHEMES = (
    "redis://",
    "rediss://",
    "unix://",
    # Redis Cluster and Sentinel (aicache.topology): several hosts in one URL.
    "redis+cluster://",
    "rediss+cluster://",
    "redis+sentinel://",
    "rediss+sentinel://",
)

KNOWN_VARIABLES: tuple[str, ...] = (
    "CACHE_PRESET",
    "CACHE_REDIS_URL",
    "ENABLE_AI_CACHE",
    "CACHE_CUSTOM_CONFIG",
    "REDIS_URL",
    "REDIS_PASSWORD",
    "REDIS_AUTH",
    "REDIS_ACL_USERNAME",
    "REDIS_ACL_PASSWORD",
    "REDIS_ENCRYPTION_KEY",
    "REDIS_TLS_ENABLED",
    "REDIS_USE_TLS",
    "REDIS_TLS_CERT_PATH",
    "REDIS_TLS_KEY_PATH",
    "REDIS_TLS_CA_PATH",
    "REDIS_VERIFY_CERTIFICATES",
    "REDIS_INSECURE_ALLOW_PLAINTEXT",
    "REDIS_CONNECTION_TIMEOUT",
    "REDIS_MAX_RETRIES",
    "REDIS_RETRY_DELAY",
    "TEST_REDIS_URL",
)

#: Variables the seed documents name that aicache does not read; setting one is an
#: error rather than a silently ignored setting.
UNSUPPORTED_VARIABLES: dict[str, str] = {
    "REDIS_TLS_PROTOCOLS": (
        "TLS 1.2 is the minimum and TLS 1.3 is used when the server offers it; "
        "production presets already require TLS 1.3; SecurityConfig(min_tls_version=772) requires it elsewhere"
    ),
    "REDIS_TLS_CERT_REQS": (
        "certificates are always required with TLS; use "
        "REDIS_VERIFY_CERTIFICATES=false to skip verification (not in production)"
    ),
}

#: Variables of older template versions that nothing reads any more.
LEGACY_VARIABLES: tuple[str, ...] = (
    "CACHE_DEFAULT_TTL",
    "CACHE_MEMORY_CACHE_SIZE",
    "CACHE_MEMORY_SIZE",
    "CACHE_COMPRESSION_THRESHOLD",
    "CACHE_COMPRESSION_LEVEL",
    "CACHE_TEXT_HASH_THRESHOLD",
    "CACHE_HASH_ALGORITHM",
    "CACHE_REDIS_PASSWORD",
    "CACHE_USE_TLS",
    "CACHE_TLS_CERT_PATH",
    "CACHE_TLS_KEY_PATH",
    "CACHE_ENVIRONMENT",
    "CACHE_ENABLE_AI_FEATURES",
    "CACHE_OPERATION_TTLS",
    "CACHE_ENABLE_SMART_PROMOTION",
    "CACHE_MAX_TEXT_LENGTH",
)


def _invalid(name: str, raw: Any, allowed: Any, why: str = "") -> ConfigurationError:
    shown = "<redacted>" if _is_secret(name) else raw
    detail = f": {why}" if why else ""
    return ConfigurationError(
        f"Invalid value for {name}: {shown!r}{detail} (allowed: {allowed})",
        context={"field": name, "value": shown, "allowed": allowed},
    )


def _is_secret(name: str) -> bool:
    return any(word in name.upper() for word in ("PASSWORD", "AUTH", "ENCRYPTION_KEY"))


# -- value parsers (shared with aicache.ai_config) -------------------------------------


def parse_bool(name: str, raw: str) -> bool:
    """Strict boolean: true/false/1/0/yes/no/on/off, any case; else ConfigurationError."""
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _invalid(name, raw, _BOOL_ALLOWED)


def parse_int(
    name: str, raw: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    allowed = _range_text("an integer", minimum, maximum)
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise _invalid(name, raw, allowed, "not an integer") from None
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        raise _invalid(name, raw, allowed, "out of range")
    return value


def parse_float(
    name: str,
    raw: str,
    *,
    minimum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    if minimum is None:
        allowed = "a number"
    else:
        allowed = f"a number {'>' if exclusive_minimum else '>='} {minimum:g}"
    try:
        value = float(raw.strip())
    except ValueError:
        raise _invalid(name, raw, allowed, "not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _invalid(name, raw, allowed, "not a finite number")
    if minimum is not None and (
        value <= minimum if exclusive_minimum else value < minimum
    ):
        raise _invalid(name, raw, allowed, "out of range")
    return value


def parse_json_object(name: str, raw: str) -> dict[str, Any]:
    """A JSON object, with the parse position in the error for invalid JSON."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"Invalid JSON in {name}: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(char {exc.pos})",
            context={
                "field": name,
                "value": raw,
                "allowed": "a JSON object",
                "line": exc.lineno,
                "column": exc.colno,
                "position": exc.pos,
            },
        ) from exc
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"{name} must be a JSON object, got {type(value).__name__}",
            context={"field": name, "value": raw, "allowed": "a JSON object"},
        )
    return value


def _range_text(kind: str, minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} between {minimum} and {maximum}"
    if minimum is not None:
        return f"{kind} >= {minimum}"
    if maximum is not None:
        return f"{kind} <= {maximum}"
    return kind


def _check_url(name: str, raw: str) -> str:
    url = raw.strip()
    if not url.startswith(_URL_SCHEMES):
        raise _invalid(
            name, _redact_url(raw), "a URL starting with redis://, rediss:// or unix://"
        )
    return url


def allowed_preset_names() -> list[str]:
    """Every value CACHE_PRESET accepts: the presets, then the aliases."""
    return [*cache_preset_manager.list_presets(), *PRESET_ALIASES]


def _normalise(environ: Mapping[str, str]) -> dict[str, str]:
    """Upper-case keys, drop empty values. An exact upper-case name wins over other
    spellings of the same name."""
    result: dict[str, str] = {}
    for key, value in environ.items():
        upper = key.upper()
        if key != upper and upper in environ:
            continue
        if value is not None and value.strip():
            result[upper] = value
    return result


# -- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheSettings:
    """The parsed and checked cache-related environment variables."""

    cache_preset: str = DEFAULT_PRESET
    cache_redis_url: str | None = None
    enable_ai_cache: bool | None = None
    cache_custom_config: dict[str, Any] | None = None
    redis_url: str = "redis://localhost:6379"
    redis_password: str | None = None
    redis_username: str | None = None
    redis_encryption_key: str | None = None
    redis_tls_enabled: bool | None = None
    redis_tls_cert_path: str | None = None
    redis_tls_key_path: str | None = None
    redis_tls_ca_path: str | None = None
    redis_verify_certificates: bool = True
    redis_insecure_allow_plaintext: bool = False
    redis_connection_timeout: float | None = None
    redis_max_retries: int | None = None
    redis_retry_delay: float | None = None
    test_redis_url: str = "redis://localhost:6379/15"

    def __repr__(self) -> str:  # never print secrets
        return (
            f"CacheSettings(cache_preset={self.cache_preset!r}, "
            f"cache_redis_url={_redact_url(self.cache_redis_url)!r}, "
            f"enable_ai_cache={self.enable_ai_cache!r}, "
            f"redis_tls_enabled={self.redis_tls_enabled!r}, "
            f"has_password={self.redis_password is not None}, "
            f"has_encryption_key={self.redis_encryption_key is not None})"
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Parse ``environ`` (default: ``os.environ`` at call time)."""
        env = _normalise(os.environ if environ is None else environ)
        legacy = [name for name in LEGACY_VARIABLES if name in env]
        if legacy:
            logger.warning(
                "Ignoring legacy cache variables %s; use CACHE_PRESET and "
                "CACHE_CUSTOM_CONFIG instead",
                legacy,
            )

        for name, instead in UNSUPPORTED_VARIABLES.items():
            if name in env:
                raise ConfigurationError(
                    f"{name} is not supported: {instead}",
                    context={"field": name, "value": env[name], "use_instead": instead},
                )

        preset = DEFAULT_PRESET
        if "CACHE_PRESET" in env:
            raw = env["CACHE_PRESET"]
            name = raw.strip().lower()
            name = PRESET_ALIASES.get(name, name)
            if name not in cache_preset_manager.presets:
                allowed = allowed_preset_names()
                raise ConfigurationError(
                    f"Unknown CACHE_PRESET {raw!r}. Available presets: {allowed}",
                    context={"field": "CACHE_PRESET", "value": raw, "allowed": allowed},
                )
            preset = name

        def get_bool(name: str) -> bool | None:
            return parse_bool(name, env[name]) if name in env else None

        def get_str(name: str) -> str | None:
            return env[name].strip() if name in env else None

        password = get_str("REDIS_PASSWORD")
        auth = get_str("REDIS_AUTH")
        acl_user = get_str("REDIS_ACL_USERNAME")
        acl_password = get_str("REDIS_ACL_PASSWORD")
        if password is not None and auth is not None and password != auth:
            raise _conflict(
                "REDIS_AUTH", auth, "REDIS_PASSWORD", "must equal REDIS_PASSWORD"
            )
        password = password if password is not None else auth
        if acl_password is not None:
            if acl_user is None:
                raise _conflict(
                    "REDIS_ACL_PASSWORD",
                    acl_password,
                    "REDIS_ACL_USERNAME",
                    "requires REDIS_ACL_USERNAME",
                )
            if password is not None and password != acl_password:
                raise _conflict(
                    "REDIS_ACL_PASSWORD",
                    acl_password,
                    "REDIS_PASSWORD",
                    "must equal REDIS_PASSWORD",
                )
            password = acl_password
        if acl_user is not None and password is None:
            raise _conflict(
                "REDIS_ACL_USERNAME",
                acl_user,
                "REDIS_ACL_PASSWORD",
                "requires REDIS_ACL_PASSWORD (or REDIS_PASSWORD)",
            )

        encryption_key = get_str("REDIS_ENCRYPTION_KEY")
        if encryption_key is not None:
            parts = encryption_key_parts(encryption_key)
            if not all(parts):
                raise _invalid(
                    "REDIS_ENCRYPTION_KEY",
                    encryption_key,
                    "one or more comma-separated Fernet keys, none empty",
                )
            encryption_key = ",".join(parts)

        tls_enabled = get_bool("REDIS_TLS_ENABLED")
        use_tls_alias = get_bool("REDIS_USE_TLS")
        if (
            tls_enabled is not None
            and use_tls_alias is not None
            and tls_enabled != use_tls_alias
        ):
            raise _conflict(
                "REDIS_USE_TLS",
                env["REDIS_USE_TLS"],
                "REDIS_TLS_ENABLED",
                "must equal REDIS_TLS_ENABLED",
            )
        if tls_enabled is None:
            tls_enabled = use_tls_alias
        tls_paths = {
            name: get_str(name)
            for name in (
                "REDIS_TLS_CERT_PATH",
                "REDIS_TLS_KEY_PATH",
                "REDIS_TLS_CA_PATH",
            )
        }
        for name, path in tls_paths.items():
            if path is not None and tls_enabled is False:
                raise _conflict(
                    name,
                    path,
                    "REDIS_TLS_ENABLED",
                    "is set but REDIS_TLS_ENABLED is false",
                )

        cache_url = (
            _check_url("CACHE_REDIS_URL", env["CACHE_REDIS_URL"])
            if ("CACHE_REDIS_URL" in env)
            else None
        )
        if (
            cache_url is not None
            and cache_url.startswith("rediss://")
            and tls_enabled is False
        ):
            raise _conflict(
                "REDIS_TLS_ENABLED",
                env.get("REDIS_TLS_ENABLED", env.get("REDIS_USE_TLS")),
                "CACHE_REDIS_URL",
                "is false but CACHE_REDIS_URL uses rediss://",
            )
        custom = (
            parse_json_object("CACHE_CUSTOM_CONFIG", env["CACHE_CUSTOM_CONFIG"])
            if "CACHE_CUSTOM_CONFIG" in env
            else None
        )
        return cls(
            cache_preset=preset,
            cache_redis_url=cache_url,
            enable_ai_cache=get_bool("ENABLE_AI_CACHE"),
            cache_custom_config=custom,
            redis_url=_check_url("REDIS_URL", env["REDIS_URL"])
            if "REDIS_URL" in env
            else "redis://localhost:6379",
            redis_password=password,
            redis_username=acl_user,
            redis_encryption_key=encryption_key,
            redis_tls_enabled=tls_enabled,
            redis_tls_cert_path=tls_paths["REDIS_TLS_CERT_PATH"],
            redis_tls_key_path=tls_paths["REDIS_TLS_KEY_PATH"],
            redis_tls_ca_path=tls_paths["REDIS_TLS_CA_PATH"],
            redis_verify_certificates=_default(
                get_bool("REDIS_VERIFY_CERTIFICATES"), True
            ),
            redis_insecure_allow_plaintext=_default(
                get_bool("REDIS_INSECURE_ALLOW_PLAINTEXT"), False
            ),
            redis_connection_timeout=parse_float(
                "REDIS_CONNECTION_TIMEOUT",
                env["REDIS_CONNECTION_TIMEOUT"],
                minimum=0,
                exclusive_minimum=True,
            )
            if "REDIS_CONNECTION_TIMEOUT" in env
            else None,
            redis_max_retries=parse_int(
                "REDIS_MAX_RETRIES", env["REDIS_MAX_RETRIES"], minimum=0
            )
            if "REDIS_MAX_RETRIES" in env
            else None,
            redis_retry_delay=parse_float(
                "REDIS_RETRY_DELAY", env["REDIS_RETRY_DELAY"], minimum=0
            )
            if "REDIS_RETRY_DELAY" in env
            else None,
            test_redis_url=_check_url("TEST_REDIS_URL", env["TEST_REDIS_URL"])
            if "TEST_REDIS_URL" in env
            else "redis://localhost:6379/15",
        )

    def get_cache_config(
        self, session_id: str | None = None, user_context: str | None = None
    ) -> CacheConfig:
        """The validated ``CacheConfig`` these settings describe.

        ``session_id``/``user_context`` are accepted for compatibility with the
        template's ``Settings.get_cache_config`` and not used.

        Steps: the preset's config; ``CACHE_REDIS_URL``; ``ENABLE_AI_CACHE`` (turning AI
        on for a non-AI preset creates an ``ai_config`` with the preset defaults); the
        REDIS_* connection and security settings; ``CACHE_CUSTOM_CONFIG``; validation.
        """
        preset = cache_preset_manager.get_preset(self.cache_preset)
        config = preset.to_cache_config()
        if self.cache_redis_url is not None:
            config.redis_url = self.cache_redis_url
        if self.enable_ai_cache is True:
            config.enable_ai_cache = True
            if config.ai_config is None:
                config.ai_config = ai_config_from_optimizations(preset.ai_optimizations)
        elif self.enable_ai_cache is False:
            config.enable_ai_cache = False

        config.redis_password = self.redis_password
        config.redis_username = self.redis_username
        config.encryption_key = self.redis_encryption_key
        tls_paths = (
            self.redis_tls_cert_path,
            self.redis_tls_key_path,
            self.redis_tls_ca_path,
        )
        url_tls = bool(
            self.cache_redis_url and self.cache_redis_url.startswith("rediss")
        )
        if self.redis_tls_enabled is None:
            config.use_tls = url_tls or any(p is not None for p in tls_paths)
        else:
            config.use_tls = self.redis_tls_enabled
        config.tls_cert_path, config.tls_key_path, config.tls_ca_path = tls_paths
        config.verify_certificates = self.redis_verify_certificates
        config.insecure_allow_plaintext = self.redis_insecure_allow_plaintext
        config.connection_timeout = self.redis_connection_timeout
        config.max_retries = self.redis_max_retries
        config.retry_delay = self.redis_retry_delay

        source = "defaults"
        if self.cache_custom_config is not None:
            source = "CACHE_CUSTOM_CONFIG"
            apply_config_overrides(
                config,
                copy.deepcopy(self.cache_custom_config),
                source=source,
                merge_dicts=True,
            )

        result = config.validate()
        _check_cache_limits(config, result)
        if not result.is_valid:
            context = result.error_context()
            context["source"] = source
            context["preset"] = self.cache_preset
            raise ConfigurationError(
                f"Invalid cache configuration (preset {self.cache_preset!r}, "
                f"from {source}): " + "; ".join(result.errors),
                context=context,
            )
        for warning in result.warnings:
            logger.warning("Cache configuration warning: %s", warning)
        return config


# Ranges of the cache constructors (spec 4.1, 6.1). config.validate() keeps the looser
# original config-layer ranges; checking these too makes a value the caches would reject
# fail here, naming the field, rather than when the cache is built (spec 21 item 5).
_CACHE_LIMITS = (("default_ttl", 1, 86400), ("memory_cache_size", 1, 10000))
_REDIS_LIMITS = (("compression_threshold", 100, 100000),)


def _check_cache_limits(config: CacheConfig, result: ValidationResult) -> None:
    limits = _CACHE_LIMITS + (_REDIS_LIMITS if config.redis_url else ())
    for name, low, high in limits:
        value = getattr(config, name)
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not low <= value <= high
        ):
            allowed = f"an integer between {low} and {high} (accepted by the caches)"
            result.add_error(
                f"{name} must be {allowed}, got {value!r}",
                field_name=name,
                value=value,
                allowed=allowed,
            )


def _default(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def _conflict(name: str, value: Any, other: str, why: str) -> ConfigurationError:
    shown = "<redacted>" if _is_secret(name) else value
    return ConfigurationError(
        f"{name} {why}",
        context={
            "field": name,
            "value": shown,
            "allowed": why,
            "conflicts_with": other,
        },
    )


def _redact_url(url: str | None) -> str | None:
    if url is None or "@" not in url:  # no '@': no credentials to hide
        return url
    from aicache.redis_url import redact_redis_url

    return redact_redis_url(url)


def resolve_cache_config(environ: Mapping[str, str] | None = None) -> CacheConfig:
    """The validated cache configuration described by ``environ`` (default
    ``os.environ`` at call time). Raises ``ConfigurationError`` on any invalid value."""
    return CacheSettings.from_environ(environ).get_cache_config()
