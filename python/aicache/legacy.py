"""Reader of the original template's Redis value format (spec section 7), for migration.

The original stored ``json.dumps({"_serialized_data": inner}, ensure_ascii=False,
sort_keys=True)`` as UTF-8, Fernet-encrypted when ``REDIS_ENCRYPTION_KEY`` was set,
where ``inner`` is ``"rawj:" + compact JSON``. Its reader also accepted ``zlib:`` /
``pick:`` inner payloads (zlib+pickle / pickle), plain JSON without the wrapper, and
raw ``compressed:`` / ``raw:`` / ``rawj:`` / bare pickle bytes.

This reader keeps every *safe* part of that and refuses the rest:

* pickle (``zlib:``, ``pick:``, ``compressed:``, ``raw:``, bare pickle) is loaded
  only from bytes that came out of a verified Fernet token -- the original
  unpickled whatever Redis held (spec section 21 item 21);
* with a key configured, only tokens of that key are read: an unencrypted payload
  is refused instead of being trusted as plaintext (the original's downgrade);
* without a key: the JSON wrapper with a ``rawj:`` inner, plain JSON, and raw
  ``rawj:`` bytes are read; a Fernet token is refused (no key to verify it).

Every refusal or failure is a :class:`CorruptPayloadError` (``reason="legacy"``),
which the cache turns into a miss. Writing this format is not supported.
"""

from __future__ import annotations

import json
import pickle
import zlib
from typing import TYPE_CHECKING, Any, Final

from aicache.serialization import CorruptPayloadError

if TYPE_CHECKING:
    from aicache.encryption import FernetKeyring

__all__ = ["WRAPPER_KEY", "decode_legacy", "looks_like_fernet_token"]

WRAPPER_KEY: Final = "_serialized_data"
_TOKEN_PREFIX: Final = b"gAAAAA"  # version byte 0x80 + a 64-bit timestamp < 2**40
_MISSING: Final = object()


def _refuse(why: str) -> CorruptPayloadError:
    return CorruptPayloadError(f"legacy payload refused: {why}", "legacy")


def looks_like_fernet_token(data: bytes) -> bool:
    """True when data has the shape of a Fernet token (not that it verifies)."""
    return data.startswith(_TOKEN_PREFIX)


def _inflate(data: bytes, limit: int) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit)
    except zlib.error as e:
        raise _refuse(f"corrupt zlib data: {e}") from None
    if d.unconsumed_tail:
        raise CorruptPayloadError(
            f"legacy payload inflates to more than {limit} bytes", "too_big"
        )
    if not d.eof or d.unused_data:
        raise _refuse("truncated or padded zlib data")
    return out


def _unpickle(data: bytes, authenticated: bool) -> Any:
    if not authenticated:
        raise _refuse(
            "pickle data outside a verified Fernet token is never loaded "
            "(anyone who can write to Redis could run code)"
        )
    try:
        return pickle.loads(data)
    except Exception as e:
        raise _refuse(f"pickle failed to load: {e}") from None


def _json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _refuse(f"invalid JSON: {e}") from None


def _decode_inner(inner: bytes, authenticated: bool, limit: int) -> Any:
    """The original's _deserialize_data_only: 5-byte prefix, else pickle then JSON."""
    prefix, body = inner[:5], inner[5:]
    if prefix == b"rawj:":
        return _json(body)
    if prefix == b"zlib:":
        return _unpickle(_inflate(body, limit), authenticated)
    if prefix == b"pick:":
        return _unpickle(body, authenticated)
    if authenticated:
        try:
            return pickle.loads(inner)
        except Exception:
            pass
    return _json(inner)


def _decode_raw_forms(data: bytes, authenticated: bool, limit: int) -> Any:
    """The original's fallback on raw bytes: compressed:, raw:, rawj:, pickle, JSON."""
    if data.startswith(b"compressed:"):
        return _unpickle(_inflate(data[11:], limit), authenticated)
    if data.startswith(b"raw:"):
        return _unpickle(data[4:], authenticated)
    if data.startswith(b"rawj:"):
        return _json(data[5:])
    if authenticated:
        try:
            return pickle.loads(data)
        except Exception:
            pass
    elif data[:1] == b"\x80":  # a pickle (protocol 2+): say why it is refused
        _unpickle(data, authenticated)
    return _json(data)


def _decode_plaintext(data: bytes, authenticated: bool, limit: int) -> Any:
    try:
        outer: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        outer = _MISSING
    if isinstance(outer, dict) and WRAPPER_KEY in outer:
        inner = outer[WRAPPER_KEY]
        if not isinstance(inner, str):
            raise _refuse(f"{WRAPPER_KEY!r} is not a string")
        return _decode_inner(inner.encode("utf-8"), authenticated, limit)
    if outer is not _MISSING:
        return outer  # plain JSON, returned as is (as the original did)
    return _decode_raw_forms(data, authenticated, limit)


def decode_legacy(
    data: bytes,
    keyring: FernetKeyring | None = None,
    *,
    max_decoded_bytes: int = 64 * 1024 * 1024,
) -> Any:
    """Decodes a value stored by the original template (see the module doc).

    Raises CorruptPayloadError when the payload is refused or does not decode.
    """
    data = bytes(data)
    if not data:
        raise _refuse("empty payload")
    # The original's escaping (inner \\uXXXX, escaped again by the wrapper) and
    # base64 can make a payload ~10x its value; anything beyond is refused unread.
    if len(data) > max_decoded_bytes * 10 + 1024:
        raise CorruptPayloadError(
            f"legacy payload of {len(data)} bytes is over the size limit", "too_big"
        )
    if keyring is not None:
        try:
            plaintext = keyring.decrypt(data)
        except Exception:
            raise CorruptPayloadError(
                "not a Fernet token of the configured keys (tampered, wrong key, "
                "or unencrypted: with a key configured plaintext is refused)",
                "token",
            ) from None
        return _decode_plaintext(plaintext, True, max_decoded_bytes)
    if looks_like_fernet_token(data):
        raise _refuse(
            "the payload is a Fernet token but no encryption key is configured"
        )
    return _decode_plaintext(data, False, max_decoded_bytes)
