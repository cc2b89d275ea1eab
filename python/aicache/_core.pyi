"""Typed stub of the C extension aicache._core (kept in sync by mypy.stubtest)."""

import asyncio
import collections.abc
import typing
from typing import Final, final

from typing_extensions import disjoint_base

DEBUG_BUILD: Final[int]

class CoreError(ValueError): ...
class InvalidToken(CoreError): ...
class PayloadError(CoreError): ...
class ProtocolError(CoreError): ...

# --- area: mem ---

MEM_RECLAIM_BATCH: Final[int]

@final
class MemoryTier:
    """Bounded LRU + TTL map from str keys to objects (held by reference).

    Time is always an argument; ttl <= 0 never expires; an entry is expired once
    now > expires_at.  Not thread-safe beyond the GIL.
    """

    def __new__(cls, max_entries: int, max_bytes: int = 0) -> MemoryTier: ...
    def __len__(self) -> int: ...
    @property
    def max_entries(self) -> int: ...
    @property
    def max_bytes(self) -> int: ...
    def get(
        self, key: str, now: float, default: typing.Any = None, /
    ) -> typing.Any: ...
    def set(
        self,
        key: str,
        value: object,
        ttl: float,
        now: float,
        evicted: bool | collections.abc.Callable[[], object] = False,
        size: int | None = None,
        /,
    ) -> list[str] | None: ...
    def delete(self, key: str, /) -> bool: ...
    def delete_many(self, keys: collections.abc.Iterable[str], /) -> int: ...
    def contains(self, key: str, now: float, /) -> bool: ...
    def touch(self, key: str, now: float, /) -> bool: ...
    def expires_at(self, key: str, /) -> float | None: ...
    def admits(self, key: str, now: float, /) -> bool: ...
    def track_frequency(self) -> None: ...
    @property
    def tracks_frequency(self) -> bool: ...
    def reclaim(self, now: float, limit: int = -1, /) -> int: ...
    def clear(self) -> None: ...
    def stats(self, now: float | None = None, /) -> dict[str, int]: ...
    def keys(self) -> list[str]: ...
    def active_keys(self, now: float, /) -> list[str]: ...
    def items(self) -> list[tuple[str, typing.Any, float, float, int]]: ...

# --- area: key ---

@disjoint_base
class KeyGenerator:
    """C core of aicache.key_generator.CacheKeyGenerator (subclass it there)."""

    text_hash_threshold: object
    hash_algorithm: object
    performance_monitor: object
    def __init__(
        self,
        text_hash_threshold: object = ...,
        hash_algorithm: object = ...,
        performance_monitor: object = ...,
    ) -> None: ...
    def generate_cache_key(
        self, text: object, operation: object, options: object
    ) -> str: ...
    def _hash_text_efficiently(self, text: object, /) -> str: ...

def key_text_metrics(text: str, /) -> tuple[int, int]: ...

# --- area: fernet ---

_FernetBytes: typing.TypeAlias = bytes | bytearray | memoryview

FERNET_KEYBYTES: Final[int]
FERNET_IVBYTES: Final[int]
FERNET_MACBYTES: Final[int]
FERNET_MAX_KEYS: Final[int]
FERNET_MAX_CLOCK_SKEW: Final[int]
INFLATE_DEFAULT_MAX: Final[int]
ZLIB_RUNTIME_VERSION: Final[str]
ZLIB_ENCODER: Final[str]  # "isa-l" or "zlib": what compresses value frames
ZLIB_DECODER: Final[str]  # "libdeflate" or "zlib": what inflates them
CRC32_IMPL: Final[str]  # "isa-l", "libdeflate" or "zlib": the frame CRC-32

@final
class Fernet:
    """Fernet tokens (byte-compatible with cryptography.fernet), key rotation.

    keys: 1..FERNET_MAX_KEYS raw 32-byte keys; the first encrypts, any decrypts.
    """

    def __new__(cls, keys: collections.abc.Sequence[_FernetBytes]) -> Fernet: ...
    @property
    def key_count(self) -> int: ...
    def encrypt(
        self,
        data: _FernetBytes,
        /,
        *,
        now: int | None = None,
        iv: _FernetBytes | None = None,
    ) -> bytes: ...
    def decrypt(
        self,
        token: _FernetBytes | str,
        /,
        *,
        ttl: int | None = None,
        now: int | None = None,
    ) -> bytes: ...
    def rotate(
        self, token: _FernetBytes | str, /, *, iv: _FernetBytes | None = None
    ) -> bytes: ...
    def extract_timestamp(self, token: _FernetBytes | str, /) -> int: ...

def deflate(data: _FernetBytes, level: int = 6) -> bytes: ...
def inflate(data: _FernetBytes, max_length: int = ...) -> bytes: ...

# --- area: codec ---

FRAME_MAGIC: Final[bytes]
FRAME_VERSION: Final[int]
FRAME_HEADER_LEN: Final[int]
FRAME_FLAG_COMPRESSED: Final[int]
FRAME_MAX_PAYLOAD: Final[int]
SERIALIZER_SAFE: Final[int]
SERIALIZER_JSON: Final[int]
SERIALIZER_PICKLE: Final[int]
SERIALIZER_UTF8: Final[int]
SERIALIZER_RAW: Final[int]
CODEC_GIL_MINSIZE: Final[int]

@final
class Codec:
    """Value frames: header + optional zlib + optional Fernet, one C call each way.

    decode() raises PayloadError, whose ``reason`` attribute names the check that
    failed, and InvalidToken when a key is set and data is not a token of it.
    """

    def __new__(
        cls,
        fernet: Fernet | None,
        compression_threshold: int,
        compression_level: int,
        max_decoded_bytes: int,
        *,
        compression_max_bytes: int = 0,
    ) -> Codec: ...
    def compresses(self, payload: bytes | bytearray | memoryview, /) -> bool: ...
    def encode(
        self,
        serializer_id: int,
        payload: bytes | bytearray | memoryview,
        /,
        *,
        now: float | None = None,
    ) -> bytes: ...
    def decode(
        self, data: bytes | bytearray | memoryview, /, *, now: float | None = None
    ) -> tuple[int, bytes]: ...
    @property
    def frames_compressed(self) -> int: ...
    @property
    def values_decoded(self) -> int: ...
    @property
    def encrypted(self) -> bool: ...
    @property
    def compression_threshold(self) -> int: ...
    @property
    def compression_level(self) -> int: ...
    @property
    def max_decoded_bytes(self) -> int: ...
    @property
    def compression_max_bytes(self) -> int: ...

# --- area: resp ---

_Bytes: typing.TypeAlias = bytes | bytearray | memoryview
_Any: typing.TypeAlias = typing.Any

@final
class RespReader:
    """Incremental RESP2 reply reader with limits (tests and tools)."""

    def __new__(
        cls,
        *,
        max_bulk: int = ...,
        max_elements: int = ...,
        max_depth: int = 16,
        max_line: int = ...,
        error_factory: collections.abc.Callable[[str], object] | None = None,
    ) -> RespReader: ...
    def feed(self, data: _Bytes, /) -> None: ...
    def gets(self) -> _Any: ...
    def reset(self) -> None: ...
    @property
    def buffered(self) -> int: ...

@final
class RedisProtocol:
    """asyncio Protocol speaking RESP2 with implicit pipelining."""

    def __new__(
        cls,
        loop: asyncio.AbstractEventLoop,
        *,
        max_bulk: int = ...,
        max_elements: int = ...,
        max_depth: int = 16,
        max_line: int = ...,
        reply_error_factory: collections.abc.Callable[[str], object] | None = None,
        connection_error_factory: collections.abc.Callable[
            [str, BaseException | None], BaseException
        ]
        | None = None,
        on_lost: collections.abc.Callable[[RedisProtocol, BaseException | None], object]
        | None = None,
        max_pending_bytes: int = ...,
    ) -> RedisProtocol: ...
    def send(
        self,
        args: tuple[_Any, ...] | list[_Any],
        decoder: collections.abc.Callable[[bytes], _Any] | HitPath | None = None,
        ctx: _Any = None,
        /,
    ) -> asyncio.Future[_Any]: ...
    def request(
        self,
        args: tuple[_Any, ...] | list[_Any],
        decoder: collections.abc.Callable[[bytes], _Any] | HitPath | None = None,
        ctx: _Any = None,
        /,
    ) -> asyncio.Future[_Any]: ...
    def request_pair(
        self,
        args1: tuple[_Any, ...] | list[_Any],
        args2: tuple[_Any, ...] | list[_Any],
        completer: HitPath | None = None,
        ctx: _Any = None,
        /,
    ) -> asyncio.Future[_Any]: ...
    def connection_made(self, transport: asyncio.BaseTransport, /) -> None: ...
    def data_received(self, data: _Bytes, /) -> None: ...
    def eof_received(self) -> None: ...
    def connection_lost(self, exc: BaseException | None, /) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def _flush(self) -> None: ...
    def drained(self) -> asyncio.Future[None]: ...
    def expire(
        self,
        cutoff: float,
        error_factory: collections.abc.Callable[
            [str, BaseException | None], BaseException
        ]
        | None = None,
        message: str = ...,
    ) -> float | None: ...
    def abort(
        self,
        message: str = ...,
        error_factory: collections.abc.Callable[
            [str, BaseException | None], BaseException
        ]
        | None = None,
        cause: BaseException | None = None,
    ) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def pending(self) -> int: ...
    @property
    def paused(self) -> bool: ...
    @property
    def transport(self) -> asyncio.Transport | None: ...
    @property
    def commands(self) -> int: ...
    @property
    def writes(self) -> int: ...
    @property
    def bytes_written(self) -> int: ...
    @property
    def replies(self) -> int: ...
    @property
    def reply_errors(self) -> int: ...
    @property
    def discarded(self) -> int: ...
    @property
    def pending_bytes(self) -> int: ...
    @property
    def oldest_pending_since(self) -> float | None: ...
    max_pending_bytes: int

# --- area: slot ---

CLUSTER_SLOTS: Final[int]

def key_slot(key: str | bytes | bytearray | memoryview, /) -> int: ...

# ---- monitor: operation records (OpRecorder) and the L1 hit path (HitPath)

LATENCY_BOUNDS: Final[tuple[float, ...]]
OPREC_HIT: Final[int]
OPREC_LOOKUP: Final[int]
OPREC_TIMED: Final[int]

@final
class OpRecorder:
    """Compact operation records of the performance monitor: a ring of at most
    ``capacity`` records, cumulative counters and per-(op, tier) latency series."""

    def __new__(cls, capacity: int, retention: float = ...) -> OpRecorder: ...
    def __len__(self) -> int: ...
    @classmethod
    def register_key_monitor(cls, monitor_class: type, /) -> None: ...
    @property
    def capacity(self) -> int: ...
    cutoff: float
    retention: float
    slow_threshold: float
    on_slow: collections.abc.Callable[[str, float, bool, int], object] | None
    def push(
        self,
        op: str,
        tier: str,
        flags: int,
        duration: float,
        size: int,
        extra: object,
        timestamp: float,
        count: bool = True,
        /,
    ) -> None: ...
    def rows(
        self, cutoff: float, /
    ) -> list[tuple[int, float, float, str, str, int, int, typing.Any]]: ...
    def count_after(self, cutoff: float, /) -> int: ...
    def set_extra(self, seq: int, extra: object, flags: int, /) -> bool: ...
    def counters(self) -> tuple[int, int, int]: ...
    def set_counters(self, total: int, hits: int, misses: int, /) -> None: ...
    def series(
        self,
    ) -> list[tuple[str, str, int, int, tuple[int, ...], float]]: ...
    def load_series(
        self,
        series: collections.abc.Sequence[
            tuple[str, str, int, int, tuple[int, ...], float]
        ],
        /,
    ) -> None: ...
    def clear(self) -> None: ...
    def reset(self) -> None: ...
    def resize(self, capacity: int, /) -> None: ...

@final
class HitPath:
    """A memory-tier hit of a cache served, counted and recorded in one call."""

    def __new__(
        cls,
        memtier: MemoryTier | None,
        recorder: OpRecorder | None = None,
        ai: tuple[
            dict[str, typing.Any],
            collections.abc.Callable[[str], tuple[str, str, bool] | None],
            dict[str, typing.Any],
            dict[str, typing.Any],
            collections.abc.Callable[[], typing.Any],
            collections.abc.Callable[[], typing.Any],
            collections.abc.Callable[[], typing.Any],
        ]
        | None = None,
        redis: tuple[
            collections.abc.Callable[[bytes], typing.Any],
            typing.Any,
            typing.Any,
            typing.Any,
            typing.Any,
            object,
            int,
            collections.abc.Callable[[], bool],
            tuple[Codec, JsonDecoder, JsonDecoder] | None,
        ]
        | None = None,
        cache: typing.Any = None,
    ) -> HitPath: ...
    @property
    def hits(self) -> int: ...
    @property
    def redis_hits(self) -> int: ...
    @property
    def promotions(self) -> int: ...
    @property
    def stale_promotions_skipped(self) -> int: ...
    @property
    def promotions_not_admitted(self) -> int: ...
    @property
    def misses(self) -> int: ...
    @property
    def ai_pending(self) -> int: ...
    def flush_ai(self) -> None: ...
    def plain_hits(self) -> bool: ...
    def admits(self, key: str, /) -> bool: ...
    complete_misses: bool
    @property
    def completes_redis(self) -> bool: ...
    @property
    def memtier(self) -> MemoryTier | None: ...
    @property
    def recorder(self) -> OpRecorder | None: ...
    def get(self, key: str, /) -> typing.Any: ...

# --- area: json ---

JSON_MAX_DEPTH: Final[int]
JSON_MAX_VALUES: Final[int]

@final
class JsonDecoder:
    """JSON bytes to objects, as json.JSONDecoder().decode(data.decode("utf-8",
    "surrogatepass")) does, in C; objects with the key ``tag`` go through
    ``tag_hook`` when the text holds ``"<tag>":`` literally.

    decode() raises PayloadError with ``reason`` ("limit" or "serializer") and
    ``pos`` (byte offset); what tag_hook raises propagates.
    """

    def __new__(
        cls,
        tag: str | None = None,
        tag_hook: collections.abc.Callable[[dict[str, typing.Any]], typing.Any]
        | None = None,
    ) -> JsonDecoder: ...
    @property
    def tag(self) -> str | None: ...
    @property
    def tag_hook(
        self,
    ) -> collections.abc.Callable[[dict[str, typing.Any]], typing.Any] | None: ...
    def decode(self, data: bytes | bytearray | memoryview, /) -> typing.Any: ...

# --- area: json_write (plain JSON values written in one walk) ---

def json_dumps_plain(
    value: object, ascii: bool | None = None, strict: bool = False
) -> bytes | None: ...
