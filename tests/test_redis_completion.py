"""The C completion of a Redis hit (HitPath + RedisProtocol.request_pair): a
GET + PTTL reply pair is decoded, promoted into L1, counted and recorded before
its future resolves, and everything unusual is declined to the Python path.

Unit tests drive a RedisProtocol with replies fed by hand (no socket); the
integration tests compare the C completion with the Python path on a real
redis-server: same values, counters, monitor records and AI accounting."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from aicache import _core
from aicache.codec import ValueCodec
from aicache.memory import InMemoryCache
from aicache.memory import _debug_enabled as memory_debug_enabled
from aicache.monitoring import CachePerformanceMonitor
from aicache.redis_ai import AIResponseCache
from aicache.redis_generic import (
    _DECLINED,
    _MISS_NOT_FOUND,
    _REDIS_HIT,
    GenericRedisCache,
    _ReadCell,
)
from aicache.security import SecurityConfig
from cache_env import run, testing_env  # noqa: F401  (autouse fixture)
from redis_servers import RedisServer
from test_resp import make_protocol

DB = 11
INLINE_MAX = 64 * 1024


def rc(obj: object) -> int:
    """sys.getrefcount without this call's own reference."""
    return sys.getrefcount(obj) - 1


class Owner:
    default_ttl = 3600


def bulk(raw: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


def redis_config(
    decode: Any,
    owner: Any,
    l1: InMemoryCache | None,
    fast: Any = None,
) -> tuple[Any, ...]:
    """HitPath's ``redis`` argument, as GenericRedisCache._hit_path_redis builds it."""
    return (
        decode,
        owner,
        l1,
        _REDIS_HIT,
        _MISS_NOT_FOUND,
        _DECLINED,
        INLINE_MAX,
        memory_debug_enabled,
        fast,
    )


class Rig:
    """A HitPath with a Redis completion over a fresh memory tier."""

    def __init__(self, codec: ValueCodec | None = None, recorder: Any = None) -> None:
        self.codec = codec or ValueCodec()
        self.l1 = InMemoryCache(default_ttl=120, max_size=8)
        self.owner = Owner()
        self.recorder = recorder
        self.hot = _core.HitPath(
            self.l1._tier,
            recorder,
            None,
            redis_config(self.codec.decode, self.owner, self.l1),
        )

    def decode_frames_in_c(self) -> None:
        """The completion as caches build it: frames and payloads decoded in C."""
        self.hot = _core.HitPath(
            self.l1._tier,
            self.recorder,
            None,
            redis_config(
                self.codec.decode, self.owner, self.l1, self.codec.c_decoding()
            ),
        )

    def send(self, proto: Any, key: str, cell: _ReadCell | None = None) -> Any:
        return proto.request_pair(
            ("GET", key), ("PTTL", key), self.hot, cell or _ReadCell(key)
        )


# ---------------------------------------------------------------- unit: replies fed by hand


def test_hit_is_decoded_promoted_counted_and_recorded() -> None:
    async def main() -> None:
        recorder = _core.OpRecorder(8)
        rig = Rig(recorder=recorder)
        proto, _, _ = make_protocol()
        value = {"answer": [1, 2.5, "x"], "ok": True}
        fut = rig.send(proto, "k")
        proto.data_received(bulk(rig.codec.encode(value)) + b":5000\r\n")
        assert fut.result() == value
        assert (rig.hot.redis_hits, rig.hot.promotions) == (1, 1)
        assert rig.hot.hits == 0  # L1 hits are counted apart
        assert await rig.l1.get("k") == value
        expires = rig.l1._tier.expires_at("k")
        assert expires is not None and 3 < expires - time.time() <= 5
        rows = recorder.rows(0.0)
        assert len(rows) == 1

    run(main())


@pytest.mark.parametrize(
    ("pttl", "expected_ttl"),
    [(-1, 120), (999, None), (0, None), (-2, None), (7_200_000, 3600), (2500, 2)],
)
def test_promotion_follows_the_remaining_redis_ttl(
    pttl: int, expected_ttl: int | None
) -> None:
    async def main() -> None:
        rig = Rig()
        proto, _, _ = make_protocol()
        fut = rig.send(proto, "k")
        proto.data_received(bulk(rig.codec.encode("v")) + b":%d\r\n" % pttl)
        assert fut.result() == "v"
        expires = rig.l1._tier.expires_at("k")
        if expected_ttl is None:
            assert expires is None and rig.hot.promotions == 0
        else:
            assert expires is not None
            assert expected_ttl - 1 < expires - time.time() <= expected_ttl

    run(main())


def test_a_write_during_the_read_skips_the_promotion() -> None:
    async def main() -> None:
        rig = Rig()
        proto, _, _ = make_protocol()
        cell = _ReadCell("k")
        fut = rig.send(proto, "k", cell)
        cell.valid = False  # what _invalidate_reads does for a racing write
        proto.data_received(bulk(rig.codec.encode("old")) + b":5000\r\n")
        assert fut.result() == "old"
        assert (rig.hot.promotions, rig.hot.stale_promotions_skipped) == (0, 1)
        assert await rig.l1.get("k") is None

    run(main())


def test_unusual_replies_are_declined_to_python() -> None:
    async def main() -> None:
        rig = Rig()
        proto, _, _ = make_protocol()
        miss = rig.send(proto, "a")
        corrupt = rig.send(proto, "b")
        big = rig.send(proto, "c")
        frame = bytearray(rig.codec.encode({"x": "y" * 2000}))
        frame[-3] ^= 0xFF  # CRC mismatch
        big_frame = rig.codec.encode("z" * (INLINE_MAX + 10))  # compressed
        proto.data_received(
            b"$-1\r\n:-2\r\n"
            + bulk(bytes(frame))
            + b":100\r\n"
            + bulk(big_frame)
            + b":5000\r\n"
        )
        assert miss.result() == (_DECLINED, None, -2, None)
        marker, raw, pttl, exc = corrupt.result()
        assert (marker, raw, pttl) == (_DECLINED, bytes(frame), 100)
        assert type(exc).__name__ == "CorruptPayloadError"
        assert rig.codec.stats["corrupt"] == 1  # counted once, by the decode
        assert big.result() == (_DECLINED, big_frame, 5000, None)
        assert rig.hot.redis_hits == 0 and len(rig.l1._tier) == 0

    run(main())


@pytest.mark.parametrize("serializer", ["safe", "json", "pickle"])
def test_frames_decoded_in_c_read_as_the_codec_reads_them(serializer: str) -> None:
    from decimal import Decimal

    from aicache.encryption import FernetKeyring

    keyring = FernetKeyring(FernetKeyring.generate_key().decode())
    values: list[Any] = [
        {"a": [1, 2.5, None, True], "s": "t\u00e9\u2014\n"},
        "plain text \u00e9",
        [1] * 700,  # compressed
    ]
    if serializer != "json":  # the json serializer stores neither
        values.append(b"\x00raw bytes\xff")
        values.append({"t": (1, 2), "d": Decimal("1.5"), "k": {3: "x"}})

    async def main() -> None:
        for key_ring in (None, keyring):
            if serializer == "pickle" and key_ring is None:
                continue
            rig = Rig(ValueCodec(serializer=serializer, keyring=key_ring))
            rig.decode_frames_in_c()
            proto, _, _ = make_protocol()
            futs = [rig.send(proto, f"k{i}") for i in range(len(values))]
            wire = b"".join(bulk(rig.codec.encode(v)) + b":5000\r\n" for v in values)
            proto.data_received(wire)
            got = [f.result() for f in futs]
            assert got == values
            assert [type(v) for v in got] == [type(v) for v in values]
            stats = rig.codec.stats
            assert stats["decoded"] == len(values) and stats["corrupt"] == 0
            if serializer != "pickle":  # pickle frames go through decode()
                assert rig.codec._core.values_decoded == len(values)

    run(main())


def test_frames_unread_in_c_are_left_to_the_codec() -> None:
    async def main() -> None:
        rig = Rig()
        rig.decode_frames_in_c()
        proto, _, _ = make_protocol()
        frame = bytearray(rig.codec.encode({"x": 1}))
        frame[-1] ^= 0x01  # CRC mismatch
        bad_json = rig.codec._core.encode(1, b'{"x": [1,}')  # a frame, bad payload
        legacy = b'{"legacy": "json"}'
        futs = [rig.send(proto, k) for k in ("a", "b", "c")]
        proto.data_received(
            b"".join(bulk(bytes(r)) + b":5000\r\n" for r in (frame, bad_json, legacy))
        )
        for fut, raw in zip(futs, (bytes(frame), bad_json, legacy), strict=True):
            assert fut.result() == (_DECLINED, raw, 5000, None)
        # Nothing was counted in C: the Python path decodes and reports them once.
        assert rig.codec._core.values_decoded == 0 and rig.hot.redis_hits == 0
        assert rig.codec.stats["corrupt"] == 0

    run(main())


def test_misses_are_completed_while_no_callback_needs_them() -> None:
    async def main() -> None:
        recorder = _core.OpRecorder(8)
        rig = Rig(recorder=recorder)
        rig.hot.complete_misses = True
        proto, _, _ = make_protocol()
        fut = rig.send(proto, "gone")
        proto.data_received(b"$-1\r\n:-2\r\n")
        assert fut.result() is None
        assert (rig.hot.misses, rig.hot.redis_hits) == (1, 0)
        assert len(recorder.rows(0.0)) == 1
        rig.hot.complete_misses = False  # a get_miss callback to run: declined
        fut = rig.send(proto, "gone")
        proto.data_received(b"$-1\r\n:-2\r\n")
        assert fut.result() == (_DECLINED, None, -2, None)
        assert rig.hot.misses == 1

    run(main())


def test_error_replies_and_cancelled_futures_skip_the_completion() -> None:
    async def main() -> None:
        rig = Rig()
        proto, _, _ = make_protocol()
        failing = rig.send(proto, "a")
        cancelled = rig.send(proto, "b")
        cancelled.cancel()
        proto.data_received(
            b"-ERR boom\r\n:1\r\n" + bulk(rig.codec.encode(1)) + b":5000\r\n"
        )
        assert isinstance(failing.exception(), Exception)
        assert rig.hot.redis_hits == 0 and rig.hot.promotions == 0

    run(main())


def test_bookkeeping_errors_never_fail_the_hit() -> None:
    async def main() -> None:
        rig = Rig()
        del Owner.default_ttl  # promotion cannot read the cap: no promotion
        try:
            proto, _, _ = make_protocol()
            fut = rig.send(proto, "k")
            proto.data_received(bulk(rig.codec.encode([1])) + b":5000\r\n")
            assert fut.result() == [1]
            assert rig.hot.promotions == 0 and rig.hot.redis_hits == 1
        finally:
            Owner.default_ttl = 3600

    run(main())


def test_base_exceptions_from_decoding_reach_the_awaiter() -> None:
    def decode(raw: bytes) -> Any:
        raise KeyboardInterrupt

    async def main() -> None:
        rig = Rig()
        hot = _core.HitPath(
            rig.l1._tier, None, None, redis_config(decode, rig.owner, rig.l1)
        )
        proto, _, _ = make_protocol()
        fut = proto.request_pair(("GET", "k"), ("PTTL", "k"), hot, _ReadCell("k"))
        proto.data_received(bulk(b"\xff\xac") + b":5000\r\n")
        assert isinstance(fut.exception(), KeyboardInterrupt)

    run(main())


def test_only_a_hit_path_with_a_redis_completion_completes() -> None:
    async def main() -> None:
        proto, _, _ = make_protocol()
        with pytest.raises(TypeError):
            proto.request_pair(("GET", "k"), ("PTTL", "k"), object(), None)
        bare = _core.HitPath(InMemoryCache()._tier)
        assert not bare.completes_redis
        fut = proto.request_pair(("GET", "k"), ("PTTL", "k"), bare, _ReadCell("k"))
        proto.data_received(b"$1\r\nx\r\n:1\r\n")
        assert isinstance(fut.exception(), TypeError)

    run(main())


@pytest.mark.parametrize("frames_in_c", [False, True])
def test_references_of_the_completion(frames_in_c: bool) -> None:
    async def main() -> None:
        rig = Rig()
        if frames_in_c:
            rig.decode_frames_in_c()
        proto, _, _ = make_protocol()
        raw = rig.codec.encode({"a": 1})
        cell = _ReadCell("k")
        watched = (cell, rig.hot, rig.owner, rig.l1, _REDIS_HIT, _DECLINED)
        before = [rc(o) for o in watched]
        for _ in range(50):
            fut = rig.send(proto, "k", cell)
            proto.data_received(bulk(raw) + b":5000\r\n")
            value = fut.result()
            del fut
        same = {"a": 1}  # held the same way: this frame and the memory tier
        await rig.l1.set("other", same)
        now = (rc(value), rc(same))  # (an assert would hold its own reference)
        assert now[0] == now[1]
        del value, same
        for _ in range(50):  # declined: the tuple, then released
            fut = rig.send(proto, "missing", cell)
            proto.data_received(b"$-1\r\n:-2\r\n")
            declined = fut.result()
            del fut
            alone = [declined]  # held by this frame only, like declined
            now = (rc(declined), rc(alone))
            assert now[0] == now[1] + 1  # + the list
            del declined, alone
        await asyncio.sleep(0)
        after = [rc(o) for o in watched]
        assert after == before

    run(main())


def test_a_lone_get_is_completed_without_promotion() -> None:
    async def main() -> None:
        rig = Rig()
        hot = _core.HitPath(
            None, None, None, redis_config(rig.codec.decode, rig.owner, None)
        )
        assert hot.get("k") is None and hot.memtier is None
        proto, _, _ = make_protocol()
        key = "k"
        before = rc(key)
        hit = proto.request(("GET", "k"), hot, key)
        miss = proto.send(("GET", "m"), hot, key)
        stored_none = proto.request(("GET", "n"), hot, key)
        proto.data_received(
            bulk(rig.codec.encode([1, 2])) + b"$-1\r\n" + bulk(rig.codec.encode(None))
        )
        assert hit.result() == [1, 2]
        assert miss.result() == (_DECLINED, None, None, None)
        assert stored_none.result() is None  # a hit of a stored None
        assert (hot.redis_hits, hot.promotions) == (2, 0)
        del hit, miss, stored_none
        now = rc(key)
        assert now == before
        with pytest.raises(TypeError):
            proto.request(("GET", "k"), len, key)  # ctx needs a HitPath

    run(main())


# ---------------------------------------------------------------- a real redis-server


@pytest.fixture
def url(redis_plain: RedisServer) -> str:
    redis_plain.cli("-n", str(DB), "FLUSHDB")
    return f"{redis_plain.url}/{DB}"


def python_path(cache: GenericRedisCache) -> None:
    """Forces the Python path of Redis reads (a patched hook, as a user might)."""
    cache._promote = cache._promote  # type: ignore[method-assign]


CacheT = TypeVar("CacheT", bound=GenericRedisCache)


async def c_and_python_pair(
    make: Callable[[str], CacheT], tag: str
) -> tuple[CacheT, CacheT]:
    """Two connected caches on one server, each under its own key prefix: the
    first completes Redis reads in C, the second takes the Python path."""
    fast, slow = make(f"{tag}c:"), make(f"{tag}py:")
    for cache in (fast, slow):
        assert await cache.connect()
    python_path(slow)
    return fast, slow


def summary(cache: GenericRedisCache) -> dict[str, Any]:
    monitor = cache.performance_monitor
    assert isinstance(monitor, CachePerformanceMonitor)
    ops = [
        (m.operation_type, m.text_length, m.additional_data)
        for m in monitor.cache_operation_times
    ]
    counters = cache._counter_values()
    return {"ops": ops, "counters": counters}


async def exercise(cache: GenericRedisCache, keys: list[str]) -> list[Any]:
    """Writes keys, empties L1, reads every key twice (Redis hit, then L1 hit)
    and one missing key."""
    for i, k in enumerate(keys):
        await cache.set(k, {"i": i, "text": "t" * (50 * i)}, 60)
    assert cache.l1_cache is not None
    await cache.l1_cache.clear()
    got = [await cache.get(k) for k in keys]
    got += [await cache.get(k) for k in keys]
    got.append(await cache.get("absent"))
    return got


def test_c_completion_matches_the_python_path(url: str) -> None:
    async def main() -> None:
        keys = [f"cmp:{i}" for i in range(6)]
        fast, slow = caches = await c_and_python_pair(
            lambda prefix: GenericRedisCache(
                redis_url=url,
                key_prefix=prefix,
                security_config=SecurityConfig(connection_timeout=5),
            ),
            "",
        )
        try:
            assert await exercise(fast, keys) == await exercise(slow, keys)
            assert fast._hot is not None and fast._hot.redis_hits == len(keys)
            assert slow._hot is not None and slow._hot.redis_hits == 0
            assert summary(fast) == summary(slow)
            assert fast._codec.stats == slow._codec.stats
            assert fast._codec._core.values_decoded == len(keys)
            c = fast._counter_values()
            assert c["redis_hits"] == c["promotions"] == len(keys)
            assert c["hits"] == 2 * len(keys) and c["misses"] == 1
        finally:
            for cache in caches:
                await cache.disconnect()

    run(main())


def test_without_l1_the_c_completion_matches_the_python_path(url: str) -> None:
    async def main() -> None:
        fast, slow = caches = await c_and_python_pair(
            lambda prefix: GenericRedisCache(
                redis_url=url,
                key_prefix=prefix,
                enable_l1_cache=False,
                security_config=SecurityConfig(connection_timeout=5),
            ),
            "nol1",
        )
        try:
            results = []
            for cache in caches:
                for i in range(4):
                    await cache.set(f"k{i}", {"i": i}, 60)
                await cache.set("none", None, 60)
                got = [await cache.get(f"k{i}") for i in range(4)]
                got += [await cache.get("none"), await cache.get("absent")]
                results.append(got)
            assert results[0] == results[1]
            assert fast._hot is not None and fast._hot.redis_hits == 5
            assert summary(fast) == summary(slow)
        finally:
            for cache in caches:
                await cache.disconnect()

    run(main())


def test_a_user_miss_callback_sees_every_miss(url: str) -> None:
    async def main() -> None:
        cache = GenericRedisCache(redis_url=url, security_config=SecurityConfig())
        assert await cache.connect()
        seen: list[str] = []
        try:
            assert await cache.get("absent-1") is None
            assert cache._hot is not None and cache._hot.misses == 1
            cache.register_callback("get_miss", seen.append)
            assert not cache._hot.complete_misses
            assert await cache.get("absent-2") is None
            assert seen == ["absent-2"] and cache._hot.misses == 1
            assert cache._counter_values()["misses"] == 2
        finally:
            await cache.disconnect()

    run(main())


def test_racing_write_is_not_promoted(url: str) -> None:
    async def main() -> None:
        cache = GenericRedisCache(redis_url=url, security_config=SecurityConfig())
        assert await cache.connect()
        try:
            await cache.set("race", "old", 60)
            assert cache.l1_cache is not None
            await cache.l1_cache.clear()
            read = asyncio.create_task(cache.get("race"))
            await asyncio.sleep(0)  # the read is on the wire, its reply not in
            cache._invalidate_reads("race")  # what a concurrent set does first
            assert await read == "old"
            assert await cache.l1_cache.get("race") is None
            assert cache._counter_values()["stale_promotions_skipped"] == 1
        finally:
            await cache.disconnect()

    run(main())


def test_ai_accounting_is_the_same_in_c_and_python(url: str) -> None:
    async def main() -> None:
        fast, slow = caches = await c_and_python_pair(
            lambda prefix: AIResponseCache(
                redis_url=url, key_prefix=prefix, security_config=SecurityConfig()
            ),
            "ai",
        )
        try:
            for cache in caches:
                for op in ("summarize", "sentiment", "qa"):
                    k = cache.build_key("some document " * 30, op, {"n": 1})
                    await cache.set(k, {"op": op}, 60)
                assert cache.l1_cache is not None
                await cache.l1_cache.clear()
                for op in ("summarize", "sentiment", "qa"):
                    k = cache.build_key("some document " * 30, op, {"n": 1})
                    assert await cache.get(k) == {"op": op}
                    gone = cache.build_key("another document", op, {})
                    assert await cache.get(gone) is None
            assert fast._hot is not None and fast._hot.redis_hits == 3
            assert fast._hot.misses == 3
            assert slow._hot is not None and slow._hot.redis_hits == 0
            assert slow._hot.misses == 0
            assert summary(fast) == summary(slow)

            def shape(cache: AIResponseCache) -> dict[str, Any]:
                m = cache.ai_metrics
                out: dict[str, Any] = {
                    name: dict(m[name])
                    for name in (
                        "cache_hits_by_operation",
                        "cache_misses_by_operation",
                        "cache_miss_reasons",
                        "text_tier_distribution",
                        "cache_hits_by_type",
                        "operation_count_totals",
                    )
                    if name in m
                }
                out["durations"] = {
                    op: len(v) for op, v in cache._operation_durations.items()
                }
                return out

            assert shape(fast) == shape(slow)
        finally:
            for cache in caches:
                await cache.disconnect()

    run(main())
