"""Big writes hand the protocol's output buffer to the transport without a copy
(csrc/_aicache_outchunk.c): what the transport receives is a read-only
memoryview that owns its bytes, stays intact while later commands are packed,
and frees them with its last reference. End to end, many concurrent 100 KB
values go through plain, unix and TLS links and come back byte for byte."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest

from aicache import _core
from aicache._connection import RedisConnection
from redis_servers import RedisServer

HANDOFF_MIN = 64 * 1024  # OUT_HANDOFF_MIN in csrc/_aicache_resp.c


class KeepingTransport(asyncio.Transport):
    """Keeps the objects write() got (as asyncio 3.12+ does until sent)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[Any] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(data)

    def abort(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def _protocol() -> tuple[_core.RedisProtocol, KeepingTransport]:
    proto = _core.RedisProtocol(
        asyncio.get_running_loop(),
        reply_error_factory=RuntimeError,
        connection_error_factory=lambda msg, cause: ConnectionError(msg),
    )
    transport = KeepingTransport()
    proto.connection_made(transport)
    return proto, transport


def _set(key: bytes, value: bytes) -> bytes:
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(key),
        key,
        len(value),
        value,
    )


def test_big_write_is_a_read_only_view_that_owns_its_bytes() -> None:
    async def main() -> None:
        proto, transport = _protocol()
        big = [os.urandom(HANDOFF_MIN // 2) for _ in range(3)]
        for i, v in enumerate(big):
            proto.send(("SET", b"k%d" % i, v))
        await asyncio.sleep(0)
        (first,) = transport.writes
        assert isinstance(first, memoryview) and first.readonly
        want = b"".join(_set(b"k%d" % i, v) for i, v in enumerate(big))
        assert bytes(first) == want
        with pytest.raises(TypeError):
            first[0] = 0  # type: ignore[index]
        owner = first.obj
        assert type(owner).__name__ == "_OutChunk"
        with pytest.raises(TypeError):
            type(owner)()
        # Later commands (big and small) are packed into a new buffer: the
        # first view keeps its bytes.
        other = os.urandom(HANDOFF_MIN)
        proto.send(("SET", b"x", other))
        await asyncio.sleep(0)
        proto.send(("PING",))
        await asyncio.sleep(0)
        assert bytes(first) == want
        second, third = transport.writes[1:]
        assert isinstance(second, memoryview) and bytes(second) == _set(b"x", other)
        assert type(third) is bytes and third == b"*1\r\n$4\r\nPING\r\n"
        assert proto.writes == 3
        assert proto.bytes_written == len(want) + len(second) + len(third)
        # The view is the owner's only holder besides the names here.
        base = sys.getrefcount(owner)
        transport.writes.clear()
        del second
        assert sys.getrefcount(owner) == base
        first.release()
        assert sys.getrefcount(owner) == base - 1
        proto.abort()

    asyncio.run(main())


def test_small_writes_stay_bytes() -> None:
    async def main() -> None:
        proto, transport = _protocol()
        proto.send(("SET", b"k", b"v" * (HANDOFF_MIN - 100)))
        await asyncio.sleep(0)
        (w,) = transport.writes
        assert type(w) is bytes and w == _set(b"k", b"v" * (HANDOFF_MIN - 100))
        proto.abort()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["redis_plain", "redis_unix", "redis_tls"])
def test_concurrent_100_kb_values_round_trip(
    kind: str, request: pytest.FixtureRequest
) -> None:
    server: RedisServer = request.getfixturevalue(kind)
    values = [os.urandom(100 * 1024) for _ in range(48)]

    async def main() -> None:
        kw: dict[str, Any] = {}
        if kind == "redis_tls":
            kw["ssl_context"] = server.ssl_context(client_cert=False)
        conn = RedisConnection(server.url, **kw)
        try:
            for _ in range(3):  # the same keys rewritten: no stale or mixed bytes
                got = await asyncio.gather(
                    *(conn.execute("SET", f"big:{i}", v) for i, v in enumerate(values))
                )
                assert got == ["OK"] * len(values)
                back = await asyncio.gather(
                    *(conn.execute("GET", f"big:{i}") for i in range(len(values)))
                )
                assert back == values
                values.reverse()
            await conn.execute("DEL", *(f"big:{i}" for i in range(len(values))))
        finally:
            await conn.close()

    asyncio.run(main())
