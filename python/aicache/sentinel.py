"""A Sentinel-managed primary as one connection object: ``SentinelConnection``.

Same interface as :class:`aicache._connection.RedisConnection`.  The primary's
address comes from the sentinels (``SENTINEL get-master-addr-by-name``, asked in
turn, each sentinel with its own credentials/TLS); the link to it is an ordinary
multiplexed ``RedisConnection``.  The address is resolved again:

* when a sentinel announces ``+switch-master`` for the service (a subscriber
  link on one sentinel, moved to the next one when it fails);
* when the link to the primary is lost, or a command gets ``READONLY`` (the node
  was demoted).

A node is used only after it answers ``ROLE`` with ``master``: aicache never
writes to a node that reports itself a replica.  While no primary is known,
commands fail with ``RedisConnectionError`` (the cache degrades to a miss, or
raises with ``fail_on_connection_error``), as with a single server that is down.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._connection import (
    RedisAuthError,
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
)
from .exceptions import ConfigurationError
from .pubsub import PubSubLink

__all__ = ["SentinelConnection"]

logger = logging.getLogger(__name__)

_RESOLVE_INTERVAL = 0.1  # at most one sentinel round per this many seconds


class SentinelConnection:
    """The current primary of a sentinel service, behind the connection API."""

    def __init__(
        self,
        sentinels: Iterable[tuple[str, int]],
        service: str,
        *,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        sentinel_username: str | None = None,
        sentinel_password: str | None = None,
        sentinel_ssl_context: ssl.SSLContext | None = None,
        watch: bool = True,
        **connection_options: Any,
    ) -> None:
        self._sentinels = [(str(h), int(p)) for h, p in sentinels]
        if not self._sentinels:
            raise ConfigurationError("Sentinel needs at least one sentinel address", {})
        if not service:
            raise ConfigurationError("Sentinel service name is empty", {})
        self._service = service
        self._username = username
        self._password = password
        self._db = db
        self._ssl = ssl_context
        self._options = connection_options
        self._connect_timeout = float(connection_options.get("connect_timeout", 5.0))
        sentinel_scheme = "rediss" if sentinel_ssl_context is not None else "redis"
        self._sentinel_conns = [
            RedisConnection(
                f"{sentinel_scheme}://{_bracket(h)}:{p}",
                username=sentinel_username,
                password=sentinel_password,
                ssl_context=sentinel_ssl_context,
                connect_timeout=min(self._connect_timeout, 2.0),
                command_timeout=min(self._connect_timeout, 2.0),
                breaker_reset_timeout=1.0,
                health_check_interval=0,
            )
            for h, p in self._sentinels
        ]
        self._sentinel_auth = (
            sentinel_username,
            sentinel_password,
            sentinel_ssl_context,
        )
        self._primary: RedisConnection | None = None
        self._address: tuple[str, int] | None = None
        self._last_address: tuple[str, int] | None = None  # survives _forget
        self._resolving: asyncio.Task[RedisConnection] | None = None
        self._resolved_at = 0.0
        self._rechecking: asyncio.Task[None] | None = None
        self._watch_enabled = watch
        self._watcher: PubSubLink | None = None
        self._watcher_index = 0
        self._listeners: list[Callable[[], None]] = []
        self._closed = False
        self._stats = {"resolves": 0, "switches": 0, "refused_replicas": 0}
        scheme = "rediss+sentinel" if ssl_context is not None else "redis+sentinel"
        cred = f"{username or ''}:***@" if password is not None else ""
        hosts = ",".join(f"{_bracket(h)}:{p}" for h, p in self._sentinels)
        self._redacted = f"{scheme}://{cred}{hosts}/{service}/{db}"

    # ------------------------------------------------------------ interface

    @property
    def url(self) -> str:
        return self._redacted

    def __repr__(self) -> str:
        return f"<SentinelConnection {self._redacted} primary={self._address}>"

    @property
    def address(self) -> tuple[str, int] | None:
        """The primary in use now (None before the first resolution)."""
        return self._address

    @property
    def primary_connection(self) -> RedisConnection | None:
        return self._primary

    @property
    def is_connected(self) -> bool:
        conn = self._primary
        return conn is not None and conn.is_connected

    @property
    def breaker_state(self) -> str:
        conn = self._primary
        return conn.breaker_state if conn is not None else "closed"

    def add_topology_listener(self, callback: Callable[[], None]) -> None:
        """callback() runs whenever the primary changes."""
        self._listeners.append(callback)

    def stats(self) -> dict[str, Any]:
        conn = self._primary
        out: dict[str, Any] = dict(conn.stats()) if conn is not None else {}
        out.update(self._stats)
        out["url"] = self._redacted
        out["primary"] = (
            f"{self._address[0]}:{self._address[1]}" if self._address else None
        )
        out["watching"] = bool(self._watcher is not None and self._watcher.up)
        return out

    async def connect(self) -> None:
        self._closed = False
        await self._current()

    async def close(self) -> None:
        self._closed = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await watcher.close()
        task, self._resolving = self._resolving, None
        if task is not None and not task.done():
            task.cancel()
        conn, self._primary = self._primary, None
        self._address = None
        closers = [c.close() for c in self._sentinel_conns]
        if conn is not None:
            closers.append(conn.close())
        await asyncio.gather(*closers, return_exceptions=True)

    async def execute(
        self,
        *args: bytes | str | int | float,
        decoder: Callable[[bytes], Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        conn = self._primary
        if conn is None or not conn.is_connected:
            conn = await self._current()
        try:
            return await conn.execute(*args, decoder=decoder, timeout=timeout)
        except RedisReplyError as exc:
            if exc.code != "READONLY":
                raise
            # The node was demoted: never retry the write there.
            self._forget(conn)
            raise RedisConnectionError(
                "the Redis node is now a replica (failover in progress)",
                {"redis_url": self._redacted, "reply": exc.message},
            ) from exc

    # ------------------------------------------------------------ resolution

    async def _current(self) -> RedisConnection:
        """The live primary link, resolving through the sentinels when needed."""
        self._ensure_watcher()
        conn = self._primary
        if conn is not None and conn.is_connected:
            return conn
        task = self._resolving
        if task is None or task.done():
            task = self._resolving = asyncio.get_running_loop().create_task(
                self._resolve()
            )
            task.add_done_callback(_consume)
        return await asyncio.shield(task)

    async def _resolve(self) -> RedisConnection:
        wait = self._resolved_at + _RESOLVE_INTERVAL - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            address = await self._ask_sentinels()
            conn = await self._use(address)
        finally:
            self._resolved_at = time.monotonic()
        self._stats["resolves"] += 1
        return conn

    async def _ask_sentinels(self) -> tuple[str, int]:
        errors: list[str] = []
        # Start with the sentinel that answered last (the list is rotated).
        for conn in list(self._sentinel_conns):
            try:
                reply = await conn.execute(
                    "SENTINEL", "get-master-addr-by-name", self._service
                )
            except (RedisConnectionError, RedisReplyError, RedisAuthError) as exc:
                errors.append(f"{conn.url}: {exc}")
                continue
            if not reply:
                errors.append(f"{conn.url}: unknown service {self._service!r}")
                continue
            return (_text(reply[0]), int(reply[1]))
        raise RedisConnectionError(
            "no sentinel knows the primary",
            {"redis_url": self._redacted, "service": self._service, "errors": errors},
        )

    async def _use(self, address: tuple[str, int]) -> RedisConnection:
        conn = self._primary
        if conn is None or self._address != address:
            conn = RedisConnection(
                f"{'rediss' if self._ssl is not None else 'redis'}://"
                f"{_bracket(address[0])}:{address[1]}",
                username=self._username,
                password=self._password,
                db=self._db,
                ssl_context=self._ssl,
                **self._options,
            )
        await conn.connect()
        role = await conn.execute("ROLE")
        if not role or _text(role[0]) != "master":
            self._stats["refused_replicas"] += 1
            if conn is not self._primary:
                await conn.close()
            raise RedisConnectionError(
                "the node the sentinels named reports itself a replica; not using it",
                {"redis_url": self._redacted, "node": f"{address[0]}:{address[1]}"},
            )
        if conn is not self._primary:
            self._switch(conn, address)
        return conn

    def _switch(self, conn: RedisConnection, address: tuple[str, int]) -> None:
        old = self._primary
        changed = self._last_address is not None and self._last_address != address
        self._primary = conn
        self._address = self._last_address = address
        if old is not None and old is not conn:
            asyncio.get_running_loop().create_task(old.close()).add_done_callback(
                _consume
            )
        if changed:
            self._stats["switches"] += 1
            logger.info("Redis primary of %s is now %s:%s", self._service, *address)
        for callback in list(self._listeners):
            try:
                callback()
            except Exception as exc:
                logger.warning("sentinel topology listener failed: %s", exc)

    def _forget(self, conn: RedisConnection) -> None:
        """conn is no longer trusted as the primary: resolve before next use."""
        if self._primary is conn:
            self._primary = None
            self._address = None
            asyncio.get_running_loop().create_task(conn.close()).add_done_callback(
                _consume
            )
            for callback in list(self._listeners):
                try:
                    callback()
                except Exception as exc:
                    logger.warning("sentinel topology listener failed: %s", exc)

    def request_refresh(self) -> None:
        """Asks the sentinels again soon (single-flight, at most 10/s)."""
        if self._closed:
            return
        task = self._rechecking
        if task is not None and not task.done():
            return
        if time.monotonic() - self._resolved_at < _RESOLVE_INTERVAL:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._rechecking = loop.create_task(self._recheck())
        self._rechecking.add_done_callback(_consume)

    # ------------------------------------------------------------ +switch-master

    def _ensure_watcher(self) -> None:
        if not self._watch_enabled or self._closed:
            return
        if self._watcher is None:
            host, port = self._sentinels[self._watcher_index % len(self._sentinels)]
            user, password, ctx = self._sentinel_auth
            self._watcher = PubSubLink(
                host,
                port,
                ("+switch-master",),
                self._on_switch_message,
                username=user,
                password=password,
                ssl_context=ctx,
                connect_timeout=min(self._connect_timeout, 2.0),
                on_down=self._watcher_down,
            )
        self._watcher.start()

    def _watcher_down(self) -> None:
        # Events may have been missed: re-check the primary on next use, and
        # watch through the next sentinel in case this one is gone.
        watcher = self._watcher
        self._watcher = None
        self._watcher_index += 1
        if watcher is not None:
            asyncio.get_running_loop().create_task(watcher.close()).add_done_callback(
                _consume
            )
        conn = self._primary
        if conn is not None:
            self._resolved_at = 0.0
            loop = asyncio.get_running_loop()
            loop.create_task(self._recheck()).add_done_callback(_consume)
        self._ensure_watcher()

    async def _recheck(self) -> None:
        try:
            address = await self._ask_sentinels()
            if address != self._address:
                await self._use(address)
        finally:
            self._resolved_at = time.monotonic()

    def _on_switch_message(self, channel: bytes, payload: Any) -> None:
        # "<service> <old-ip> <old-port> <new-ip> <new-port>"
        parts = _text(payload).split()
        if len(parts) != 5 or parts[0] != self._service:
            return
        address = (parts[3], int(parts[4]))
        if address == self._address:
            return
        conn = self._primary
        if conn is not None:
            self._forget(conn)
        asyncio.get_running_loop().create_task(self._current()).add_done_callback(
            _consume
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
