"""A self-healing RESP2 subscriber link (``PubSubLink``).

Used for the two push channels aicache listens to: ``__redis__:invalidate``
(CLIENT TRACKING, see :mod:`aicache.tracking`) and a sentinel's
``+switch-master`` (see :mod:`aicache.sentinel`).  The data path never goes
through here: the C protocol resolves one future per command, while a
subscriber receives messages nobody asked for, so it has its own small
asyncio protocol on top of the C reply reader (``_core.RespReader``, with its
limits).

The link runs a handshake (AUTH, then the caller's ``prepare`` coroutine, then
SUBSCRIBE), reports ``on_up`` once subscribed and ``on_down`` synchronously
from ``connection_lost`` (before any later read can run), PINGs every
``heartbeat`` seconds and drops a link that stops answering, and reconnects
with capped exponential backoff and jitter until closed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, cast

from . import _core
from ._connection import RedisConnectionError, reply_error

__all__ = ["PubSubLink", "PubSubProtocol"]

logger = logging.getLogger(__name__)

_MAX_BULK = 64 * 1024 * 1024
_MAX_ELEMENTS = 1_000_000


def pack_command(args: tuple[Any, ...]) -> bytes:
    """RESP2 encoding of one command (handshake and PING only: not a hot path)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class PubSubProtocol(asyncio.Protocol):
    """Replies to our own commands resolve a FIFO of futures; ``message``
    pushes go to ``on_message(channel, payload)``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[bytes, Any], None],
        on_lost: Callable[[PubSubProtocol], None],
    ) -> None:
        self._loop = loop
        self._on_message = on_message
        self._on_lost = on_lost
        self._reader = _core.RespReader(
            max_bulk=_MAX_BULK, max_elements=_MAX_ELEMENTS, error_factory=reply_error
        )
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.replies = 0
        self.messages = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def command(self, *args: Any) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = self._loop.create_future()
        if self.closed or self.transport is None:
            fut.set_exception(RedisConnectionError("subscriber link is closed", {}))
            return fut
        self._waiters.append(fut)
        self.transport.write(pack_command(args))
        return fut

    def data_received(self, data: bytes) -> None:
        try:
            self._reader.feed(data)
            while True:
                reply = self._reader.gets()
                if reply is False:
                    return
                self._dispatch(reply)
        except Exception as exc:  # malformed RESP, or a callback bug: drop link
            logger.warning("subscriber link dropped: %s", exc)
            self.abort(exc)

    def _dispatch(self, reply: Any) -> None:
        if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
            self.messages += 1
            self._on_message(reply[1], reply[2])
            return
        self.replies += 1
        if not self._waiters:
            return  # e.g. a second subscribe confirmation
        fut = self._waiters.popleft()
        if fut.done():
            return
        if isinstance(reply, BaseException):
            fut.set_exception(reply)
        else:
            fut.set_result(reply)

    def abort(self, exc: BaseException | None = None) -> None:
        if self.transport is not None:
            self.transport.abort()
        else:
            self.connection_lost(exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(
                    RedisConnectionError(
                        "subscriber link lost", {"cause": f"{exc}" if exc else "closed"}
                    )
                )
        self._on_lost(self)


class PubSubLink:
    """One subscriber connection kept alive until ``close()``."""

    def __init__(
        self,
        host: str,
        port: int,
        channels: tuple[str, ...],
        on_message: Callable[[bytes, Any], None],
        *,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        heartbeat: float = 1.0,
        prepare: Callable[[PubSubProtocol], Awaitable[None]] | None = None,
        on_up: Callable[[], None] | None = None,
        on_down: Callable[[], None] | None = None,
        backoff_base: float = 0.05,
        backoff_cap: float = 1.0,
        keep_running: Callable[[], bool] | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._channels = channels
        self._on_message = on_message
        self._username = username
        self._password = password
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._heartbeat = heartbeat
        self._prepare = prepare
        self._on_up = on_up
        self._on_down = on_down
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        # Checked every heartbeat: an owner that is gone ends the link.
        self._keep_running = keep_running
        # Called after each failed attempt (e.g. "the node may be gone: look
        # at the topology again").
        self._on_retry = on_retry
        self._task: asyncio.Task[None] | None = None
        self._proto: PubSubProtocol | None = None
        self._closed = False
        self.up = False
        self.stats = {"connects": 0, "links_lost": 0, "connect_failures": 0}

    def __repr__(self) -> str:
        return f"<PubSubLink {self.host}:{self.port} up={self.up}>"

    @property
    def protocol(self) -> PubSubProtocol | None:
        return self._proto

    def start(self) -> None:
        """Starts the link in the running loop (no-op when already running)."""
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        proto = self._proto
        if proto is not None:
            proto.abort()
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except BaseException:
                pass

    def kill(self) -> None:
        """Drops the current link (it reconnects): for tests and topology changes."""
        if self._proto is not None:
            self._proto.abort()

    def _lost(self, proto: PubSubProtocol) -> None:
        if proto is not self._proto:
            return
        self._proto = None
        self.stats["links_lost"] += 1
        if self.up:
            self.up = False
            if self._on_down is not None:
                self._on_down()

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            if self._keep_running is not None and not self._keep_running():
                return
            try:
                proto = await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats["connect_failures"] += 1
                failures += 1
                if self._on_retry is not None:
                    self._on_retry()
                ceiling = min(
                    self._backoff_cap, self._backoff_base * 2 ** min(failures, 20)
                )
                logger.debug("subscriber %s:%s failed: %s", self.host, self.port, exc)
                await asyncio.sleep(random.uniform(ceiling / 2, ceiling))
                continue
            failures = 0
            self.stats["connects"] += 1
            self.up = True
            if self._on_up is not None:
                self._on_up()
            await self._watch(proto)

    async def _open(self) -> PubSubProtocol:
        loop = asyncio.get_running_loop()
        proto = PubSubProtocol(loop, self._on_message, self._lost)
        self._proto = proto
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(
                    lambda: proto,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                )
                if self._password is not None:
                    auth: tuple[str, ...] = ("AUTH", self._password)
                    if self._username is not None:
                        auth = ("AUTH", self._username, self._password)
                    await proto.command(*auth)
                if self._prepare is not None:
                    await self._prepare(proto)
                await asyncio.gather(
                    *(proto.command("SUBSCRIBE", c) for c in self._channels)
                )
        except BaseException:
            if self._proto is proto:
                self._proto = None
            proto.abort()
            raise
        if proto.closed:
            raise RedisConnectionError("subscriber link lost during handshake", {})
        return proto

    async def _watch(self, proto: PubSubProtocol) -> None:
        """Heartbeat: a PING every interval; no answer in two intervals drops the
        link (a silent peer must not leave L1 trusting a dead channel)."""
        while not proto.closed:
            if self._keep_running is not None and not self._keep_running():
                self._closed = True
                proto.abort()
                return
            pong = proto.command("PING")
            try:
                async with asyncio.timeout(self._heartbeat * 2):
                    await pong
            except TimeoutError:
                logger.warning(
                    "subscriber %s:%s stopped answering", self.host, self.port
                )
                proto.abort()
                return
            except RedisConnectionError:
                return
            await asyncio.sleep(self._heartbeat)
