"""Reading the original template's stored format (spec section 7) for migration.

The original's write and read paths are re-implemented here from the spec (the
"original_*" helpers) so payloads are built exactly as the original built them,
and so we can check that our frames are a miss -- never a wrong value -- for the
original's reader (spec section 20 item 6).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import zlib
from collections import Counter, OrderedDict
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken

from aicache.codec import CorruptPayloadError, ValueCodec
from aicache.encryption import FernetKeyring
from aicache.legacy import _decode_inner, decode_legacy, looks_like_fernet_token

KEY = Fernet.generate_key()
REF = Fernet(KEY)
MISS = object()


# ------------------------------------------------- the original, from spec 7


def original_inner(value: Any, threshold: int = 1000) -> bytes:
    """_serialize_data_only."""
    if type(value) in (dict, list, str, int, float, bool, type(None)):
        try:
            compact = json.dumps(value, separators=(",", ":"))
        except (TypeError, ValueError):
            compact = None
        if compact is not None and len(compact.encode()) <= threshold:
            return b"rawj:" + compact.encode()
    pickled = pickle.dumps(value)
    size = len(value) if isinstance(value, str | bytes | bytearray) else len(pickled)
    if size > threshold:
        return b"zlib:" + zlib.compress(pickled, 6)
    return b"pick:" + pickled


def original_write(
    value: Any, fernet: Fernet | None = None, threshold: int = 1000
) -> bytes:
    """_compress_data + EncryptedCacheLayer.encrypt_cache_data (raises where it did)."""
    wrapper = {"_serialized_data": original_inner(value, threshold).decode("utf-8")}
    data = json.dumps(wrapper, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return fernet.encrypt(data) if fernet is not None else data


def _original_inner_read(inner: bytes) -> Any:
    if inner[:5] == b"rawj:":
        return json.loads(inner[5:])
    if inner[:5] == b"zlib:":
        return pickle.loads(zlib.decompress(inner[5:]))
    if inner[:5] == b"pick:":
        return pickle.loads(inner[5:])
    try:
        return pickle.loads(inner)
    except Exception:
        return json.loads(inner)


def original_read(data: bytes, fernet: Fernet | None = None) -> Any:
    """GenericRedisCache.get's decode path; MISS where get() returned None."""
    try:
        try:
            raw = data
            if fernet is not None:
                try:
                    raw = fernet.decrypt(data)
                except InvalidToken:
                    raw = data
            obj = json.loads(raw.decode("utf-8"))
            if isinstance(obj, dict) and "_serialized_data" in obj:
                return _original_inner_read(obj["_serialized_data"].encode("utf-8"))
            return obj
        except Exception:
            if data.startswith(b"compressed:"):
                return pickle.loads(zlib.decompress(data[11:]))
            if data.startswith(b"raw:"):
                return pickle.loads(data[4:])
            if data.startswith(b"rawj:"):
                return json.loads(data[5:])
            try:
                return pickle.loads(data)
            except Exception:
                return json.loads(data)
    except Exception:
        return MISS


# ------------------------------------------------------------ the table


TABLE = [
    ({"a": 1, "b": "x"}, b'{"_serialized_data": "rawj:{\\"a\\":1,\\"b\\":\\"x\\"}"}'),
    ("hello", b'{"_serialized_data": "rawj:\\"hello\\""}'),
    (None, b'{"_serialized_data": "rawj:null"}'),
    ("é€", b'{"_serialized_data": "rawj:\\"\\\\u00e9\\\\u20ac\\""}'),
]


@pytest.mark.parametrize(
    "value,stored", TABLE, ids=["dict", "str", "None", "non-ascii"]
)
def test_spec_table_payloads_decode(value: Any, stored: bytes) -> None:
    assert original_write(value) == stored  # built exactly as the original did
    assert decode_legacy(stored) == value
    assert original_read(stored) == value


@pytest.mark.parametrize(
    "value,stored", TABLE, ids=["dict", "str", "None", "non-ascii"]
)
def test_spec_table_encrypted_variant(value: Any, stored: bytes) -> None:
    token = original_write(value, REF)
    assert token.startswith(b"gAAAAA") and REF.decrypt(token) == stored
    keyring = FernetKeyring(KEY)
    assert decode_legacy(token, keyring) == value
    # rotation: the old key second
    assert decode_legacy(token, FernetKeyring([Fernet.generate_key(), KEY])) == value


def test_values_the_original_could_not_store() -> None:
    for value in [(1, 2), {"t": dt.datetime(2024, 1, 1)}, {"big": "y" * 2000}]:
        with pytest.raises(UnicodeDecodeError):
            original_write(value)


def test_140_byte_token_for_a_small_dict() -> None:
    assert len(original_write({"a": 1}, REF)) == 140


def test_token_without_a_key_is_refused() -> None:
    token = original_write({"a": 1}, REF)
    assert looks_like_fernet_token(token)
    with pytest.raises(CorruptPayloadError, match="no encryption key"):
        decode_legacy(token)


def test_wrong_key_is_refused() -> None:
    token = original_write({"a": 1}, REF)
    with pytest.raises(CorruptPayloadError) as ei:
        decode_legacy(token, FernetKeyring(Fernet.generate_key()))
    assert ei.value.reason == "token"


def test_tampered_token_is_refused() -> None:
    token = bytearray(original_write({"a": 1}, REF))
    token[40] = ord("A") if token[40] != ord("A") else ord("B")
    with pytest.raises(CorruptPayloadError):
        decode_legacy(bytes(token), FernetKeyring(KEY))


def test_plain_json_only_without_a_key() -> None:
    assert decode_legacy(b'{"x": 1}') == {"x": 1}
    assert decode_legacy(b"[1, 2]") == [1, 2]
    for plain in [b'{"x": 1}', original_write({"a": 1})]:
        # the original trusted unencrypted bytes even with a key (a downgrade)
        assert original_read(plain, REF) is not MISS
        with pytest.raises(CorruptPayloadError):
            decode_legacy(plain, FernetKeyring(KEY))


def test_raw_forms() -> None:
    assert decode_legacy(b"rawj:[1,2]") == [1, 2]
    assert original_read(b"rawj:[1,2]") == [1, 2]
    pickled = pickle.dumps({"p": 1})
    for raw in [b"raw:" + pickled, b"compressed:" + zlib.compress(pickled), pickled]:
        assert original_read(raw) == {"p": 1}  # the original unpickled Redis bytes
        with pytest.raises(CorruptPayloadError, match="pickle"):
            decode_legacy(raw)
        assert decode_legacy(REF.encrypt(raw), FernetKeyring(KEY)) == {"p": 1}


calls: list[str] = []


def _record(arg: str) -> str:
    calls.append(arg)
    return arg


class Evil:
    """A pickle that runs code when loaded (here: records the call)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_record, ("pwned",))


def test_unauthenticated_pickle_is_never_loaded() -> None:
    calls.clear()
    evil = pickle.dumps(Evil(), protocol=0)  # ASCII: fits in the JSON wrapper
    payloads = [
        json.dumps({"_serialized_data": "pick:" + evil.decode()}).encode(),
        b"raw:" + evil,
        b"compressed:" + zlib.compress(evil),
        evil,
    ]
    for data in payloads:
        with pytest.raises(CorruptPayloadError):
            decode_legacy(data)
        with pytest.raises(CorruptPayloadError):
            ValueCodec().decode(data)
    assert calls == []
    # the original would have run it
    original_read(payloads[1])
    assert calls == ["pwned"]


def test_authenticated_pickle_forms() -> None:
    keyring = FernetKeyring(KEY)
    value = {"n": (1, 2), "s": {3}, "c": 1j}
    p0 = pickle.dumps(value, protocol=0).decode("ascii")
    wrapper = json.dumps({"_serialized_data": "pick:" + p0}, sort_keys=True)
    assert decode_legacy(REF.encrypt(wrapper.encode()), keyring) == value
    z = b"zlib:" + zlib.compress(pickle.dumps(value))
    assert _decode_inner(z, True, 1 << 20) == value
    with pytest.raises(CorruptPayloadError):
        _decode_inner(z, False, 1 << 20)


def test_inflate_bomb_in_legacy_payload() -> None:
    bomb = b"compressed:" + zlib.compress(b"\0" * (8 << 20), 9)
    with pytest.raises(CorruptPayloadError) as ei:
        decode_legacy(REF.encrypt(bomb), FernetKeyring(KEY), max_decoded_bytes=1 << 20)
    assert ei.value.reason == "too_big"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01garbage",
        os.urandom(64),
        b'{"_serialized_data": 5}',
        b'{"_serialized_data": "rawj:{broken"}',
        b'{"_serialized_data": "nope"}',
        b"rawj:{",
        pickle.dumps(Counter("abc")),
        pickle.dumps(OrderedDict(a=1), protocol=2),
        b"\x1f\x8b\x08\x00gzip",
    ],
)
def test_foreign_payloads_are_refused(data: bytes) -> None:
    with pytest.raises(CorruptPayloadError):
        decode_legacy(data)


def test_value_codec_falls_back_to_legacy() -> None:
    codec = ValueCodec()
    assert codec.decode(original_write({"a": 1})) == {"a": 1}
    assert codec.decode(b"rawj:[1]") == [1]
    assert codec.stats["legacy_decoded"] == 2
    keyed = ValueCodec(keyring=FernetKeyring(KEY))
    assert keyed.decode(original_write({"a": 1}, REF)) == {"a": 1}
    assert keyed.stats["legacy_decoded"] == 1
    strict = ValueCodec(accept_legacy=False)
    with pytest.raises(CorruptPayloadError) as ei:
        strict.decode(original_write({"a": 1}))
    assert ei.value.reason == "not_frame"
    assert strict.stats["corrupt"] == 1 and strict.stats["legacy_decoded"] == 0


@pytest.mark.parametrize("keyed", [False, True])
def test_our_frames_are_a_miss_for_the_original(keyed: bool) -> None:
    keyring = FernetKeyring(KEY) if keyed else None
    fernet = REF if keyed else None
    for threshold in (0, 1000):
        codec = ValueCodec(keyring=keyring, compression_threshold=threshold)
        for value in [{"a": 1}, "hello", None, [1, 2], {"t": dt.datetime(2024, 1, 1)}]:
            assert original_read(codec.encode(value), fernet) is MISS
