"""Caching streamed responses (LLM token streams, SSE): one model call per key.

``cached_stream(cache, key, source)`` returns an async iterator of chunks:

* The first caller starts ``source()`` in a producer task; its chunks are handed
  to the caller as they arrive and recorded.
* Callers that arrive while that stream is live (in this process) follow the same
  stream from its first chunk: the model is not called again.
* When the source ends normally the recorded chunks are stored under key (one
  entry, ``ttl`` as ``cache.set``); later callers replay them with the same chunk
  boundaries, as fast as possible or paced (a fixed delay, or the recorded timing).
* A stream that fails midway is not stored: every follower gets the chunks it was
  sent and then the error. A follower that leaves (client disconnect) does not stop
  the stream for the others; when every follower has left, the producer is
  cancelled and nothing is stored.
* Caps: over ``max_bytes`` (summed ``len`` of the chunks) or ``max_chunks`` the
  stream still reaches its followers but is no longer recorded (counted as
  ``over_cap``); chunks every follower has read are dropped from memory, and new
  callers start their own stream.

Stored form: ``{"__aicache_stream__": 1, "c": [chunks], "t": [seconds since the
first chunk]}``; chunks are whatever the source yields (``str``/``bytes`` for SSE
and token streams; any value the cache can store).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from aicache.exceptions import InfrastructureError, ValidationError
from aicache.privacy import log_key
from aicache.stream_relay import StreamRelay, decode_item

__all__ = [
    "STREAM_MARK",
    "CachedStream",
    "cached_stream",
    "cached_streaming_response",
    "open_stream",
    "stream_stats",
]

logger = logging.getLogger(__name__)

STREAM_MARK = "__aicache_stream__"
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_CHUNKS = 100_000
DEFAULT_LEASE = 10.0
_POLL_FIRST = 0.002  # seconds between reads of another process's stream, doubling
_POLL_MAX = 0.01

Source = Callable[[], AsyncIterator[Any]]


def _chunk_size(chunk: Any) -> int:
    if isinstance(chunk, bytes | bytearray | memoryview | str):
        return len(chunk)
    return len(repr(chunk))


class _LiveStream:
    """A stream being produced: the chunks so far and who is reading them."""

    def __init__(self, max_bytes: int, max_chunks: int) -> None:
        self.chunks: list[Any] = []
        self.offsets: list[float] = []
        self.base = 0  # stream index of chunks[0] (chunks are dropped once over cap)
        self.size = 0
        self.max_bytes = max_bytes
        self.max_chunks = max_chunks
        self.recording = True
        self.store = True  # False while following another process's stream
        self.done = False
        self.error: BaseException | None = None
        self.positions: dict[int, int] = {}  # follower id -> next stream index
        self.task: asyncio.Task[None] | None = None
        self.loop = asyncio.get_running_loop()
        self._changed: asyncio.Future[None] = self.loop.create_future()
        self._started = time.perf_counter()

    @property
    def end(self) -> int:
        return self.base + len(self.chunks)

    def _notify(self) -> None:
        changed = self._changed
        self._changed = changed.get_loop().create_future()
        if not changed.done():
            changed.set_result(None)

    def append(self, chunk: Any) -> None:
        self.chunks.append(chunk)
        self.offsets.append(time.perf_counter() - self._started)
        if self.recording:
            self.size += _chunk_size(chunk)
            if self.size > self.max_bytes or self.end > self.max_chunks:
                self.recording = False
        self._notify()

    def finish(self, error: BaseException | None) -> None:
        self.done = True
        self.error = error
        self._notify()

    async def changed(self) -> None:
        await asyncio.shield(self._changed)

    def trim(self) -> None:
        """Drop chunks every follower has read (only once the stream is not recorded)."""
        if self.recording or not self.positions:
            return
        low = min(self.positions.values())
        if low > self.base:
            del self.chunks[: low - self.base]
            del self.offsets[: low - self.base]
            self.base = low


_COUNTERS = (
    "origin",  # streams produced by calling the source
    "followed",  # callers that followed a live stream
    "replayed",  # callers served from a stored stream
    "followed_remote",  # streams followed from another process through Redis
    "takeovers",  # remote streams whose producer vanished before any chunk
    "stored",
    "failed",
    "cancelled",
    "over_cap",
)


class _StreamRegistry:
    def __init__(self) -> None:
        self.live: dict[str, _LiveStream] = {}
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)

    def current(self, key: str) -> _LiveStream | None:
        live = self.live.get(key)
        if live is None or live.loop is not asyncio.get_running_loop():
            return None
        if not live.recording and live.base > 0:
            return None  # its beginning is gone: a new caller cannot follow it
        return live


_registries: weakref.WeakKeyDictionary[Any, _StreamRegistry] = (
    weakref.WeakKeyDictionary()
)


def _registry(cache: Any) -> _StreamRegistry:
    registry = _registries.get(cache)
    if registry is None:
        registry = _registries[cache] = _StreamRegistry()
    return registry


def stream_stats(cache: Any) -> dict[str, int]:
    """Counters of ``cached_stream`` on cache: origin, followed, replayed, stored,
    failed, cancelled, over_cap."""
    return dict(_registry(cache).counters)


def _stored(raw: Any) -> tuple[list[Any], list[float]] | None:
    if not isinstance(raw, dict) or raw.get(STREAM_MARK) != 1:
        return None
    chunks = raw.get("c")
    offsets = raw.get("t")
    if not isinstance(chunks, list | tuple):
        return None
    if not isinstance(offsets, list | tuple) or len(offsets) != len(chunks):
        offsets = [0.0] * len(chunks)
    return list(chunks), [float(t) for t in offsets]


class CachedStream:
    """An async iterator of a stream's chunks; ``origin`` says where they come
    from: ``"cache"`` (replay), ``"live"`` (following another caller's stream) or
    ``"source"`` (this call started the stream)."""

    def __init__(self, origin: str, chunks: AsyncIterator[Any]) -> None:
        self.origin = origin
        self._chunks = chunks

    def __aiter__(self) -> CachedStream:
        return self

    async def __anext__(self) -> Any:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()


def _validate(max_bytes: int, max_chunks: int, pace: float | str | None) -> None:
    for name, value in (("max_bytes", max_bytes), ("max_chunks", max_chunks)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError(f"{name} must be a positive integer", {name: value})
    if pace is None or pace == "original":
        return
    if isinstance(pace, bool) or not isinstance(pace, int | float) or not pace >= 0:
        raise ValidationError(
            'pace must be None, "original" or a delay in seconds >= 0',
            {"pace": repr(pace)},
        )


async def open_stream(
    cache: Any,
    key: str,
    source: Source,
    ttl: int | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_chunks: int = DEFAULT_MAX_CHUNKS,
    pace: float | str | None = None,
    across_processes: bool = True,
    lease: float = DEFAULT_LEASE,
) -> CachedStream:
    """The stream of key: a stored replay, the live stream (of this process, or of
    another one through Redis when ``across_processes``), or a new one from
    ``source()`` (a zero-argument callable returning an async iterator).
    ``lease``: seconds the producer's Redis lock lasts without renewal (a dead
    producer is noticed after it)."""
    _validate(max_bytes, max_chunks, pace)
    if isinstance(lease, bool) or not isinstance(lease, int | float) or not lease > 0:
        raise ValidationError("lease must be a positive number", {"lease": lease})
    registry = _registry(cache)
    counters = registry.counters
    live = registry.current(key)
    if live is None:
        stored = _stored(await cache.get(key))
        if stored is not None:
            counters["replayed"] += 1
            return CachedStream("cache", _replay(stored[0], stored[1], pace))
        live = registry.current(key)  # one may have started while we read
    relay = None
    if live is None and across_processes:
        relay = await StreamRelay.open(cache, key, lease)
        live = registry.current(key)
    if live is not None:
        counters["followed"] += 1
        return CachedStream("live", _follow(registry, key, live))
    loop = asyncio.get_running_loop()
    live = _LiveStream(max_bytes, max_chunks)
    registry.live[key] = live  # before any await: local callers join this one
    if relay is not None:
        try:
            producing = await relay.acquire()
        except Exception as exc:
            logger.debug("No stream relay for %r: %s", key, exc)
            producing, relay = True, None
    if relay is not None:
        if producing:
            # The previous producer may have stored it after our read.
            stored = _stored(await cache.get(key))
            if stored is not None:
                for chunk in stored[0]:  # for local callers that joined meanwhile
                    live.append(chunk)
                del registry.live[key]
                live.finish(None)
                await relay.finish(None)
                counters["replayed"] += 1
                return CachedStream("cache", _replay(stored[0], stored[1], pace))
        else:
            counters["followed_remote"] += 1
            live.store = False
            live.task = loop.create_task(
                _follow_remote(cache, registry, key, live, relay, source, ttl)
            )
            return CachedStream("remote", _follow(registry, key, live))
    counters["origin"] += 1
    live.task = loop.create_task(
        _produce(cache, registry, key, live, source, ttl, relay)
    )
    return CachedStream("source", _follow(registry, key, live))


async def cached_stream(
    cache: Any,
    key: str,
    source: Source,
    ttl: int | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_chunks: int = DEFAULT_MAX_CHUNKS,
    pace: float | str | None = None,
    across_processes: bool = True,
    lease: float = DEFAULT_LEASE,
) -> AsyncIterator[Any]:
    """Async generator over key's chunks (see the module documentation)."""
    stream = await open_stream(
        cache,
        key,
        source,
        ttl,
        max_bytes=max_bytes,
        max_chunks=max_chunks,
        pace=pace,
        across_processes=across_processes,
        lease=lease,
    )
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


async def _replay(
    chunks: list[Any], offsets: list[float], pace: float | str | None
) -> AsyncIterator[Any]:
    start = time.perf_counter()
    for i, chunk in enumerate(chunks):
        if pace == "original":
            delay = offsets[i] - (time.perf_counter() - start)
            if delay > 0:
                await asyncio.sleep(delay)
        elif pace and i:
            await asyncio.sleep(float(pace))
        yield chunk


async def _follow(
    registry: _StreamRegistry, key: str, live: _LiveStream
) -> AsyncIterator[Any]:
    me = id(object())
    while me in live.positions:  # pragma: no cover - ids of dead objects repeat
        me += 1
    live.positions[me] = live.base
    try:
        while True:
            pos = live.positions[me]
            if pos < live.end:
                chunk = live.chunks[pos - live.base]
                live.positions[me] = pos + 1
                live.trim()
                yield chunk
                continue
            if live.done:
                if live.error is not None:
                    raise live.error
                return
            await live.changed()
    finally:
        del live.positions[me]
        task = live.task
        if not live.positions and task is not None and not task.done():
            # Every follower left: nobody wants the rest of this stream.
            task.cancel()
            if registry.live.get(key) is live:
                del registry.live[key]


async def _produce(
    cache: Any,
    registry: _StreamRegistry,
    key: str,
    live: _LiveStream,
    source: Source,
    ttl: int | None,
    relay: StreamRelay | None = None,
) -> None:
    counters = registry.counters
    error: BaseException | None = None
    keeper = (
        asyncio.get_running_loop().create_task(relay.keep_alive())
        if relay is not None
        else None
    )
    try:
        iterator = source()
        try:
            async for chunk in iterator:
                live.append(chunk)
                if not live.recording and registry.live.get(key) is live:
                    counters["over_cap"] += 1
                    del registry.live[key]  # new callers start their own stream
                if relay is not None:
                    if live.recording:
                        await relay.publish(chunk)
                    else:
                        await relay.stop_relaying()
        finally:
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                await closer()
        if live.recording and live.store:
            entry = {STREAM_MARK: 1, "c": live.chunks, "t": live.offsets}
            try:
                await cache.set(key, entry, ttl)
                counters["stored"] += 1
            except Exception as exc:  # the stream itself was fine
                logger.warning("Could not store stream %s: %s", log_key(key), exc)
    except asyncio.CancelledError:
        counters["cancelled"] += 1
        error = asyncio.CancelledError()
        raise
    except Exception as exc:
        counters["failed"] += 1
        error = exc
    finally:
        if registry.live.get(key) is live:
            del registry.live[key]
        live.finish(error)
        if keeper is not None:
            keeper.cancel()
        if relay is not None:
            failure = None if error is None else f"{type(error).__name__}: {error}"
            await asyncio.shield(relay.finish(failure))


async def _follow_remote(
    cache: Any,
    registry: _StreamRegistry,
    key: str,
    live: _LiveStream,
    relay: StreamRelay,
    source: Source,
    ttl: int | None,
) -> None:
    """Feed live from the stream another process produces (polling its list); take
    over when that producer vanished before sending anything."""
    index = 0
    interval = _POLL_FIRST
    error: BaseException | None = None
    try:
        while True:
            items = await relay.read_from(index)
            if items:
                interval = _POLL_FIRST
                for item in items:
                    index += 1
                    kind, value = decode_item(item)
                    if kind == "chunk":
                        live.append(value)
                        continue
                    if kind == "failed":
                        error = InfrastructureError(
                            f"The stream {key!r} failed in the process producing it: "
                            f"{value}",
                            {"key": key},
                        )
                    elif kind == "unrelayable":
                        error = InfrastructureError(
                            f"The rest of stream {key!r} cannot be relayed between "
                            "processes (chunk type or size cap)",
                            {"key": key},
                        )
                    return
                continue
            if not await relay.producer_alive():
                if await _finish_from_store(cache, key, live, index):
                    return
                if index == 0 and await relay.acquire():
                    # The producer died before its first chunk: produce it here.
                    registry.counters["takeovers"] += 1
                    live.store = True
                    live.task = asyncio.current_task()
                    await _produce(cache, registry, key, live, source, ttl, relay)
                    return
                if not await relay.producer_alive():
                    error = InfrastructureError(
                        f"The process producing stream {key!r} stopped midway",
                        {"key": key},
                    )
                    return
            await asyncio.sleep(interval)
            interval = min(interval * 2, _POLL_MAX)
    except asyncio.CancelledError:
        error = asyncio.CancelledError()
        raise
    except Exception as exc:
        error = exc
    finally:
        if not live.done:
            if registry.live.get(key) is live:
                del registry.live[key]
            live.finish(error)


async def _finish_from_store(
    cache: Any, key: str, live: _LiveStream, index: int
) -> bool:
    """The producer finished (its list expired): complete live from the stored copy."""
    stored = _stored(await cache.get(key))
    if stored is None or len(stored[0]) < index:
        return False
    for chunk in stored[0][index:]:
        live.append(chunk)
    return True


async def cached_streaming_response(
    cache: Any,
    key: str,
    source: Source,
    ttl: int | None = None,
    *,
    media_type: str = "text/event-stream",
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_chunks: int = DEFAULT_MAX_CHUNKS,
    pace: float | str | None = None,
) -> Any:
    """A Starlette/FastAPI ``StreamingResponse`` over ``open_stream(...)``, with
    ``X-Cache: HIT`` (replayed), ``LIVE`` (followed) or ``MISS`` (source called).
    SSE endpoints keep ``media_type="text/event-stream"``; proxies are told not to
    buffer (``X-Accel-Buffering: no``) and clients not to cache
    (``Cache-Control: no-cache``) unless ``headers`` say otherwise."""
    from starlette.responses import StreamingResponse

    stream = await open_stream(
        cache, key, source, ttl, max_bytes=max_bytes, max_chunks=max_chunks, pace=pace
    )
    out = {
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        "X-Cache": {"cache": "HIT", "live": "LIVE"}.get(stream.origin, "MISS"),
    }
    out.update(headers or {})
    return StreamingResponse(
        stream, status_code=status_code, media_type=media_type, headers=out
    )
