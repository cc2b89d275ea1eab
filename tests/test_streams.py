"""cached_stream: tee + record, live followers, byte-identical replay, failures, caps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import pytest

from aicache import streams
from aicache.exceptions import InfrastructureError, ValidationError
from aicache.memory import InMemoryCache
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from redis_servers import RedisServer

DB = 13


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def testing_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("REDIS_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("ENVIRONMENT", "testing")
    yield


CHUNKS = [b"data: He", b"llo", b", wor", b"ld\n\n", b"", "é-str", b"\x00\xff" * 300]


class Model:
    """A token-streaming source that counts how often it is called."""

    def __init__(
        self,
        chunks: list[Any] = CHUNKS,
        delay: float = 0.01,
        fail_after: int | None = None,
    ) -> None:
        self.chunks = chunks
        self.delay = delay
        self.fail_after = fail_after
        self.calls = 0
        self.closed = 0

    def __call__(self) -> AsyncIterator[Any]:
        self.calls += 1
        return self._gen()

    async def _gen(self) -> AsyncIterator[Any]:
        try:
            for i, chunk in enumerate(self.chunks):
                if self.fail_after is not None and i == self.fail_after:
                    raise RuntimeError("model stream broke")
                await asyncio.sleep(self.delay)
                yield chunk
        finally:
            self.closed += 1


async def collect(cache: Any, key: str, model: Any, **kw: Any) -> list[Any]:
    return [c async for c in streams.cached_stream(cache, key, model, **kw)]


def test_first_caller_is_teed_later_callers_replay_identically() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        model = Model()
        first = await collect(cache, "s", model, ttl=60)
        assert first == CHUNKS
        for _ in range(3):
            assert await collect(cache, "s", model) == CHUNKS  # same boundaries
        assert model.calls == 1
        stats = streams.stream_stats(cache)
        assert stats["origin"] == 1 and stats["replayed"] == 3 and stats["stored"] == 1

    run(main())


def test_first_chunk_arrives_before_the_stream_ends() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        release = asyncio.Event()

        async def stalled() -> AsyncIterator[bytes]:
            yield b"first"
            await release.wait()  # the rest of the stream is not produced yet
            yield b"rest"

        stream = await streams.open_stream(cache, "t", stalled)
        assert await asyncio.wait_for(stream.__anext__(), timeout=10) == b"first"
        release.set()
        assert [c async for c in stream] == [b"rest"]

    run(main())


def test_concurrent_callers_follow_one_live_stream() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        model = Model(delay=0.02)
        first = asyncio.create_task(collect(cache, "live", model))
        await asyncio.sleep(0.05)  # mid-stream
        late = [asyncio.create_task(collect(cache, "live", model)) for _ in range(20)]
        results = await asyncio.gather(first, *late)
        assert all(r == CHUNKS for r in results)
        assert model.calls == 1
        assert streams.stream_stats(cache)["followed"] == 20

    run(main())


def test_failed_stream_is_not_stored_and_every_follower_sees_the_error() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        model = Model(fail_after=3)
        got: list[list[Any]] = [[], []]

        async def reader(i: int) -> None:
            async for chunk in streams.cached_stream(cache, "f", model):
                got[i].append(chunk)

        results = await asyncio.gather(reader(0), reader(1), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        assert got == [CHUNKS[:3], CHUNKS[:3]]
        assert await cache.get("f") is None
        assert streams.stream_stats(cache)["failed"] == 1
        ok = Model()
        assert await collect(cache, "f", ok) == CHUNKS  # the next caller retries
        assert ok.calls == 1

    run(main())


def test_first_caller_leaving_does_not_stop_the_others() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        model = Model(delay=0.02)

        async def leave_early() -> None:
            async for _ in streams.cached_stream(cache, "k", model):
                return  # client disconnected after one chunk

        other = asyncio.create_task(collect(cache, "k", model))
        await leave_early()
        assert await other == CHUNKS
        await asyncio.sleep(0.01)
        assert model.calls == 1
        assert await collect(cache, "k", model) == CHUNKS  # stored complete
        assert model.calls == 1

    run(main())


def test_all_followers_cancelled_cancels_the_model_and_stores_nothing() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        model = Model(delay=0.05)
        tasks = [asyncio.create_task(collect(cache, "c", model)) for _ in range(3)]
        await asyncio.sleep(0.08)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.02)
        assert model.closed == 1  # the source was closed, not drained
        assert await cache.get("c") is None
        assert streams.stream_stats(cache)["cancelled"] == 1

    run(main())


def test_over_the_cap_streams_through_without_storing() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        big = [b"x" * 100] * 50
        model = Model(chunks=big, delay=0.0)
        assert await collect(cache, "big", model, max_bytes=1000) == big
        assert await cache.get("big") is None
        assert streams.stream_stats(cache)["over_cap"] == 1
        many = Model(chunks=[b"a"] * 30, delay=0.0)
        assert await collect(cache, "many", many, max_chunks=10) == [b"a"] * 30
        assert await cache.get("many") is None
        # Under the caps it is stored.
        assert await collect(cache, "many2", many, max_chunks=30) == [b"a"] * 30
        assert await cache.get("many2") is not None

    run(main())


def test_over_cap_followers_still_get_everything() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        chunks = [bytes([i]) * 10 for i in range(40)]
        model = Model(chunks=chunks, delay=0.005)
        a = asyncio.create_task(collect(cache, "o", model, max_bytes=100))
        await asyncio.sleep(0.02)
        b = asyncio.create_task(collect(cache, "o", model, max_bytes=100))
        assert await a == chunks and await b == chunks
        assert model.calls == 1

    run(main())


def test_paced_replay() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        model = Model(chunks=[b"a", b"b", b"c", b"d"], delay=0.05)
        await collect(cache, "p", model)
        start = time.perf_counter()
        assert await collect(cache, "p", model, pace=0.03) == [b"a", b"b", b"c", b"d"]
        assert time.perf_counter() - start >= 0.09
        start = time.perf_counter()
        assert await collect(cache, "p", model, pace="original") == [
            b"a",
            b"b",
            b"c",
            b"d",
        ]
        assert time.perf_counter() - start >= 0.14  # the recorded 50 ms gaps
        assert await collect(cache, "p", model) == [b"a", b"b", b"c", b"d"]
        assert model.calls == 1

    run(main())


def test_bad_stream_options() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        for kw in (
            {"max_bytes": 0},
            {"max_chunks": -1},
            {"pace": "fast"},
            {"pace": -1},
        ):
            with pytest.raises(ValidationError):
                await streams.open_stream(cache, "k", Model(), **kw)

    run(main())


@pytest.mark.redis
def test_replay_through_redis_is_byte_identical(redis_plain: RedisServer) -> None:
    redis_plain.cli("-n", str(DB), "DEL", "stream:r")

    async def main() -> None:
        url = f"{redis_plain.url}/{DB}"
        writer = GenericRedisCache(redis_url=url, security_config=SecurityConfig())
        reader = GenericRedisCache(
            redis_url=url, security_config=SecurityConfig(), enable_l1_cache=False
        )
        model = Model()
        assert await collect(writer, "stream:r", model, ttl=60) == CHUNKS
        replay = await collect(reader, "stream:r", model)
        assert replay == CHUNKS
        assert [type(c) for c in replay] == [type(c) for c in CHUNKS]
        assert model.calls == 1
        await writer.disconnect()
        await reader.disconnect()

    run(main())


def test_fastapi_streaming_response_helper() -> None:
    pytest.importorskip("fastapi")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    cache = InMemoryCache()
    model = Model(chunks=["data: a\n\n", "data: b\n\n"], delay=0.0)

    @app.get("/chat")
    async def chat() -> Any:
        return await streams.cached_streaming_response(cache, "chat", model, ttl=60)

    with TestClient(app) as client:
        first = client.get("/chat")
        second = client.get("/chat")
    assert first.text == second.text == "data: a\n\ndata: b\n\n"
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert first.headers["content-type"].startswith("text/event-stream")
    assert model.calls == 1


# ------------------------------------------------------------------ across processes
# Two cache objects have separate in-process registries: only Redis joins them,
# as it joins worker processes.


def two_caches(redis_plain: RedisServer) -> tuple[GenericRedisCache, GenericRedisCache]:
    url = f"{redis_plain.url}/{DB}"
    return (
        GenericRedisCache(
            redis_url=url, security_config=SecurityConfig(), enable_l1_cache=False
        ),
        GenericRedisCache(
            redis_url=url, security_config=SecurityConfig(), enable_l1_cache=False
        ),
    )


@pytest.mark.redis
def test_another_process_follows_the_live_stream(redis_plain: RedisServer) -> None:
    redis_plain.cli("-n", str(DB), "DEL", "xs:live")

    async def main() -> None:
        a, b = two_caches(redis_plain)
        model = Model(delay=0.03)
        chunks = [*CHUNKS, {"done": True}]
        model.chunks = chunks
        first = asyncio.create_task(collect(a, "xs:live", model))
        await asyncio.sleep(0.08)  # a is mid-stream
        stream = await streams.open_stream(b, "xs:live", model)
        assert stream.origin == "remote"
        followed = [c async for c in stream]
        assert await first == chunks and followed == chunks
        assert [type(c) for c in followed] == [type(c) for c in chunks]
        assert model.calls == 1
        assert streams.stream_stats(b)["followed_remote"] == 1
        # Stored once by the producer; both replay it now.
        assert (await streams.open_stream(b, "xs:live", model)).origin == "cache"
        await a.disconnect()
        await b.disconnect()

    run(main())


@pytest.mark.redis
def test_remote_followers_see_the_producers_failure(redis_plain: RedisServer) -> None:
    redis_plain.cli("-n", str(DB), "DEL", "xs:fail")

    async def main() -> None:
        a, b = two_caches(redis_plain)
        model = Model(delay=0.03, fail_after=4)
        first = asyncio.create_task(collect(a, "xs:fail", model))
        await asyncio.sleep(0.05)
        got: list[Any] = []
        with pytest.raises(InfrastructureError, match="failed in the process"):
            async for chunk in streams.cached_stream(b, "xs:fail", model):
                got.append(chunk)
        assert got == CHUNKS[:4]
        with pytest.raises(RuntimeError):
            await first
        assert model.calls == 1
        assert await b.get("xs:fail") is None
        await a.disconnect()
        await b.disconnect()

    run(main())


@pytest.mark.redis
def test_a_dead_producer_before_its_first_chunk_is_taken_over(
    redis_plain: RedisServer,
) -> None:
    redis_plain.cli("-n", str(DB), "DEL", "xs:dead")
    # A producer took the lock and died (no renewals): its lease runs out.
    redis_plain.cli(
        "-n", str(DB), "SET", "{xs:dead}:aicache-stream-lock", "gone", "PX", "300"
    )

    async def main() -> None:
        _, b = two_caches(redis_plain)
        model = Model(delay=0.0)
        stream = await streams.open_stream(b, "xs:dead", model)
        assert stream.origin == "remote"
        assert [c async for c in stream] == CHUNKS
        assert model.calls == 1
        assert streams.stream_stats(b)["takeovers"] == 1
        await asyncio.sleep(0.01)
        assert streams._stored(await b.get("xs:dead")) is not None
        await b.disconnect()

    run(main())


@pytest.mark.redis
def test_relay_off_keeps_streams_per_process(redis_plain: RedisServer) -> None:
    redis_plain.cli("-n", str(DB), "DEL", "xs:off")

    async def main() -> None:
        a, b = two_caches(redis_plain)
        model = Model(delay=0.02)
        results = await asyncio.gather(
            collect(a, "xs:off", model, across_processes=False),
            collect(b, "xs:off", model, across_processes=False),
        )
        assert results == [CHUNKS, CHUNKS] and model.calls == 2
        await a.disconnect()
        await b.disconnect()

    run(main())
