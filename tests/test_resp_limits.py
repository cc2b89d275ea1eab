"""The C protocol's bounds and its re-entrancy rules (issue 9, items 4, 6, 11).

Driven by hand like tests/test_resp.py (a recording transport, chosen bytes), so
each rule is checked at its edge: the output cap while the transport is paused,
buffers freed on failure, arrays that grow as elements arrive, per-command
expiry that leaves the link up, and Python code run from inside the protocol
(error factories, argument conversion, future creation) that must not corrupt
the stream or leave a caller waiting forever.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Callable
from typing import Any, cast

import pytest

from aicache import _core
from redis_servers import RedisServer
from test_resp import ConnErr, RecordingTransport, ReplyErr, make_protocol, run

PING = b"*1\r\n$4\r\nPING\r\n"


# ---------------------------------------------------------------- backpressure


def test_paused_link_caps_pending_bytes_and_fails_fast() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol(max_pending_bytes=10_000)
        assert proto.max_pending_bytes == 10_000 and proto.pending_bytes == 0
        proto.pause_writing()
        value = b"v" * 1000
        futs = []
        with pytest.raises(ConnErr, match="output buffer full") as info:
            for _ in range(100):
                futs.append(proto.send(("SET", "k", value)))
        assert info.value.cause is None
        assert len(futs) == 9  # 9 x 1029 bytes fit, the 10th would not
        assert proto.pending_bytes == 9 * 1029 <= proto.max_pending_bytes
        assert proto.pending == 9 and proto.commands == 9
        assert not proto.closed  # a full buffer is not a broken link
        drained = proto.drained()
        assert not drained.done()
        proto.resume_writing()
        await asyncio.sleep(0)
        assert drained.done() and drained.result() is None
        assert transport.writes == [b"".join(
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000\r\n" + value + b"\r\n" for _ in futs
        )]  # fmt: skip
        assert proto.pending_bytes == 0
        proto.data_received(b"+OK\r\n" * 9)
        assert [await f for f in futs] == ["OK"] * 9
        # Flowing again: commands are accepted.
        proto.send(("PING",))
        assert proto.drained().done()  # at most half the cap pending
        proto.abort()

    run(main)


def test_the_cap_applies_only_while_the_transport_is_paused() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol(max_pending_bytes=100)
        big = b"x" * 5000
        # A link that takes bytes: a burst of one iteration is never refused.
        futs = [proto.send(("SET", f"k{i}", big)) for i in range(3)]
        assert proto.pending_bytes > 3 * 5000
        await asyncio.sleep(0)
        assert len(transport.writes) == 1 and transport.writes[0].count(big) == 3
        proto.pause_writing()
        with pytest.raises(ConnErr, match="max_pending_bytes \\(100\\)"):
            proto.send(("SET", "k3", big))  # paused: even into an empty buffer
        proto.send(("PING",))  # what fits under the cap is still queued
        proto.max_pending_bytes = 0  # no cap
        proto.send(("SET", "k3", big))
        assert proto.pending_bytes > 5000
        proto.data_received(b"+OK\r\n" * 3)
        assert [await f for f in futs] == ["OK"] * 3
        with pytest.raises(ValueError):
            proto.max_pending_bytes = -1
        with pytest.raises(ValueError):
            _core.RedisProtocol(asyncio.get_running_loop(), max_pending_bytes=-1)
        proto.abort()

    run(main)


def test_link_failure_frees_buffers_and_fails_drain_waiters() -> None:
    async def main() -> None:
        proto, _, lost = make_protocol(max_pending_bytes=1 << 20)
        proto.pause_writing()
        futs = [proto.send(("SET", "k", b"v" * 100_000)) for _ in range(5)]
        assert proto.pending_bytes > 500_000
        proto.data_received(b"$1000\r\n" + b"p" * 900)  # a partial reply
        waiter = proto.drained()
        proto.connection_lost(ConnectionResetError("gone"))
        assert proto.pending_bytes == 0 and proto.closed
        for f in [*futs, waiter]:
            with pytest.raises(ConnErr, match="lost"):
                await f
        with pytest.raises(ConnErr):
            proto.drained()
        assert len(lost) == 1

    run(main)


# ---------------------------------------------------------------- reply limits


def test_nested_huge_headers_allocate_nothing_up_front() -> None:
    wire = b"*16777216\r\n" * 16
    tracemalloc.start()
    try:
        reader = _core.RespReader()
        reader.feed(wire)
        assert reader.gets() is False
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # was 16 lists of 2^24 slots: 2 GiB
    del reader

    async def main() -> None:
        proto, _, _ = make_protocol()
        fut = proto.send(("X",))
        proto.data_received(wire)
        assert not fut.done() and not proto.closed
        proto.abort()
        with pytest.raises(ConnErr):
            await fut

    run(main)


@pytest.mark.parametrize("n", [0, 1, 1023, 1024, 1025, 5000])
def test_arrays_of_any_size_round_trip(n: int) -> None:
    reader = _core.RespReader()
    reader.feed(b"*%d\r\n" % n + b"".join(b":%d\r\n" % i for i in range(n)))
    assert reader.gets() == list(range(n))
    reader.feed(b"*2\r\n*%d\r\n" % n + b"$1\r\nx\r\n" * n + b"*0\r\n")
    assert reader.gets() == [[b"x"] * n, []]
    # A partial big array is released cleanly (reset, then a new reply).
    reader.feed(b"*3000\r\n" + b":1\r\n" * 2000)
    assert reader.gets() is False
    reader.reset()
    reader.feed(b"+OK\r\n")
    assert reader.gets() == "OK"


def test_bulk_over_max_bulk_is_refused_from_its_header() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol(max_bulk=1 << 20)
        fut = proto.send(("GET", "k"))
        proto.data_received(b"$536870912\r\n")  # 512 MiB announced, nothing sent
        with pytest.raises(ConnErr, match="max_bulk") as info:
            await fut
        assert isinstance(info.value.cause, _core.ProtocolError)
        assert transport.aborted

    run(main)


# ---------------------------------------------------------------- deadlines


def test_cancelled_and_expired_futures_leave_the_link_and_the_fifo_intact() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        proto, transport, lost = make_protocol()
        assert proto.oldest_pending_since is None
        t0 = loop.time()
        futs = [proto.send(("GET", f"k{i}")) for i in range(50)]
        queued = proto.oldest_pending_since
        assert queued is not None and t0 <= queued <= loop.time()
        futs[3].cancel()  # a caller's own short timeout
        await asyncio.sleep(0.01)
        late = [proto.send(("GET", f"late{i}")) for i in range(3)]
        cutoff = loop.time() - 0.005
        nxt = proto.expire(
            cutoff, lambda m, c: TimeoutError(m), message="too slow for its deadline"
        )
        assert nxt is not None and nxt > cutoff  # the first of `late`
        assert proto.oldest_pending_since == nxt
        for f in futs:
            assert f.done()
        for f in futs[:3] + futs[4:]:
            with pytest.raises(TimeoutError, match="too slow"):
                await f
        assert not proto.closed and proto.pending == 53 and lost == []
        # Expiring again finds nothing new and answers the same next time.
        assert proto.expire(cutoff) == nxt
        # The replies of the abandoned commands are consumed and dropped.
        replies = b"".join(b"$2\r\nv%d\r\n" % (i % 10) for i in range(50))
        proto.data_received(replies + b"$1\r\na\r\n$-1\r\n-ERR no\r\n")
        assert await late[0] == b"a" and await late[1] is None
        with pytest.raises(ReplyErr, match="ERR no"):
            await late[2]
        assert proto.discarded == 50 and proto.replies == 53
        assert proto.pending == 0 and proto.oldest_pending_since is None
        assert proto.expire(loop.time()) is None
        proto.abort()
        assert transport.aborted

    run(main)


def test_expire_survives_reentrant_factories() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        proto, _, _ = make_protocol()
        futs = [proto.send(("GET", "k")) for _ in range(4)]
        calls = []

        def factory(message: str, cause: BaseException | None) -> BaseException:
            calls.append(message)
            if len(calls) == 2:
                proto.data_received(b"+OK\r\n")  # pops an entry meanwhile
                proto.expire(loop.time())  # and expires everything itself
            return TimeoutError(message)

        assert proto.expire(loop.time(), factory) is None
        assert all(f.done() for f in futs) and proto.pending == 3
        proto.abort(message="closing")
        gc.collect()

        # A factory that closes the link stops the walk.
        proto, _, _ = make_protocol()
        futs = [proto.send(("GET", "k")) for _ in range(3)]

        def closing(message: str, cause: BaseException | None) -> BaseException:
            proto.abort(message="closed inside")
            return TimeoutError(message)

        assert proto.expire(loop.time(), closing) is None
        for f in futs:
            with pytest.raises((TimeoutError, ConnErr)):
                await f
        with pytest.raises(TypeError):
            proto.expire(0.0, error_factory=5)  # type: ignore[arg-type]

    run(main)


# ---------------------------------------------------------------- C review defects


def test_failing_error_factory_still_fails_every_future() -> None:
    class FactoryBug(Exception):
        pass

    def broken(message: str, cause: BaseException | None) -> BaseException:
        raise FactoryBug(message)

    async def main() -> None:
        proto, _, _ = make_protocol()
        futs = [proto.send(("GET", "k")) for _ in range(3)]
        waiter_proto, _, _ = make_protocol(max_pending_bytes=20)
        waiter_proto.pause_writing()
        waiter_proto.send(("PING",))
        waiter = waiter_proto.drained()
        proto.abort(message="boom", error_factory=broken)
        waiter_proto.abort(message="boom", error_factory=broken)
        for f in [*futs, waiter]:
            with pytest.raises(FactoryBug, match="boom"):
                await asyncio.wait_for(f, 1)

        # The same through connection_lost with a broken connection factory.
        lost_proto = _core.RedisProtocol(
            asyncio.get_running_loop(), connection_error_factory=broken
        )
        lost_proto.connection_made(RecordingTransport(lost_proto))
        fut = lost_proto.send(("GET", "k"))
        lost_proto.connection_lost(None)
        with pytest.raises(FactoryBug, match="lost"):
            await asyncio.wait_for(fut, 1)
        # and a factory returning a non-exception: the future still ends.
        odd = _core.RedisProtocol(
            asyncio.get_running_loop(),
            connection_error_factory=lambda m, c: "not an exception",  # type: ignore[arg-type, return-value]
        )
        odd.connection_made(RecordingTransport(odd))
        fut = odd.send(("GET", "k"))
        odd.connection_lost(None)
        with pytest.raises(TypeError):
            await asyncio.wait_for(fut, 1)
        with pytest.raises(TypeError, match="not an exception"):
            odd.send(("PING",))

    run(main)


class NestedSendLoop(asyncio.SelectorEventLoop):
    """create_future runs Python code that sends another command (once)."""

    proto: Any = None
    nested: list[asyncio.Future[Any]]

    def create_future(self) -> asyncio.Future[Any]:
        if self.proto is not None:
            proto, self.proto = self.proto, None
            self.nested.append(proto.send(("GET", "nested")))
        return super().create_future()


def test_python_run_while_queueing_cannot_mismatch_replies() -> None:
    loop = NestedSendLoop()
    loop.nested = []

    async def main() -> None:
        proto, transport, _ = make_protocol()
        loop.proto = proto
        outer = proto.send(("GET", "outer"))
        await asyncio.sleep(0)
        # The nested command was queued (bytes and future) before the outer one.
        assert transport.writes == [
            b"*2\r\n$3\r\nGET\r\n$6\r\nnested\r\n*2\r\n$3\r\nGET\r\n$5\r\nouter\r\n"
        ]
        proto.data_received(b"$6\r\nnested\r\n$5\r\nouter\r\n")
        assert await loop.nested[0] == b"nested" and await outer == b"outer"
        proto.abort()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def test_argument_conversion_running_python_cannot_corrupt_the_stream() -> None:
    async def main() -> None:
        proto, transport, _ = make_protocol()
        args: list[Any] = []

        class Sneaky(int):
            """A big int subclass: packing calls its __str__ (Python code)."""

            def __str__(self) -> str:
                args.clear()  # the caller's list loses its items
                gc.collect()
                proto.send(("PING",))  # and another command is sent
                return "12345678901234567890123"

        args.extend(["SET", "k", Sneaky(2**80), b"tail"])
        fut = proto.send(args)
        await asyncio.sleep(0)
        assert transport.writes == [
            PING + b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$23\r\n12345678901234567890123\r\n"
            b"$4\r\ntail\r\n"
        ]
        proto.data_received(b"+PONG\r\n+OK\r\n")
        assert await fut == "OK" and proto.pending == 0

        class Failing(int):
            def __str__(self) -> str:
                raise RuntimeError("no digits")

        with pytest.raises(RuntimeError, match="no digits"):
            proto.send(("SET", "k", Failing(2**80)))
        await asyncio.sleep(0)
        assert len(transport.writes) == 1 and proto.pending == 0  # nothing queued
        proto.abort()

    run(main)


def test_reader_refuses_reentry_from_its_error_factory() -> None:
    holder: list[_core.RespReader] = []

    def factory(message: str) -> BaseException:
        reader, action = holder[0], message.split()[1]
        if action == "reset":
            reader.reset()
        elif action == "feed":
            reader.feed(b"+x\r\n" * 1000)
        else:
            reader.gets()
        return ReplyErr(message)

    for action in ("reset", "feed", "gets"):
        reader = _core.RespReader(error_factory=factory)
        holder[:] = [reader]
        reader.feed(b"*2\r\n-ERR %s\r\n$3\r\nabc\r\n" % action.encode())
        with pytest.raises(RuntimeError, match="re-entry refused"):
            reader.gets()
        reader.reset()  # allowed again once gets() returned
        reader.feed(b"+OK\r\n")
        assert reader.gets() == "OK"


def test_protocol_refuses_data_received_from_inside_a_reply() -> None:
    async def main() -> None:
        holder: list[Any] = []

        def factory(message: str) -> BaseException:
            holder[0].data_received(b"+OK\r\n")
            return ReplyErr(message)

        proto = _core.RedisProtocol(
            asyncio.get_running_loop(),
            reply_error_factory=factory,
            connection_error_factory=ConnErr,
        )
        holder.append(proto)
        proto.connection_made(RecordingTransport(proto))
        fut = proto.send(("GET", "k"))
        proto.data_received(b"-ERR x\r\n")
        with pytest.raises(ConnErr, match="failed to build a Redis reply") as info:
            await fut
        assert isinstance(info.value.cause, RuntimeError)

        # From a decoder: that command fails, the link and the others go on.
        proto2, _, _ = make_protocol()

        def decoder(raw: bytes) -> bytes:
            proto2.data_received(b"+OK\r\n")
            return raw

        f1 = proto2.send(("GET", "a"), decoder)
        f2 = proto2.send(("GET", "b"))
        proto2.data_received(b"$1\r\na\r\n$1\r\nb\r\n")
        with pytest.raises(RuntimeError, match="re-entered"):
            await f1
        assert await f2 == b"b" and not proto2.closed
        proto2.abort()

    run(main)


# ---------------------------------------------------------------- real servers


async def _connect(server: RedisServer, **kw: Any) -> _core.RedisProtocol:
    loop = asyncio.get_running_loop()
    proto = _core.RedisProtocol(
        loop, reply_error_factory=ReplyErr, connection_error_factory=ConnErr, **kw
    )
    factory = cast(Callable[[], asyncio.Protocol], lambda: proto)
    await loop.create_connection(factory, server.host, server.port)
    return proto


@pytest.mark.redis
def test_stopped_server_bounds_the_output_then_drains(
    redis_server_factory: Callable[[str], RedisServer],
) -> None:
    server = redis_server_factory("plain")

    async def main() -> None:
        cap = 4 << 20
        proto = await _connect(server, max_pending_bytes=cap)
        value = b"v" * (1 << 20)
        server.pause()  # SIGSTOP: the socket buffers fill, then the transport pauses
        futs = []
        refused = 0
        try:
            for i in range(400):
                try:
                    futs.append(proto.send(("SET", f"k{i}", value)))
                except ConnErr as exc:
                    assert "output buffer full" in str(exc)
                    refused += 1
                    if refused == 20:
                        break
                await asyncio.sleep(0)
            assert proto.paused and refused == 20 and not proto.closed
            assert proto.pending_bytes <= cap
            waiter = proto.drained()
            assert not waiter.done()
        finally:
            server.resume()
        await asyncio.wait_for(waiter, 20)
        assert await asyncio.wait_for(asyncio.gather(*futs), 20) == ["OK"] * len(futs)
        assert await proto.send(("DBSIZE",)) == len(futs)
        proto.abort()

    run(main)


@pytest.mark.redis
def test_one_abandoned_command_leaves_the_others_and_the_link(
    redis_plain: RedisServer,
) -> None:
    async def main() -> None:
        proto = await _connect(redis_plain)
        keys = [f"abandon:{i}" for i in range(50)]
        await asyncio.gather(*(proto.send(("SET", k, k)) for k in keys))
        futs = [proto.send(("GET", k)) for k in keys]
        futs[7].cancel()  # one caller's very short timeout
        futs[8].set_exception(TimeoutError("its own deadline"))
        got = await asyncio.gather(*futs, return_exceptions=True)
        for i, (k, v) in enumerate(zip(keys, got, strict=True)):
            if i not in (7, 8):
                assert v == k.encode()
        assert proto.discarded == 2 and not proto.closed
        assert await proto.send(("PING",)) == "PONG"
        proto.abort()

    run(main)
