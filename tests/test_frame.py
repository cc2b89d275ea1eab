"""_core.Codec: the value frame, byte by byte (docs/wire-format.md).

Frames are checked against a reference builder written here from the format
description, and tokens against cryptography's Fernet, so the C code is not
compared with itself.
"""

from __future__ import annotations

import base64
import os
import pickle
import struct
import sys
import threading
import zlib

import pytest
from cryptography.fernet import Fernet as RefFernet

from aicache import _core

RAW_KEY = bytes(range(32))
REF = RefFernet(base64.urlsafe_b64encode(RAW_KEY))
HDR = struct.Struct(">2sBBBI")
MIB = 1024 * 1024


def ref_frame(
    payload: bytes, sid: int = 1, compress: bool = False, level: int = 6
) -> bytes:
    body = zlib.compress(payload, level) if compress else payload
    head = HDR.pack(b"\xff\xac", 1, sid, 1 if compress else 0, len(payload))
    return head + struct.pack(">I", zlib.crc32(body, zlib.crc32(head))) + body


def with_crc(frame: bytes) -> bytes:
    """Recomputes the checksum of a hand-edited frame (to reach the checks after it)."""
    body = frame[13:]
    return frame[:9] + struct.pack(">I", zlib.crc32(body, zlib.crc32(frame[:9]))) + body


def codec(threshold: int = 1000, *, key: bool = False, cap: int = MIB) -> _core.Codec:
    return _core.Codec(_core.Fernet([RAW_KEY]) if key else None, threshold, 6, cap)


def reason_of(c: _core.Codec, data: bytes) -> str:
    with pytest.raises(_core.PayloadError) as ei:
        c.decode(data)
    return str(ei.value.reason)  # type: ignore[attr-defined]


TEXT = b"The assistant answered the question about caching at length. " * 40


def test_module_constants() -> None:
    assert _core.FRAME_MAGIC == b"\xff\xac"
    assert _core.FRAME_VERSION == 1
    assert _core.FRAME_HEADER_LEN == 13
    assert (_core.SERIALIZER_SAFE, _core.SERIALIZER_JSON, _core.SERIALIZER_PICKLE) == (
        1,
        2,
        3,
    )
    assert (_core.SERIALIZER_UTF8, _core.SERIALIZER_RAW) == (4, 5)
    assert _core.FRAME_FLAG_COMPRESSED == 1
    assert _core.FRAME_MAX_PAYLOAD == 2**32 - 1
    assert _core.CODEC_GIL_MINSIZE == 64 * 1024


def test_magic_never_starts_the_originals_formats() -> None:
    first = _core.FRAME_MAGIC[0]
    assert chr(first) not in '{gzrpc["0123456789-tfn '
    assert first != 0x80
    with pytest.raises(UnicodeDecodeError):
        _core.FRAME_MAGIC.decode("utf-8")
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(ref_frame(b"{}"))


@pytest.mark.parametrize("sid", [1, 2, 3, 4, 5])
def test_uncompressed_frame_matches_reference(sid: int) -> None:
    c = codec()
    payload = b'{"a":1,"b":"x"}'
    frame = c.encode(sid, payload)
    assert frame == ref_frame(payload, sid)
    assert frame[2] == 1 and frame[3] == sid and frame[4] == 0
    assert struct.unpack(">I", frame[5:9])[0] == len(payload)
    if sid != 3:  # pickle frames need authentication
        assert c.decode(frame) == (sid, payload)


def test_compressed_frame_matches_reference() -> None:
    c = codec(100)
    frame = c.encode(1, TEXT)
    if _core.ZLIB_ENCODER == "zlib":
        assert frame == ref_frame(TEXT, 1, compress=True)
    else:  # another encoder: same header, a zlib stream Python's zlib reads
        assert frame[:9] == ref_frame(TEXT, 1, compress=True)[:9]
        assert frame == with_crc(frame)
        assert zlib.decompress(frame[13:]) == TEXT
    assert frame[4] == 1 and len(frame) < len(TEXT)
    assert c.decode(frame) == (1, TEXT)
    assert c.frames_compressed == 1
    assert c.decode(ref_frame(TEXT, 2, compress=True, level=9)) == (2, TEXT)


def test_empty_payload() -> None:
    c = codec(0)
    frame = c.encode(1, b"")
    assert frame == ref_frame(b"") and len(frame) == 13
    assert c.decode(frame) == (1, b"")


def test_threshold_boundary() -> None:
    c = codec(len(TEXT))
    assert c.encode(1, TEXT)[4] == 1  # size == threshold compresses
    assert c.encode(1, TEXT[:-1])[4] == 0  # threshold - 1 does not
    assert c.frames_compressed == 1


def test_compression_kept_only_when_smaller() -> None:
    c = codec(0)
    noise = os.urandom(5000)
    frame = c.encode(1, noise)
    assert frame[4] == 0 and frame == ref_frame(noise)
    assert c.encode(1, b"abc")[4] == 0
    assert c.frames_compressed == 0


def test_encrypted_frame_is_a_fernet_token_of_the_frame() -> None:
    c = codec(100, key=True)
    token = c.encode(1, TEXT, now=1_700_000_000)
    assert token.startswith(b"gAAAAA")
    assert REF.extract_timestamp(token) == 1_700_000_000
    frame = REF.decrypt(token)
    assert frame[:9] == ref_frame(TEXT, 1, compress=True)[:9]
    assert frame == with_crc(frame) and zlib.decompress(frame[13:]) == TEXT
    # and the other way: a token cryptography made of a frame decodes here
    other = REF.encrypt(ref_frame(b'"hi"', 2))
    assert c.decode(other) == (2, b'"hi"')


def test_encrypt_uses_wall_clock_when_now_is_omitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    monkeypatch.setattr(time, "time", lambda: 1_234_567_890.9)
    token = codec(key=True).encode(1, b"1")
    assert REF.extract_timestamp(token) == 1_234_567_890


def test_key_rotation_reads_old_keys() -> None:
    old, new = os.urandom(32), os.urandom(32)
    written = _core.Codec(_core.Fernet([old]), 1000, 6, MIB).encode(1, b"[1]")
    rotated = _core.Codec(_core.Fernet([new, old]), 1000, 6, MIB)
    assert rotated.decode(written) == (1, b"[1]")
    with pytest.raises(_core.InvalidToken):
        _core.Codec(_core.Fernet([new]), 1000, 6, MIB).decode(written)


def test_plaintext_frame_refused_when_a_key_is_configured() -> None:
    with pytest.raises(_core.InvalidToken):
        codec(key=True).decode(ref_frame(b"[1]"))


def test_pickle_frames_need_authentication() -> None:
    frame = ref_frame(pickle.dumps({"x": 1}), 3)
    assert reason_of(codec(), frame) == "unauthenticated"
    c = codec(key=True)
    sid, payload = c.decode(REF.encrypt(frame))
    assert sid == 3 and pickle.loads(payload) == {"x": 1}


def test_token_read_without_key_is_not_a_frame() -> None:
    assert reason_of(codec(), REF.encrypt(ref_frame(b"1"))) == "not_frame"


def test_verified_token_without_a_frame_inside() -> None:
    legacy = REF.encrypt(b'{"_serialized_data": "rawj:1"}')
    assert reason_of(codec(key=True), legacy) == "not_frame"


MALFORMED = [
    ("empty", b"", "not_frame"),
    ("one byte", b"\xff", "not_frame"),
    ("json", b'{"a": 1}', "not_frame"),
    ("header only, short", ref_frame(b"abc")[:12], "length"),
    ("truncated", ref_frame(b"abcdef")[:-1], "length"),
    ("padded", ref_frame(b"abcdef") + b"\x00", "length"),
    (
        "version 0",
        with_crc(ref_frame(b"abc")[:2] + b"\x00" + ref_frame(b"abc")[3:]),
        "version",
    ),
    (
        "version 2",
        with_crc(ref_frame(b"abc")[:2] + b"\x02" + ref_frame(b"abc")[3:]),
        "version",
    ),
    ("serializer 0", with_crc(ref_frame(b"abc", 0)), "serializer"),
    ("serializer 9", with_crc(ref_frame(b"abc", 9)), "serializer"),
    (
        "flag bit 1",
        with_crc(ref_frame(b"abc")[:4] + b"\x02" + ref_frame(b"abc")[5:]),
        "flags",
    ),
    ("bad crc", ref_frame(b"abc")[:9] + b"\x00\x00\x00\x00" + b"abc", "checksum"),
    ("body flipped", ref_frame(b"abc")[:-1] + b"d", "checksum"),
    ("compressed truncated", ref_frame(TEXT, compress=True)[:-1], "checksum"),
    (
        "compressed truncated, crc fixed",
        with_crc(ref_frame(TEXT, compress=True)[:-1]),
        "inflate",
    ),
    (
        "compressed + trailing garbage, crc fixed",
        with_crc(ref_frame(TEXT, compress=True) + b"xx"),
        "inflate",
    ),
    (
        "declared length too small",
        with_crc(
            HDR.pack(b"\xff\xac", 1, 1, 1, len(TEXT) - 1)
            + b"\0" * 4
            + zlib.compress(TEXT)
        ),
        "length",
    ),
    (
        "declared length too large",
        with_crc(
            HDR.pack(b"\xff\xac", 1, 1, 1, len(TEXT) + 1)
            + b"\0" * 4
            + zlib.compress(TEXT)
        ),
        "length",
    ),
]


@pytest.mark.parametrize(
    "data,reason", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_frames_have_a_reason(data: bytes, reason: str) -> None:
    assert reason_of(codec(), data) == reason


def test_random_bytes_are_refused() -> None:
    c, ck = codec(), codec(key=True)
    for n in (1, 13, 14, 64, 1000):
        for _ in range(50):
            data = os.urandom(n)
            with pytest.raises(_core.PayloadError):
                c.decode(b"\xff\xac" + data)
            with pytest.raises(_core.InvalidToken):
                ck.decode(data)


def test_inflate_bomb_is_refused_by_the_cap() -> None:
    bomb = zlib.compress(b"\0" * (64 * MIB), 9)  # ~64 KiB
    frame = with_crc(HDR.pack(b"\xff\xac", 1, 1, 1, 64 * MIB) + b"\0" * 4 + bomb)
    assert reason_of(codec(cap=MIB), frame) == "too_big"
    lying = with_crc(HDR.pack(b"\xff\xac", 1, 1, 1, 1000) + b"\0" * 4 + bomb)
    assert reason_of(codec(cap=MIB), lying) == "length"  # stops at the declared size
    honest = codec(cap=64 * MIB).decode(frame)
    assert honest[1] == b"\0" * (64 * MIB)


def test_oversized_token_refused_before_decrypting() -> None:
    token = REF.encrypt(ref_frame(b"x" * 5000))
    assert reason_of(codec(key=True, cap=4000), token) == "too_big"
    assert codec(key=True, cap=5000).decode(token) == (1, b"x" * 5000)


def test_encode_errors() -> None:
    c = codec(cap=10)
    with pytest.raises(ValueError, match="serializer_id"):
        c.encode(7, b"x")
    with pytest.raises(ValueError, match="max_decoded_bytes"):
        c.encode(1, b"x" * 11)
    assert c.decode(c.encode(1, b"x" * 10)) == (1, b"x" * 10)
    with pytest.raises(TypeError):
        c.encode(1, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c.decode(b"", later=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        codec(key=True).encode(1, b"x", now=-1)


@pytest.mark.parametrize(
    "args",
    [
        (None, -1, 6, MIB),
        (None, 0, 0, MIB),
        (None, 0, 10, MIB),
        (None, 0, 6, 0),
        (None, 0, 6, 2**32),
        ("not a fernet", 0, 6, MIB),
    ],
)
def test_constructor_validates(args: tuple[object, int, int, int]) -> None:
    with pytest.raises((ValueError, TypeError)):
        _core.Codec(*args)  # type: ignore[arg-type]


def test_properties() -> None:
    c = _core.Codec(_core.Fernet([RAW_KEY]), 123, 7, 4567)
    assert (c.compression_threshold, c.compression_level, c.max_decoded_bytes) == (
        123,
        7,
        4567,
    )
    assert c.encrypted and not codec().encrypted


def _flips(data: bytes) -> list[bytes]:
    out = []
    for i in range(len(data) * 8):
        b = bytearray(data)
        b[i // 8] ^= 1 << (i % 8)
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("compress", [False, True])
def test_every_bit_flip_of_a_plain_frame_is_detected(compress: bool) -> None:
    c = codec(10 if compress else 10_000)
    payload = b'{"answer":"forty-two","tokens":[1,2,3],"ok":true}' * (
        3 if compress else 1
    )
    frame = c.encode(1, payload)
    assert (frame[4] == 1) == compress
    for bad in _flips(frame):
        try:
            result = c.decode(bad)
        except _core.PayloadError:
            continue
        pytest.fail(f"bit flip accepted: {result!r}")


def test_every_bit_flip_of_a_token_is_rejected_or_identical() -> None:
    c = codec(key=True)
    payload = b'{"answer":42}'
    token = c.encode(1, payload)
    identical = 0
    for bad in _flips(token):
        try:
            result = c.decode(bad)
        except _core.InvalidToken:
            continue
        assert result == (1, payload)  # a flip in base64 padding bits only
        identical += 1
    assert identical <= 4


def test_large_payload_releases_the_gil() -> None:
    """While one thread decodes a big compressed frame, another keeps running."""
    c = codec(0, key=True, cap=64 * MIB)
    big = os.urandom(1024) * (24 * 1024)  # 24 MiB, compressible
    token = c.encode(1, big)
    ticks = 0
    done = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.05)  # the spinner may not preempt us between the reads
    t = threading.Thread(target=spin)
    progressed = []
    try:
        t.start()
        for _ in range(3):
            before = ticks
            assert c.decode(token) == (1, big)
            progressed.append(ticks - before)  # > 0 only if the GIL was released
    finally:
        done.set()
        t.join()
        sys.setswitchinterval(old)
    assert all(n > 0 for n in progressed), progressed


def test_refcounts_are_stable() -> None:
    c = codec(10, key=True)
    payload = TEXT
    token = c.encode(1, payload)
    before = (sys.getrefcount(payload), sys.getrefcount(token), sys.getrefcount(c))
    for _ in range(100):
        c.encode(1, payload)
        c.decode(token)
        with pytest.raises(_core.InvalidToken):
            c.decode(b"junk")
    assert (
        sys.getrefcount(payload),
        sys.getrefcount(token),
        sys.getrefcount(c),
    ) == before


def test_codec_keeps_its_fernet_alive() -> None:
    f = _core.Fernet([RAW_KEY])
    c = _core.Codec(f, 10, 6, MIB)
    n = sys.getrefcount(f)
    del f
    token = c.encode(1, TEXT)
    assert c.decode(token) == (1, TEXT)
    assert n >= 3


def test_cannot_pickle_a_codec() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(codec(key=True))
