"""ValueCodec: the bytes the Redis tier stores for a value, and back.

Write: serialize (``"safe"`` tagged JSON by default) -> frame header -> zlib when
the serialized size is at or above ``compression_threshold`` (kept only when it
shrinks) -> Fernet over the whole frame when a keyring is configured. Read
reverses it; the frame header says which serializer wrote the payload, so the
reader never guesses. Framing, compression and encryption are one C call each way
(``aicache._core.Codec``); docs/wire-format.md describes the bytes.

Decoding never returns a wrong value: a truncated, padded, bit-flipped, tampered,
wrong-version, oversized or foreign payload raises :class:`CorruptPayloadError`
(a ``ValueError``), which the cache turns into a miss plus a counter. Payloads
written by the original template (spec section 7) are read for migration when
``accept_legacy`` is true (see :mod:`aicache.legacy` for what is refused).

Fast paths: a top-level ``str`` is stored as its UTF-8 bytes (frame serializer
``"utf8"``) and, with the ``safe`` serializer, top-level ``bytes`` / ``bytearray``
/ ``memoryview`` as the bytes themselves (``"raw"``; they come back as ``bytes``),
so no JSON escaping or base64 runs for them. With ``pickle`` only exact ``bytes``
take the raw path (pickle keeps a ``bytearray`` a ``bytearray``); with ``json``
only ``str`` does (``bytes`` are not JSON). A ``str`` holding lone surrogates (no
UTF-8 form) goes through the configured serializer instead, which keeps it.

Threads: ``encode_async`` / ``decode_async`` run the C part in a worker thread
(``asyncio.to_thread``, GIL released) only when it is both large and real work;
see :meth:`ValueCodec._threaded`. Serializing (the ``json`` module) holds the
GIL wherever it runs, so it stays on the loop: moving it would not free the loop.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from aicache import _core
from aicache.exceptions import ConfigurationError, ValidationError
from aicache.legacy import decode_legacy
from aicache.serialization import _C_PLAIN as C_PLAIN_DECODER
from aicache.serialization import _C_TAGGED as C_TAGGED_DECODER
from aicache.serialization import (
    FAST_PATH_IDS,
    SERIALIZER_IDS,
    CorruptPayloadError,
    Serializer,
    serializer_by_id,
    serializer_by_name,
)

if TYPE_CHECKING:
    from aicache.encryption import FernetKeyring

__all__ = [
    "COMPRESSION_MAX_BYTES",
    "INFLATE_THREAD_MIN_BYTES",
    "PLAIN_THREAD_MIN_BYTES",
    "THREAD_MIN_BYTES",
    "CorruptPayloadError",
    "ValueCodec",
]

# When the C part goes to a worker thread. A hand-off (to_thread + wake-up) costs
# about 60 us, so it only pays when the C call would block the loop for much
# longer, and only for work done with the GIL released (zlib, Fernet, inflate):
# zlib level 6 runs at ~60 us per 4 KB and Fernet/inflate at a few hundred MB/s,
# so 64 KiB of such work is >= ~150 us. A plain frame is only a memcpy + CRC-32
# (ISA-L's or libdeflate's CRC, ~25 GB/s here: ~40 us per MiB in all, ~160 us at
# 4 MiB), so below 4 MiB it stays on the loop (a thread would cost more than it
# saves).
#: Smallest payload (or stored value) framed / unframed in a thread when it is
#: compressed, encrypted or inflated.
THREAD_MIN_BYTES: Final = _core.CODEC_GIL_MINSIZE
#: Smallest plain frame (no zlib, no Fernet) handled in a thread.
PLAIN_THREAD_MIN_BYTES: Final = 4 * 1024 * 1024
#: Smallest inflated size of an unencrypted compressed frame read in a thread.
#: libdeflate inflates at about 1 GB/s here (64 KiB in ~60 us, no more than the
#: hand-off), so with it the bar is 256 KiB; zlib's inflate is ~3x slower.
INFLATE_THREAD_MIN_BYTES: Final = (
    256 * 1024 if _core.ZLIB_DECODER == "libdeflate" else THREAD_MIN_BYTES
)
DEFAULT_MAX_DECODED_BYTES: Final = 64 * 1024 * 1024
#: Default upper bound of compression: larger payloads are stored uncompressed.
#: Measured (docs/benchmarks-ai.md, "100 KB values"): deflating costs ~1.7 us per
#: KB and inflating ~0.9 us per KB here with the fastest encoder (ISA-L) and
#: decoder (libdeflate), while sending a KB over a local link costs ~0.5 us in
#: all; compressed writes of text kept up with redis-py writing the same bytes
#: raw up to 16 KB (1.15x at 64 tasks, quiet machine) and fell behind from 24 KB
#: (0.92x). ``compression_max_bytes=None`` compresses every size.
COMPRESSION_MAX_BYTES: Final = 16 * 1024
# Bytes a stored value may carry beyond its frame (the original format's markers).
_LEGACY_HEADER_ROOM: Final = 1024
_PICKLE_ID: Final = SERIALIZER_IDS["pickle"]
_UTF8_ID: Final = FAST_PATH_IDS["utf8"]
_RAW_ID: Final = FAST_PATH_IDS["raw"]
_MAGIC: Final = _core.FRAME_MAGIC
_FLAG_COMPRESSED: Final = _core.FRAME_FLAG_COMPRESSED
_HEADER_LEN: Final = _core.FRAME_HEADER_LEN
# The top-level types stored raw ("raw" id), per configured serializer.
_RAW_TYPES: Final[dict[str, frozenset[type]]] = {
    "safe": frozenset({bytes, bytearray, memoryview}),
    "pickle": frozenset({bytes}),
    "json": frozenset(),
}


def _int_option(name: str, value: object, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ConfigurationError(
            f"{name} must be an int in {low}..{high}, got {value!r}",
            {"parameter": name, "value": repr(value)},
        )
    return value


class ValueCodec:
    """Encodes values to stored bytes and back (see the module doc)."""

    def __init__(
        self,
        *,
        compression_threshold: int = 1000,
        compression_level: int = 6,
        keyring: FernetKeyring | None = None,
        serializer: str = "safe",
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
        accept_legacy: bool = True,
        compression_max_bytes: int | None = COMPRESSION_MAX_BYTES,
    ) -> None:
        threshold = _int_option(
            "compression_threshold", compression_threshold, 0, 2**63 - 1
        )
        level = _int_option("compression_level", compression_level, 1, 9)
        max_bytes = _int_option(
            "max_decoded_bytes", max_decoded_bytes, 1, _core.FRAME_MAX_PAYLOAD
        )
        compression_max = (
            0  # the C codec's "no upper bound"
            if compression_max_bytes is None
            else _int_option(
                "compression_max_bytes", compression_max_bytes, 1, 2**63 - 1
            )
        )
        if serializer not in SERIALIZER_IDS:
            raise ConfigurationError(
                f"unknown serializer {serializer!r}; choose one of "
                f"{', '.join(sorted(SERIALIZER_IDS))}",
                {"parameter": "serializer", "value": repr(serializer)},
            )
        core_fernet = None
        if keyring is not None:
            core_fernet = getattr(keyring, "core", None)
            if not isinstance(core_fernet, _core.Fernet):
                raise ConfigurationError(
                    "keyring must be an aicache.encryption.FernetKeyring",
                    {"parameter": "keyring", "type": type(keyring).__name__},
                )
        if serializer == "pickle" and keyring is None:
            raise ConfigurationError(
                "the pickle serializer needs an encryption keyring: pickle is only "
                "loaded from payloads whose Fernet MAC verified",
                {"parameter": "serializer", "value": "pickle"},
            )
        self._serializer: Serializer = serializer_by_name(serializer)
        self._raw_types = _RAW_TYPES[serializer]
        self._keyring = keyring
        self._accept_legacy = bool(accept_legacy)
        self._max_decoded = max_bytes
        self._core = _core.Codec(
            core_fernet,
            threshold,
            level,
            max_bytes,
            compression_max_bytes=compression_max,
        )
        self._encoded = 0
        self._decoded = 0
        self._corrupt = 0
        self._legacy = 0

    # ------------------------------------------------------------------ info

    @property
    def serializer(self) -> str:
        return self._serializer.name

    @property
    def encrypted(self) -> bool:
        return self._keyring is not None

    @property
    def compression_threshold(self) -> int:
        return int(self._core.compression_threshold)

    @property
    def compression_level(self) -> int:
        return int(self._core.compression_level)

    @property
    def compression_max_bytes(self) -> int | None:
        """Payloads larger than this are stored uncompressed (None: no bound)."""
        return int(self._core.compression_max_bytes) or None

    @property
    def max_decoded_bytes(self) -> int:
        return self._max_decoded

    @property
    def max_stored_bytes(self) -> int:
        """The largest stored payload this codec can read back: a frame of
        ``max_decoded_bytes`` (incompressible data is stored raw), or the Fernet
        token of one (base64 of version, time, IV, padded body and MAC), with room
        for the legacy format's header. The Redis link refuses a longer reply from
        its header instead of buffering it (``RedisConnection(max_bulk_bytes=)``)."""
        frame = self._max_decoded + _core.FRAME_HEADER_LEN + _LEGACY_HEADER_ROOM
        token_body = 1 + 8 + 16 + (frame // 16 + 1) * 16 + 32
        return 4 * ((token_body + 2) // 3)

    @property
    def accept_legacy(self) -> bool:
        return self._accept_legacy

    @property
    def stats(self) -> dict[str, int]:
        """Counters: encoded, decoded, corrupt, legacy_decoded, compressed."""
        return {
            "encoded": self._encoded,
            "decoded": self._decoded + self._core.values_decoded,
            "corrupt": self._corrupt,
            "legacy_decoded": self._legacy,
            "compressed": int(self._core.frames_compressed),
        }

    def __repr__(self) -> str:
        return (
            f"ValueCodec(serializer={self.serializer!r}, encrypted={self.encrypted}, "
            f"compression_threshold={self.compression_threshold}, "
            f"compression_level={self.compression_level}, "
            f"compression_max_bytes={self.compression_max_bytes}, "
            f"max_decoded_bytes={self._max_decoded})"
        )

    # ---------------------------------------------------------------- encode

    def _serialize(self, value: Any) -> tuple[int, bytes]:
        """(frame serializer id, payload); the fast paths first (module doc)."""
        t = type(value)
        sid = self._serializer.id
        payload: bytes | None = None
        if t is str:
            try:
                payload, sid = value.encode("utf-8"), _UTF8_ID
            except UnicodeEncodeError:  # lone surrogates: the serializer keeps them
                pass
        elif t in self._raw_types:
            payload, sid = (value if t is bytes else bytes(value)), _RAW_ID
        if payload is None:
            payload = self._serializer.dumps(value)  # ValidationError if unsupported
        if len(payload) > self._max_decoded:
            raise ValidationError(
                f"serialized value is {len(payload)} bytes, over max_decoded_bytes "
                f"({self._max_decoded}); it could not be read back",
                {"size": len(payload), "max_decoded_bytes": self._max_decoded},
            )
        return sid, payload

    def _threaded(self, size: int, work: bool) -> bool:
        """Whether the C part for `size` bytes goes to a worker thread (see the
        thresholds above); `work`: zlib, Fernet or inflate runs besides the copy."""
        if work or self._keyring is not None:
            return size >= THREAD_MIN_BYTES
        return size >= PLAIN_THREAD_MIN_BYTES

    def encode_needs_thread(self, payload: bytes) -> bool:
        """Whether encode_async hands the C part for this serialized payload to a
        worker thread. Compression counts as work only when the C encoder will
        actually run it (size within the compression bounds and a sample that
        looks compressible, ``_core.Codec.compresses``): an incompressible or
        over-the-cap payload is a copy and a CRC-32, cheaper than the hand-off."""
        size = len(payload)
        if size < THREAD_MIN_BYTES:
            return False
        if self._keyring is not None:
            return True
        if size >= PLAIN_THREAD_MIN_BYTES:
            return True
        return bool(self._core.compresses(payload))

    def encode(self, value: Any) -> bytes:
        """The bytes to store for value. ValidationError when it cannot be stored."""
        sid, payload = self._serialize(value)
        frame = self._core.encode(sid, payload)
        self._encoded += 1
        return frame

    async def encode_async(self, value: Any) -> bytes:
        """encode(); the C part of large compressed/encrypted payloads (and of very
        large plain ones) runs in a worker thread."""
        sid, payload = self._serialize(value)
        if self.encode_needs_thread(payload):
            frame = await asyncio.to_thread(self._core.encode, sid, payload)
        else:
            frame = self._core.encode(sid, payload)
        self._encoded += 1
        return frame

    # ---------------------------------------------------------------- decode

    def _corrupt_error(self, message: str, reason: str) -> CorruptPayloadError:
        self._corrupt += 1
        return CorruptPayloadError(message, reason)

    def _unframe_failed(self, data: bytes, exc: Exception) -> Any:
        """Legacy fallback or a CorruptPayloadError, after the C decoder refused data."""
        if isinstance(exc, _core.InvalidToken):
            raise self._corrupt_error(
                "not a Fernet token of the configured keys (tampered, wrong key, or "
                "unencrypted: with a key configured plaintext is refused)",
                "token",
            ) from None
        reason = str(getattr(exc, "reason", "corrupt"))
        if reason == "not_frame" and self._accept_legacy:
            try:
                value = decode_legacy(
                    data, self._keyring, max_decoded_bytes=self._max_decoded
                )
            except CorruptPayloadError as e:
                raise self._corrupt_error(
                    f"neither an aicache frame nor a readable legacy payload: {e}",
                    e.reason,
                ) from None
            self._legacy += 1
            return value
        raise self._corrupt_error(f"corrupt payload: {exc}", reason) from None

    def _load(self, sid: int, payload: bytes) -> Any:
        try:
            ser = serializer_by_id(sid)
        except KeyError:  # the C decoder knows the same ids; kept for safety
            raise self._corrupt_error(
                f"unknown serializer id {sid}", "serializer"
            ) from None
        if sid == _PICKLE_ID and self._keyring is None:  # C refuses it already
            raise self._corrupt_error("unauthenticated pickle frame", "unauthenticated")
        try:
            value = ser.loads(payload)
        except CorruptPayloadError:
            self._corrupt += 1
            raise
        self._decoded += 1
        return value

    @staticmethod
    def _as_bytes(data: Any) -> bytes:
        if isinstance(data, bytes):
            return data
        if isinstance(data, (bytearray, memoryview)):
            return bytes(data)
        raise TypeError(f"decode() needs bytes, got {type(data).__name__}")

    def decode(self, data: bytes) -> Any:
        """The value stored as data. CorruptPayloadError when it cannot be trusted."""
        data = self._as_bytes(data)
        try:
            sid, payload = self._core.decode(data)
        except (_core.PayloadError, _core.InvalidToken) as e:
            return self._unframe_failed(data, e)
        return self._load(sid, payload)

    def c_decoding(self) -> tuple[_core.Codec, _core.JsonDecoder, _core.JsonDecoder]:
        """What a C caller needs to decode this codec's frames itself (the
        Redis-hit completion, ``_core.HitPath``): the frame options and the JSON
        decoders of the "safe" and "json" serializers; it counts what it decodes
        in ``values_decoded`` and leaves anything unreadable to :meth:`decode`."""
        return self._core, C_TAGGED_DECODER, C_PLAIN_DECODER

    @property
    def inline_decode_max(self) -> int:
        """Below this much decode work (a plain compressed frame's inflated
        size, else the stored size) ``decode_needs_thread`` is always false, so a
        caller may decode on its own thread without asking (the Redis hit path's
        C completion does). With a key that is THREAD_MIN_BYTES; without one the
        smaller of the inflate and plain-frame bars (a 100 KB plain frame is a
        copy and a CRC-32: it stays inline)."""
        if self._keyring is not None:
            return THREAD_MIN_BYTES
        return min(INFLATE_THREAD_MIN_BYTES, PLAIN_THREAD_MIN_BYTES)

    def decode_needs_thread(self, data: bytes) -> bool:
        """Whether decode_async(data) hands the C part to a worker thread. A plain
        frame's header says whether it inflates and to how much (the work); a token
        or a legacy payload is judged by its size and the keyring."""
        size, inflates = len(data), False
        if (
            size >= _HEADER_LEN
            and data[4] & _FLAG_COMPRESSED
            and data.startswith(_MAGIC)
        ):
            size = int.from_bytes(data[5:9], "big")
            if self._keyring is None:
                return size >= INFLATE_THREAD_MIN_BYTES
            inflates = True
        return self._threaded(size, inflates)

    async def decode_async(self, data: bytes) -> Any:
        """decode(); the C part of large encrypted/compressed values (and of very
        large plain ones) runs in a worker thread."""
        data = self._as_bytes(data)
        try:
            if self.decode_needs_thread(data):
                sid, payload = await asyncio.to_thread(self._core.decode, data)
            else:
                sid, payload = self._core.decode(data)
        except (_core.PayloadError, _core.InvalidToken) as e:
            return self._unframe_failed(data, e)
        return self._load(sid, payload)
