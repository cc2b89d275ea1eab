"""One multiplexed Redis connection per server, on top of the C protocol.

``RedisConnection.execute`` packs the command in C and awaits a future that the
C protocol resolves when the reply arrives; every command issued in one loop
iteration leaves in one write (implicit pipelining).  Around that hot path this
module keeps the lifecycle: lazy connect, AUTH/SELECT handshake, timeouts,
reconnect with capped exponential backoff and full jitter, a circuit breaker,
idle health PINGs, and fork/loop ownership of the socket.  No threads.

Deadlines belong to operations: every command carries its own deadline
(``command_timeout``, or ``timeout=`` for one call) and fails with
RedisTimeoutError when it passes, within one loop iteration of it.  One timer per
connection, armed at the oldest deadline, serves every command of the fast path
(their deadlines are in send order).  A command that times out is abandoned:
the C protocol drops its reply when it comes, so the link stays usable.  The
link itself is dropped only when a command timed out and *no* reply at all came
during its whole timeout (the server is silent: SIGSTOP, a dead peer); a short
per-call ``timeout=`` never drops it.

Nothing but the users of a connection keeps it alive: timers and callbacks hold
weak references, so an abandoned connection is collected and its ``__del__``
closes the socket.  Sharing between cache objects goes through
:mod:`aicache._registry`.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import ssl
import time
import weakref
from collections import deque
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
_running_loop_or_none = asyncio._get_running_loop

#: Default ceiling of the reconnect backoff and the breaker's open time: with
#: Redis back, the next attempt comes within this long (issue 9: back to Redis
#: within 1 s), and a down Redis sees at most a few attempts per second from
#: one process and loop (no reconnect storm).
DEFAULT_BACKOFF_CAP = 0.25
DEFAULT_BREAKER_RESET = 0.5


def _call_weak(ref: weakref.ref[RedisConnection], name: str) -> None:
    """Timer callback that does not keep the connection alive."""
    conn = ref()
    if conn is not None:
        getattr(conn, name)()


def _expire_call(
    fut: asyncio.Future[Any],
    timeout: float,
    url: str,
    ref: weakref.ref[RedisConnection],
) -> None:
    """Per-call deadline: fail that call only (its reply is dropped later)."""
    if not fut.done():
        conn = ref()
        if conn is not None:
            conn._stats["timeouts"] += 1
        fut.set_exception(
            RedisTimeoutError(
                f"Redis command timed out after {timeout}s",
                {"redis_url": url, "timeout": timeout},
            )
        )


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
        "_deadline_timer",
        "_ever_connected",
        "_failures",
        "_fork_gen",
        "_hc_marks",
        "_health",
        "_health_interval",
        "_inflight",
        "_last_error",
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
        "_wref",
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
        breaker_reset_timeout: float = DEFAULT_BREAKER_RESET,
        backoff_base: float = 0.05,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
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
        self._wref = weakref.ref(self)
        # (deadline, future, protocol, replies when sent) of fast-path commands,
        # in send order; _deadline_timer fires at the first deadline.
        self._inflight: deque[
            tuple[float, asyncio.Future[Any], _core.RedisProtocol, int]
        ] = deque()
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._health: asyncio.TimerHandle | None = None
        self._hc_marks = (0, 0)
        self._ever_connected = False
        self._last_error = ""  # why the last connection attempt failed
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
        """A live link usable from here: False from another running event loop
        (a connection belongs to one loop; see :mod:`aicache._registry`)."""
        proto = self._proto
        if proto is None or proto.closed or self._fork_gen != _fork_generation:
            return False
        running = _running_loop_or_none()
        return running is None or running is self._loop

    @property
    def recovering(self) -> bool:
        """Recent attempts failed: the next one is a probe nobody should wait on."""
        return self._failures > 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop of the current link (None when there is none)."""
        return self._loop

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
            # Fast path: one C call, one await; the deadline timer covers it.
            fut = proto.request(args, decoder)
            q = self._inflight
            while q and q[0][1].done():
                q.popleft()
            q.append(
                (self._loop.time() + self._command_timeout, fut, proto, proto.replies)
            )
            if self._deadline_timer is None:
                self._arm_deadline()
            return await fut
        return await self._execute_slow(args, decoder, timeout)

    async def execute_pair(
        self,
        first: tuple[bytes | str | int | float, ...],
        second: tuple[bytes | str | int | float, ...],
        completer: _core.HitPath | None = None,
        ctx: Any = None,
    ) -> Any:
        """Sends two commands in one write and returns both replies with one
        await (e.g. GET + PTTL of a key): one C request, one future. An error
        reply to either raises, as execute() does. With a ``completer``, what
        it makes of (ctx, reply1, reply2) before the future resolves
        (``RedisProtocol.request_pair``)."""
        proto = self._proto
        if (
            proto is None
            or self._fork_gen != _fork_generation
            or _get_running_loop() is not self._loop
        ):
            proto = await self._ensure_link(_get_running_loop())
        fut = proto.request_pair(first, second, completer, ctx)
        self._track(proto, fut)
        return await fut

    def send(
        self,
        args: tuple[bytes | str | int | float, ...],
        completer: _core.HitPath | None = None,
        key: str | None = None,
    ) -> asyncio.Future[Any] | None:
        """execute() without a coroutine: the future of one command when the link
        is up in this loop (with the connection's deadline), else None (the
        caller awaits execute, which connects). A ``completer`` completes the
        reply for ``key`` (``RedisProtocol.request``)."""
        proto = self._ready_link()
        if proto is None:
            return None
        fut = proto.request(args, completer, key)
        self._track(proto, fut)
        return fut

    def send_pair(
        self,
        first: tuple[bytes | str | int | float, ...],
        second: tuple[bytes | str | int | float, ...],
        completer: _core.HitPath,
        ctx: Any,
    ) -> asyncio.Future[Any] | None:
        """execute_pair() without a coroutine: the future of the pair when the
        link is up in this loop (with the connection's deadline), else None
        (the caller awaits execute_pair, which connects)."""
        proto = self._ready_link()
        if proto is None:
            return None
        fut = proto.request_pair(first, second, completer, ctx)
        self._track(proto, fut)
        return fut

    def _ready_link(self) -> _core.RedisProtocol | None:
        """The link when it is up for this process and the running loop."""
        proto = self._proto
        if (
            proto is None
            or self._fork_gen != _fork_generation
            or _get_running_loop() is not self._loop
        ):
            return None
        return proto

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
        """Connects first when needed; the whole call (connect included) ends
        within its timeout (``timeout=`` or ``command_timeout``)."""
        if timeout is not None and not timeout > 0:
            raise ConfigurationError("timeout must be > 0", {"timeout": timeout})
        loop = _get_running_loop()
        budget = self._command_timeout if timeout is None else float(timeout)
        deadline = loop.time() + budget
        if self._proto is None or self._loop is not loop:
            try:
                async with asyncio.timeout_at(deadline):
                    proto = await self._ensure_link(loop)
            except TimeoutError:
                self._stats["timeouts"] += 1
                raise RedisTimeoutError(
                    f"Redis command timed out after {budget}s (still connecting)",
                    {"redis_url": self._redacted, "timeout": budget},
                ) from None
        else:
            proto = await self._ensure_link(loop)
        fut = proto.request(args, decoder)
        handle = loop.call_at(
            deadline, _expire_call, fut, budget, self._redacted, self._wref
        )
        try:
            return await fut
        finally:
            handle.cancel()

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
                    f"Redis circuit breaker is open: failing fast{self._why()}",
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
                "Redis is unreachable; waiting before the next connection attempt"
                + self._why(),
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
        if not task.cancelled():
            exc = task.exception()
            if isinstance(exc, InfrastructureError):
                self._last_error = exc.message
            elif exc is not None:
                self._last_error = type(exc).__name__

    def _why(self) -> str:
        return f" (last error: {self._last_error})" if self._last_error else ""

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
            self._health = loop.call_later(
                self._health_interval, _call_weak, self._wref, "_health_tick"
            )

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
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        if self._health is not None:
            self._health.cancel()
            self._health = None
        self._inflight.clear()  # their futures were failed with the link

    def _forget_parent_link(self) -> None:
        """In a forked child: drop the parent's link without touching it (its
        socket and event loop belong to the parent)."""
        self._proto = None
        self._loop = None
        self._connecting = None
        self._deadline_timer = None
        self._health = None
        self._inflight.clear()
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
            self._deadline_timer = None
            self._health = None
            self._inflight.clear()

    # ------------------------------------------------------------ timers

    def _track(self, proto: _core.RedisProtocol, fut: asyncio.Future[Any]) -> None:
        """Gives a future sent with ``proto.send`` the connection's deadline (what
        ``execute`` does inline), for callers that write raw commands."""
        loop = self._loop
        if loop is None:
            return
        q = self._inflight
        while q and q[0][1].done():  # answered: no deadline left to watch
            q.popleft()
        q.append((loop.time() + self._command_timeout, fut, proto, proto.replies))
        if self._deadline_timer is None:
            self._arm_deadline()

    def _arm_deadline(self) -> None:
        loop, q = self._loop, self._inflight
        if loop is not None and q:
            self._deadline_timer = loop.call_at(
                q[0][0], _call_weak, self._wref, "_deadline_tick"
            )

    def _deadline_tick(self) -> None:
        """Fails every fast-path command whose deadline passed; drops the link
        if one of them saw no reply at all during its whole timeout."""
        self._deadline_timer = None
        loop, q = self._loop, self._inflight
        if loop is None:
            q.clear()
            return
        now = loop.time()
        silent: _core.RedisProtocol | None = None
        while q:
            deadline, fut, proto, replies_then = q[0]
            if fut.done():
                q.popleft()
                continue
            if deadline > now:
                break
            q.popleft()
            self._stats["timeouts"] += 1
            fut.set_exception(
                RedisTimeoutError(
                    f"Redis command timed out after {self._command_timeout}s",
                    {"redis_url": self._redacted, "timeout": self._command_timeout},
                )
            )
            if proto is self._proto and proto.replies == replies_then:
                silent = proto
        if silent is not None and silent is self._proto:
            self._record_failure()
            silent.abort(
                message=f"no reply from Redis within {self._command_timeout}s",
                error_factory=self._timeout_error,
            )
            return  # connection_lost cleared the queue and the timers
        self._arm_deadline()

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
                fut = proto.send(("PING",))
            except RedisConnectionError:
                return
            fut.add_done_callback(_consume)
            self._inflight.append(
                (loop.time() + self._command_timeout, fut, proto, proto.replies)
            )
            if self._deadline_timer is None:
                self._arm_deadline()
            marks = (proto.commands, proto.replies)
        self._hc_marks = marks
        self._health = loop.call_later(
            self._health_interval, _call_weak, self._wref, "_health_tick"
        )
