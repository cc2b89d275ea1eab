"""ValueCodec: the API the Redis tier calls (encode -> bytes, decode -> value)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import enum
import os
import pickle
import struct
import sys
import uuid
import zlib
from decimal import Decimal
from typing import Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from aicache import _core
from aicache import codec as codec_module
from aicache.codec import THREAD_MIN_BYTES, CorruptPayloadError, ValueCodec
from aicache.encryption import FernetKeyring
from aicache.exceptions import ConfigurationError, ValidationError
from aicache.serialization import SERIALIZER_IDS, SafeSerializer

KEY = Fernet.generate_key()


def keyring() -> FernetKeyring:
    return FernetKeyring(KEY)


RESPONSE = {
    "id": uuid.UUID("0b7e7c1e-3d1b-4c7a-9a39-5a1f2b0c9d11"),
    "created_at": dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
    "model": "gpt-4o-mini",
    "response": "Caching makes repeated prompts cheap. " * 30,
    "usage": {
        "prompt_tokens": 412,
        "completion_tokens": 256,
        "cost": Decimal("0.0031"),
    },
    "choices": [{"index": 0, "finish_reason": "stop", "scores": (0.9, 0.1)}],
    "tags": {"cached", "fast"},
}


@pytest.mark.parametrize("keyed", [False, True])
@pytest.mark.parametrize("threshold", [0, 1000, 10**9])
def test_round_trip_of_a_typical_response(keyed: bool, threshold: int) -> None:
    c = ValueCodec(
        keyring=keyring() if keyed else None, compression_threshold=threshold
    )
    data = c.encode(RESPONSE)
    assert c.decode(data) == RESPONSE
    assert data.startswith(b"gAAAAA") if keyed else data.startswith(b"\xff\xac")
    assert c.stats["encoded"] == 1 and c.stats["decoded"] == 1
    assert c.stats["compressed"] == (1 if threshold <= 1000 else 0)


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.datetimes()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
    ),
    max_leaves=20,
)


@given(json_like, st.integers(0, 300))
@settings(max_examples=150, deadline=None)
def test_round_trips_with_any_threshold(value: Any, threshold: int) -> None:
    c = ValueCodec(compression_threshold=threshold)
    assert c.decode(c.encode(value)) == value


def test_compression_threshold_applies_to_the_serialized_size() -> None:
    value = ["x" * 200]
    size = len(SafeSerializer().dumps(value))
    at = ValueCodec(compression_threshold=size)
    below = ValueCodec(compression_threshold=size + 1)
    assert at.encode(value)[4] == 1 and at.stats["compressed"] == 1
    assert below.encode(value)[4] == 0 and below.stats["compressed"] == 0


def test_serializer_choice_is_recorded_and_any_codec_reads_it() -> None:
    plain = ValueCodec(serializer="json")
    frame = plain.encode({"a": [1, 2]})
    assert frame[3] == 2
    assert ValueCodec().decode(frame) == {"a": [1, 2]}
    with pytest.raises(ValidationError):
        plain.encode({"a": (1, 2)})  # would come back as a list


def test_pickle_needs_a_keyring() -> None:
    with pytest.raises(ConfigurationError, match="keyring"):
        ValueCodec(serializer="pickle")
    c = ValueCodec(serializer="pickle", keyring=keyring())
    value = {"obj": 1j, "when": dt.date(2024, 1, 1)}
    token = c.encode(value)
    assert c.decode(token) == value
    # a safe codec with the same key reads the authenticated pickle frame too
    assert ValueCodec(keyring=keyring()).decode(token) == value


def _pickle_frame(obj: object) -> bytes:
    body = pickle.dumps(obj)
    head = struct.pack(">2sBBBI", b"\xff\xac", 1, 3, 0, len(body))
    return head + struct.pack(">I", zlib.crc32(body, zlib.crc32(head))) + body


calls: list[str] = []


def _record(arg: str) -> str:
    calls.append(arg)
    return arg


class Evil:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_record, ("pwned",))


def test_unauthenticated_pickle_frame_is_refused_and_not_run() -> None:
    calls.clear()
    with pytest.raises(CorruptPayloadError) as ei:
        ValueCodec().decode(_pickle_frame(Evil()))
    assert ei.value.reason == "unauthenticated" and calls == []
    with pytest.raises(CorruptPayloadError) as ei:
        ValueCodec(keyring=keyring()).decode(_pickle_frame(Evil()))
    assert ei.value.reason == "token" and calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"compression_threshold": -1},
        {"compression_threshold": "1000"},
        {"compression_threshold": True},
        {"compression_level": 0},
        {"compression_level": 10},
        {"max_decoded_bytes": 0},
        {"max_decoded_bytes": 2**32},
        {"serializer": "yaml"},
        {"keyring": "not-a-keyring"},
        {"keyring": Fernet(KEY)},
    ],
)
def test_configuration_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ValueCodec(**kwargs)


def test_properties_and_repr() -> None:
    c = ValueCodec(
        compression_threshold=10,
        compression_level=9,
        keyring=keyring(),
        serializer="json",
        max_decoded_bytes=1234,
        accept_legacy=False,
    )
    assert (c.compression_threshold, c.compression_level, c.max_decoded_bytes) == (
        10,
        9,
        1234,
    )
    assert c.serializer == "json" and c.encrypted and not c.accept_legacy
    assert "json" in repr(c) and KEY.decode() not in repr(c)


def test_unserializable_values() -> None:
    c = ValueCodec()
    with pytest.raises(ValidationError, match="object"):
        c.encode({"x": object()})
    small = ValueCodec(max_decoded_bytes=100)
    with pytest.raises(ValidationError, match="max_decoded_bytes"):
        small.encode("y" * 200)
    assert small.stats["encoded"] == 0


# ------------------------------------------------------------- bad input


def _corrupt(c: ValueCodec, data: bytes) -> CorruptPayloadError:
    with pytest.raises(CorruptPayloadError) as ei:
        c.decode(data)
    assert isinstance(ei.value, ValueError) and str(ei.value)
    return ei.value


@pytest.mark.parametrize("keyed", [False, True])
def test_truncated_and_padded(keyed: bool) -> None:
    c = ValueCodec(keyring=keyring() if keyed else None, compression_threshold=50)
    for value in [{"a": 1}, "z" * 500]:
        data = c.encode(value)
        for bad in [
            data[:-1],
            data[: len(data) // 2],
            data[:5],
            data + b"\x00",
            data + data,
        ]:
            _corrupt(c, bad)
    assert c.stats["corrupt"] == 10


def test_wrong_version_and_serializer() -> None:
    c = ValueCodec()
    frame = bytearray(c.encode([1]))
    for at, value, reason in [(2, 2, "version"), (3, 9, "serializer"), (4, 4, "flags")]:
        bad = bytearray(frame)
        bad[at] = value
        body = bytes(bad[13:])
        bad[9:13] = struct.pack(">I", zlib.crc32(body, zlib.crc32(bytes(bad[:9]))))
        assert _corrupt(c, bytes(bad)).reason == reason


@pytest.mark.parametrize("keyed", [False, True])
def test_every_bit_flip_is_an_error_or_the_same_value(keyed: bool) -> None:
    c = ValueCodec(keyring=keyring() if keyed else None)
    value = {"answer": 42, "when": dt.date(2024, 1, 1)}
    data = c.encode(value)
    for i in range(len(data) * 8):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        try:
            got = c.decode(bytes(bad))
        except CorruptPayloadError:
            continue
        assert got == value, f"bit {i} gave {got!r}"


def test_oversized_payloads() -> None:
    big = ValueCodec(
        compression_threshold=0,
        max_decoded_bytes=1 << 22,
        compression_max_bytes=None,  # compress every size
    )
    frame = big.encode("a" * (1 << 21))
    assert len(frame) < 10_000  # compresses well: an inflate bomb for a small cap
    small = ValueCodec(max_decoded_bytes=1 << 16)
    assert _corrupt(small, frame).reason == "too_big"
    keyed_big = ValueCodec(keyring=keyring(), max_decoded_bytes=1 << 22)
    token = keyed_big.encode(os.urandom(1 << 17))
    assert (
        _corrupt(ValueCodec(keyring=keyring(), max_decoded_bytes=1 << 16), token).reason
        == "too_big"
    )


@pytest.mark.parametrize("keyed", [False, True])
def test_foreign_payloads(keyed: bool) -> None:
    c = ValueCodec(keyring=keyring() if keyed else None)
    foreign = [
        b"",
        b"\xe0",  # one random byte would be valid legacy JSON when it is a digit
        b"\xe0" + os.urandom(99),
        pickle.dumps({"from": "another library"}),
        pickle.dumps(dt.datetime(2024, 1, 1), protocol=2),
        b"\x82\xa1a\x01",  # msgpack
        zlib.compress(b'{"a":1}'),
        b"\xff\xac",
        Fernet(Fernet.generate_key()).encrypt(b'{"a": 1}'),
    ]
    for data in foreign:
        _corrupt(c, data)
    assert c.stats["corrupt"] == len(foreign)


def test_decode_accepts_buffers_but_not_str() -> None:
    c = ValueCodec()
    frame = c.encode([1, 2])
    assert c.decode(bytearray(frame)) == [1, 2]
    assert c.decode(memoryview(frame)) == [1, 2]  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c.decode("text")  # type: ignore[arg-type]


# ------------------------------------------------------------- async


def test_async_matches_sync_and_uses_threads_for_large_payloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[int] = []
    real = asyncio.to_thread

    async def spy(func: Any, /, *args: Any) -> Any:
        used.append(len(args[-1]))
        return await real(func, *args)

    monkeypatch.setattr(codec_module.asyncio, "to_thread", spy)
    c = ValueCodec(keyring=keyring())
    small = {"a": 1}
    large = {"text": base64.b64encode(os.urandom(THREAD_MIN_BYTES)).decode()}

    async def main() -> None:
        for value in (small, large):
            data = await c.encode_async(value)
            assert c.decode(data) == value
            assert await c.decode_async(data) == value
        with pytest.raises(CorruptPayloadError):
            await c.decode_async(b"x" * (THREAD_MIN_BYTES + 1))
        with pytest.raises(CorruptPayloadError):
            await c.decode_async(b"junk")

    asyncio.run(main())
    assert len(used) == 3 and all(n >= THREAD_MIN_BYTES for n in used)
    assert (
        c.stats["encoded"] == 2 and c.stats["decoded"] == 4 and c.stats["corrupt"] == 2
    )


def test_event_loop_keeps_running_during_a_large_decode() -> None:
    c = ValueCodec(
        keyring=keyring(), compression_threshold=0, max_decoded_bytes=1 << 26
    )
    token = c.encode(os.urandom(1 << 10) * (1 << 14))  # 16 MiB of bytes
    assert _core.CODEC_GIL_MINSIZE == THREAD_MIN_BYTES

    async def main() -> int:
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        await c.decode_async(token)
        stop = True
        await task
        return ticks - before

    assert asyncio.run(main()) > 1


# ------------------------------------------------------------- fast paths


def _sid(c: ValueCodec, data: bytes) -> int:
    if c.encrypted:
        data = Fernet(KEY).decrypt(data)
    return data[3]


@pytest.mark.parametrize("keyed", [False, True])
@pytest.mark.parametrize(
    "value",
    [
        "",
        "hello",
        "héllo wörld — 日本語 🙂",
        "\x00\n\"\\ ' \u2028 \ufeff",
        "prose " * 20_000,
    ],
)
def test_top_level_str_is_stored_as_utf8(keyed: bool, value: str) -> None:
    c = ValueCodec(keyring=keyring() if keyed else None, compression_threshold=10**9)
    data = c.encode(value)
    assert _sid(c, data) == _core.SERIALIZER_UTF8
    if not keyed:
        assert data[13:] == value.encode("utf-8")  # no JSON escaping, no quotes
    got = c.decode(data)
    assert type(got) is str and got == value


def test_str_with_lone_surrogates_goes_through_the_serializer_losslessly() -> None:
    for value in ["\ud800", "a\udfffb", "x" * 5000 + "\udc80"]:
        for name in ("safe", "json"):
            c = ValueCodec(serializer=name)
            data = c.encode(value)
            assert data[3] == SERIALIZER_IDS[name]  # not the utf8 id
            assert c.decode(data) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"", b""),
        (b"\x00\xff" * 40_000, b"\x00\xff" * 40_000),
        (bytearray(b"abc"), b"abc"),
        (memoryview(b"abcdef")[::2], b"ace"),  # non-contiguous views too
    ],
)
def test_top_level_bytes_are_stored_raw(value: Any, expected: bytes) -> None:
    c = ValueCodec(compression_threshold=10**9)
    data = c.encode(value)
    assert data[3] == _core.SERIALIZER_RAW and data[13:] == expected
    got = c.decode(data)
    assert type(got) is bytes and got == expected


def test_fast_paths_per_serializer() -> None:
    keyed = ValueCodec(keyring=keyring(), serializer="pickle")
    assert _sid(keyed, keyed.encode(b"x")) == _core.SERIALIZER_RAW
    assert _sid(keyed, keyed.encode("x")) == _core.SERIALIZER_UTF8
    # pickle keeps a bytearray a bytearray, so it does not take the raw path
    assert _sid(keyed, keyed.encode(bytearray(b"x"))) == _core.SERIALIZER_PICKLE
    assert keyed.decode(keyed.encode(bytearray(b"x"))) == bytearray(b"x")
    strict = ValueCodec(serializer="json")
    assert strict.encode("x")[3] == _core.SERIALIZER_UTF8
    with pytest.raises(ValidationError):
        strict.encode(b"x")  # bytes are not JSON
    # subclasses still go through the serializer (and come back as the base type)
    safe = ValueCodec()

    class Colour(enum.StrEnum):
        RED = "red"

    frame = safe.encode(Colour.RED)
    assert frame[3] == _core.SERIALIZER_SAFE and safe.decode(frame) == "red"


def test_fast_path_frames_with_compression_and_size_limit() -> None:
    c = ValueCodec(compression_threshold=100, max_decoded_bytes=5000)
    for value in ["ab" * 1000, b"ab" * 1000]:
        data = c.encode(value)
        assert data[4] == _core.FRAME_FLAG_COMPRESSED and len(data) < 200
        assert c.decode(data) == value
    with pytest.raises(ValidationError):
        c.encode("a" * 5001)
    with pytest.raises(ValidationError):
        c.encode(b"a" * 5001)


def test_invalid_utf8_in_a_utf8_frame_is_corrupt() -> None:
    c = ValueCodec()
    frame = _core.Codec(None, 1000, 6, 1 << 20).encode(
        _core.SERIALIZER_UTF8, b"ok \xed\xa0\x80"
    )
    err = _corrupt(c, frame)
    assert err.reason == "serializer"


@pytest.mark.parametrize("keyed", [False, True])
def test_every_bit_flip_of_fast_path_frames_is_detected(keyed: bool) -> None:
    c = ValueCodec(keyring=keyring() if keyed else None)
    for value in ["héllo", b"\x00\x01\x02"]:
        data = c.encode(value)
        for i in range(len(data) * 8):
            bad = bytearray(data)
            bad[i // 8] ^= 1 << (i % 8)
            try:
                got = c.decode(bytes(bad))
            except CorruptPayloadError:
                continue
            assert got == value and type(got) is type(value), f"bit {i}: {got!r}"


def test_frames_of_the_older_ids_still_decode() -> None:
    """Frames written before the fast paths (a str as safe/json JSON, bytes as a
    safe tag) keep decoding to the same values and types."""
    ref = _core.Codec(None, 10**9, 6, 1 << 20)
    frames = [
        (ref.encode(_core.SERIALIZER_SAFE, b'"hello"'), "hello"),
        (ref.encode(_core.SERIALIZER_JSON, b'"h\\u00e9"'), "hé"),
        (
            ref.encode(_core.SERIALIZER_SAFE, b'{"$aic":["bytes","AAE="]}'),
            b"\x00\x01",
        ),
        (
            ref.encode(_core.SERIALIZER_SAFE, b'{"$aic":["bytearray","AAE="]}'),
            bytearray(b"\x00\x01"),
        ),
    ]
    # the example of docs/wire-format.md, byte for byte
    assert frames[0][0] == bytes.fromhex("ffac01010000000007c24e3565") + b'"hello"'
    c = ValueCodec()
    for frame, value in frames:
        got = c.decode(frame)
        assert got == value and type(got) is type(value)


# ------------------------------------------------------------- thread policy


def test_thread_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []
    real = asyncio.to_thread

    async def spy(func: Any, /, *args: Any) -> Any:
        used.append(func.__name__)
        return await real(func, *args)

    monkeypatch.setattr(codec_module.asyncio, "to_thread", spy)
    plain = ValueCodec(compression_threshold=10**9, max_decoded_bytes=1 << 22)
    zipped = ValueCodec(compression_threshold=1000, compression_max_bytes=None)
    default = ValueCodec()  # stores payloads over COMPRESSION_MAX_BYTES raw
    mid = "a" * (THREAD_MIN_BYTES * 2)  # large, but a plain frame is just a copy
    noise = os.urandom(THREAD_MIN_BYTES * 2)  # large, compression skipped
    huge = os.urandom(codec_module.PLAIN_THREAD_MIN_BYTES)

    inflate_min = codec_module.INFLATE_THREAD_MIN_BYTES
    big = "a" * inflate_min

    async def main() -> None:
        for c, value, enc_threaded, dec_threaded in [
            (plain, mid, False, False),
            (plain, huge, True, True),
            # deflate on encode; inflate (by the inflated size) on decode
            (zipped, mid, True, len(mid) >= inflate_min),
            (zipped, big, True, True),
            (zipped, "a" * 2000, False, False),  # small: the hand-off costs more
            # the probe says incompressible: a copy and a CRC, on the loop
            (zipped, noise, False, False),
            # over the default bound: stored raw, so no deflate to hand off
            (default, mid, False, False),
        ]:
            used.clear()
            data = await c.encode_async(value)
            assert (used == ["encode"]) is enc_threaded, (len(data), used)
            used.clear()
            assert await c.decode_async(data) == value
            assert (used == ["decode"]) is dec_threaded, (len(data), used)

    asyncio.run(main())


def test_decode_thread_policy_follows_the_work_not_the_stored_size() -> None:
    """A small compressed frame that inflates past the threshold goes to a thread;
    a small plain frame stays on the loop."""
    from aicache.codec import THREAD_MIN_BYTES

    codec = ValueCodec(compression_threshold=1000, compression_max_bytes=None)
    bomb_like = codec.encode(
        "a" * max(THREAD_MIN_BYTES * 4, codec_module.INFLATE_THREAD_MIN_BYTES)
    )
    assert len(bomb_like) < THREAD_MIN_BYTES
    assert codec.decode_needs_thread(bomb_like)
    assert not codec.decode_needs_thread(codec.encode("small"))


# ---------------------------------------------------------------- compression bound


def test_compression_upper_bound_policy() -> None:
    """Payloads over compression_max_bytes (default COMPRESSION_MAX_BYTES) are
    stored uncompressed; at the bound they are compressed; None lifts it. The
    frames stay plain version-1 frames that every codec reads."""
    from aicache.codec import COMPRESSION_MAX_BYTES

    text = ("the cached answer repeats itself, " * 4000).encode()
    at, over = text[:COMPRESSION_MAX_BYTES], text[: COMPRESSION_MAX_BYTES + 1]
    default = ValueCodec()
    assert default.compression_max_bytes == COMPRESSION_MAX_BYTES
    unbounded = ValueCodec(compression_max_bytes=None)
    assert unbounded.compression_max_bytes is None
    small_bound = ValueCodec(compression_max_bytes=2000)
    assert "compression_max_bytes=2000" in repr(small_bound)

    def compressed(frame: bytes) -> bool:
        return bool(frame[4] & _core.FRAME_FLAG_COMPRESSED)

    cases = [
        (default, at, True),
        (default, over, False),
        (unbounded, over, True),
        (small_bound, text[:2000], True),
        (small_bound, text[:2001], False),
    ]
    readers = (default, unbounded, small_bound, ValueCodec(compression_threshold=10**9))
    for c, payload, want in cases:
        before = c.stats["compressed"]
        frame = c.encode(payload)
        assert compressed(frame) is want, (c, len(payload))
        assert c.stats["compressed"] == before + want
        assert c._core.compresses(payload) is want
        if not want:
            assert frame[_core.FRAME_HEADER_LEN :] == payload  # stored as is
        for reader in readers:
            assert reader.decode(frame) == payload


def test_compression_max_bytes_is_validated() -> None:
    for bad in (0, -1, 1.5, "64k", True):
        with pytest.raises(ConfigurationError, match="compression_max_bytes"):
            ValueCodec(compression_max_bytes=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="compression_max_bytes"):
        _core.Codec(None, 0, 6, 1 << 20, compression_max_bytes=-1)


def test_encode_thread_decision_follows_the_c_probe() -> None:
    """encode_needs_thread hands off only deflate the C encoder will run."""
    unbounded = ValueCodec(compression_max_bytes=None)
    text = ("words and more words, " * 10000).encode()[: THREAD_MIN_BYTES * 2]
    noise = os.urandom(THREAD_MIN_BYTES * 2)
    assert unbounded.encode_needs_thread(text)
    assert not unbounded.encode_needs_thread(noise)
    assert not unbounded.encode_needs_thread(text[: THREAD_MIN_BYTES - 1])
    assert not ValueCodec().encode_needs_thread(text)  # over the default bound
    assert ValueCodec(keyring=keyring()).encode_needs_thread(noise)  # Fernet is work


def test_compresses_refcounts_are_stable() -> None:
    c = _core.Codec(None, 10, 6, 1 << 20, compression_max_bytes=1 << 16)
    payload = b"abc " * 1000
    view = memoryview(bytearray(payload))
    before = (sys.getrefcount(payload), sys.getrefcount(c), sys.getrefcount(view))
    for _ in range(100):
        assert c.compresses(payload)
        assert c.compresses(view)
        with pytest.raises(TypeError):
            c.compresses("text")  # type: ignore[arg-type]
    assert (sys.getrefcount(payload), sys.getrefcount(c), sys.getrefcount(view)) == (
        before
    )


def test_generic_redis_cache_passes_the_compression_bound() -> None:
    from aicache.codec import COMPRESSION_MAX_BYTES
    from aicache.redis_generic import GenericRedisCache

    url = "redis://127.0.0.1:1"  # never connected here
    assert GenericRedisCache(url)._codec.compression_max_bytes == COMPRESSION_MAX_BYTES
    lifted = GenericRedisCache(url, compression_max_bytes=None)
    assert lifted._codec.compression_max_bytes is None
    assert (
        GenericRedisCache(url, compression_max_bytes=4096)._codec.compression_max_bytes
        == 4096
    )
    with pytest.raises(ConfigurationError, match="compression_max_bytes"):
        GenericRedisCache(url, compression_max_bytes=0)


def test_inline_decode_max_is_below_every_thread_bar() -> None:
    """The Redis hit path decodes in C (on the loop) whatever is under
    inline_decode_max; decode_needs_thread must then say no for all of it, and
    the bar must not be lower than needed (a 100 KB plain frame stays inline)."""
    plain = ValueCodec(compression_max_bytes=None)
    sealed = ValueCodec(keyring=keyring())
    assert sealed.inline_decode_max == THREAD_MIN_BYTES
    assert plain.inline_decode_max == min(
        codec_module.INFLATE_THREAD_MIN_BYTES, codec_module.PLAIN_THREAD_MIN_BYTES
    )
    assert plain.inline_decode_max > 100 * 1024 or _core.ZLIB_DECODER == "zlib"
    for c in (plain, sealed):
        bar = c.inline_decode_max
        for size in (bar // 2, bar - 1, bar, bar + 1):
            for payload in (b"x" * size, os.urandom(size)):
                frame = c.encode(payload)
                # the hit path's measure: a plain compressed frame's inflated
                # size, else the stored size (a token's whole length)
                zipped = frame[:2] == _core.FRAME_MAGIC and frame[4] & 1
                work = int.from_bytes(frame[5:9], "big") if zipped else len(frame)
                if work < bar:
                    assert not c.decode_needs_thread(frame), (c, size)
