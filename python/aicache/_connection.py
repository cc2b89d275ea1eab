"""One multiplexed Redis connection per server, on top of the C protocol.

``RedisConnection.execute`` packs the command in C and awaits a future that the
C protocol resolves when the reply arrives; every command issued in one loop
iteration leaves in one write (implicit pipelining).  Around that hot path this
module keeps the lifecycle: lazy connect, AUTH/SELECT handshake, timeouts,
reconnect with capped exponential backoff and full jitter, a circuit breaker,
idle health PINGs, and fork/loop ownership of the socket.  No threads.

Timeouts use one loop timer per connection (the watchdog) instead of a timer per
command: while commands are pending, the watchdog checks that replies keep
arriving; after ``command_timeout`` seconds of silence every pending command
fails with RedisTimeoutError and the link is dropped (RESP is ordered, so a
link that lost a reply cannot be reused).  An explicit ``timeout=`` on one call
adds a per-call timer.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import ssl
import time
import weakref
from collections.abc import Callable
from typing import Any, cast

from . import _core
from .exceptions import (
    ConfigurationError,
    InfrastructureError,
    RedisAuthError,
    RedisConnectionError,
    RedisReplyError,
    RedisTimeoutError,
)
from .redis_url import RedisURL, parse_redis_url

__all__ = [
    "RedisAuthError",
    "RedisConnection",
    "RedisConnectionError",
    "RedisReplyError",
    "RedisTimeoutError",
]


_AUTH_PREFIXES = ("NOAUTH", "WRONGPASS", "NOPERM")
_AUTH_ERR_MARKERS = (
    "invalid password",
    "AUTH <password> called without",
    "no password",
)


def reply_error(message: str) -> InfrastructureError:
    """Maps a Redis error reply to the exception the caller sees."""
    if message.startswith(_AUTH_PREFIXES) or (
        message.startswith("ERR") and any(m in message for m in _AUTH_ERR_MARKERS)
    ):
        return RedisAuthError(message, {"reply": message})
    return RedisReplyError(message, {"reply": message})


class _ErrorFactory:
    """Builds the typed errors the C protocol puts on pending futures.
    Holds only the redacted URL, never the connection (no reference cycle)."""

    __slots__ = ("cls", "url")

    def __init__(self, cls: type[RedisConnectionError], url: str) -> None:
        self.cls = cls
        self.url = url

    def __call__(
        self, message: str, cause: BaseException | None
    ) -> RedisConnectionError:
        context: dict[str, Any] = {"redis_url": self.url}
        if cause is not None:
            context["cause"] = f"{type(cause).__name__}: {cause}"
        exc = self.cls(message, context)
        exc.__cause__ = cause
        return exc


# Incremented in a forked child: a connection opened before the fork is never
# used by the child (the socket is shared with the parent).
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)

_get_running_loop = asyncio.get_running_loop


def _consume(fut: asyncio.Future[Any]) -> None:
    """Done-callback of futures nobody awaits (health PINGs)."""
    if not fut.cancelled():
        fut.exception()


class RedisConnection:
    """A lazily connected, multiplexed, self-healing link to one Redis server."""

    __slots__ = (
        "__weakref__",
        "_backoff_base",
        "_backoff_cap",
        "_breaker",
        "_breaker_reset",
        "_breaker_threshold",
        "_client_name",
        "_command_timeout",
        "_conn_error",
        "_connect_timeout",
        "_connecting",
        "_connecting_loop",
        "_db",
        "_ever_connected",
        "_failures",
        "_fork_gen",
        "_hc_marks",
        "_health",
        "_health_interval",
        "_loop",
        "_max_bulk",
        "_next_attempt_at",
        "_opened_at",
        "_password",
        "_proto",
        "_redacted",
        "_retired",
        "_ssl_context",
        "_stats",
        "_timeout_error",
        "_url",
        "_username",
        "_watchdog",
        "_wd_replies",
        "_wd_since",
    )

    def __init__(
        self,
        url: str = "redis://localhost:6379",
        *,
        username: str | None = None,
        password: str | None = None,
        db: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        command_timeout: float = 2.0,
        breaker_failure_threshold: int = 5,
        breaker_reset_timeout: float = 5.0,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        health_check_interval: float = 30.0,
        max_bulk_bytes: int = 512 * 1024 * 1024,
        client_name: str | None = None,
    ) -> None:
        parsed = parse_redis_url(url)
        self._url: RedisURL = parsed
        self._username = username if username is not None else parsed.username
        self._password = password if password is not None else parsed.password
        if db is not None and (
            isinstance(db, bool) or not isinstance(db, int) or db < 0
        ):
            raise ConfigurationError(
                "Redis db must be a non-negative integer", {"db": repr(db)}
            )
        self._db = db if db is not None else parsed.db
        if self._username is not None and self._password is None:
            raise ConfigurationError(
                "Redis username given without a password",
                {"redis_url": parsed.redacted()},
            )
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("command_timeout", command_timeout),
            ("breaker_reset_timeout", breaker_reset_timeout),
            ("backoff_cap", backoff_cap),
        ):
            if not value > 0:
                raise ConfigurationError(f"{name} must be > 0", {name: value})
        if backoff_base < 0 or health_check_interval < 0:
            raise ConfigurationError(
                "backoff_base and health_check_interval must be >= 0",
                {
                    "backoff_base": backoff_base,
                    "health_check_interval": health_check_interval,
                },
            )
        if breaker_failure_threshold < 1:
            raise ConfigurationError(
                "breaker_failure_threshold must be >= 1",
                {"breaker_failure_threshold": breaker_failure_threshold},
            )
        if max_bulk_bytes < 1:
            raise ConfigurationError(
                "max_bulk_bytes must be >= 1", {"max_bulk_bytes": max_bulk_bytes}
            )
        if ssl_context is None and parsed.tls:
            ssl_context = ssl.create_default_context()
        self._ssl_context = ssl_context
        self._connect_timeout = float(connect_timeout)
        self._command_timeout = float(command_timeout)
        self._breaker_threshold = int(breaker_failure_threshold)
        self._breaker_reset = float(breaker_reset_timeout)
        self._backoff_base = float(backoff_base)
        self._backoff_cap = float(backoff_cap)
        self._health_interval = float(health_check_interval)
        self._max_bulk = int(max_bulk_bytes)
        self._client_name = client_name
        self._redacted = self._describe()
        self._conn_error = _ErrorFactory(RedisConnectionError, self._redacted)
        self._timeout_error = _ErrorFactory(RedisTimeoutError, self._redacted)

        self._proto: _core.RedisProtocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fork_gen = _fork_generation
        self._connecting: asyncio.Future[_core.RedisProtocol] | None = None
        self._connecting_loop: asyncio.AbstractEventLoop | None = None
        self._failures = 0
        self._breaker = "closed"
        self._opened_at = 0.0
        self._next_attempt_at = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._wd_replies = 0
        self._wd_since = 0.0
        self._health: asyncio.TimerHandle | None = None
        self._hc_marks = (0, 0)
        self._ever_connected = False
        # Counters of links already gone are folded in here (see _retire).
        self._retired = {"commands": 0, "writes": 0, "bytes_written": 0, "replies": 0,
                         "reply_errors": 0}  # fmt: skip
        self._stats = {
            "connects": 0,
            "reconnects": 0,
            "connect_failures": 0,
            "links_lost": 0,
            "timeouts": 0,
            "errors": 0,
            "breaker_opens": 0,
            "fast_failures": 0,
            "health_checks": 0,
        }

    def _describe(self) -> str:
        u = self._url
        cred = ""
        if self._password is not None:
            cred = f"{self._username or ''}:***@"
        elif self._username:
            cred = f"{self._username}@"
        if u.scheme == "unix":
            return f"unix://{cred}{u.path}?db={self._db}"
        scheme = "rediss" if self._ssl_context is not None else "redis"
        host = f"[{u.host}]" if u.host and ":" in u.host else u.host
        return f"{scheme}://{cred}{host}:{u.port}/{self._db}"

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "disconnected"
        return (
            f"<RedisConnection {self._redacted} {state} breaker={self.breaker_state}>"
        )

    def __del__(self) -> None:
        # An unreferenced connection must not leave its socket in the loop.
        proto = getattr(self, "_proto", None)  # __init__ may have failed early
        loop = getattr(self, "_loop", None)
        if proto is None or loop is None or self._fork_gen != _fork_generation:
            return
        try:
            if not loop.is_closed():
                loop.call_soon_threadsafe(proto.abort)
        except Exception:
            pass

    # ------------------------------------------------------------ public API

    @property
    def url(self) -> str:
        """The redacted URL (no password)."""
        return self._redacted

    @property
    def is_connected(self) -> bool:
        proto = self._proto
        return (
            proto is not None
            and not proto.closed
            and self._fork_gen == _fork_generation
        )

    @property
    def breaker_state(self) -> str:
        if (
            self._breaker == "open"
            and time.monotonic() >= self._opened_at + self._breaker_reset
        ):
            return "half_open"
        return self._breaker

    def stats(self) -> dict[str, int | float | str]:
        """Counters of this connection (all links so far).  No secrets."""
        counts = dict(self._retired)
        proto = self._proto
        if proto is not None:
            counts["commands"] += proto.commands
            counts["writes"] += proto.writes
            counts["bytes_written"] += proto.bytes_written
            counts["replies"] += proto.replies
            counts["reply_errors"] += proto.reply_errors
        counts.update(self._stats)
        counts["errors"] = (
            counts["reply_errors"]
            + self._stats["connect_failures"]
            + self._stats["timeouts"]
        )
        counts["pending"] = proto.pending if proto is not None else 0
        counts["consecutive_failures"] = self._failures
        counts["connected"] = int(self.is_connected)
        out: dict[str, int | float | str] = dict(counts)
        out["breaker_state"] = self.breaker_state
        out["url"] = self._redacted
        return out

    async def connect(self) -> None:
        """Opens the link now (otherwise the first execute does)."""
        await self._ensure_link(_get_running_loop())

    async def execute(
        self,
        *args: bytes | str | int | float,
        decoder: Callable[[bytes], Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Sends one command and returns its reply.

        Replies: +status -> str, :int -> int, $bulk -> bytes (or
        ``decoder(bytes)``), nil -> None, *array -> list.  An error reply raises
        RedisReplyError/RedisAuthError; a link failure RedisConnectionError."""
        proto = self._proto
        if (
            proto is not None
            and timeout is None
            and self._fork_gen == _fork_generation
            and _get_running_loop() is self._loop
        ):
            # Fast path: one C call, one await; the watchdog covers the timeout.
            if self._watchdog is None:
                self._arm_watchdog(proto)
            return await proto.request(args, decoder)
        return await self._execute_slow(args, decoder, timeout)

    async def execute_pair(
        self,
        first: tuple[bytes | str | int | float, ...],
        second: tuple[bytes | str | int | float, ...],
    ) -> tuple[Any, Any]:
        """Sends two commands in one write and returns both replies with one
        await (e.g. GET + PTTL of a key): one C request, one future. An error
        reply to either raises, as execute() does."""
        proto = self._proto
        if (
            proto is None
            or self._fork_gen != _fork_generation
            or _get_running_loop() is not self._loop
        ):
            proto = await self._ensure_link(_get_running_loop())
        fut = proto.request_pair(first, second)
        if self._watchdog is None:
            self._arm_watchdog(proto)
        return await fut

    async def close(self) -> None:
        """Closes the link; pending commands fail with RedisConnectionError.
        A later execute() reconnects."""
        if self._fork_gen != _fork_generation:
            self._forget_parent_link()  # the parent's socket is not ours to close
            return
        if self._loop is not _get_running_loop():
            self._leave_loop()  # closed in (or for) the loop that owns it
            return
        self._cancel_timers()
        proto = self._proto
        self._proto = None
        self._loop = None
        if proto is not None:
            self._retire(proto)
            had_transport = proto.transport is not None
            proto.abort(message="connection closed by the client")
            if had_transport:
                await asyncio.sleep(0)  # let the transport run connection_lost

    # ------------------------------------------------------------ slow paths

    async def _execute_slow(
        self,
        args: tuple[Any, ...],
        decoder: Callable[[bytes], Any] | None,
        timeout: float | None,
    ) -> Any:
        loop = _get_running_loop()
        proto = await self._ensure_link(loop)
        if timeout is None:
            fut = proto.request(args, decoder)
            if self._watchdog is None:
                self._arm_watchdog(proto)
            return await fut
        if not timeout > 0:
            raise ConfigurationError("timeout must be > 0", {"timeout": timeout})
        fut = proto.request(args, decoder)
        if self._watchdog is None:
            self._arm_watchdog(proto)
        handle = loop.call_later(timeout, self._expire, proto, fut, timeout)
        try:
            return await fut
        finally:
            handle.cancel()

    def _expire(
        self, proto: _core.RedisProtocol, fut: asyncio.Future[Any], timeout: float
    ) -> None:
        """A call's own timeout: fail that call now; if the link stays silent
        for as long again, drop it (its replies can no longer be trusted)."""
        if fut.done():
            return
        self._stats["timeouts"] += 1
        fut.set_exception(
            RedisTimeoutError(
                f"Redis command timed out after {timeout}s",
                {"redis_url": self._redacted, "timeout": timeout},
            )
        )
        if self._loop is not None and proto is self._proto:
            self._loop.call_later(
                timeout, self._check_suspect, proto, proto.replies, timeout
            )

    def _check_suspect(
        self, proto: _core.RedisProtocol, replies: int, timeout: float
    ) -> None:
        if proto is self._proto and proto.replies == replies and proto.pending > 0:
            self._record_failure()
            proto.abort(
                message=f"no reply from Redis within {timeout}s; link dropped",
                error_factory=self._timeout_error,
            )

    async def _ensure_link(
        self, loop: asyncio.AbstractEventLoop
    ) -> _core.RedisProtocol:
        if self._fork_gen != _fork_generation:
            self._forget_parent_link()
        proto = self._proto
        if proto is not None:
            if self._loop is loop:
                return proto
            self._leave_loop()
        connecting = self._connecting
        if connecting is not None:
            if self._connecting_loop is loop and not connecting.done():
                return await asyncio.shield(connecting)
            self._connecting = None
        now = time.monotonic()
        if self._breaker == "open":
            if now < self._opened_at + self._breaker_reset:
                self._stats["fast_failures"] += 1
                raise RedisConnectionError(
                    "Redis circuit breaker is open: failing fast",
                    {
                        "redis_url": self._redacted,
                        "retry_in": round(
                            self._opened_at + self._breaker_reset - now, 3
                        ),
                        "consecutive_failures": self._failures,
                    },
                )
            self._breaker = "half_open"  # this call is the probe
        elif now < self._next_attempt_at:
            self._stats["fast_failures"] += 1
            raise RedisConnectionError(
                "Redis is unreachable; waiting before the next connection attempt",
                {
                    "redis_url": self._redacted,
                    "retry_in": round(self._next_attempt_at - now, 3),
                    "consecutive_failures": self._failures,
                },
            )
        task = loop.create_task(self._open(loop))
        self._connecting = task
        self._connecting_loop = loop
        task.add_done_callback(self._connect_done)
        return await asyncio.shield(task)

    def _connect_done(self, task: asyncio.Future[_core.RedisProtocol]) -> None:
        if self._connecting is task:
            self._connecting = None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _core.RedisProtocol:
        """Connects and runs the handshake (AUTH, SELECT, CLIENT SETNAME, else
        PING) in one pipelined write: one round trip proves the link works."""
        ref = weakref.ref(self)

        def on_lost(proto: _core.RedisProtocol, exc: BaseException | None) -> None:
            conn = ref()
            if conn is not None:
                conn._link_lost(proto)

        proto = _core.RedisProtocol(
            loop,
            max_bulk=self._max_bulk,
            reply_error_factory=reply_error,
            connection_error_factory=self._conn_error,
            on_lost=on_lost,
        )
        u = self._url
        ctx = self._ssl_context
        factory = cast(Callable[[], asyncio.Protocol], lambda: proto)
        try:
            async with asyncio.timeout(self._connect_timeout):
                if u.scheme == "unix":
                    assert u.path is not None
                    await loop.create_unix_connection(
                        factory,
                        u.path,
                        ssl=ctx,
                        server_hostname="localhost" if ctx else None,
                    )
                else:
                    assert u.host is not None and u.port is not None
                    await loop.create_connection(
                        factory,
                        u.host,
                        u.port,
                        ssl=ctx,
                        server_hostname=u.host if ctx is not None else None,
                    )
                futs = []
                if self._password is not None:
                    auth: tuple[str, ...] = ("AUTH", self._password)
                    if self._username is not None:
                        auth = ("AUTH", self._username, self._password)
                    futs.append(proto.send(auth))
                if self._db:
                    futs.append(proto.send(("SELECT", self._db)))
                if self._client_name:
                    futs.append(proto.send(("CLIENT", "SETNAME", self._client_name)))
                if not futs:
                    futs.append(proto.send(("PING",)))
                results = await asyncio.gather(*futs, return_exceptions=True)
        except TimeoutError:
            proto.abort(message="connect timed out", error_factory=self._timeout_error)
            self._connect_failed()
            raise RedisTimeoutError(
                f"connecting to Redis timed out after {self._connect_timeout}s",
                {"redis_url": self._redacted, "timeout": self._connect_timeout},
            ) from None
        except (OSError, ssl.SSLError, RedisConnectionError) as exc:
            proto.abort(message="connect failed")
            self._connect_failed()
            if isinstance(exc, RedisConnectionError):
                raise
            raise self._connect_error(exc) from exc
        except BaseException:
            proto.abort(message="connect cancelled")
            raise
        for result in results:
            if isinstance(result, BaseException):
                proto.abort(message="handshake failed")
                self._connect_failed()
                raise result
        if proto.closed:
            # e.g. the server sent more replies than asked for.
            self._connect_failed()
            raise RedisConnectionError(
                "Redis link failed during the handshake", {"redis_url": self._redacted}
            )
        self._link_up(loop, proto)
        return proto

    def _connect_error(self, exc: BaseException) -> RedisConnectionError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            what = f"TLS certificate verification failed: {exc.verify_message}"
        elif isinstance(exc, ssl.SSLError):
            what = f"TLS handshake failed: {exc.reason or exc}"
        elif isinstance(exc, ConnectionRefusedError):
            what = "connection refused"
        elif isinstance(exc, socket.gaierror):
            what = f"cannot resolve host: {exc}"
        else:
            what = f"{type(exc).__name__}: {exc}"
        return RedisConnectionError(
            f"cannot connect to Redis ({what})",
            {"redis_url": self._redacted, "cause": f"{type(exc).__name__}: {exc}"},
        )

    # ------------------------------------------------------------ state changes

    def _link_up(
        self, loop: asyncio.AbstractEventLoop, proto: _core.RedisProtocol
    ) -> None:
        self._proto = proto
        self._loop = loop
        self._fork_gen = _fork_generation
        self._failures = 0
        self._breaker = "closed"
        self._next_attempt_at = 0.0
        self._stats["connects"] += 1
        if self._ever_connected:
            self._stats["reconnects"] += 1
        self._ever_connected = True
        if self._health_interval > 0:
            self._hc_marks = (proto.commands, proto.replies)
            self._health = loop.call_later(self._health_interval, self._health_tick)

    def _link_lost(self, proto: _core.RedisProtocol) -> None:
        """on_lost callback of the C protocol (called once per protocol)."""
        if proto is self._proto:
            self._proto = None
            self._stats["links_lost"] += 1
            self._retire(proto)
            self._cancel_timers()

    def _retire(self, proto: _core.RedisProtocol) -> None:
        r = self._retired
        r["commands"] += proto.commands
        r["writes"] += proto.writes
        r["bytes_written"] += proto.bytes_written
        r["replies"] += proto.replies
        r["reply_errors"] += proto.reply_errors

    def _connect_failed(self) -> None:
        self._stats["connect_failures"] += 1
        self._record_failure()

    def _record_failure(self) -> None:
        """One more consecutive failure: back off, maybe open the breaker."""
        self._failures += 1
        now = time.monotonic()
        if self._breaker == "half_open" or self._failures >= self._breaker_threshold:
            if self._breaker != "open":
                self._stats["breaker_opens"] += 1
            self._breaker = "open"
            self._opened_at = now
        ceiling = min(
            self._backoff_cap, self._backoff_base * 2 ** min(self._failures - 1, 30)
        )
        self._next_attempt_at = now + random.uniform(0.0, ceiling)

    def _cancel_timers(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._health is not None:
            self._health.cancel()
            self._health = None

    def _forget_parent_link(self) -> None:
        """In a forked child: drop the parent's link without touching it (its
        socket and event loop belong to the parent)."""
        self._proto = None
        self._loop = None
        self._connecting = None
        self._watchdog = None
        self._health = None
        self._fork_gen = _fork_generation

    def _leave_loop(self) -> None:
        """The connection is used from another event loop: close the old link in
        its own loop when possible, and never reuse its socket."""
        proto, old = self._proto, self._loop
        self._proto = None
        self._loop = None
        self._cancel_timers_quietly()
        if proto is None:
            return
        self._retire(proto)
        if old is None or old.is_closed():
            transport = proto.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            return
        try:
            old.call_soon_threadsafe(proto.abort)
        except RuntimeError:
            pass

    def _cancel_timers_quietly(self) -> None:
        try:
            self._cancel_timers()
        except RuntimeError:
            self._watchdog = None
            self._health = None

    # ------------------------------------------------------------ timers

    def _arm_watchdog(self, proto: _core.RedisProtocol) -> None:
        loop = self._loop
        if loop is None:
            return
        self._wd_replies = proto.replies
        self._wd_since = loop.time()
        self._watchdog = loop.call_later(self._command_timeout / 4, self._watchdog_tick)

    def _watchdog_tick(self) -> None:
        self._watchdog = None
        proto, loop = self._proto, self._loop
        if proto is None or loop is None or proto.pending == 0:
            return
        now = loop.time()
        replies = proto.replies
        if replies != self._wd_replies:
            self._wd_replies = replies
            self._wd_since = now
        elif now - self._wd_since >= self._command_timeout:
            self._stats["timeouts"] += 1
            self._record_failure()
            proto.abort(
                message=f"no reply from Redis within {self._command_timeout}s",
                error_factory=self._timeout_error,
            )
            return
        self._watchdog = loop.call_later(self._command_timeout / 4, self._watchdog_tick)

    def _health_tick(self) -> None:
        """PING a link that was idle for a whole interval, so a dead peer is
        found before a user command needs it."""
        self._health = None
        proto, loop = self._proto, self._loop
        if proto is None or loop is None:
            return
        marks = (proto.commands, proto.replies)
        if marks == self._hc_marks and proto.pending == 0:
            self._stats["health_checks"] += 1
            try:
                proto.send(("PING",)).add_done_callback(_consume)
            except RedisConnectionError:
                return
            if self._watchdog is None:
                self._arm_watchdog(proto)
            marks = (proto.commands, proto.replies)
        self._hc_marks = marks
        self._health = loop.call_later(self._health_interval, self._health_tick)
