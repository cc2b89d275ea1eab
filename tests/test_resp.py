"""RESP reader and the C asyncio protocol, without a server.

The protocol is driven by hand (connection_made with a recording transport,
data_received with chosen bytes) so every split point and failure path is
reachable; tests/test_connection.py covers the same type against real servers.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from aicache import _core


class ReplyErr(Exception):
    pass


STREAM: list[tuple[bytes, Any]] = [
    (b"+OK\r\n", "OK"),
    (b"+QUEUED\r\n", "QUEUED"),
    (b"+\r\n", ""),
    (b"-ERR bad thing\r\n", ReplyErr("ERR bad thing")),
    (b":0\r\n", 0),
    (b":-42\r\n", -42),
    (b":9223372036854775807\r\n", 2**63 - 1),
    (b":-9223372036854775808\r\n", -(2**63)),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$6\r\n\x00\r\n\xff\r\n\r\n", b"\x00\r\n\xff\r\n"),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (b"*3\r\n:1\r\n$1\r\nx\r\n$-1\r\n", [1, b"x", None]),
    (b"*2\r\n*2\r\n:1\r\n:2\r\n*0\r\n", [[1, 2], []]),
    (b"*2\r\n+OK\r\n-WRONGTYPE no\r\n", ["OK", ReplyErr("WRONGTYPE no")]),
    (b"+caf\xc3\xa9\r\n", "café"),
]


def normalize(value: Any) -> Any:
    if isinstance(value, BaseException):
        return (type(value).__name__, str(value))
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def read_all(reader: _core.RespReader, chunks: list[bytes]) -> list[Any]:
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        while (reply := reader.gets()) is not False:
            out.append(reply)
    return out


@pytest.mark.parametrize(("wire", "expected"), STREAM)
def test_reader_every_type(wire: bytes, expected: Any) -> None:
    reader = _core.RespReader(error_factory=ReplyErr)
    reader.feed(wire)
    got = reader.gets()
    assert normalize(got) == normalize(expected)
    assert type(got) is type(expected)
    assert reader.gets() is False
    assert reader.buffered == 0


def test_reader_every_split_point() -> None:
    wire = b"".join(w for w, _ in STREAM)
    expected = [normalize(e) for _, e in STREAM]
    for cut in range(len(wire) + 1):
        reader = _core.RespReader(error_factory=ReplyErr)
        got = read_all(reader, [wire[:cut], wire[cut:]])
        assert [normalize(g) for g in got] == expected, cut
    reader = _core.RespReader(error_factory=ReplyErr)
    got = read_all(reader, [wire[i : i + 1] for i in range(len(wire))])
    assert [normalize(g) for g in got] == expected


def test_reader_accepts_any_buffer() -> None:
    reader = _core.RespReader()
    reader.feed(memoryview(b"$3\r\nab"))
    reader.feed(bytearray(b"c\r\n"))
    assert reader.gets() == b"abc"
    with pytest.raises(TypeError):
        reader.feed("text")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "wire",
    [
        b"$9223372036854775807\r\n",  # LLONG_MAX bulk: over max_bulk
        b"$9223372036854775808\r\n",  # overflow
        b"$-2\r\n",  # negative length other than -1
        b"*-5\r\n",
        b":12x\r\n",
        b":99999999999999999999\r\n",
        b"%1\r\n",  # RESP3 map: not spoken
        b"$3\r\nabcd\r\n",  # body longer than announced
    ],
)
def test_reader_rejects(wire: bytes) -> None:
    reader = _core.RespReader()
    reader.feed(wire)
    with pytest.raises(_core.ProtocolError):
        reader.gets()


def test_reader_limits_at_the_boundary() -> None:
    reader = _core.RespReader(max_bulk=4)
    reader.feed(b"$4\r\nabcd\r\n")
    assert reader.gets() == b"abcd"
    reader.feed(b"$5\r\n")
    with pytest.raises(_core.ProtocolError, match="max_bulk"):
        reader.gets()

    reader = _core.RespReader(max_elements=3)
    reader.feed(b"*3\r\n:1\r\n:2\r\n:3\r\n")
    assert reader.gets() == [1, 2, 3]
    reader.feed(b"*4\r\n")
    with pytest.raises(_core.ProtocolError, match="max_elements"):
        reader.gets()

    reader = _core.RespReader(max_depth=2)
    reader.feed(b"*1\r\n*1\r\n:1\r\n")
    assert reader.gets() == [[1]]
    reader.feed(b"*1\r\n*1\r\n*1\r\n:1\r\n")
    with pytest.raises(_core.ProtocolError, match="max_depth"):
        reader.gets()

    reader = _core.RespReader(max_line=5)
    reader.feed(b"-ERR x\r\n")
    assert str(reader.gets()) == "ERR x"
    reader.feed(b"+toolong")
    with pytest.raises(_core.ProtocolError, match="max_line"):
        reader.gets()

    with pytest.raises(ValueError):
        _core.RespReader(max_depth=0)
    with pytest.raises(ValueError):
        _core.RespReader(max_bulk=-1)


def test_reader_default_bulk_limit_is_512_mib() -> None:
    reader = _core.RespReader()
    reader.feed(b"$536870912\r\n")
    assert reader.gets() is False  # accepted, waiting for the body
    reader = _core.RespReader()
    reader.feed(b"$536870913\r\n")
    with pytest.raises(_core.ProtocolError):
        reader.gets()


def test_reader_error_is_sticky_until_reset() -> None:
    reader = _core.RespReader()
    reader.feed(b"*2\r\n:1\r\n?")
    with pytest.raises(_core.ProtocolError, match="type byte"):
        reader.gets()
    with pytest.raises(_core.ProtocolError):
        reader.gets()
    with pytest.raises(_core.ProtocolError):
        reader.feed(b"+OK\r\n")
    reader.reset()
    reader.feed(b"+OK\r\n")
    assert reader.gets() == "OK"


def test_reader_error_factory_failure_propagates() -> None:
    def boom(msg: str) -> Exception:
        raise KeyError(msg)

    reader = _core.RespReader(error_factory=boom)
    reader.feed(b"-ERR x\r\n")
    with pytest.raises(KeyError):
        reader.gets()


def test_reader_refcounts_and_partial_release() -> None:
    made: list[weakref.ref[ReplyErr]] = []

    def factory(msg: str) -> ReplyErr:
        e = ReplyErr(msg)
        made.append(weakref.ref(e))
        return e

    reader = _core.RespReader(error_factory=factory)
    reader.feed(b"$3\r\nabc\r\n")
    value = reader.gets()
    assert sys.getrefcount(value) == 2  # only `value` (and the call's argument)
    # A partial aggregate holding an error is released with the reader.
    reader.feed(b"*2\r\n-ERR held\r\n")
    assert reader.gets() is False
    assert made[0]() is not None
    del reader
    assert made[0]() is None


def test_reader_cycle_through_error_factory_is_collected() -> None:
    class Holder:
        reader: _core.RespReader | None = None

        def __call__(self, msg: str) -> Exception:
            return Exception(msg)

    h = Holder()
    h.reader = _core.RespReader(error_factory=h)
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None


# ---------------------------------------------------------------- protocol


class RecordingTransport(asyncio.Transport):
    """Stands in for the socket: records writes; abort() ends the link."""

    def __init__(self, proto: Any) -> None:
        super().__init__()
        self.proto = proto
        self.writes: list[bytes] = []
        self.aborted = False
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def abort(self) -> None:
        self.aborted = True
        self.closing = True
        asyncio.get_running_loop().call_soon(self.proto.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closing


class ConnErr(ConnectionError):
    def __init__(self, message: str, cause: BaseException | None) -> None:
        super().__init__(message)
        self.cause = cause


def run(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(coro_fn())


def make_protocol(
    **kw: Any,
) -> tuple[_core.RedisProtocol, RecordingTransport, list[Any]]:
    lost: list[Any] = []
    proto = _core.RedisProtocol(
        asyncio.get_running_loop(),
        reply_error_factory=ReplyErr,
        connection_error_factory=ConnErr,
        on_lost=lambda p, exc: lost.append((p, exc)),
        **kw,
    )
    transport = RecordingTransport(proto)
    proto.connection_made(transport)
    return proto, transport, lost


def test_protocol_packs_every_argument_type() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol()
        proto.send(("SET", b"k\r\n", 7, -2.5, "é", bytearray(b"ba"), memoryview(b"mv")))
        proto.send(("BIG", 2**70, 1e100, float("inf")))
        assert transport.writes == []  # nothing until the loop turns
        await asyncio.sleep(0)
        assert transport.writes == [
            b"*7\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$1\r\n7\r\n$4\r\n-2.5\r\n"
            b"$2\r\n\xc3\xa9\r\n$2\r\nba\r\n$2\r\nmv\r\n"
            b"*4\r\n$3\r\nBIG\r\n$22\r\n1180591620717411303424\r\n$6\r\n1e+100\r\n"
            b"$3\r\ninf\r\n"
        ]
        assert proto.pending == 2 and proto.commands == 2 and proto.writes == 1
        proto.abort()

    run(main)


@pytest.mark.parametrize("bad", [(True,), (None,), (object(),), ([1],), ()])
def test_protocol_rejects_bad_arguments_atomically(bad: tuple[Any, ...]) -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol()
        with pytest.raises((TypeError, ValueError)):
            proto.send(("SET", "k", *bad) if bad else ())
        with pytest.raises(TypeError):
            proto.send("GET k")  # type: ignore[arg-type]
        proto.send(("PING",))
        await asyncio.sleep(0)
        assert transport.writes == [b"*1\r\n$4\r\nPING\r\n"]  # nothing half-packed
        assert proto.pending == 1
        proto.abort()

    run(main)


def test_protocol_one_write_per_iteration() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol()
        futs = [proto.send(("GET", f"k{i}")) for i in range(100)]
        await asyncio.sleep(0)
        assert len(transport.writes) == 1
        assert transport.writes[0].count(b"GET") == 100
        proto.data_received(
            b"".join(b"$%d\r\nv%d\r\n" % (len(str(i)) + 1, i) for i in range(100))
        )
        assert [await f for f in futs] == [b"v%d" % i for i in range(100)]
        proto.send(("PING",))
        await asyncio.sleep(0)
        assert len(transport.writes) == 2
        proto.abort()

    run(main)


def test_protocol_request_writes_at_once_only_when_nothing_can_join() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol()
        ping = b"*1\r\n$4\r\nPING\r\n"
        f1 = proto.request(("PING",))
        assert transport.writes == [ping]  # idle link, nothing else runnable
        f2 = proto.request(("PING",))  # a reply is owed: joins the next write
        f3 = proto.send(("PING",))
        assert len(transport.writes) == 1
        await asyncio.sleep(0)
        assert transport.writes[1:] == [ping * 2]
        proto.data_received(b"+PONG\r\n" * 3)
        assert [await f for f in (f1, f2, f3)] == ["PONG"] * 3
        asyncio.get_running_loop().call_soon(lambda: None)  # something runnable
        f4 = proto.request(("PING",))
        assert len(transport.writes) == 2
        await asyncio.sleep(0)
        assert len(transport.writes) == 3 and proto.writes == 3
        proto.data_received(b"+PONG\r\n")
        assert await f4 == "PONG"
        proto.abort()

    run(main)


def test_protocol_replies_at_every_split_point() -> None:
    wire = b"".join(w for w, _ in STREAM)
    expected = [normalize(e) for _, e in STREAM]

    async def main() -> None:
        for cut in range(len(wire) + 1):
            proto, _, _ = make_protocol()
            futs = [proto.send(("X",)) for _ in STREAM]
            proto.data_received(wire[:cut])
            proto.data_received(wire[cut:])
            got = []
            for f in futs:
                assert f.done()
                got.append(normalize(f.exception() or f.result()))
            assert got == expected, cut
            assert proto.pending == 0
            proto.abort()

    run(main)


def test_protocol_decoder_applies_to_bulk_only_and_isolates_failures() -> None:
    async def main() -> None:
        proto, _, lost = make_protocol()
        seen: list[bytes] = []

        def decoder(raw: bytes) -> str:
            seen.append(raw)
            if raw == b"bad":
                raise ValueError("corrupt payload")
            return raw.decode().upper()

        f1 = proto.send(("GET", "a"), decoder)
        f2 = proto.send(("GET", "b"), decoder)
        f3 = proto.send(("GET", "c"), decoder)
        f4 = proto.send(("GET", "d"), decoder)
        f5 = proto.send(("GET", "e"))
        proto.data_received(b"$2\r\nok\r\n$3\r\nbad\r\n$-1\r\n-ERR no\r\n$2\r\nok\r\n")
        assert await f1 == "OK"
        with pytest.raises(ValueError, match="corrupt"):
            await f2
        assert await f3 is None  # nil is not decoded
        with pytest.raises(ReplyErr):
            await f4
        assert await f5 == b"ok"  # no decoder: raw bytes
        assert seen == [b"ok", b"bad"]
        assert (
            not proto.closed and lost == []
        )  # a decoder failure is not a link failure
        proto.abort()

    run(main)


def test_protocol_decoder_raising_stopiteration_still_resolves() -> None:
    async def main() -> None:
        proto, _, _ = make_protocol()

        def decoder(raw: bytes) -> Any:
            raise StopIteration  # asyncio refuses it as a future's exception

        f = proto.send(("GET", "a"), decoder)
        proto.data_received(b"$1\r\na\r\n")
        assert f.done()
        with pytest.raises(TypeError):
            f.result()
        proto.abort()

    run(main)


def test_protocol_skips_cancelled_futures_in_order() -> None:
    async def main() -> None:
        proto, _, _ = make_protocol()
        decoded: list[bytes] = []
        f1 = proto.send(("GET", "a"), lambda b: decoded.append(b))
        f2 = proto.send(("GET", "b"))
        f3 = proto.send(("GET", "c"))
        f1.cancel()
        f2.set_exception(TimeoutError())  # e.g. the caller's own timeout
        proto.data_received(b"$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
        assert await f3 == b"c"
        assert decoded == []  # the decoder never ran for the cancelled call
        assert proto.pending == 0 and not proto.closed
        proto.abort()

    run(main)


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"?garbage\r\n", "protocol error"),
        (b"$99999999999\r\n", "max_bulk"),
        (b"+OK\r\n+OK\r\n+EXTRA\r\n", "nobody asked"),
    ],
)
def test_protocol_failure_fails_every_pending_future(wire: bytes, why: str) -> None:
    async def main() -> None:
        proto, transport, lost = make_protocol(max_bulk=1000)
        futs = [proto.send(("GET", "k")) for _ in range(2)]
        proto.data_received(wire)
        if why == "nobody asked":
            assert [await f for f in futs] == ["OK", "OK"]
        else:
            for f in futs:
                with pytest.raises(ConnErr, match=why) as info:
                    await f
            if why == "protocol error":
                assert isinstance(info.value.cause, _core.ProtocolError)
        assert proto.closed and transport.aborted
        assert len(lost) == 1 and lost[0][0] is proto
        with pytest.raises(ConnErr):
            proto.send(("PING",))
        await asyncio.sleep(0)  # connection_lost from the transport
        assert len(lost) == 1  # on_lost runs once

    run(main)


def test_protocol_connection_lost_and_eof() -> None:
    async def main() -> None:
        proto, _, lost = make_protocol()
        f = proto.send(("GET", "k"))
        cause = ConnectionResetError("reset by peer")
        proto.connection_lost(cause)
        with pytest.raises(ConnErr, match="lost") as info:
            await f
        assert info.value.cause is cause
        assert lost == [(proto, cause)]

        proto, _, lost = make_protocol()
        f = proto.send(("GET", "k"))
        assert proto.eof_received() is None  # let the transport close
        with pytest.raises(ConnErr, match="closed the connection"):
            await f
        assert proto.closed and len(lost) == 1

    run(main)


def test_protocol_abort_with_custom_error_factory() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol()
        f = proto.send(("GET", "k"))
        proto.abort(message="too slow", error_factory=lambda m, c: TimeoutError(m))
        with pytest.raises(TimeoutError, match="too slow"):
            await f
        assert transport.aborted

    run(main)


def test_protocol_pause_and_resume_writing() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol()
        proto.pause_writing()
        assert proto.paused
        proto.send(("PING",))
        await asyncio.sleep(0)
        assert transport.writes == []
        proto.resume_writing()
        await asyncio.sleep(0)
        assert transport.writes == [b"*1\r\n$4\r\nPING\r\n"]
        proto.abort()

    run(main)


def test_protocol_buffers_until_connection_made() -> None:
    async def main() -> None:
        proto = _core.RedisProtocol(asyncio.get_running_loop())
        f = proto.send(("PING",))
        await asyncio.sleep(0)
        transport = RecordingTransport(proto)
        proto.connection_made(transport)
        await asyncio.sleep(0)
        assert transport.writes == [b"*1\r\n$4\r\nPING\r\n"]
        proto.data_received(b"+PONG\r\n")
        assert await f == "PONG"
        proto.abort()
        assert transport.aborted

    run(main)


def test_protocol_releases_futures_and_decoders() -> None:
    async def main() -> None:
        proto, _, _ = make_protocol()

        def decoder(b: bytes) -> bytes:
            return b

        base = sys.getrefcount(decoder)
        f = proto.send(("GET", "k"), decoder)
        assert sys.getrefcount(decoder) == base + 1
        fut_refs = sys.getrefcount(f)
        proto.data_received(b"$5\r\nvalue\r\n")
        assert sys.getrefcount(f) == fut_refs - 1
        assert sys.getrefcount(decoder) == base
        value = f.result()
        assert sys.getrefcount(value) == 3  # value, f._result, the call argument
        proto.abort()

    run(main)


def test_protocol_cycles_are_collected() -> None:
    refs: list[weakref.ref[Any]] = []

    async def main() -> None:
        class Owner:
            proto: Any = None

            def lost(self, p: Any, exc: Any) -> None:
                pass

        owner = Owner()
        owner.proto = _core.RedisProtocol(
            asyncio.get_running_loop(), on_lost=owner.lost
        )
        fut = owner.proto.send(("GET", "k"), lambda b, owner=owner: owner)
        refs.append(weakref.ref(owner))
        refs.append(weakref.ref(fut))
        del owner, fut

    run(main)
    gc.collect()
    assert all(r() is None for r in refs)


# ---------------------------------------------------------------- request_pair


def test_request_pair_one_write_one_future_both_replies() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol()
        before = proto.send(("PING",))
        f = proto.request_pair(("GET", "k"), ("PTTL", "k"))
        after = proto.send(("PING",))
        await asyncio.sleep(0)
        assert b"".join(transport.writes) == (
            b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
            b"*2\r\n$4\r\nPTTL\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n"
        )
        proto.data_received(b"+PONG\r\n$5\r\nvalue\r\n")
        assert before.done() and not f.done()  # half a pair resolves nothing
        proto.data_received(b":1500\r\n+PONG\r\n")
        assert f.result() == (b"value", 1500)
        assert after.result() == "PONG"
        assert proto.replies == 4
        proto.abort()

    run(main)


def test_request_pair_error_replies_and_missing_key() -> None:
    async def main() -> None:
        proto, _, _ = make_protocol()
        f1 = proto.request_pair(("GET", "a"), ("PTTL", "a"))
        f2 = proto.request_pair(("GET", "b"), ("PTTL", "b"))
        f3 = proto.request_pair(("GET", "c"), ("PTTL", "c"))
        proto.data_received(b"$-1\r\n:-2\r\n")  # missing key
        proto.data_received(b"-WRONGTYPE first\r\n:-1\r\n")
        proto.data_received(b"$1\r\nx\r\n-ERR second\r\n")
        assert f1.result() == (None, -2)
        with pytest.raises(ReplyErr, match="WRONGTYPE first"):
            f2.result()
        with pytest.raises(ReplyErr, match="ERR second"):
            f3.result()
        assert proto.reply_errors == 2
        proto.abort()

    run(main)


def test_request_pair_cancelled_and_aborted() -> None:
    async def main() -> None:
        proto, _, _ = make_protocol()
        f1 = proto.request_pair(("GET", "a"), ("PTTL", "a"))
        f2 = proto.request_pair(("GET", "b"), ("PTTL", "b"))
        f1.cancel()
        proto.data_received(b"$1\r\nx\r\n:5\r\n$1\r\ny\r\n")  # f2 half-way
        assert proto.discarded == 1 and not f2.done()
        f3 = proto.request_pair(("GET", "c"), ("PTTL", "c"))
        proto.abort()
        with pytest.raises(ConnErr):
            f2.result()
        with pytest.raises(ConnErr):
            f3.result()
        with pytest.raises(ConnErr):
            proto.request_pair(("GET", "d"), ("PTTL", "d"))
        with pytest.raises(TypeError):
            proto.request_pair(("GET", "d"))  # type: ignore[call-arg]

    run(main)


def test_request_pair_releases_what_it_holds() -> None:
    async def main() -> None:
        proto, _, _ = make_protocol()
        f = proto.request_pair(("GET", "k"), ("PTTL", "k"))
        fut_refs = sys.getrefcount(f)
        value = b"v" * 100
        proto.data_received(b"$100\r\n" + value + b"\r\n")
        assert sys.getrefcount(f) == fut_refs - 1  # the first entry let go
        proto.data_received(b":7\r\n")
        assert sys.getrefcount(f) == fut_refs - 2
        got = f.result()
        assert got == (value, 7)
        assert sys.getrefcount(got[0]) == 3  # the tuple, got[0], the call argument
        # A pair cut by abort between its halves frees the first reply.
        f2 = proto.request_pair(("GET", "k"), ("PTTL", "k"))
        proto.data_received(b"$3\r\nabc\r\n")
        proto.abort()
        assert f2.done()

    run(main)
    gc.collect()
