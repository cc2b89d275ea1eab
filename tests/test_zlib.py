"""aicache._core.deflate / inflate against Python's zlib (the stream format the
original template wrote after its "zlib:" marker)."""

from __future__ import annotations

import os
import sys
import threading
import time
import zlib

import pytest

from aicache import _core

SIZES = [0, 1, 100, 1000, 2047, 2048, 100_000, 1 << 20, 3 * (1 << 20)]


def sample(size: int, kind: str) -> bytes:
    if kind == "random":
        return os.urandom(size)
    text = b'{"response": "The quick brown fox", "tokens": [1, 2, 3], "ok": true} '
    return (text * (size // len(text) + 1))[:size]


@pytest.mark.parametrize("kind", ["json", "random"])
@pytest.mark.parametrize("size", SIZES)
def test_interoperates_with_python_zlib(size: int, kind: str) -> None:
    data = sample(size, kind)
    ours = _core.deflate(data)
    assert zlib.decompress(ours) == data
    assert _core.inflate(zlib.compress(data)) == data
    assert _core.inflate(ours) == data


@pytest.mark.parametrize("level", range(1, 10))
def test_every_level(level: int) -> None:
    data = sample(50_000, "json")
    ours = _core.deflate(data, level)
    assert zlib.decompress(ours) == data
    if _core.ZLIB_RUNTIME_VERSION == zlib.ZLIB_RUNTIME_VERSION:
        # Same library, same parameters: the very same stream.
        assert ours == zlib.compress(data, level)
    assert _core.deflate(data, level=level) == ours


def test_compresses() -> None:
    data = sample(100_000, "json")
    assert len(_core.deflate(data, 9)) < len(data) // 20
    assert len(_core.deflate(os.urandom(1000))) <= 1000 + 11 + 5


def test_level_validation() -> None:
    for level in (0, 10, -1):
        with pytest.raises(ValueError, match="level"):
            _core.deflate(b"x", level)
    with pytest.raises(TypeError):
        _core.deflate(b"x", "6")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core.deflate("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core.deflate(b"x", 6, 7)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _core.deflate(b"x", lvl=6)  # type: ignore[call-arg]


def test_bytes_like_inputs() -> None:
    data = sample(5000, "json")
    assert _core.inflate(bytearray(_core.deflate(memoryview(data)))) == data
    assert _core.inflate(memoryview(zlib.compress(bytearray(data)))) == data


# --------------------------------------------------------------- the cap


@pytest.mark.parametrize("size", [0, 1, 1000, 100_000])
def test_inflate_at_and_past_the_cap(size: int) -> None:
    stream = zlib.compress(b"\0" * size)
    assert _core.inflate(stream, size) == b"\0" * size
    assert _core.inflate(stream, max_length=size + 1) == b"\0" * size
    if size:
        with pytest.raises(_core.PayloadError, match="max_length"):
            _core.inflate(stream, size - 1)


def test_decompression_bomb_is_an_error_not_an_oom() -> None:
    bomb = zlib.compress(b"\0" * (200 * (1 << 20)), 9)  # 200 MiB in ~200 KB
    assert len(bomb) < 300_000
    assert _core.INFLATE_DEFAULT_MAX == 64 * (1 << 20)
    start = time.perf_counter()
    with pytest.raises(_core.PayloadError):
        _core.inflate(bomb)
    with pytest.raises(_core.PayloadError):
        _core.inflate(bomb, 1 << 20)
    assert time.perf_counter() - start < 30


def test_max_length_validation() -> None:
    with pytest.raises(ValueError, match="max_length"):
        _core.inflate(zlib.compress(b"x"), -1)
    with pytest.raises(TypeError):
        _core.inflate(zlib.compress(b"x"), 1.5)  # type: ignore[arg-type]
    assert _core.inflate(zlib.compress(b"x"), 2**64 - 1) == b"x"  # clamped
    with pytest.raises(ValueError, match="max_length"):
        _core.inflate(zlib.compress(b"x"), 2**64)


# ----------------------------------------------------------- bad streams


def test_corrupt_truncated_and_trailing_data_are_payload_errors() -> None:
    data = sample(20_000, "json")
    stream = zlib.compress(data)
    bad = [
        b"",
        b"rawj:{}",
        stream[:1],
        stream[:-1],  # checksum cut
        stream[: len(stream) // 2],
        stream[:2] + bytes([stream[2] ^ 0xFF]) + stream[3:],
        stream[:-1] + bytes([stream[-1] ^ 1]),  # adler32
        stream + b"\0",  # trailing bytes (Python's zlib ignores them)
        stream + stream,
        zlib.compressobj(wbits=-15).compress(data),  # raw deflate, no header
        zlib.compressobj(wbits=31).compress(data),  # gzip
    ]
    for blob in bad:
        with pytest.raises(_core.PayloadError):
            _core.inflate(blob)
    assert issubclass(_core.PayloadError, _core.CoreError)
    assert issubclass(_core.PayloadError, ValueError)


def test_references_are_released() -> None:
    data = sample(10_000, "json")
    stream = _core.deflate(data)
    before = (sys.getrefcount(data), sys.getrefcount(stream))
    for _ in range(50):
        _core.deflate(data)
        _core.inflate(stream)
        with pytest.raises(_core.PayloadError):
            _core.inflate(stream, 10)
    assert (sys.getrefcount(data), sys.getrefcount(stream)) == before


def test_threads_share_the_functions() -> None:
    inputs = [sample(n, "json") for n in (100, 5000, 300_000)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                for data in inputs:
                    assert _core.inflate(_core.deflate(data)) == data
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
