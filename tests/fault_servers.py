"""Small misbehaving servers for the fault tests, run in the test's own event loop.

``FakeRedis(handler)`` speaks enough RESP to be scripted: it parses each request
(an array of bulk strings) and writes whatever ``handler(args)`` returns (raw
reply bytes; None: no reply, the request is left unanswered).  It answers the
handshake PING itself unless the handler does.  ``reply_delay`` holds each
reply back that long (a slow server that keeps answering).

``TrickleProxy(port, delay)`` forwards to a real server and delivers the
server's bytes in small pieces with a pause between them (a reply trickles).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

Handler = Callable[[list[bytes]], bytes | None]


def bulk(data: bytes | None) -> bytes:
    if data is None:
        return b"$-1\r\n"
    return b"$%d\r\n%s\r\n" % (len(data), data)


def array(items: list[bytes]) -> bytes:
    return b"*%d\r\n%s" % (len(items), b"".join(items))


def _parse(buf: bytearray) -> list[bytes] | None:
    """One request off the front of buf (removed), or None when incomplete."""
    if not buf:
        return None
    if not buf.startswith(b"*"):
        raise ValueError("fake server expects RESP arrays")
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    count = int(buf[1:end])
    pos = end + 2
    args: list[bytes] = []
    for _ in range(count):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        size = int(buf[pos + 1 : end])
        start = end + 2
        if len(buf) < start + size + 2:
            return None
        args.append(bytes(buf[start : start + size]))
        pos = start + size + 2
    del buf[:pos]
    return args


class FakeRedis:
    def __init__(self, handler: Handler, reply_delay: float = 0.0) -> None:
        self.handler = handler
        self.reply_delay = reply_delay
        self.connections = 0
        self.requests: list[list[bytes]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> FakeRedis:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self._writers.append(writer)
        buf = bytearray()
        replies: asyncio.Queue[bytes] = asyncio.Queue()
        sender = asyncio.create_task(self._send(writer, replies))
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                buf += data
                while (args := _parse(buf)) is not None:
                    self.requests.append(args)
                    reply = self.handler(args)
                    if reply is None and args[:1] == [b"PING"]:
                        reply = b"+PONG\r\n"
                    if reply is not None:
                        replies.put_nowait(reply)
        except (ConnectionError, ValueError):
            return
        finally:
            sender.cancel()
            writer.close()

    async def _send(
        self, writer: asyncio.StreamWriter, replies: asyncio.Queue[bytes]
    ) -> None:
        while True:
            reply = await replies.get()
            if self.reply_delay:
                await asyncio.sleep(self.reply_delay)
            writer.write(reply)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class TrickleProxy:
    """Forwards to 127.0.0.1:port; the server's bytes come back ``chunk`` bytes
    at a time, ``delay`` seconds apart."""

    def __init__(self, port: int, delay: float, chunk: int = 1) -> None:
        self.target = port
        self.delay = delay
        self.chunk = chunk
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> TrickleProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)

        async def pump(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, slow: bool
        ) -> None:
            try:
                while data := await src.read(65536):
                    if not slow:
                        dst.write(data)
                        continue
                    for i in range(0, len(data), self.chunk):
                        await asyncio.sleep(self.delay)
                        dst.write(data[i : i + self.chunk])
            except ConnectionError:
                pass
            finally:
                dst.close()

        for task in (
            asyncio.create_task(pump(reader, up_w, False)),
            asyncio.create_task(pump(up_r, writer, True)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class PartitionProxy:
    """Forwards to 127.0.0.1:port until ``cut()``: then every link is closed and
    new connections are refused, while the server keeps its data (a network
    partition).  ``heal()`` accepts connections again on the same port."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    async def start(self) -> PartitionProxy:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers += [writer, up_w]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
            except ConnectionError:
                pass
            finally:
                dst.close()

        for task in (
            asyncio.create_task(pump(reader, up_w)),
            asyncio.create_task(pump(up_r, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def heal(self) -> None:
        await self.start()

    close = cut
