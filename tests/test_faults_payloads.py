"""Payloads built to exhaust memory or the event loop: refused from cheap byte
counts before any object is built; through the cache they are misses plus a
counter. L1 is bounded in bytes by default."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import pytest

from aicache.codec import ValueCodec
from aicache.redis_generic import DEFAULT_L1_MAX_BYTES, GenericRedisCache
from aicache.security import SecurityConfig
from aicache.serialization import (
    MAX_DECODE_DEPTH,
    MAX_DECODED_OBJECTS,
    CorruptPayloadError,
    JsonSerializer,
    SafeSerializer,
    check_decode_bounds,
)
from cache_env import testing_env  # noqa: F401 (autouse fixture)
from redis_servers import RedisServer


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("serializer", [SafeSerializer(), JsonSerializer()])
def test_object_and_depth_bounds(serializer: Any) -> None:
    too_many = b"[" + b"[]," * MAX_DECODED_OBJECTS + b"[]]"
    with pytest.raises(CorruptPayloadError) as info:
        serializer.loads(too_many)
    assert info.value.reason == "limit"
    too_deep = b"[" * (MAX_DECODE_DEPTH + 1) + b"]" * (MAX_DECODE_DEPTH + 1)
    with pytest.raises(CorruptPayloadError):
        serializer.loads(too_deep)
    # At the limits, and brackets inside strings, still decode.
    ok_deep = b"[" * MAX_DECODE_DEPTH + b"]" * MAX_DECODE_DEPTH
    assert serializer.loads(ok_deep) == nested(MAX_DECODE_DEPTH - 1)
    text = b'["' + b"[" * 5000 + b'", 1]'
    assert serializer.loads(text) == ["[" * 5000, 1]
    wide = b"[" + b"[1,2]," * 10_000 + b"0]"
    assert len(serializer.loads(wide)) == 10_001
    check_decode_bounds(b"[]")


def test_compression_bomb_through_the_codec_is_refused() -> None:
    codec = ValueCodec(compression_max_bytes=None)  # compress the 3 MB payload
    value = [[] for _ in range(MAX_DECODED_OBJECTS + 10)]
    frame = codec.encode(value)
    assert len(frame) < 100_000  # a small frame...
    assert len(zlib.compress(b"[]," * MAX_DECODED_OBJECTS)) < 100_000
    with pytest.raises(CorruptPayloadError):
        codec.decode(frame)  # ...refused before building a million lists
    deep = codec.encode(nested(MAX_DECODE_DEPTH + 5))
    with pytest.raises(CorruptPayloadError):
        codec.decode(deep)


@pytest.mark.redis
def test_poisoned_payloads_are_misses_and_l1_has_a_byte_budget(
    redis_plain: RedisServer,
) -> None:
    async def main() -> None:
        cache = GenericRedisCache(
            redis_url=redis_plain.url,
            key_prefix="poison:",
            security_config=SecurityConfig(max_retries=0),
        )
        assert cache.l1_cache is not None
        assert cache.l1_cache.max_memory_bytes == DEFAULT_L1_MAX_BYTES
        bomb = cache._codec.encode([[] for _ in range(MAX_DECODED_OBJECTS + 10)])
        assert await cache.connect()
        await cache.redis.set("poison:bomb", bomb)
        assert await cache.get("bomb") is None
        assert cache.get_stats()["corrupt_payloads"] == 1
        assert await cache.get_many(["bomb"]) == {"bomb": None}
        await cache.clear()
        await cache.disconnect()

    asyncio.run(main())


def test_max_stored_bytes_covers_every_readable_payload() -> None:
    """The link's bulk limit comes from the codec: the largest value the codec reads
    back, encrypted or not, fits under it; nothing much larger does."""
    from aicache.encryption import FernetKeyring

    limit = 256 * 1024
    for keyring in (None, FernetKeyring([FernetKeyring.generate_key()])):
        codec = ValueCodec(max_decoded_bytes=limit, keyring=keyring)
        stored = codec.encode(bytes(range(256)) * (limit // 256 - 1))
        assert len(stored) <= codec.max_stored_bytes
        assert codec.max_stored_bytes < limit * 4 // 3 + 4096


@pytest.mark.redis
def test_a_reply_longer_than_the_codec_reads_is_refused_and_the_cache_recovers(
    redis_plain: RedisServer,
) -> None:
    async def main() -> None:
        cache = GenericRedisCache(
            redis_url=redis_plain.url,
            key_prefix="huge:",
            security_config=SecurityConfig(max_retries=0),
        )
        cache._codec = ValueCodec(max_decoded_bytes=64 * 1024)
        assert await cache.connect()
        assert cache._connection is not None
        assert cache._connection._max_bulk == cache._codec.max_stored_bytes
        await cache.redis.set("huge:big", b"x" * (4 * 1024 * 1024))
        assert await cache.get("big") is None  # refused from its header: a miss
        await cache.set("ok", {"v": 1})
        assert await cache.get("ok") == {"v": 1}
        await cache.clear()
        await cache.disconnect()

    asyncio.run(main())
