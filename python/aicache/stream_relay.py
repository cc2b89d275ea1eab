"""Relaying a live stream to other processes through Redis (used by aicache.streams).

The process that produces a stream holds a lock (as ``get_or_set`` does: SET NX PX
with a random token, renewed, owner-only release) and appends every chunk to a Redis
list; processes that arrive meanwhile read the list from where they are
(``LRANGE idx -1``, polled; the shared connection never blocks on BLPOP) until the
end marker. Both keys carry the stream key's hash tag (same Cluster slot).

List items: ``b"b"`` + bytes, ``b"s"`` + UTF-8 text, ``b"j"`` + JSON (other JSON
values), ``b"E"`` end, ``b"X"`` + message: the producer failed, ``b"U"``: the rest
cannot be relayed (a chunk type without an encoding, or the stream went over its
cap).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aicache.stampede import LOCK_SUFFIX, RedisLock, _redis_execute, lock_key_for

__all__ = ["StreamRelay"]

logger = logging.getLogger(__name__)

_END = b"E"
_FAILED = b"X"
_UNRELAYABLE = b"U"
_KEEP_AFTER_END_MS = 30_000  # late readers still find the end marker


def encode_chunk(chunk: Any) -> bytes | None:
    """The list item for chunk, or None when it has no relay encoding."""
    if isinstance(chunk, bytes | bytearray | memoryview):
        return b"b" + bytes(chunk)
    if isinstance(chunk, str):
        return b"s" + chunk.encode("utf-8", "surrogatepass")
    try:
        return b"j" + json.dumps(chunk, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return None


def decode_item(item: bytes) -> tuple[str, Any]:
    """("chunk", value), ("end", None), ("failed", message) or ("unrelayable", None)."""
    tag, body = item[:1], item[1:]
    if tag == b"b":
        return "chunk", body
    if tag == b"s":
        return "chunk", body.decode("utf-8", "surrogatepass")
    if tag == b"j":
        return "chunk", json.loads(body)
    if tag == _END:
        return "end", None
    if tag == _FAILED:
        return "failed", body.decode("utf-8", "replace")
    return "unrelayable", None


class StreamRelay:
    """The Redis side of one stream key: its producer lock and its chunk list."""

    def __init__(self, execute: Any, redis_key: str, lease: float) -> None:
        base = lock_key_for(redis_key)[: -len(LOCK_SUFFIX)]
        self._execute = execute
        self.lock = RedisLock(execute, base + ":aicache-stream-lock", lease)
        self.list = base + ":aicache-stream"
        self.active = True  # False once publishing stopped (error, unrelayable)

    @classmethod
    async def open(cls, cache: Any, key: str, lease: float) -> StreamRelay | None:
        """The relay for key on cache's Redis, or None (no Redis tier now)."""
        execute = await _redis_execute(cache)
        if execute is None:
            return None
        return cls(execute, cache._rkey(key), lease)

    # -- producer -----------------------------------------------------------------

    async def acquire(self) -> bool:
        """Become the producer (and clear a previous stream's list)."""
        if not await self.lock.acquire():
            return False
        await self._execute("DEL", self.list)
        return True

    async def publish(self, chunk: Any) -> None:
        if not self.active:
            return
        item = encode_chunk(chunk)
        if item is None:
            await self.stop_relaying()
            return
        try:
            if await self._execute("RPUSH", self.list, item) == 1:
                await self._execute("PEXPIRE", self.list, 2 * self.lock.lease_ms)
        except Exception as exc:
            self.active = False
            logger.warning("Stopped relaying stream %s: %s", self.list, exc)

    async def stop_relaying(self) -> None:
        """Tell the followers the rest cannot reach them through Redis."""
        if self.active:
            self.active = False
            await self._push(_UNRELAYABLE)

    async def keep_alive(self) -> None:
        """Renew the lock and the list's expiry while the stream is produced."""
        interval = self.lock.lease_ms / 3000.0
        while True:
            await asyncio.sleep(interval)
            try:
                await self.lock.renew()
                await self._execute("PEXPIRE", self.list, 2 * self.lock.lease_ms)
            except Exception as exc:
                logger.debug("Could not renew stream relay %s: %s", self.list, exc)

    async def finish(self, failure: str | None) -> None:
        """Push the end (or failure) marker and release the lock."""
        try:
            if self.active:
                await self._push(
                    _END if failure is None else _FAILED + failure.encode()[:1000]
                )
                await self._execute("PEXPIRE", self.list, _KEEP_AFTER_END_MS)
        finally:
            try:
                await self.lock.release()
            except Exception as exc:  # the lease ends it anyway
                logger.debug("Could not release %s: %s", self.lock.name, exc)

    async def _push(self, item: bytes) -> None:
        try:
            await self._execute("RPUSH", self.list, item)
        except Exception as exc:
            logger.debug("Could not push to %s: %s", self.list, exc)

    # -- followers ----------------------------------------------------------------

    async def read_from(self, index: int) -> list[bytes]:
        items = await self._execute("LRANGE", self.list, index, -1)
        return [bytes(i) for i in items or ()]

    async def producer_alive(self) -> bool:
        return await self.lock.held()
