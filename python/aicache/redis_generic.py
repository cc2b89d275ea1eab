"""GenericRedisCache: a memory tier (L1) in front of Redis (spec section 6).

The public surface of the original (constructor, attributes, ``connect``/``get``/
``set``/``delete``/``exists``, callbacks, security helpers, the internal helper names
tests patch) with its bugs fixed and the missing parts added (spec section 21; the
differences are listed in docs/migration-redis.md):

* every value the codec supports reaches Redis (framed, zlib-compressed at or above
  ``compression_threshold``, Fernet-encrypted when a key is configured);
* one TTL rule shared with ``InMemoryCache``: ``ttl=None`` means ``default_ttl``,
  ``ttl > 0`` that many seconds, ``ttl <= 0`` no expiry (``SET`` without ``EX``);
* an entry promoted from Redis to L1 gets at most its remaining Redis TTL (``GET`` and
  ``PTTL`` leave in one write); a read that raced with a write never re-installs the
  older value in L1; a failed Redis write never leaves the previous value in L1;
* ``fail_on_connection_error`` is honoured: ``False`` (the default) degrades to L1
  when Redis is down, slow or flapping and never raises into the caller; ``True``
  raises a typed ``InfrastructureError``;
* ``connect()`` notices a dead link and reconnects; the connection itself reconnects
  with capped backoff and trips a circuit breaker, so a dead Redis costs no waiting;
* a corrupt, tampered or foreign payload is a miss plus a counter
  (``get_stats()["corrupt_payloads"]``), never an exception or a wrong value;
* added: ``clear``, ``invalidate_pattern`` (SCAN + batched UNLINK, never KEYS),
  ``get_ttl``, ``get_cache_stats``, ``get_stats``, ``get_many``/``set_many``/
  ``delete_many``, ``async with``, and an optional ``key_prefix`` namespace.

``cache.redis`` is public and assignable. After ``connect()`` it holds a
:class:`RedisClient` (a redis-py-like facade whose commands go through the aicache
connection); any object with async ``get``/``setex``/``set``/``delete``/``exists``
(e.g. a fakeredis client) may be assigned instead and is then used for everything.
"""

import asyncio
import fnmatch
import logging
import math
import os
import time
import warnings
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from aicache import _core, stampede
from aicache._connection import RedisConnection
from aicache._journal import MAX_DEGRADED_JOURNAL_KEYS, DegradedJournal, journal_for
from aicache._registry import Lease, registry, secret_digest
from aicache.base import CacheInterface
from aicache.codec import COMPRESSION_MAX_BYTES, ValueCodec
from aicache.encryption import EncryptedCacheLayer, create_encryption_layer_from_env
from aicache.exceptions import ConfigurationError, InfrastructureError, ValidationError
from aicache.key_generator import CacheKeyGenerator
from aicache.memory import InMemoryCache
from aicache.memory import _debug_enabled as memory_debug_enabled
from aicache.monitoring import CachePerformanceMonitor
from aicache.privacy import log_key
from aicache.redis_url import RedisURL, parse_redis_url
from aicache.security import (
    RedisCacheSecurityManager,
    SecurityConfig,
    SecurityValidationResult,
    redact_url,
)
from aicache.security import aioredis as aioredis
from aicache.serialization import serializer_by_name
from aicache.topology import is_topology_url, parse_topology_url

if TYPE_CHECKING:
    from aicache.tracking import CoherenceTracker

__all__ = ["REDIS_AVAILABLE", "GenericRedisCache", "RedisClient", "aioredis"]

logger = logging.getLogger(__name__)

#: Looked up at call time by ``connect()`` (tests patch it to simulate "no Redis").
REDIS_AVAILABLE = True

_perf = time.perf_counter
_SCAN_COUNT = 1000
_YES = ("1", "yes", "true", "on")
_UNLINK_BATCH = 500
_MAX_TTL = 86400
_NEVER = 2**62
_ERROR_LOG_INTERVAL = 10.0  # seconds between WARNINGs about the same failure kind
_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})

# additional_data of the recorded metrics, as (key, value) pairs: shared constants
# on the hot path (the monitor builds each metric's dict only if it is read).
_Extra = tuple[tuple[str, Any], ...]
_NO_TIER = "unknown"  # the monitor's label for metrics without a cache_tier
_REDIS_TIER = ("cache_tier", "redis")
_L1_HIT: _Extra = (("cache_tier", "l1"),)
_REDIS_HIT: _Extra = (_REDIS_TIER,)
_MISS_NOT_FOUND: _Extra = (_REDIS_TIER, ("reason", "key_not_found"))
_MISS_ERROR: _Extra = (_REDIS_TIER, ("reason", "error"))
_MISS_CORRUPT: _Extra = (_REDIS_TIER, ("reason", "corrupt_payload"))
_MISS_UNAVAILABLE: _Extra = (
    ("cache_tier", "redis_unavailable"),
    ("reason", "connection_failed"),
)
_SET_NO_L1: _Extra = (("reason", "redis_unavailable_no_l1"),)


# ---------------------------------------------------------------------------------
# cache.redis: a redis-py-like facade over one aicache RedisConnection
# ---------------------------------------------------------------------------------


class RedisClient:
    """What ``cache.redis`` holds after ``connect()``: redis-py-style async methods
    (bytes in, bytes out) whose commands go through ``connection.execute``."""

    __slots__ = ("connection",)

    def __init__(self, connection: RedisConnection) -> None:
        self.connection = connection

    def __repr__(self) -> str:
        return f"<RedisClient {self.connection!r}>"

    async def execute_command(self, *args: Any) -> Any:
        return await self.connection.execute(*args)

    async def ping(self) -> bool:
        return await self.connection.execute("PING") in ("PONG", b"PONG")

    async def get(self, key: str | bytes) -> bytes | None:
        result: bytes | None = await self.connection.execute("GET", key)
        return result

    async def mget(self, keys: Iterable[str | bytes], *more: str | bytes) -> list[Any]:
        names = [keys] if isinstance(keys, str | bytes) else list(keys)
        result: list[Any] = await self.connection.execute("MGET", *names, *more)
        return result

    async def set(
        self,
        key: str | bytes,
        value: bytes | str | int | float,
        ex: int | None = None,
        px: int | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool:
        args: list[Any] = ["SET", key, value]
        if ex is not None:
            args += ["EX", int(ex)]
        if px is not None:
            args += ["PX", int(px)]
        if nx:
            args.append("NX")
        if xx:
            args.append("XX")
        return await self.connection.execute(*args) is not None

    async def setex(self, key: str | bytes, seconds: int, value: bytes | str) -> bool:
        reply = await self.connection.execute("SETEX", key, int(seconds), value)
        return bool(reply == "OK")

    async def delete(self, *keys: str | bytes) -> int:
        if not keys:
            return 0
        return int(await self.connection.execute("DEL", *keys))

    async def unlink(self, *keys: str | bytes) -> int:
        if not keys:
            return 0
        return int(await self.connection.execute("UNLINK", *keys))

    async def exists(self, *keys: str | bytes) -> int:
        return int(await self.connection.execute("EXISTS", *keys))

    async def ttl(self, key: str | bytes) -> int:
        return int(await self.connection.execute("TTL", key))

    async def pttl(self, key: str | bytes) -> int:
        return int(await self.connection.execute("PTTL", key))

    async def expire(self, key: str | bytes, seconds: int) -> bool:
        return bool(await self.connection.execute("EXPIRE", key, int(seconds)))

    async def dbsize(self) -> int:
        return int(await self.connection.execute("DBSIZE"))

    async def info(self, section: str | None = None) -> dict[str, Any]:
        from aicache.security import _parse_info

        args = ("INFO", section) if section else ("INFO",)
        return _parse_info(await self.connection.execute(*args))

    async def scan(
        self, cursor: int = 0, match: str | None = None, count: int | None = None
    ) -> tuple[int, list[bytes]]:
        args: list[Any] = ["SCAN", int(cursor)]
        if match is not None:
            args += ["MATCH", match]
        if count is not None:
            args += ["COUNT", int(count)]
        reply = await self.connection.execute(*args)
        return int(reply[0]), list(reply[1])

    async def scan_iter(
        self, match: str | None = None, count: int | None = None
    ) -> AsyncIterator[bytes]:
        cursor = 0
        while True:
            cursor, keys = await self.scan(cursor, match=match, count=count)
            for key in keys:
                yield key
            if cursor == 0:
                return

    async def keys(self, pattern: str = "*") -> list[bytes]:
        """Implemented with SCAN (never the blocking KEYS command)."""
        return [k async for k in self.scan_iter(match=pattern, count=_SCAN_COUNT)]

    async def close(self) -> None:
        await self.connection.close()

    aclose = close


def _is_awaitable(obj: Any) -> bool:
    return asyncio.iscoroutine(obj) or isinstance(obj, asyncio.Future)


async def _maybe_await(obj: Any) -> Any:
    return await obj if _is_awaitable(obj) else obj


def _as_text(key: Any) -> str:
    return (
        key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else str(key)
    )


#: Seconds a shared connection outlives the last cache that took it: caches
#: built per request reuse one socket instead of reconnecting per request.
CONNECTION_KEEP_ALIVE = 60.0
#: Default byte budget of the L1 tier (``l1_max_bytes=`` to change).
DEFAULT_L1_MAX_BYTES = 64 * 1024 * 1024
#: Largest TTL accepted (seconds): Redis refuses EX values whose milliseconds
#: overflow a signed 64-bit integer.
MAX_TTL_SECONDS = 2**63 // 1000 - 1
#: Largest int key accepted (it is stored as its decimal text).
_MAX_INT_KEY = 2**63


def _checked_ttl(ttl: Any) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ValidationError(
            "ttl must be a number of seconds or None", {"ttl": type(ttl).__name__}
        )
    if not math.isfinite(ttl):
        raise ValidationError("ttl must be a finite number", {"ttl": repr(ttl)})
    if ttl <= 0:
        return 0
    if ttl > MAX_TTL_SECONDS:
        raise ValidationError(
            f"ttl must be at most {MAX_TTL_SECONDS} seconds", {"ttl": repr(ttl)}
        )
    return max(1, int(ttl))


def _checked_key(key: Any) -> str:
    """The key as the str the cache uses. str as is; an int (not bool) as its
    decimal text, as redis-py sends it; bytes as UTF-8 text. Anything else is a
    ValidationError (never a Redis failure: nothing was sent)."""
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, int) and not isinstance(key, bool):
        if -_MAX_INT_KEY < key < _MAX_INT_KEY:
            return str(int(key))
        raise ValidationError("int cache keys must fit in 64 bits", {"key_type": "int"})
    if isinstance(key, bytes):
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                "bytes cache keys must be UTF-8", {"key_type": "bytes"}
            ) from None
    raise ValidationError(
        "cache keys must be str (or int/bytes)", {"key_type": type(key).__name__}
    )


def _int_param(name: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be an integer between {low} and {high}, got {value!r}",
            {name: value},
        )
    return value


class _ReadCell:
    """Marks in-flight Redis reads of one key; a write to the key invalidates it,
    so a read that raced with the write does not promote the older value. The
    C completion of a Redis hit reads ``key`` and ``valid``."""

    __slots__ = ("key", "readers", "valid")

    def __init__(self, key: str) -> None:
        self.key = key
        self.valid = True
        self.readers = 1


#: The cache counters a ``_core.HitPath`` counts in C: counter -> its attribute.
_HOT_COUNTERS: Final = {
    "l1_hits": "hits",
    "redis_hits": "redis_hits",
    "promotions": "promotions",
    "stale_promotions_skipped": "stale_promotions_skipped",
    "promotions_not_admitted": "promotions_not_admitted",
    "misses": "misses",
}
#: Marks a Redis read the hit path's C completion left to Python (a miss, a
#: value to decode on a worker thread, a payload that failed to decode).
_DECLINED: Final = object()


# ---------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------


def _security_init_message(reason: str) -> str:
    # The original's headline (operators alert on it), then the cause's own message.
    return (
        "🔒 SECURITY ERROR: Failed to initialize mandatory security features.\n"
        "\n"
        f"Error: {reason}\n"
        "\n"
        "The cache was not created. Fix the cause above: the security configuration "
        "(SecurityConfig, TLS files, credentials) or REDIS_ENCRYPTION_KEY; the "
        "context's cause_error_type names the check that failed.\n"
    )


class GenericRedisCache(CacheInterface):
    """Redis cache with an optional in-process L1 (an ``InMemoryCache``).

    Args:
        redis_url: ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL.
        default_ttl: seconds (1..86400) for ``set`` without ``ttl``.
        enable_l1_cache: keep recently used values in process memory.
        l1_cache_size: L1 entries (0..10000; 0 disables L1).
        compression_threshold: serialized size (100..100000 bytes) from which values
            are zlib-compressed.
        compression_level: zlib level 1..9.
        performance_monitor: a ``CachePerformanceMonitor`` (a new one when None).
        security_config: a ``SecurityConfig`` (from the environment when None).

    Keyword-only extras (all optional): ``fail_on_connection_error`` (raise
    ``InfrastructureError`` instead of degrading to L1), ``key_prefix`` (namespace
    prepended to every Redis key; scopes ``clear``), ``enable_compression``
    (default True; False stores values uncompressed whatever their size),
    ``compression_max_bytes`` (default ``aicache.codec.COMPRESSION_MAX_BYTES``, 16 KiB:
    larger values are stored uncompressed, docs/wire-format.md; None compresses
    every size), ``connect_timeout`` (seconds,
    default ``min(security_config.connection_timeout, 5)``), ``operation_timeout``
    (seconds without a reply before a command fails, default
    ``min(security_config.socket_timeout, 2)``), ``breaker_failure_threshold`` (5),
    ``breaker_reset_timeout`` (5 s), ``health_check_interval`` (30 s). Other keyword
    arguments are accepted and ignored, as in the original.
    """

    def __init__(
        self,
        redis_url: str = "rediss://redis:6380",
        default_ttl: int = 3600,
        enable_l1_cache: bool = True,
        l1_cache_size: int = 100,
        compression_threshold: int = 1000,
        compression_level: int = 6,
        performance_monitor: CachePerformanceMonitor | None = None,
        security_config: SecurityConfig | None = None,
        **kwargs: Any,
    ) -> None:
        # The seeds' names for the L1 settings: honoured (the original kept a
        # 100-entry L1 whatever memory_cache_size said), with a DeprecationWarning.
        if kwargs.get("memory_cache_size") is not None:
            l1_cache_size = _deprecated_alias(
                "memory_cache_size", "l1_cache_size", kwargs.pop("memory_cache_size")
            )
        if kwargs.get("enable_memory_cache") is not None:
            enable_l1_cache = _deprecated_alias(
                "enable_memory_cache",
                "enable_l1_cache",
                kwargs.pop("enable_memory_cache"),
            )
        kwargs.pop("memory_cache_size", None)
        kwargs.pop("enable_memory_cache", None)
        _int_param("default_ttl", default_ttl, 1, _MAX_TTL)
        _int_param("l1_cache_size", l1_cache_size, 0, 10000)
        _int_param("compression_level", compression_level, 1, 9)
        _int_param("compression_threshold", compression_threshold, 100, 100000)
        if not isinstance(redis_url, str) or not redis_url:
            raise ConfigurationError(
                "redis_url must be a non-empty string",
                {"redis_url": type(redis_url).__name__},
            )
        # A bad URL fails here, naming the problem only (never the secret).
        parsed_any: Any = (
            parse_topology_url(redis_url)
            if is_topology_url(redis_url)
            else parse_redis_url(redis_url)
        )
        url_query = parsed_any.query

        self.redis_url = redis_url
        self.default_ttl = default_ttl
        self.enable_l1_cache = enable_l1_cache
        self.compression_threshold = compression_threshold
        self.compression_level = compression_level
        self.fail_on_connection_error = bool(
            kwargs.pop("fail_on_connection_error", False)
        )
        prefix = kwargs.pop("key_prefix", "") or ""
        if not isinstance(prefix, str):
            raise ConfigurationError(
                "key_prefix must be a string", {"key_prefix": prefix}
            )
        self.key_prefix: str = prefix
        compress = kwargs.pop("enable_compression", True)
        compression_max = kwargs.pop("compression_max_bytes", COMPRESSION_MAX_BYTES)
        # L1 is bounded in bytes too (sizes as InMemoryCache measures them).
        l1_max_bytes = _int_param(
            "l1_max_bytes",
            kwargs.pop("l1_max_bytes", DEFAULT_L1_MAX_BYTES),
            1,
            2**62,
        )
        # L1 kept coherent with Redis across processes (CLIENT TRACKING): see
        # aicache.tracking and docs/scaling.md.
        # The URL may ask for it too (?l1_coherence=yes), so CACHE_REDIS_URL alone
        # can switch it on.
        coherence = kwargs.pop("l1_coherence", None)
        if coherence is None:
            coherence = url_query.get("l1_coherence", "no").lower() in _YES
        self.l1_coherence = bool(coherence)
        # A Redis hit is copied into a full L1 only if its key is asked for more
        # often than the entry it would evict (TinyLFU): a working set larger
        # than L1 then reads from Redis without churning L1 (docs/l1-admission.md).
        admission = kwargs.pop("l1_admission", None)
        if admission is None:
            admission = url_query.get("l1_admission", "yes").lower() in _YES
        self.l1_admission = bool(admission)
        journal_size = _int_param(
            "degraded_journal_size",
            kwargs.pop("degraded_journal_size", MAX_DEGRADED_JOURNAL_KEYS),
            1,
            10_000_000,
        )
        # One outage journal per server (or topology) and database.
        self._journal_server = _server_identity(parsed_any)
        self._journal: DegradedJournal = journal_for(self._journal_server, journal_size)
        self._connection_options = self._pop_connection_options(kwargs)
        if kwargs:
            # Accepted for compatibility (the template passes configuration keys
            # through), but never silently: a typo here would change nothing.
            logger.warning(
                "%s ignores unknown arguments: %s", type(self).__name__, sorted(kwargs)
            )

        self._init_security(redis_url, performance_monitor, security_config)
        self._codec = ValueCodec(
            # enable_compression=False: a threshold no value reaches.
            compression_threshold=compression_threshold if compress else _NEVER,
            compression_level=compression_level,
            keyring=self.encryption.keyring,
            compression_max_bytes=compression_max,
        )

        # Same key format and threshold as InMemoryCache.build_key (spec 4.5), so
        # callers can build keys on any cache; AIResponseCache swaps in its own.
        self.key_generator = CacheKeyGenerator()
        self._hot: _core.HitPath | None = None
        # Counts of earlier hit paths of this cache (they count in C).
        self._hot_totals: dict[str, int] = dict.fromkeys(_HOT_COUNTERS, 0)
        self._hit_accounted: object = None  # a callback the hit path does itself
        self._miss_accounted: object = None  # ... and its get_miss counterpart
        self._performance_monitor: CachePerformanceMonitor | None = None
        self.l1_cache = (
            InMemoryCache(
                default_ttl=default_ttl,
                max_size=l1_cache_size,
                max_memory_bytes=l1_max_bytes,
            )
            if enable_l1_cache and l1_cache_size > 0
            else None
        )
        self.performance_monitor = (
            performance_monitor
            if performance_monitor is not None
            else CachePerformanceMonitor()
        )

        self.redis: Any = None
        self._redis_connected = False
        self.last_connect_error: BaseException | None = None
        self._connection: RedisConnection | None = None
        # This cache's shares of process-wide connections, one per event loop.
        self._leases: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, Lease[RedisConnection]
        ] = weakref.WeakKeyDictionary()
        self._loop_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, RedisClient
        ] = weakref.WeakKeyDictionary()
        self._last_connect_ts = 0.0
        self._last_connect_result = False
        self._connect_retry_interval = 0.5
        self._callbacks: defaultdict[str, list[Callable[..., Any]]] = defaultdict(list)
        self._reads: dict[str, _ReadCell] = {}
        self._coherence: CoherenceTracker | None = None
        self._connect_task: asyncio.Task[bool] | None = None
        self._degraded = False
        self._last_error_log: dict[str, float] = {}
        self._counters: dict[str, int] = dict.fromkeys(
            (
                "hits",
                "misses",
                "l1_hits",
                "redis_hits",
                "sets",
                "deletes",
                "l1_only_sets",
                "redis_errors",
                "corrupt_payloads",
                "serialization_errors",
                "promotions",
                "stale_promotions_skipped",
                "promotions_not_admitted",
            ),
            0,
        )

    # -- construction helpers ---------------------------------------------------

    @staticmethod
    def _pop_connection_options(kwargs: dict[str, Any]) -> dict[str, float | int]:
        options: dict[str, float | int] = {}
        for name in (
            "connect_timeout",
            "operation_timeout",
            "breaker_reset_timeout",
            "health_check_interval",
        ):
            if name in kwargs and kwargs[name] is not None:
                value = kwargs.pop(name)
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or value < 0
                    or (value == 0 and name != "health_check_interval")
                ):
                    raise ConfigurationError(
                        f"{name} must be a positive number", {name: value}
                    )
                options[name] = float(value)
        if kwargs.get("breaker_failure_threshold") is not None:
            options["breaker_failure_threshold"] = _int_param(
                "breaker_failure_threshold",
                kwargs.pop("breaker_failure_threshold"),
                1,
                1_000_000,
            )
        return options

    def _init_security(
        self,
        redis_url: str,
        performance_monitor: CachePerformanceMonitor | None,
        security_config: SecurityConfig | None,
    ) -> None:
        try:
            self.security_config = (
                security_config
                if security_config is not None
                else SecurityConfig.create_for_environment()
            )
            self.security_manager: RedisCacheSecurityManager | None = (
                RedisCacheSecurityManager(
                    config=self.security_config, performance_monitor=performance_monitor
                )
            )
            self.security_manager.validate_mandatory_security(redis_url)
            key = getattr(self.security_config, "encryption_key", None)
            if key:
                self.encryption = EncryptedCacheLayer(
                    encryption_key=key, performance_monitoring=True
                )
            else:
                self.encryption = create_encryption_layer_from_env()
        except ConfigurationError as exc:
            context = dict(exc.context)
            if "error_type" in context:
                context["cause_error_type"] = context["error_type"]
            context["error_type"] = "security_initialization_failure"
            context["original_error"] = exc.message
            raise ConfigurationError(
                _security_init_message(exc.message), context
            ) from exc
        except Exception as exc:
            raise ConfigurationError(
                _security_init_message(f"{type(exc).__name__}: {exc}"),
                {
                    "error_type": "security_initialization_failure",
                    "original_error": f"{type(exc).__name__}: {exc}",
                },
            ) from exc

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {redact_url(self.redis_url)} "
            f"l1={'on' if self.l1_cache is not None else 'off'} "
            f"encrypted={self.encryption.is_enabled}>"
        )

    # -- connection ---------------------------------------------------------------

    def _connection_settings(self) -> dict[str, Any]:
        config = self.security_manager.config if self.security_manager else None
        opts = self._connection_options
        conn_cap = float(getattr(config, "connection_timeout", 5) or 5)
        sock_cap = float(getattr(config, "socket_timeout", 2) or 2)
        settings: dict[str, Any] = {
            "connect_timeout": float(opts.get("connect_timeout", min(conn_cap, 5.0))),
            "command_timeout": float(opts.get("operation_timeout", min(sock_cap, 2.0))),
            # A reply longer than any value the codec can read is refused from
            # its header, never buffered.
            "max_bulk_bytes": self._codec.max_stored_bytes,
        }
        for name in (
            "breaker_failure_threshold",
            "breaker_reset_timeout",
            "health_check_interval",
        ):
            if name in opts:
                settings[name] = opts[name]
        return settings

    def _get_connection(self) -> RedisConnection:
        """The connection for the current URL, security config and event loop:
        shared by every cache object of the process with the same server,
        credentials, database, TLS settings and timeouts (one socket, however
        many caches), kept across failures so its backoff and breaker keep
        their state. A cache dropped without ``disconnect()`` costs nothing:
        the connection is closed when its last user is gone."""
        manager = self.security_manager
        if manager is None:
            raise ConfigurationError(
                "GenericRedisCache has no security manager", {"redis_url": "n/a"}
            )
        loop = asyncio.get_running_loop()
        lease = self._leases.get(loop)
        key = self._registry_key(loop)
        if lease is None or lease.released or lease.key != key:
            url, settings = self.redis_url, self._connection_settings()
            lease = registry.lease(
                key,
                lambda: manager.build_connection(url, **settings),
                loop=loop,
                keep_alive=CONNECTION_KEEP_ALIVE,
            )
            self._leases[loop] = lease
        self._connection = lease.connection
        return lease.connection

    def _registry_key(self, loop: asyncio.AbstractEventLoop) -> tuple[Any, ...]:
        """What makes two caches' connections interchangeable (no secret in
        clear: the password is hashed)."""
        manager = self.security_manager
        assert manager is not None
        config = manager.config
        username, password = manager._credentials(self.redis_url)
        tls = (
            manager._uses_tls(self.redis_url),
            getattr(config, "tls_cert_path", None),
            getattr(config, "tls_key_path", None),
            getattr(config, "tls_ca_path", None),
            getattr(config, "verify_certificates", True),
            str(getattr(config, "min_tls_version", "")),
            tuple(getattr(config, "cipher_suites", None) or ()),
        )
        return (
            *self._journal_server,
            username,
            secret_digest(password),
            tls,
            tuple(sorted(self._connection_settings().items())),
            # Not id(loop): a new loop can reuse a dead one's address. A dead
            # loop's weak reference equals nothing else.
            weakref.ref(loop),
        )

    async def connect(self) -> bool:
        """Connect (or check the link); True when Redis is usable.

        With ``fail_on_connection_error`` a failure raises InfrastructureError;
        otherwise it is logged and False is returned (the cache serves from L1).
        """
        if not REDIS_AVAILABLE:
            logger.warning("Redis support is not available; using the memory tier only")
            return self._connect_failed(None, "redis support unavailable")
        redis = self.redis
        if redis is not None:
            if type(redis) is not RedisClient:
                return True  # an assigned client is used as it is
            conn = redis.connection
            if self._for_another_loop(conn):
                # Ours, for another event loop: use this loop's connection.
                conn = self._get_connection()
                redis = self.redis = RedisClient(conn)
            if conn.is_connected:
                return True
            try:
                await conn.connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return self._connect_failed(exc, "reconnect failed")
            self._connected()
            return True
        now = time.monotonic()
        if (
            not self._last_connect_result
            and self._last_connect_ts
            and now - self._last_connect_ts < self._connect_retry_interval
        ):
            return self._connect_failed(None, "recent connection attempt failed")
        self._last_connect_ts = now
        start = _perf()
        manager = self.security_manager
        try:
            if manager is not None and not _native_factory():
                # A patched ``aioredis`` factory: the original's path, kept for tests.
                client: Any = await manager.create_secure_connection(self.redis_url)
            else:
                conn = self._get_connection()
                await conn.connect()
                client = RedisClient(conn)
                if self.l1_coherence and self.l1_cache is not None:
                    self._start_coherence(conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._last_connect_result = False
            self._note_connection(start, False, exc)
            return self._connect_failed(exc, "connection failed")
        self.redis = client
        self._last_connect_result = True
        self._note_connection(start, True, None)
        self._connected()
        return True

    def _note_connection(
        self, start: float, ok: bool, exc: BaseException | None
    ) -> None:
        manager = self.security_manager
        if manager is not None:
            manager.note_connection(self.redis_url, ok, (_perf() - start) * 1000.0, exc)

    def _connected(self) -> None:
        self._redis_connected = True
        if self._degraded:
            self._degraded = False
            logger.info("Redis is reachable again: %s", redact_url(self.redis_url))

    def _connect_failed(self, exc: BaseException | None, what: str) -> bool:
        self._redis_connected = False
        if exc is not None:  # why, for the factory's fallback and health reports
            self.last_connect_error = exc
        if self.fail_on_connection_error:
            if isinstance(exc, InfrastructureError):
                raise exc
            raise InfrastructureError(
                f"Redis {what}: {exc}" if exc is not None else f"Redis {what}",
                {"redis_url": redact_url(self.redis_url), "error": _describe(exc)},
            ) from exc
        self._log_failure("connect", f"Redis {what} ({_describe(exc)}); using L1 only")
        return False

    async def disconnect(self) -> None:
        """Give up this cache's connection (a later operation reconnects). A
        connection shared with other caches stays open for them; the last user
        closes it."""
        redis, self.redis = self.redis, None
        self._connection = None
        tracker, self._coherence = self._coherence, None
        if tracker is not None:
            self._coherence_flush()
            await tracker.close()
        self._connect_task = None
        self._redis_connected = False
        self._last_connect_ts = 0.0
        self._last_connect_result = False
        leases = list(self._leases.values())
        self._leases.clear()
        self._loop_clients.clear()
        shared = {id(lease.connection) for lease in leases}
        try:
            if redis is not None and not (
                type(redis) is RedisClient and id(redis.connection) in shared
            ):
                closer = getattr(redis, "aclose", None) or getattr(redis, "close", None)
                if closer is not None:
                    await _maybe_await(closer())
            for lease in leases:
                await lease.release()
        except Exception as exc:
            logger.warning("Error while disconnecting from Redis: %s", _describe(exc))

    async def __aenter__(self) -> "GenericRedisCache":
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    async def _client(self) -> Any:
        """The client to use now, connecting first when needed; None: use L1 only.

        An operation never waits longer than the operation timeout for a
        connection: the attempt goes on in the background (shared by every
        operation) and the operation falls back to L1 meanwhile. While earlier
        attempts failed (the connection is recovering), nobody waits on the
        probe. Writes acknowledged while Redis was unreachable are reconciled
        (see :mod:`aicache._journal`) before a client is handed out.
        """
        redis = self.redis
        if redis is not None and (
            type(redis) is not RedisClient or redis.connection.is_connected
        ):
            if not self._journal.dirty:
                return redis
            return redis if await self._reconcile(redis) else None
        if type(redis) is RedisClient and self._for_another_loop(redis.connection):
            client = await self._client_for_this_loop()
        else:
            client = await self._client_after_connect()
        if client is not None and self._journal.dirty:
            return client if await self._reconcile(client) else None
        return client

    def _for_another_loop(self, conn: RedisConnection) -> bool:
        """conn is this cache's connection for another event loop, or linked in
        another running loop: this loop must use its own."""
        loop = asyncio.get_running_loop()
        mine = self._leases.get(loop)
        if mine is not None and mine.connection is conn:
            return False
        if any(lease.connection is conn for lease in self._leases.values()):
            return True
        return _owned_by_other_loop(conn)

    async def _client_after_connect(self) -> Any:
        loop = asyncio.get_running_loop()
        task = self._connect_task
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._connect_task = loop.create_task(self.connect())
            task.add_done_callback(_consume)
        conn = self._connection
        if conn is not None and getattr(conn, "recovering", False) and not task.done():
            # A probe after failures: fail over to L1 now, not after a timeout.
            return self._connect_failed(None, "reconnecting") or None
        try:
            async with asyncio.timeout(self._connection_settings()["command_timeout"]):
                ok = await asyncio.shield(task)
        except TimeoutError:
            ok = self._connect_failed(None, "connection attempt still pending")
        return self.redis if ok else None

    async def _client_for_this_loop(self) -> RedisClient | None:
        """A second event loop (another thread) uses this cache: it gets its own
        connection (shared per loop through the registry), never the other
        loop's socket."""
        loop = asyncio.get_running_loop()
        client = self._loop_clients.get(loop)
        if client is None:
            client = self._loop_clients[loop] = RedisClient(self._get_connection())
        conn = client.connection
        if conn.is_connected:
            return client
        try:
            async with asyncio.timeout(self._connection_settings()["command_timeout"]):
                await conn.connect()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._connect_failed(exc, "connection failed")
            return None
        return client

    async def _reconcile(self, redis: Any) -> bool:
        """Removes from Redis every key written or deleted while it was
        unreachable (and clears overflowed scopes), before reads use Redis
        again. False: not done, keep serving from L1."""
        journal = self._journal
        keys, scopes, seq = journal.snapshot()
        try:
            async with asyncio.timeout(self._connection_settings()["command_timeout"]):
                await _delete_keys(redis, [k for k, _ in keys])
                for scope in scopes:
                    await self._scan_unlink(scope.translate(_GLOB_SPECIAL) + "*", redis)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            journal.stats["reconcile_failures"] += 1
            self._log_failure(
                "reconcile",
                f"Redis reconciliation after an outage failed ({_describe(exc)}); "
                "serving from L1 until it succeeds",
            )
            return False
        journal.done(keys, scopes, seq)
        if scopes and self.l1_cache is not None:
            self.l1_cache.clear()
        logger.info(
            "Reconciled %d key(s) and %d scope(s) written while Redis was unreachable",
            len(keys),
            len(scopes),
        )
        return True

    def _journal_write(self, key: str) -> None:
        """A write or delete of key was acknowledged without reaching Redis."""
        self._journal.record(self._rkey(key), self.key_prefix)

    # -- failures -----------------------------------------------------------------

    def _redis_failed(self, operation: str, exc: BaseException) -> None:
        """A Redis command failed: raise (fail_on_connection_error) or log and go on."""
        self._counters["redis_errors"] += 1
        if self.fail_on_connection_error:
            if isinstance(exc, InfrastructureError):
                raise exc
            raise InfrastructureError(
                f"Redis {operation} failed: {_describe(exc)}",
                {"redis_url": redact_url(self.redis_url), "operation": operation},
            ) from exc
        self._log_failure(operation, f"Redis {operation} failed ({_describe(exc)})")

    def _log_failure(self, kind: str, message: str) -> None:
        """WARNING at most every few seconds per kind (Redis down must not flood)."""
        self._degraded = True
        now = time.monotonic()
        last = self._last_error_log.get(kind)
        if last is None or now - last >= _ERROR_LOG_INTERVAL:
            self._last_error_log[kind] = now
            logger.warning("%s", message)
        else:
            logger.debug("%s", message)

    # -- cross-process L1 coherence (aicache.tracking) -----------------------------

    def _coherent_l1(self) -> InMemoryCache | None:
        """L1 while every invalidation link is up; None (L1 fenced) otherwise."""
        tracker = self._coherence
        return self.l1_cache if tracker is not None and tracker.is_ready else None

    def _start_coherence(self, conn: Any) -> None:
        if self._coherence is not None:
            return
        from aicache.tracking import CoherenceTracker

        ref = weakref.ref(self)

        def invalidate(keys: list[bytes]) -> None:
            cache = ref()
            if cache is not None:
                cache._coherence_invalidate(keys)

        def flush() -> None:
            cache = ref()
            if cache is not None:
                cache._coherence_flush()

        settings = self._connection_settings()
        tracker = CoherenceTracker(
            self.key_prefix,
            invalidate,
            flush,
            username=getattr(conn, "_username", None),
            password=getattr(conn, "_password", None),
            ssl_context=getattr(conn, "_ssl_context", None)
            or getattr(conn, "_ssl", None),
            connect_timeout=settings["connect_timeout"],
            owner_alive=lambda: ref() is not None,  # a dropped cache ends its links
        )
        tracker.attach(conn)
        self._coherence = tracker
        tracker.sync()

    def _coherence_invalidate(self, keys: list[bytes]) -> None:
        """Redis reported these keys changed: drop them from L1 and from every
        read in flight (so a reply already on its way is not promoted)."""
        l1 = self.l1_cache
        prefix = self.key_prefix
        cut = len(prefix)
        for raw in keys:
            name = (
                raw.decode("utf-8", "surrogateescape")
                if type(raw) is bytes
                else str(raw)
            )
            if cut:
                if not name.startswith(prefix):
                    continue
                name = name[cut:]
            cell = self._reads.pop(name, None)
            if cell is not None:
                cell.valid = False
            if l1 is not None:
                l1.discard(name)

    def _coherence_flush(self) -> None:
        """Invalidations may have been missed: forget all of L1 and every read
        in flight."""
        for cell in self._reads.values():
            cell.valid = False
        self._reads.clear()
        if self.l1_cache is not None:
            self.l1_cache.clear()

    # -- in-flight read bookkeeping (L1 coherence) --------------------------------

    # _get_after_l1_miss inlines these two (every cold read; two calls cost
    # ~0.3 µs there): a change to the cell rules goes in both places.
    def _begin_read(self, key: str) -> _ReadCell:
        cell = self._reads.get(key)
        if cell is None:
            cell = self._reads[key] = _ReadCell(key)
        else:
            cell.readers += 1
        return cell

    def _end_read(self, key: str, cell: _ReadCell) -> bool:
        cell.readers -= 1
        if cell.readers == 0 and self._reads.get(key) is cell:
            del self._reads[key]
        return cell.valid

    def _invalidate_reads(self, key: str) -> None:
        cell = self._reads.pop(key, None)
        if cell is not None:
            cell.valid = False

    def _forget_local(self, key: str) -> None:
        """Drop key from L1 and from the reads in flight, without awaiting (safe
        in a cancelled task's cleanup)."""
        self._invalidate_reads(key)
        l1 = self.l1_cache
        if l1 is not None:
            l1.discard(key)

    # -- codec dispatch (instance-overridable helpers of the original) -------------

    def _custom_encode(self) -> bool:
        d = self.__dict__
        cls = type(self)
        return (
            "_compress_data" in d
            or "_serialize_value" in d
            or cls._compress_data is not _BASE_COMPRESS
            or cls._serialize_value is not _BASE_SERIALIZE
        )

    def _custom_decode(self) -> bool:
        d = self.__dict__
        cls = type(self)
        return (
            "_decompress_data" in d
            or "_deserialize_value" in d
            or cls._decompress_data is not _BASE_DECOMPRESS
            or cls._deserialize_value is not _BASE_DESERIALIZE
        )

    async def _encode(self, value: Any) -> bytes:
        if self._custom_encode():
            data = self._compress_data(value)
            if not isinstance(data, bytes | bytearray | memoryview | str):
                raise ValidationError(
                    "_compress_data must return bytes",
                    {"type": type(data).__name__},
                )
            return data if isinstance(data, bytes) else bytes(_as_bytes(data))
        return await self._codec.encode_async(value)

    async def _decode(self, raw: bytes) -> Any:
        if self._custom_decode():
            return self._decompress_data(raw)
        if not self._codec.decode_needs_thread(raw):
            return self._codec.decode(raw)
        return await self._codec.decode_async(raw)

    def _serialize_value(self, value: Any) -> bytes:
        """The bytes stored in Redis for value (frame, zlib, Fernet)."""
        return self._codec.encode(value)

    def _deserialize_value(self, data: bytes) -> Any:
        """The value stored as data; CorruptPayloadError when it cannot be trusted."""
        return self._codec.decode(data)

    def _compress_data(self, value: Any) -> bytes:
        """Serialization entry point of ``set`` (compression happens inside)."""
        return self._serialize_value(value)

    def _decompress_data(self, data: bytes) -> Any:
        """Deserialization entry point of ``get``."""
        return self._deserialize_value(data)

    def _serialize_data_only(self, value: Any) -> bytes:
        """The serializer's bytes for value, without frame, compression or Fernet."""
        return serializer_by_name(self._codec.serializer).dumps(value)

    def _deserialize_data_only(self, data: bytes) -> Any:
        """Inverse of :meth:`_serialize_data_only`."""
        return serializer_by_name(self._codec.serializer).loads(data)

    # -- callbacks ----------------------------------------------------------------

    def register_callback(self, event: str, callback: Callable[..., Any]) -> None:
        """Call ``callback`` on ``event`` (get_success(key, value), get_miss(key),
        set_success(key, value), delete_success(key)), in registration order."""
        self._callbacks[event].append(callback)
        if event == "get_miss":
            self._sync_miss_completion()

    def _fire_callback(self, event: str, *args: Any) -> None:
        callbacks = self._callbacks.get(event)
        if not callbacks:
            return
        for callback in list(callbacks):
            try:
                callback(*args)
            except Exception as exc:
                logger.warning("Callback for event '%s' failed: %s", event, exc)

    # -- the L1 hit path (one C call) ----------------------------------------------

    @property
    def l1_cache(self) -> InMemoryCache | None:
        """The memory tier (an ``InMemoryCache``) or None; assignable."""
        return self._l1_cache

    @l1_cache.setter
    def l1_cache(self, value: InMemoryCache | None) -> None:
        self._l1_cache = value
        if type(value) is InMemoryCache and self.__dict__.get("l1_admission"):
            value._tier.track_frequency()  # every get counts from now on
        self._rebuild_hit_path()

    @property
    def performance_monitor(self) -> CachePerformanceMonitor | None:
        """The ``CachePerformanceMonitor`` (or a compatible object) or None;
        assignable."""
        return self._performance_monitor

    @performance_monitor.setter
    def performance_monitor(self, value: CachePerformanceMonitor | None) -> None:
        self._performance_monitor = value
        self._rebuild_hit_path()

    def _hit_path_ai(self) -> Any:
        """The AI accounting tuple of ``_core.HitPath`` (AIResponseCache)."""
        return None

    def _rebuild_hit_path(self) -> None:
        """Serve L1 hits and complete Redis hits with ``_core.HitPath``: lookup,
        decode, promotion, counters and monitor record in C. Not used when the
        memory tier has its own clock or the monitor is not a
        ``CachePerformanceMonitor`` (those go through Python, as before)."""
        if self.__dict__.get("_hot") is not None:
            self._retire_hit_path()
        self._hot = None
        l1 = self.__dict__.get("_l1_cache")
        monitor = self.__dict__.get("_performance_monitor")
        if (
            (
                l1 is not None
                and (type(l1) is not InMemoryCache or l1._clock is not None)
            )
            or self.__dict__.get("l1_coherence")  # L1 valid only while tracked
            or type(self)._fire_callback is not GenericRedisCache._fire_callback
        ):
            return
        if monitor is None:
            recorder = None
        elif type(monitor) is CachePerformanceMonitor:
            recorder = monitor._op_records
        else:
            return
        redis = self._hit_path_redis(l1)
        if l1 is None and redis is None:
            return  # nothing left for it to do
        self._hot = _core.HitPath(
            None if l1 is None else l1._tier,
            recorder,
            self._hit_path_ai(),
            redis,
            self,  # its other get_success callbacks, fired by the C call
        )
        self._sync_miss_completion()

    def _sync_miss_completion(self) -> None:
        """Redis misses are completed in C while nothing else must see them: no
        get_miss callback beyond the one the hit path accounts for itself."""
        d = self.__dict__
        hot = d.get("_hot")
        if hot is None:
            return
        callbacks = d.get("_callbacks", {}).get("get_miss")  # (absent during init)
        hot.complete_misses = self._miss_accounting_in_c() and (
            not callbacks
            or (len(callbacks) == 1 and callbacks[0] == d.get("_miss_accounted"))
        )

    def _miss_accounting_in_c(self) -> bool:
        """Whether the C completion may count and record a miss (what ``_miss``
        and ``_get_done_in_python`` do), i.e. no subclass replaced them."""
        cls = type(self)
        return (
            cls._miss is GenericRedisCache._miss
            and cls._get_done_in_python is GenericRedisCache._get_done_in_python
        )

    def _hit_path_redis(self, l1: InMemoryCache | None) -> Any:
        """The Redis-hit completion of ``_core.HitPath``, unless a subclass
        replaced what it stands for (decoding, promotion, the get callbacks)."""
        cls = type(self)
        if (
            cls._decode is not GenericRedisCache._decode
            or cls._decompress_data is not _BASE_DECOMPRESS
            or cls._deserialize_value is not _BASE_DESERIALIZE
            or cls._promote is not GenericRedisCache._promote
            or cls._finish_get is not GenericRedisCache._finish_get
        ):
            return None
        return (
            self._codec.decode,
            self,
            l1,
            _REDIS_HIT,
            _MISS_NOT_FOUND,
            _DECLINED,
            # Bigger decodes (stored size, or a plain frame's inflated size) are
            # left to Python, whose codec may hand them to a worker thread.
            self._codec.inline_decode_max,
            memory_debug_enabled,
            # Frames decoded in C, payloads straight into objects (no (sid,
            # payload) tuple, no payload bytes) unless the codec is a subclass.
            self._codec.c_decoding() if type(self._codec) is ValueCodec else None,
        )

    def _fire_hit_callbacks(self, key: str, value: Any) -> None:
        """get_success callbacks after a hit the hit path served (it did the
        accounting callback, if any, itself). A ``_fire_callback`` patched on the
        instance (as the original's tests do) sees the event instead."""
        patched = self.__dict__.get("_fire_callback")
        if patched is not None:
            patched("get_success", key, value)
            return
        callbacks = self._callbacks.get("get_success")
        if not callbacks:
            return
        accounted = self._hit_accounted
        for callback in list(callbacks):
            if callback is accounted or callback == accounted:
                continue
            try:
                callback(key, value)
            except Exception as exc:
                logger.warning("Callback for event '%s' failed: %s", "get_success", exc)

    def _counter_values(self) -> dict[str, int]:
        """``_counters`` plus what the C hit path counted."""
        c = dict(self._counters)
        hot = self._hot_counts()
        for name, n in hot.items():
            c[name] += n
        c["hits"] += hot["l1_hits"] + hot["redis_hits"]
        return c

    def _hot_counts(self) -> dict[str, int]:
        """The counters of the current hit path plus those of earlier ones."""
        totals = dict(self._hot_totals)
        hot = self._hot
        if hot is not None:
            for counter, attribute in _HOT_COUNTERS.items():
                totals[counter] += getattr(hot, attribute)
        return totals

    def _retire_hit_path(self) -> None:
        """Keeps the counts of the current hit path and drops it."""
        self._hot_totals = self._hot_counts()
        self._hot = None

    # -- monitoring ---------------------------------------------------------------

    def _record(
        self, operation: str, start: float, hit: bool, tier: str, data: _Extra
    ) -> None:
        """Record one operation started at ``_perf()`` value ``start``; ``data`` is
        the metric's additional_data as (key, value) pairs and ``tier`` its
        ``cache_tier`` ("unknown" when it has none)."""
        monitor = self.performance_monitor
        if monitor is None:
            return
        duration = _perf() - start
        try:
            if type(monitor) is CachePerformanceMonitor:
                # Trusted fast path: no validation, no per-call dict.
                monitor._record_op(operation, duration, hit, tier, data)
            else:
                monitor.record_cache_operation_time(
                    operation, duration, hit, 0, dict(data)
                )
        except Exception as exc:  # monitoring never breaks a cache operation
            logger.debug("Could not record %s metric: %s", operation, exc)

    def _miss(self, key: str, start: float, tier: str, data: _Extra) -> None:
        self._counters["misses"] += 1
        self._record("get", start, False, tier, data)
        self._fire_callback("get_miss", key)

    # -- TTL ------------------------------------------------------------------------

    def _effective_ttl(self, ttl: Any) -> int:
        """None -> default_ttl; >= 1 -> whole seconds; a positive fraction under a
        second -> 1 (it must expire; Redis's EX counts whole seconds); <= 0 -> 0
        (no expiry). Not a finite number -> ValidationError."""
        if ttl is None:
            return self.default_ttl
        return _checked_ttl(ttl)

    def _rkey(self, key: str) -> str:
        return self.key_prefix + key if self.key_prefix else key

    # -- CacheInterface -------------------------------------------------------------

    async def get(self, key: str) -> Any:
        """The cached value, or None (missing, expired, Redis unavailable, corrupt)."""
        hot = self._hot
        if hot is not None and type(key) is str:
            # lookup, counters, monitor record and get_success callbacks, in C
            value = hot.get(key)
            if value is not None:
                return value
            return await self._get_after_l1_miss(hot, key)
        return await self._get_below_l1(key, False)

    async def _get_after_l1_miss(self, hot: _core.HitPath, key: str) -> Any:
        """get() after the hit path missed L1: a Redis hit is decoded, promoted,
        counted and recorded by the hit path's C completion before the reply's
        future resolves; what it declines (a miss, a big or unreadable payload)
        is finished here. Links other than a plain connection, an outage
        journal to replay, user callbacks or patched hooks take the Python path."""
        redis = self.redis
        d = self.__dict__
        if (
            type(redis) is not RedisClient
            or not hot.completes_redis
            or type(conn := redis.connection) is not RedisConnection
            or not conn.is_connected
            or self._journal.dirty
            or not hot.plain_hits()  # user callbacks: the Python path fires them
            or "_decompress_data" in d
            or "_deserialize_value" in d
            or "_promote" in d
        ):
            start = _perf()
            value = await self._get_below_l1(key, True)
            self._get_done_in_python(key, start)
            return value
        start = _perf()
        prefix = self.key_prefix
        rkey = prefix + key if prefix else key
        if self.l1_cache is None or (self.l1_admission and not hot.admits(key)):
            cell = None  # nothing to promote into: a lone GET
            fut = conn.send(("GET", rkey), hot, key)
        else:  # _begin_read inlined: every L1 miss comes here
            reads = self._reads
            cell = reads.get(key)
            if cell is None:
                cell = reads[key] = _ReadCell(key)
            else:
                cell.readers += 1
            fut = conn.send_pair(("GET", rkey), ("PTTL", rkey), hot, cell)
        try:
            if fut is None:  # the link is not up yet
                if cell is None:
                    value = await conn.execute("GET", rkey)
                    value = (_DECLINED, value, -1, None)  # finished below
                else:
                    value = await conn.execute_pair(
                        ("GET", rkey), ("PTTL", rkey), hot, cell
                    )
            else:
                value = await fut
        except BaseException as exc:
            if cell is not None:
                self._end_read(key, cell)
            if not isinstance(exc, Exception):
                raise
            self._redis_failed("get", exc)
            self._miss(key, start, "redis", _MISS_ERROR)
            self._get_done_in_python(key, start)
            return None
        if type(value) is tuple and len(value) == 4 and value[0] is _DECLINED:
            _, raw, pttl, error = value
            if raw:
                value = await self._finish_get(key, start, cell, raw, pttl, error)
            else:  # the common decline, without a coroutine
                if cell is not None:
                    self._end_read(key, cell)
                self._miss(key, start, "redis", _MISS_NOT_FOUND)
                value = None
            self._get_done_in_python(key, start)
            return value
        if cell is not None:  # _end_read inlined
            cell.readers -= 1
            if not cell.readers and self._reads.get(key) is cell:
                del self._reads[key]
        return value

    def _get_done_in_python(self, key: str, start: float) -> None:
        """Bookkeeping of a get the C completion did not finish (AIResponseCache
        records the operation's duration here)."""

    async def _get_below_l1(self, key: str, l1_checked: bool) -> Any:
        """get() after the hit path (``l1_checked``: it already missed L1)."""
        if type(key) is not str:
            key = _checked_key(key)
        start = _perf()
        l1 = self.l1_cache if not self.l1_coherence else self._coherent_l1()
        if l1 is not None and not l1_checked:
            value = await l1.get(key)
            if value is not None:
                self._counters["hits"] += 1
                self._counters["l1_hits"] += 1
                self._record("get", start, True, "l1", _L1_HIT)
                self._fire_callback("get_success", key, value)
                return value
        redis = self.redis
        if (
            type(redis) is not RedisClient
            or not redis.connection.is_connected
            or self._journal.dirty  # writes from an outage to reconcile first
        ):
            redis = await self._client()
            if redis is None:
                self._miss(key, start, "redis_unavailable", _MISS_UNAVAILABLE)
                return None
        prefix = self.key_prefix
        rkey = prefix + key if prefix else key
        cell = self._begin_read(key) if self._promotes(l1, key) else None
        pttl = -1
        try:
            if type(redis) is RedisClient:
                conn = redis.connection
                if cell is None:
                    raw = await conn.execute("GET", rkey)
                elif (pair := getattr(conn, "execute_pair", None)) is not None:
                    # One C request, one await: both replies in one write.
                    raw, pttl = await pair(("GET", rkey), ("PTTL", rkey))
                else:  # cluster / sentinel links route each command themselves
                    raw, pttl = await asyncio.gather(
                        conn.execute("GET", rkey), conn.execute("PTTL", rkey)
                    )
            else:
                raw = await redis.get(rkey)
                if cell is not None and raw:
                    pttl = await _foreign_pttl(redis, rkey)
        except Exception as exc:
            if cell is not None:
                self._end_read(key, cell)
            self._redis_failed("get", exc)
            self._miss(key, start, "redis", _MISS_ERROR)
            return None
        except BaseException:
            if cell is not None:
                self._end_read(key, cell)
            raise
        return await self._finish_get(key, start, cell, raw, pttl, None)

    async def _finish_get(
        self,
        key: str,
        start: float,
        cell: _ReadCell | None,
        raw: Any,
        pttl: Any,
        error: Exception | None,
    ) -> Any:
        """The rest of a get once Redis replied: decode (unless ``error``, a
        decode failure already seen), promote, count, record, ends ``cell``."""
        if not raw:
            if cell is not None:
                self._end_read(key, cell)
            self._miss(key, start, "redis", _MISS_NOT_FOUND)
            return None
        try:
            if error is not None:
                raise error
            if not self._custom_decode() and not self._codec.decode_needs_thread(raw):
                value = self._codec.decode(raw)  # _decode without a coroutine
            else:
                value = await self._decode(raw)
        except BaseException as exc:
            if cell is not None:
                self._end_read(key, cell)
            if not isinstance(exc, Exception):
                raise
            self._bad_payload(key, exc)
            self._miss(key, start, "redis", _MISS_CORRUPT)
            return None
        if cell is not None:
            fresh = self._end_read(key, cell)
            await self._promote(key, value, pttl, fresh)
        self._counters["hits"] += 1
        self._counters["redis_hits"] += 1
        self._record("get", start, True, "redis", _REDIS_HIT)
        self._fire_callback("get_success", key, value)
        return value

    def _promotes(self, l1: Any, key: str) -> bool:
        """Whether a Redis hit of key would be copied into ``l1`` (admission),
        asked before the read so a refused one goes without its PTTL."""
        if l1 is None:
            return False
        if (
            self.l1_admission
            and type(l1) is InMemoryCache
            and not l1._tier.admits(key, l1._now())
        ):
            self._counters["promotions_not_admitted"] += 1
            return False
        return True

    def _bad_payload(self, key: str, exc: Exception) -> None:
        self._counters["corrupt_payloads"] += 1
        self._log_failure(
            "corrupt",
            f"Unreadable cache payload for key {log_key(key)} treated as a miss: "
            f"{_describe(exc)}",
        )

    async def _promote(self, key: str, value: Any, pttl: Any, fresh: bool) -> None:
        """Copy a Redis hit into L1 for at most its remaining Redis TTL."""
        l1 = self.l1_cache
        if l1 is None or value is None:
            return
        if not fresh:
            self._counters["stale_promotions_skipped"] += 1
            return
        try:
            ms = int(pttl)
        except (TypeError, ValueError):
            return
        if ms == -1:
            ttl: int | None = None  # no Redis expiry: the L1 default bounds it
        elif ms >= 1000:
            ttl = min(ms // 1000, self.default_ttl)
        else:
            return  # gone, or under a second left: not worth caching
        if not self._promotes(l1, key):  # reads promoted meanwhile moved the victim
            return
        await l1.set(key, value, ttl=ttl)
        self._counters["promotions"] += 1

    async def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store value in Redis (and L1). ``ttl``: None -> default_ttl, > 0 seconds,
        <= 0 no expiry. Never raises for Redis trouble unless
        ``fail_on_connection_error``; unsupported values are logged and not cached."""
        if type(key) is not str:
            key = _checked_key(key)
        start = _perf()
        # A positive int (the common case) is used as is.
        effective_ttl = (
            ttl
            if type(ttl) is int and 0 < ttl <= MAX_TTL_SECONDS
            else self._effective_ttl(ttl)
        )
        l1 = self.l1_cache
        redis = self.redis
        if type(redis) is not RedisClient or not redis.connection.is_connected:
            try:
                redis = await self._client()
            except InfrastructureError:  # fail_on_connection_error: keep no stale L1
                self._invalidate_reads(key)
                if l1 is not None:
                    await l1.delete(key)
                raise
            if redis is None:
                await self._set_l1_only(key, value, effective_ttl, start, "l1_only")
                return
        try:
            # Straight to the codec unless an encode hook is overridden (one
            # coroutine less per set).
            data = await (
                self._encode(value)
                if self._custom_encode()
                else self._codec.encode_async(value)
            )
        except Exception as exc:
            await self._unstorable(key, value, exc, redis)
            self._record("set", start, False, _NO_TIER, (("error", _describe(exc)),))
            return
        prefix = self.key_prefix
        rkey = prefix + key if prefix else key
        try:
            if type(redis) is RedisClient:
                conn = redis.connection
                args = (
                    ("SET", rkey, data, "EX", effective_ttl)
                    if effective_ttl
                    else ("SET", rkey, data)
                )
                # One future, no coroutine, when the link is up (the usual case).
                sent = conn.send(args) if type(conn) is RedisConnection else None
                await (sent if sent is not None else conn.execute(*args))
            elif effective_ttl:
                await redis.setex(rkey, effective_ttl, data)
            else:
                await redis.set(rkey, data)
        except Exception as exc:
            self._invalidate_reads(key)
            if l1 is not None and self.fail_on_connection_error:
                await l1.delete(key)
            self._redis_failed("set", exc)
            # Degraded: the new value lives in L1 (never the previous one).
            await self._set_l1_only(key, value, effective_ttl, start, "redis_error")
            return
        except BaseException:
            # Cancelled (or timed out) after the SET may have reached the wire:
            # Redis may hold the new value, so neither L1 nor a read in flight
            # may keep serving the old one.
            self._forget_local(key)
            raise
        if self._reads:  # reads in flight (memory tier enabled) may hold older data
            self._invalidate_reads(key)
        if l1 is not None:
            if self.l1_coherence:
                # Our own write comes back as an invalidation anyway; L1 fills
                # from reads, whose in-flight cells make them race-safe.
                l1.discard(key)
            elif type(l1) is InMemoryCache:
                l1.store(key, value, effective_ttl)  # set() without a coroutine
            else:
                await l1.set(key, value, ttl=effective_ttl)
        self._counters["sets"] += 1
        self._record(
            "set",
            start,
            True,
            "redis",
            (_REDIS_TIER, ("ttl", effective_ttl), ("data_size", len(data))),
        )
        self._fire_callback("set_success", key, value)

    async def _set_l1_only(
        self, key: str, value: Any, ttl: int, start: float, reason: str
    ) -> None:
        self._journal_write(key)
        l1 = self.l1_cache
        self._invalidate_reads(key)
        if l1 is not None and self.l1_coherence:
            # Without Redis no invalidation can reach other processes' L1, nor
            # theirs ours: a coherent L1 never holds a value Redis did not take.
            l1.discard(key)
            l1 = None
        if l1 is None:
            self._record("set", start, False, _NO_TIER, _SET_NO_L1)
            return
        await l1.set(key, value, ttl=ttl)
        self._counters["l1_only_sets"] += 1
        self._record(
            "set",
            start,
            True,
            "l1",
            (("cache_tier", "l1"), ("reason", reason), ("ttl", ttl)),
        )
        self._fire_callback("set_success", key, value)

    async def _unstorable(
        self, key: str, value: Any, exc: Exception, redis: Any
    ) -> None:
        """The value cannot be serialized: keep no stale previous value anywhere."""
        self._counters["serialization_errors"] += 1
        logger.warning(
            "Cache set error for key %s: value of type %s cannot be stored (%s); "
            "the key was invalidated",
            log_key(key),
            type(value).__name__,
            _describe(exc),
        )
        self._invalidate_reads(key)
        if self.l1_cache is not None:
            await self.l1_cache.delete(key)
        try:
            await _delete_keys(redis, [self._rkey(key)], unlink=False)
        except Exception as del_exc:
            self._redis_failed("delete", del_exc)

    async def delete(self, key: str) -> bool:  # type: ignore[override]
        """Remove key from L1 and Redis; True when it existed in either."""
        if type(key) is not str:
            key = _checked_key(key)
        start = _perf()
        existed = False
        l1 = self.l1_cache
        self._invalidate_reads(key)
        if l1 is not None and await l1.exists(key):
            existed = True
        if l1 is not None:
            await l1.delete(key)
        redis = await self._client()
        if redis is None:
            self._journal_write(key)
        else:
            try:
                if await _delete_keys(redis, [self._rkey(key)], unlink=False) > 0:
                    existed = True
            except Exception as exc:
                self._redis_failed("delete", exc)
                self._journal_write(key)
            except BaseException:  # cancelled: the DEL may still reach Redis
                self._forget_local(key)
                raise
        # A read that was in flight may have promoted the old value meanwhile.
        self._invalidate_reads(key)
        if l1 is not None:
            await l1.delete(key)
        self._counters["deletes"] += 1
        self._record("delete", start, existed, _NO_TIER, (("key_existed", existed),))
        if existed:
            self._fire_callback("delete_success", key)
        return existed

    async def exists(self, key: str) -> bool:
        """Whether key is cached (L1 first, then Redis)."""
        if type(key) is not str:
            key = _checked_key(key)
        l1 = self.l1_cache
        if l1 is not None and await l1.exists(key):
            return True
        redis = await self._client()
        if redis is None:
            return False
        try:
            if type(redis) is RedisClient:
                return (
                    int(await redis.connection.execute("EXISTS", self._rkey(key))) > 0
                )
            return int(await _maybe_await(redis.exists(self._rkey(key)))) > 0
        except Exception as exc:
            self._redis_failed("exists", exc)
            return False

    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], Any],
        ttl: float | None = None,
        **options: Any,
    ) -> Any:
        """The value of key, or factory's result computed once across processes
        (single flight here, a Redis lock across processes; options:
        :func:`aicache.stampede.get_or_set`)."""
        return await stampede.get_or_set(self, key, factory, ttl, **options)

    # -- TTL, batch operations --------------------------------------------------------

    def build_key(self, text: str, operation: str, options: dict[str, Any]) -> str:
        """The cache key for an AI request (spec 5.2), as InMemoryCache.build_key.
        The original GenericRedisCache lacked it, so a web preset's cache could not
        serve code that builds keys on the cache it was given."""
        key: str = self.key_generator.generate_cache_key(text, operation, options)
        return key

    async def get_ttl(self, key: str) -> int | None:
        """Seconds left (>= 0), or None when absent or without expiry."""
        if type(key) is not str:
            key = _checked_key(key)
        redis = await self._client()
        if redis is not None:
            try:
                if type(redis) is RedisClient:
                    seconds = int(
                        await redis.connection.execute("TTL", self._rkey(key))
                    )
                else:
                    seconds = int(await _maybe_await(redis.ttl(self._rkey(key))))
                return seconds if seconds >= 0 else None
            except Exception as exc:
                self._redis_failed("get_ttl", exc)
        if self.l1_cache is not None:
            return await self.l1_cache.get_ttl(key)
        return None

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """{key: value or None} for every key: L1 first, the rest with one MGET
        (plus PTTLs for L1 promotion, in the same write)."""
        start = _perf()
        wanted = list(dict.fromkeys(_checked_key(k) for k in keys))
        result: dict[str, Any] = dict.fromkeys(wanted)
        l1 = self.l1_cache if not self.l1_coherence else self._coherent_l1()
        missing: list[str] = []
        for key in wanted:
            value = await l1.get(key) if l1 is not None else None
            if value is not None:
                result[key] = value
                self._counters["hits"] += 1
                self._counters["l1_hits"] += 1
                self._fire_callback("get_success", key, value)
            else:
                missing.append(key)
        if missing:
            await self._get_many_redis(missing, result)
        self._record("get_many", start, True, _NO_TIER, (("keys", len(wanted)),))
        return result

    async def _get_many_redis(self, missing: list[str], result: dict[str, Any]) -> None:
        l1 = self.l1_cache if not self.l1_coherence else self._coherent_l1()
        redis = await self._client()
        raws: list[Any] = [None] * len(missing)
        pttls: list[Any] = [-1] * len(missing)
        # The cells stay registered until every value is decoded and promoted:
        # a decode may await (a worker thread for big payloads), and a write
        # that lands meanwhile must still mark its key's cell stale.
        cells = [
            self._begin_read(k) if self._promotes(l1, k) else None for k in missing
        ]
        try:
            try:
                if redis is not None:
                    raws = await self._mget(redis, missing, pttls, cells)
            except Exception as exc:
                self._redis_failed("get_many", exc)
            for i, key in enumerate(missing):
                raw = raws[i]
                value = None
                if raw:
                    try:
                        value = await self._decode(raw)
                    except Exception as exc:
                        self._bad_payload(key, exc)
                if value is None:
                    self._counters["misses"] += 1
                    self._fire_callback("get_miss", key)
                    continue
                result[key] = value
                self._counters["hits"] += 1
                self._counters["redis_hits"] += 1
                if (cell := cells[i]) is not None:
                    await self._promote(key, value, pttls[i], cell.valid)
                self._fire_callback("get_success", key, value)
        finally:
            for key, cell in zip(missing, cells):
                if cell is not None:
                    self._end_read(key, cell)

    async def _mget(
        self,
        redis: Any,
        keys: list[str],
        pttls: list[Any],
        cells: list[_ReadCell | None],
    ) -> list[Any]:
        """The raw values of keys (one MGET); fills ``pttls`` for the keys with a
        read cell (those to promote)."""
        rkeys = [self._rkey(k) for k in keys]
        if type(redis) is RedisClient:
            conn = redis.connection
            promoted = [i for i, cell in enumerate(cells) if cell is not None]
            if not promoted:
                return _mget_reply(await conn.execute("MGET", *rkeys), len(rkeys))
            replies = await asyncio.gather(
                conn.execute("MGET", *rkeys),
                *(conn.execute("PTTL", rkeys[i]) for i in promoted),
            )
            for i, pttl in zip(promoted, replies[1:]):
                pttls[i] = pttl
            return _mget_reply(replies[0], len(rkeys))
        if hasattr(redis, "mget"):
            return _mget_reply(await redis.mget(rkeys), len(rkeys))
        return [await redis.get(k) for k in rkeys]

    async def set_many(self, items: Mapping[str, Any], ttl: int | None = None) -> None:
        """Store every item; all SETs leave in one write."""
        start = _perf()
        effective_ttl = self._effective_ttl(ttl)
        items = {_checked_key(k): v for k, v in items.items()}
        l1 = self.l1_cache
        try:
            redis = await self._client()
        except InfrastructureError:  # fail_on_connection_error: keep no stale L1
            for key in items:
                self._invalidate_reads(key)
                if l1 is not None:
                    await l1.delete(key)
            raise
        if redis is None:
            for key, value in items.items():
                await self._set_l1_only(key, value, effective_ttl, start, "l1_only")
            return
        encoded: list[tuple[str, Any, bytes]] = []
        for key, value in items.items():
            try:
                encoded.append((key, value, await self._encode(value)))
            except Exception as exc:
                await self._unstorable(key, value, exc, redis)
        try:
            if type(redis) is RedisClient:
                conn = redis.connection
                ex: tuple[Any, ...] = ("EX", effective_ttl) if effective_ttl else ()
                await asyncio.gather(
                    *(conn.execute("SET", self._rkey(k), d, *ex) for k, _, d in encoded)
                )
            else:
                for key, _, data in encoded:
                    if effective_ttl:
                        await redis.setex(self._rkey(key), effective_ttl, data)
                    else:
                        await redis.set(self._rkey(key), data)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled: SETs may land anyway
                for key, _, _ in encoded:
                    self._forget_local(key)
                raise
            self._redis_failed("set_many", exc)
            for key, value, _ in encoded:
                if l1 is not None and self.fail_on_connection_error:
                    await l1.delete(key)
                await self._set_l1_only(key, value, effective_ttl, start, "redis_error")
            return
        for key, value, _ in encoded:
            self._invalidate_reads(key)
            if l1 is not None:
                if self.l1_coherence:
                    l1.discard(key)  # as in set()
                else:
                    await l1.set(key, value, ttl=effective_ttl)
            self._counters["sets"] += 1
            self._fire_callback("set_success", key, value)
        self._record("set_many", start, True, _NO_TIER, (("keys", len(encoded)),))

    async def delete_many(self, keys: Iterable[str]) -> int:
        """Remove keys (batched UNLINK); the number of Redis keys removed (or, with
        Redis unavailable, of L1 entries removed)."""
        names = list(dict.fromkeys(_checked_key(k) for k in keys))
        l1 = self.l1_cache
        l1_removed = 0
        for key in names:
            self._invalidate_reads(key)
            if l1 is not None and await l1.exists(key):
                l1_removed += 1
                await l1.delete(key)
        redis = await self._client()
        removed = None
        if redis is not None:
            try:
                removed = await _delete_keys(redis, [self._rkey(k) for k in names])
            except Exception as exc:
                self._redis_failed("delete_many", exc)
            except BaseException:  # cancelled: the UNLINKs may land anyway
                for key in names:
                    self._forget_local(key)
                raise
        if removed is None:
            for key in names:
                self._journal_write(key)
        for key in names:
            self._invalidate_reads(key)
            if l1 is not None:
                await l1.delete(key)
            self._fire_callback("delete_success", key)
        self._counters["deletes"] += len(names)
        return removed if removed is not None else l1_removed

    # -- namespace work: SCAN + batched UNLINK, never KEYS ----------------------------

    async def _scan_unlink(self, match: str, redis: Any = None) -> list[str]:
        """Delete every Redis key matching the glob; the names removed (decoded)."""
        if redis is None:
            redis = await self._client()
        if redis is None:
            return []
        removed: list[str] = []
        cursor = 0
        while True:
            if type(redis) is RedisClient:
                reply = await redis.connection.execute(
                    "SCAN", cursor, "MATCH", match, "COUNT", _SCAN_COUNT
                )
                cursor, batch = int(reply[0]), list(reply[1])
            elif hasattr(redis, "scan"):
                cursor, batch = await redis.scan(cursor, match=match, count=_SCAN_COUNT)
                cursor, batch = int(cursor), list(batch)
            else:
                batch = list(await redis.keys(match))
                cursor = 0
            for i in range(0, len(batch), _UNLINK_BATCH):
                chunk = batch[i : i + _UNLINK_BATCH]
                if await _delete_keys(redis, chunk) > 0:
                    removed.extend(_as_text(k) for k in chunk)
            if cursor == 0:
                return removed

    async def clear(self) -> int:
        """Remove this cache's entries: every Redis key under ``key_prefix`` (with
        no prefix: every key of the selected database) and all of L1. Returns the
        number of Redis keys removed."""
        start = _perf()
        count = 0
        try:
            removed = await self._scan_unlink(
                self.key_prefix.translate(_GLOB_SPECIAL) + "*"
            )
            count = len(removed)
        except Exception as exc:
            self._redis_failed("clear", exc)
        for cell in self._reads.values():
            cell.valid = False
        self._reads.clear()
        if self.l1_cache is not None:
            self.l1_cache.clear()
        self._record_invalidation("*", count, start, "clear", "clear")
        return count

    async def invalidate_pattern(
        self, pattern: str, operation_context: str = ""
    ) -> int:
        """Remove keys matching a glob from Redis (SCAN MATCH + batched UNLINK) and
        L1; an empty pattern matches every key. Returns how many distinct keys went."""
        start = _perf()
        glob = pattern or "*"
        names: set[str] = set()
        try:
            prefix = self.key_prefix
            removed = await self._scan_unlink(prefix.translate(_GLOB_SPECIAL) + glob)
            names.update(k[len(prefix) :] for k in removed)
        except Exception as exc:
            self._redis_failed("invalidate_pattern", exc)
        l1 = self.l1_cache
        if l1 is not None:
            matching = [k for k in l1.get_keys() if fnmatch.fnmatchcase(k, glob)]
            for key in matching:
                await l1.delete(key)
            names.update(matching)
        for key in names:
            self._invalidate_reads(key)
        self._record_invalidation(glob, len(names), start, "manual", operation_context)
        return len(names)

    def _record_invalidation(
        self, pattern: str, count: int, start: float, kind: str, context: str
    ) -> None:
        monitor = self.performance_monitor
        if monitor is None:
            return
        try:
            monitor.record_invalidation_event(
                pattern, count, _perf() - start, kind, context
            )
        except Exception as exc:
            logger.debug("Could not record invalidation: %s", exc)

    # -- statistics -------------------------------------------------------------------

    def get_stats(self) -> dict[str, Any]:
        """Counters of this cache, its L1, its connection and its codec (no secrets).
        ``hit_rate`` is a percentage, as in ``InMemoryCache.get_stats``."""
        c = self._counter_values()
        lookups = c["hits"] + c["misses"]
        redis = self.redis
        conn = redis.connection if type(redis) is RedisClient else self._connection
        return {
            "backend": "redis",
            "redis_url": redact_url(self.redis_url),
            "key_prefix": self.key_prefix,
            "connected": bool(
                conn.is_connected if conn is not None else redis is not None
            ),
            "breaker_state": conn.breaker_state if conn is not None else "closed",
            "degraded": self._degraded,
            "default_ttl": self.default_ttl,
            **c,
            "hit_rate": c["hits"] / lookups * 100 if lookups else 0.0,
            "encryption_enabled": bool(self.encryption.is_enabled),
            "l1": self.l1_cache.get_stats() if self.l1_cache is not None else None,
            "connection": conn.stats() if conn is not None else None,
            "codec": self._codec.stats,
            "coherence": (
                {"ready": self._coherence.is_ready, **self._coherence.stats}
                if self._coherence is not None
                else None
            ),
            "degraded_journal": {
                "pending_keys": len(self._journal.keys),
                "overflowed_scopes": len(self._journal.overflow_scopes),
                **self._journal.stats,
            },
        }

    async def get_cache_stats(self) -> dict[str, Any]:
        """Status shape of ``InMemoryCache.get_cache_stats`` with a live Redis part:
        ``redis.status`` is "connected", "unavailable" or "error"."""
        c = self._counter_values()
        total = c["hits"] + c["misses"]
        l1 = self.l1_cache
        if l1 is not None:
            s = l1.get_cache_statistics()
            memory: dict[str, Any] = {
                "status": "active",
                "entries": s["active_entries"],
                "max_size": s["max_size"],
                "utilization_percent": s["utilization_percent"],
                "memory_usage": s["memory_usage"],
            }
        else:
            memory = {"status": "disabled", "entries": 0, "max_size": 0}
        return {
            "redis": await self._redis_status(),
            "memory": memory,
            "performance": {
                "status": "active",
                "hit_rate": round(c["hits"] / total, 4) if total else 0.0,
                "total_operations": total,
                "hits": c["hits"],
                "misses": c["misses"],
                "l1_hits": c["l1_hits"],
                "redis_hits": c["redis_hits"],
                "corrupt_payloads": c["corrupt_payloads"],
                "cache_type": "redis_with_l1" if l1 is not None else "redis",
            },
        }

    async def _redis_status(self) -> dict[str, Any]:
        try:
            redis = await self._client()
        except InfrastructureError as exc:
            return {"status": "unavailable", "keys": 0, "error": _describe(exc)}
        if redis is None:
            return {"status": "unavailable", "keys": 0}
        try:
            info = await _maybe_await(redis.info("memory"))
            if isinstance(info, bytes | str):
                from aicache.security import _parse_info

                info = _parse_info(info)
            if self.key_prefix:
                keys = 0
                cursor = 0
                match = self.key_prefix.translate(_GLOB_SPECIAL) + "*"
                while True:
                    cursor, batch = await redis.scan(
                        cursor, match=match, count=_SCAN_COUNT
                    )
                    keys += len(batch)
                    if int(cursor) == 0:
                        break
            else:
                keys = int(await _maybe_await(redis.dbsize()))
            clients = await _maybe_await(redis.info("clients"))
            if isinstance(clients, bytes | str):
                from aicache.security import _parse_info

                clients = _parse_info(clients)
            return {
                "status": "connected",
                "keys": keys,
                "memory_used": info.get("used_memory_human", "unknown"),
                "memory_used_bytes": info.get("used_memory", 0),
                "connected_clients": clients.get("connected_clients", 0),
            }
        except Exception as exc:
            if self.fail_on_connection_error and isinstance(exc, InfrastructureError):
                raise
            return {"status": "error", "error": _describe(exc)}

    # -- security helpers (spec 6.9) -----------------------------------------------------

    async def validate_security(self) -> SecurityValidationResult | None:
        if self.security_manager is None or self.redis is None:
            return None
        return await self.security_manager.validate_connection_security(self.redis)

    def get_security_status(self) -> dict[str, Any]:
        if self.security_manager is None:
            return {
                "security_enabled": False,
                "security_level": "NONE",
                "message": "Security manager not initialized",
            }
        return self.security_manager.get_security_status()

    def get_security_recommendations(self) -> list[str]:
        if self.security_manager is None:
            return [
                "Initialize a security manager for Redis connections",
                "Configure authentication for Redis",
                "Enable TLS encryption for Redis connections",
            ]
        return self.security_manager.get_security_recommendations()

    async def generate_security_report(self) -> str:
        if self.security_manager is None:
            return "Security manager not initialized; no security report available."
        if self.redis is not None:
            await self.validate_security()
        return self.security_manager.generate_security_report()

    async def test_security_configuration(self) -> dict[str, Any]:
        if self.security_manager is None:
            return {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "configuration_valid": False,
                "connection_successful": False,
                "authentication_working": False,
                "encryption_active": False,
                "overall_secure": False,
                "test_details": {},
                "errors": ["Security manager not initialized"],
            }
        return await self.security_manager.test_security_configuration(self.redis_url)

    @classmethod
    def create_secure(cls, redis_url: str | None = None) -> "GenericRedisCache":
        """A cache for ``redis_url`` or ``REDIS_URL`` (default rediss://localhost:6380)
        with the environment's security configuration."""
        return cls(
            redis_url=redis_url or os.getenv("REDIS_URL") or "rediss://localhost:6380"
        )


_BASE_COMPRESS = GenericRedisCache._compress_data
_BASE_SERIALIZE = GenericRedisCache._serialize_value
_BASE_DECOMPRESS = GenericRedisCache._decompress_data
_BASE_DESERIALIZE = GenericRedisCache._deserialize_value


# ---------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------


def _consume(task: asyncio.Task[Any]) -> None:
    """Done-callback of background connection attempts nobody may await."""
    if not task.cancelled():
        task.exception()


def _server_identity(parsed: Any) -> tuple[Any, ...]:
    """Which Redis data a parsed URL names (server or topology, and database)."""
    if isinstance(parsed, RedisURL):
        return ("redis", parsed.scheme, parsed.host, parsed.port, parsed.path,
                parsed.db)  # fmt: skip
    return ("topology", parsed.kind, parsed.tls, parsed.hosts, parsed.service,
            parsed.db)  # fmt: skip


def _owned_by_other_loop(conn: Any) -> bool:
    """conn's link lives in another event loop that is still running."""
    loop = getattr(conn, "loop", None)
    return (
        loop is not None
        and loop is not asyncio.get_running_loop()
        and not loop.is_closed()
        and loop.is_running()
    )


def _native_factory() -> bool:
    from aicache import security

    return security._uses_native_factory()


def _deprecated_alias(old: str, new: str, value: Any) -> Any:
    warnings.warn(
        f"{old} is deprecated; use {new} (using {new}={value!r})",
        DeprecationWarning,
        stacklevel=3,  # the caller of the cache's constructor
    )
    return value


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no error"
    if isinstance(exc, InfrastructureError | ConfigurationError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def _mget_reply(reply: Any, count: int) -> list[Any]:
    """The MGET reply checked for shape: one bulk (or nil) per key asked for."""
    if not isinstance(reply, list | tuple) or len(reply) != count:
        raise InfrastructureError(
            "Redis answered MGET with a reply of the wrong shape",
            {
                "expected": f"list of {count}",
                "got": f"{type(reply).__name__} of {_length(reply)}",
            },
        )
    for item in reply:
        if item is not None and not isinstance(item, bytes | bytearray | str):
            raise InfrastructureError(
                "Redis answered MGET with a non-bulk element",
                {"element_type": type(item).__name__},
            )
    return list(reply)


def _length(obj: Any) -> str:
    try:
        return str(len(obj))
    except TypeError:
        return "?"


async def _foreign_pttl(redis: Any, key: str) -> int:
    """PTTL through an assigned client (-1 when it cannot tell)."""
    for name, scale in (("pttl", 1), ("ttl", 1000)):
        method = getattr(redis, name, None)
        if method is not None:
            try:
                value = int(await _maybe_await(method(key)))
            except Exception:
                return -1
            return value * scale if value > 0 else value
    return -1


async def _delete_keys(redis: Any, keys: list[Any], unlink: bool = True) -> int:
    """UNLINK (or DEL) keys in batches; the number removed."""
    if not keys:
        return 0
    total = 0
    for i in range(0, len(keys), _UNLINK_BATCH):
        chunk = keys[i : i + _UNLINK_BATCH]
        if type(redis) is RedisClient:
            total += int(
                await redis.connection.execute("UNLINK" if unlink else "DEL", *chunk)
            )
            continue
        method = getattr(redis, "unlink", None) if unlink else None
        if method is None:
            method = redis.delete
        total += int(await _maybe_await(method(*chunk)))
    return total
