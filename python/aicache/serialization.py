"""Serializers of the values the Redis tier stores (the payload inside a frame).

Three serializers, chosen by name and recorded in every frame by id:

``"safe"`` (id 1, the default)
    JSON as the stdlib's C-accelerated ``json`` module writes it (compact separators,
    UTF-8, ``NaN``/``Infinity`` literals as Python writes them; plain values are
    written by ``_core.json_dumps_plain``, byte-for-byte the same), plus tagged
    values for the types AI/web responses contain. A value whose big strings are mostly
    ASCII is written with ``\\uXXXX`` escapes instead (faster both ways; see
    :func:`_ascii_escapes_pay`). Round-trips exactly:

    * JSON types: ``dict`` (``str`` keys), ``list``, ``str``, ``int``, ``float``,
      ``bool``, ``None``;
    * ``tuple``, ``set``, ``frozenset`` (a set is stored sorted when its elements
      are mutually orderable, else in iteration order; it comes back as a set, so
      the order only shows in the bytes);
    * ``bytes``, ``bytearray``;
    * ``datetime`` (naive or aware, microseconds and UTC offset kept; an aware
      value comes back with a fixed-offset ``timezone`` equal to the original's
      offset at that instant, so it compares equal but a ``ZoneInfo`` name is not
      kept), ``date``, ``time``, ``timedelta``;
    * ``uuid.UUID``, ``decimal.Decimal`` (every value, including NaN and exponents);
    * dicts with non-``str`` keys: any key of a supported hashable type (``int``,
      ``tuple``, ``UUID``, ``date``, ...) is kept as that type (never stringified).

    Stored as something else, by design (they come back as the plain value):
    pydantic models (anything with ``model_dump()``) and dataclass instances come
    back as their field dicts; ``Enum`` members as their ``value``; subclasses of
    ``str``/``int``/``float``/``dict``/``list``/``tuple`` (``StrEnum``, ``IntEnum``,
    ``OrderedDict``, named tuples) as the base type; ``memoryview`` as ``bytes``.
    Anything else raises :class:`aicache.exceptions.ValidationError` naming the type
    and where it sits in the value.

    Read back by a C decoder of the same grammar (``aicache._core.JsonDecoder``:
    what the stdlib reader accepted, to the same values, with the decode limits
    counted exactly; see :func:`_stdlib_loads`).

    Tagging: a tagged value is a JSON object with exactly one key ``"$aic"`` whose
    value is ``[<type name>, <argument>]``. A user dict that has a ``"$aic"`` key
    (or a non-``str`` key) is itself written as a tagged ``"map"`` (a list of
    ``[key, value]`` pairs), so no user value can be mistaken for a tagged one.

``"json"`` (id 2)
    Plain, strict JSON for other readers: only values that JSON represents exactly
    (``str`` keys, no tuples or sets, finite floats); anything else is a
    ValidationError instead of a silently different value.

``"pickle"`` (id 3)
    ``pickle`` (highest protocol). Only on explicit request, and only with a Fernet
    key: a pickle payload is loaded only from a frame that came out of a verified
    Fernet token (enforced in the C frame decoder and again by
    :class:`aicache.codec.ValueCodec`).

Two more ids are written by :class:`aicache.codec.ValueCodec` by itself, never
chosen by name: a top-level ``str`` is stored as its UTF-8 bytes (``"utf8"``,
id 4) and a top-level ``bytes``/``bytearray``/``memoryview`` as the bytes
themselves (``"raw"``, id 5), so large text and blobs skip JSON escaping and
base64. They decode to ``str`` and ``bytes`` (a ``bytearray`` or ``memoryview``
comes back as ``bytes``).
"""

from __future__ import annotations

import binascii
import dataclasses
import datetime as _dt
import enum
import json
import pickle
import threading
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

from aicache import _core
from aicache.exceptions import ValidationError

__all__ = [
    "FAST_PATH_IDS",
    "SERIALIZER_IDS",
    "TAG",
    "CorruptPayloadError",
    "JsonSerializer",
    "PickleSerializer",
    "RawSerializer",
    "SafeSerializer",
    "Serializer",
    "Utf8Serializer",
    "serializer_by_id",
    "serializer_by_name",
]

TAG: Final = "$aic"
#: The serializers a codec can be configured with, and their frame ids.
SERIALIZER_IDS: Final[dict[str, int]] = {"safe": 1, "json": 2, "pickle": 3}
#: Frame ids of the fast paths the codec picks for top-level str / bytes values.
FAST_PATH_IDS: Final[dict[str, int]] = {"utf8": 4, "raw": 5}

_TAG_MARK: Final = f'"{TAG}":'  # how a tagged object's key appears in compact JSON


class CorruptPayloadError(ValueError):
    """A stored payload is corrupt, truncated, tampered, foreign or over a limit.

    ``reason`` is a short stable name (``"checksum"``, ``"token"``, ``"too_big"``,
    ``"not_frame"``, ``"serializer"``, ``"legacy"``, ...); the message says why.
    Re-exported as :class:`aicache.codec.CorruptPayloadError`.
    """

    def __init__(self, message: str, reason: str = "corrupt") -> None:
        super().__init__(message)
        self.reason = reason


class Serializer(Protocol):
    """Turns a value into bytes and back."""

    name: str
    id: int

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class _Unsupported(Exception):
    """Internal: a value the serializer cannot store; carries the path to it."""

    def __init__(self, value: Any, why: str = "") -> None:
        super().__init__()
        self.type_name = f"{type(value).__module__}.{type(value).__qualname__}"
        self.why = why
        self.path: list[str] = []

    def to_validation_error(self, serializer: str) -> ValidationError:
        where = "value" + "".join(self.path)
        detail = f": {self.why}" if self.why else ""
        return ValidationError(
            f"cannot serialize {where} of type {self.type_name} "
            f"with the {serializer!r} serializer{detail}",
            {"type": self.type_name, "path": where, "serializer": serializer},
        )


def _at(exc: _Unsupported, step: str) -> _Unsupported:
    exc.path.insert(0, step)
    return exc


# ---------------------------------------------------------------- safe: encode


def _tag(kind: str, arg: Any) -> dict[str, Any]:
    return {TAG: [kind, arg]}


def _b64(b: bytes | bytearray | memoryview) -> str:
    return binascii.b2a_base64(b, newline=False).decode("ascii")


_LEAVES: Final = frozenset({str, int, float, bool, type(None)})

# Strings at least this long are noted during the walk (see _ascii_escapes_pay).
_BIG_STR: Final = 2048


def _enc(o: Any) -> Any:
    t = type(o)
    if t in _LEAVES:
        return o
    if t is dict:
        return _enc_dict(o)
    if t is list:
        return _enc_list(o)
    handler = _EXACT.get(t)
    if handler is not None:
        return handler(o)
    return _enc_other(o)


# Deeper trees take the tagged walk, whose recursion limit decides as before.
_PLAIN_DEPTH: Final = 64


def _plain(o: Any, big: list[str], depth: int = _PLAIN_DEPTH) -> bool:
    """Whether o is a tree of exact dicts with str keys and no TAG key, exact
    lists and leaves, at most ``depth`` levels deep (so ``_enc(o)`` would equal o);
    notes its big strings in big. False as soon as anything else turns up (the
    caller then walks with _enc)."""
    if not depth:
        return False
    depth -= 1
    if type(o) is dict:
        if TAG in o:
            return False
        for k, x in o.items():
            if type(k) is not str:
                return False
            t = type(x)
            if t is str:
                if len(x) >= _BIG_STR:
                    big.append(x)
            elif t not in _LEAVES and (
                (t is not dict and t is not list) or not _plain(x, big, depth)
            ):
                return False
        return True
    for x in o:
        t = type(x)
        if t is str:
            if len(x) >= _BIG_STR:
                big.append(x)
        elif t not in _LEAVES and (
            (t is not dict and t is not list) or not _plain(x, big, depth)
        ):
            return False
    return True


# The two walkers below inline the leaf test (most values are leaves) and keep
# the try outside the loop; on failure the path is rebuilt from where they stopped.


def _enc_list(items: Any) -> list[Any]:
    out: list[Any] = []
    append = out.append
    try:
        for x in items:
            t = type(x)
            if t is str:
                append(x)
                if len(x) >= _BIG_STR:
                    _walk.big.append(x)
            else:
                append(x if t in _LEAVES else _enc(x))
    except _Unsupported as e:
        raise _at(e, f"[{len(out)}]") from None
    return out


def _enc_dict(d: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    k: Any = None
    try:
        for k, v in d.items():
            if type(k) is not str:
                break
            t = type(v)
            if t is str:
                out[k] = v
                if len(v) >= _BIG_STR:
                    _walk.big.append(v)
            else:
                out[k] = v if t in _LEAVES else _enc(v)
        else:
            if TAG not in out:
                return out
    except _Unsupported as e:
        raise _at(e, f"[{k!r}]") from None
    return _enc_map(d)


def _enc_map(d: Mapping[Any, Any]) -> dict[str, Any]:
    pairs = []
    for k, v in d.items():
        try:
            key = _enc(k)
        except _Unsupported as e:
            raise _at(e, f" key {k!r}") from None
        try:
            pairs.append([key, _enc(v)])
        except _Unsupported as e:
            raise _at(e, f"[{k!r}]") from None
    return _tag("map", pairs)


def _enc_set(kind: str, s: set[Any] | frozenset[Any]) -> dict[str, Any]:
    try:
        items: list[Any] = sorted(s)
    except TypeError:
        items = list(s)
    return _tag(kind, _enc_list(items))


def _with_offset(kind: str, o: _dt.datetime | _dt.time) -> dict[str, Any]:
    off = o.utcoffset()
    if off is not None and off.microseconds:
        # fromisoformat() drops sub-second UTC offsets: keep them apart, exactly.
        naive = o.replace(tzinfo=None).isoformat()
        return _tag(kind, [naive, off // _dt.timedelta(microseconds=1)])
    return _tag(kind, o.isoformat())


def _enc_datetime(d: _dt.datetime) -> dict[str, Any]:
    return _with_offset("datetime", d)


def _enc_time(t: _dt.time) -> dict[str, Any]:
    if t.tzinfo is not None and t.utcoffset() is None:
        raise _Unsupported(t, "its tzinfo has no fixed UTC offset")
    return _with_offset("time", t)


_EXACT: dict[type, Callable[[Any], Any]] = {
    tuple: lambda o: _tag("tuple", _enc_list(o)),
    set: lambda o: _enc_set("set", o),
    frozenset: lambda o: _enc_set("frozenset", o),
    bytes: lambda o: _tag("bytes", _b64(o)),
    bytearray: lambda o: _tag("bytearray", _b64(o)),
    _dt.datetime: _enc_datetime,
    _dt.date: lambda o: _tag("date", o.isoformat()),
    _dt.time: _enc_time,
    _dt.timedelta: lambda o: _tag("timedelta", [o.days, o.seconds, o.microseconds]),
    uuid.UUID: lambda o: _tag("uuid", str(o)),
    Decimal: lambda o: _tag("decimal", str(o)),
}


def _enc_other(o: Any) -> Any:
    """Subclasses and model-like objects (the slow path, after exact types)."""
    if isinstance(o, enum.Enum):
        return _enc(o.value)
    if isinstance(o, str):
        return str.__str__(o)
    if isinstance(o, int):
        return int(o)
    if isinstance(o, float):
        return float(o)
    if isinstance(o, _dt.datetime):
        return _enc_datetime(o)
    if isinstance(o, _dt.date):
        return _tag("date", _dt.date.isoformat(o))
    if isinstance(o, Mapping):
        return _enc_dict(o)
    if isinstance(o, list):
        return _enc_list(o)
    if isinstance(o, tuple):
        return _tag("tuple", _enc_list(o))
    if isinstance(o, frozenset):
        return _enc_set("frozenset", o)
    if isinstance(o, set):
        return _enc_set("set", o)
    if isinstance(o, memoryview):
        return _tag("bytes", _b64(o))
    if isinstance(o, (bytes, bytearray)):
        return _tag("bytes" if isinstance(o, bytes) else "bytearray", _b64(o))
    if isinstance(o, (_dt.time, _dt.timedelta, uuid.UUID, Decimal)):
        return _EXACT[next(t for t in _EXACT if isinstance(o, t))](o)
    if not isinstance(o, type):
        dump = getattr(o, "model_dump", None)
        if callable(dump):
            dumped = dump()
            if not isinstance(dumped, Mapping):
                raise _Unsupported(o, "model_dump() did not return a mapping")
            return _enc_dict(dumped)
        if dataclasses.is_dataclass(o):
            return _enc_dict(
                {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
            )
    raise _Unsupported(o)


# ---------------------------------------------------------------- safe: decode


class _BadTag(ValueError):
    pass


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise _BadTag(what)


def _dec_seq(kind: str, ctor: Callable[[list[Any]], Any]) -> Callable[[Any], Any]:
    def dec(arg: Any) -> Any:
        _need(type(arg) is list, f"{kind} argument is not a list")
        return ctor(arg)

    return dec


def _dec_str(kind: str, ctor: Callable[[str], Any]) -> Callable[[Any], Any]:
    def dec(arg: Any) -> Any:
        _need(type(arg) is str, f"{kind} argument is not a string")
        return ctor(arg)

    return dec


def _unb64(s: str) -> bytes:
    return binascii.a2b_base64(s.encode("ascii"), strict_mode=True)


def _dec_offset(kind: str, parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def dec(arg: Any) -> Any:
        if type(arg) is str:
            return parse(arg)
        _need(
            type(arg) is list
            and len(arg) == 2
            and type(arg[0]) is str
            and type(arg[1]) is int,
            f"{kind} argument is neither a string nor [iso, offset]",
        )
        value = parse(arg[0])
        _need(value.tzinfo is None, f"{kind} with two offsets")
        tz = _dt.timezone(_dt.timedelta(microseconds=arg[1]))
        return value.replace(tzinfo=tz)

    return dec


def _dec_timedelta(arg: Any) -> _dt.timedelta:
    _need(
        type(arg) is list and len(arg) == 3 and all(type(x) is int for x in arg),
        "timedelta argument is not three ints",
    )
    return _dt.timedelta(days=arg[0], seconds=arg[1], microseconds=arg[2])


def _dec_map(arg: Any) -> dict[Any, Any]:
    _need(type(arg) is list, "map argument is not a list")
    out: dict[Any, Any] = {}
    for pair in arg:
        _need(type(pair) is list and len(pair) == 2, "map entry is not a pair")
        out[pair[0]] = pair[1]
    return out


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "tuple": _dec_seq("tuple", tuple),
    "set": _dec_seq("set", set),
    "frozenset": _dec_seq("frozenset", frozenset),
    "bytes": _dec_str("bytes", _unb64),
    "bytearray": _dec_str("bytearray", lambda s: bytearray(_unb64(s))),
    "datetime": _dec_offset("datetime", _dt.datetime.fromisoformat),
    "date": _dec_str("date", _dt.date.fromisoformat),
    "time": _dec_offset("time", _dt.time.fromisoformat),
    "timedelta": _dec_timedelta,
    "uuid": _dec_str("uuid", uuid.UUID),
    "decimal": _dec_str("decimal", Decimal),
    "map": _dec_map,
}


def _hook(d: dict[str, Any]) -> Any:
    if TAG not in d:
        return d
    _need(len(d) == 1, f"{TAG!r} key beside other keys")
    spec = d[TAG]
    _need(
        type(spec) is list and len(spec) == 2 and type(spec[0]) is str,
        "malformed tag",
    )
    dec = _DECODERS.get(spec[0])
    _need(dec is not None, f"unknown tag {spec[0]!r}")
    assert dec is not None
    return dec(spec[1])


_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=True
)
_ASCII_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), check_circular=False, allow_nan=True
)
_STRICT_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
)
_PLAIN_DECODER: Final = json.JSONDecoder()
_TAGGED_DECODER: Final = json.JSONDecoder(object_hook=_hook)


#: Most JSON values (containers and scalars; object keys are not values) one
#: payload may decode to. A 65 KB zlib frame can inflate to tens of millions of
#: ``[]``: the C decoder counts values as it reads and refuses the text before
#: any object is built (issue 9).
MAX_DECODED_OBJECTS: Final = _core.JSON_MAX_VALUES
#: Deepest nesting of arrays/objects a payload may have.
MAX_DECODE_DEPTH: Final = _core.JSON_MAX_DEPTH
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKETS_AS_SQUARE: Final = bytes.maketrans(b"{}", b"[]")

# The readers (csrc/_aicache_json.c): validation, limits and UTF-8 in one C pass,
# then the objects; the tagged one hands objects with the TAG key to _hook, so the
# tag semantics and their errors have one implementation. They read exactly what
# _stdlib_loads reads, to the same values (tests/test_json_decoder.py), 1.2x to 9x
# faster on every payload shape measured (docs/benchmarks-ai.md).
_C_TAGGED: Final = _core.JsonDecoder(TAG, _hook)
_C_PLAIN: Final = _core.JsonDecoder()


def check_decode_bounds(data: bytes | bytearray | memoryview) -> None:
    """CorruptPayloadError (reason ``"limit"``) when the JSON text in data could
    decode to more than MAX_DECODED_OBJECTS values or nest deeper than
    MAX_DECODE_DEPTH. Conservative: separators and brackets inside strings
    count too, so a text can be refused that would have stayed under the limits
    (it is then a miss: the cache forgets, never lies). Runs in C-speed byte
    operations; texts too short to reach a limit cost nothing. The pre-pass of
    the stdlib reader (:func:`_stdlib_loads`); the C decoder counts exactly."""
    size = len(data)
    if size <= 2 * MAX_DECODE_DEPTH and size <= MAX_DECODED_OBJECTS:
        return
    raw = bytes(data)
    if size > MAX_DECODED_OBJECTS:
        # Every value after the first follows a ',' or opens a container.
        bound = raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1
        if bound > MAX_DECODED_OBJECTS:
            raise CorruptPayloadError(
                f"payload may decode to more than {MAX_DECODED_OBJECTS} values",
                "limit",
            )
    brackets = raw.translate(_BRACKETS_AS_SQUARE, _NOT_BRACKETS)
    if len(brackets) <= 2 * MAX_DECODE_DEPTH:
        return
    # Each round removes the innermost pairs: rounds = nesting depth.
    for _ in range(MAX_DECODE_DEPTH):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return  # left-overs come from brackets inside strings
        brackets = shorter
        if not brackets:
            return
    if b"[]" in brackets:
        raise CorruptPayloadError(
            f"payload nests deeper than {MAX_DECODE_DEPTH} levels", "limit"
        )


def _to_text(data: bytes | bytearray | memoryview) -> str:
    try:
        return bytes(data).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as e:
        raise CorruptPayloadError(
            f"payload is not UTF-8 JSON: {e.reason} at byte {e.start}", "serializer"
        ) from None


def _prebuilt(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode`` through one C encoder built once (``JSONEncoder.encode``
    builds a new one on every call, about 0.6 us of a 4 us encode of 1 KB); the
    plain method where the C encoder is missing or writes anything differently."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or encoder.indent is not None or encoder.check_circular:
        return encoder.encode
    strings = (
        json.encoder.encode_basestring_ascii
        if encoder.ensure_ascii
        else json.encoder.encode_basestring
    )
    try:
        c_encode = make(
            None,
            encoder.default,
            strings,
            None,
            encoder.key_separator,
            encoder.item_separator,
            encoder.sort_keys,
            encoder.skipkeys,
            encoder.allow_nan,
        )
    except Exception:  # another interpreter's signature
        return encoder.encode
    join = "".join

    def encode(o: Any) -> str:
        return join(c_encode(o, 0))

    probe = [{"k": "v\u00e9\u2014\ud800\n", "n": [1, -2.5, 1e300, None, True]}, "s"]
    for sample in (probe, "t\u00e9", 7, None):
        try:
            if encode(sample) != encoder.encode(sample):
                return encoder.encode
        except Exception:
            return encoder.encode
    return encode


_WRITERS: Final[dict[int, Callable[[Any], str]]] = {
    id(e): _prebuilt(e) for e in (_ENCODER, _ASCII_ENCODER, _STRICT_ENCODER)
}


def _json_bytes(encoder: json.JSONEncoder, tree: Any, name: str) -> bytes:
    write = _WRITERS.get(id(encoder), encoder.encode)
    try:
        text = write(tree)
    except ValueError as e:  # NaN with allow_nan=False, ints over the digit limit
        raise ValidationError(
            f"cannot serialize value with the {name!r} serializer: {e}",
            {"serializer": name},
        ) from None
    # surrogatepass keeps lone surrogates (valid in a Python str) round-tripping.
    return text.encode("utf-8", "surrogatepass")


def _ascii_escapes_pay(big: list[str]) -> bool:
    """Whether to write the value with ``\\uXXXX`` escapes (ensure_ascii) rather than
    raw UTF-8, judged from its big strings (measured, CPython 3.11, 200 KB of
    English prose with 17 typographic quotes/dashes: 0.47 ms to write ASCII
    escapes vs 0.92 ms for UTF-8, which turns the whole text UCS-2, and 0.13 vs
    0.21 ms to read back; for CJK-heavy text UTF-8 is 2.6x faster both ways and
    40 % smaller). Small values keep UTF-8: the smallest bytes, speed is a wash."""
    if not big:
        return False
    for s in big:
        if not s.isascii():  # O(1); then a sample (1 char in 31) of the text
            sample = s[::31]
            extra = len(sample.encode("utf-8", "surrogatepass")) - len(sample)
            if extra * 50 > len(sample):  # over ~2 % non-ASCII: UTF-8 is faster
                return False
    return True


class _Discard(list[str]):
    """Where the walk notes big strings outside SafeSerializer.dumps: nowhere."""

    def append(self, _: str) -> None:
        pass


_NO_BIG: Final = _Discard()


class _WalkState(threading.local):
    big: list[str] = _NO_BIG  # the big strings of the value being encoded


_walk: Final = _WalkState()


def _too_deep(name: str) -> ValidationError:
    return ValidationError(
        "cannot serialize value: nested too deeply or contains a cycle",
        {"serializer": name},
    )


# What decoding a tag's argument may raise besides _BadTag (fromisoformat,
# base64, UUID, Decimal, timedelta overflow, unhashable set members, ...).
_TAG_ERRORS: Final = (
    ValueError,
    TypeError,
    OverflowError,
    InvalidOperation,
    RecursionError,
)


def _refused(e: _core.PayloadError, what: str) -> CorruptPayloadError:
    """The CorruptPayloadError for a text the C decoder refused: reason
    ``"limit"`` (depth or value count) or ``"serializer"`` (not `what`, or not
    UTF-8)."""
    if getattr(e, "reason", "") == "limit":
        return CorruptPayloadError(
            f"payload over a decode limit ({MAX_DECODE_DEPTH} levels, "
            f"{MAX_DECODED_OBJECTS} values): {e}",
            "limit",
        )
    return CorruptPayloadError(f"payload is not valid {what}: {e}", "serializer")


def _stdlib_loads(data: bytes | bytearray | memoryview, tagged: bool = True) -> Any:
    """The reader the serializers used before the C decoder: bounds pre-pass,
    UTF-8 (surrogatepass), stdlib ``json`` (with ``_hook`` only when the tag mark
    occurs in the text). Kept as the oracle the C decoder is tested against
    (tests/test_json_decoder.py) and measured against (benchmarks/bench_json.py)."""
    check_decode_bounds(data)
    text = _to_text(data)
    # Tagged objects always contain the mark; without it the hook-free C
    # decoder is exact (a user string that merely contains the mark only
    # costs the slower path, never a different value).
    decoder = _TAGGED_DECODER if tagged and _TAG_MARK in text else _PLAIN_DECODER
    try:
        return decoder.decode(text)
    except _BadTag as e:
        raise CorruptPayloadError(f"bad tagged value: {e}", "serializer") from None
    except _TAG_ERRORS as e:
        raise CorruptPayloadError(
            f"payload is not valid JSON: {e}", "serializer"
        ) from None


#: The C writer of plain values: json.dumps(value, separators=(",", ":"),
#: check_circular=False, ...) as bytes, byte-for-byte what _json_bytes writes,
#: or None for a value it declines (tests/test_json_write.py holds it to that).
_dumps_plain: Final = _core.json_dumps_plain


class SafeSerializer:
    """Tagged JSON: JSON types plus the extra types listed in the module doc."""

    name = "safe"
    id = SERIALIZER_IDS["safe"]

    def dumps(self, value: Any) -> bytes:
        # Plain JSON (most web and AI values) is checked and written in one C
        # walk, ensure_ascii chosen as _ascii_escapes_pay would; anything else
        # (and ints over the digit limit) declines to the walks below.
        data = _dumps_plain(value)
        if data is not None:
            return data
        big: list[str] = []
        t = type(value)
        if (t is dict or t is list) and _plain(value, big):
            # Plain JSON: the tagged tree would be an equal copy, so the value
            # is written as it is.
            encoder = _ASCII_ENCODER if _ascii_escapes_pay(big) else _ENCODER
            return _json_bytes(encoder, value, self.name)
        big.clear()
        outer, _walk.big = _walk.big, big  # outer: a dumps() inside model_dump()
        try:
            tree = _enc(value)
        except _Unsupported as e:
            raise e.to_validation_error(self.name) from None
        except RecursionError:
            raise _too_deep(self.name) from None
        finally:
            _walk.big = outer
        if type(tree) is str and len(tree) >= _BIG_STR:
            big.append(tree)
        encoder = _ASCII_ENCODER if _ascii_escapes_pay(big) else _ENCODER
        return _json_bytes(encoder, tree, self.name)

    def loads(self, data: bytes) -> Any:
        try:
            return _C_TAGGED.decode(data)
        except _core.PayloadError as e:
            raise _refused(e, f"{self.name!r} JSON") from None
        except _BadTag as e:
            raise CorruptPayloadError(f"bad tagged value: {e}", "serializer") from None
        except _TAG_ERRORS as e:  # a tag's argument (or an int over the digit limit)
            raise CorruptPayloadError(
                f"payload is not valid {self.name!r} JSON: {e}", "serializer"
            ) from None


def _check_strict(o: Any) -> None:
    t = type(o)
    if t is str or t is int or t is float or t is bool or o is None:
        return
    if t is dict:
        for k, v in o.items():
            if type(k) is not str:
                raise _at(
                    _Unsupported(k, "JSON object keys must be str"), f" key {k!r}"
                )
            try:
                _check_strict(v)
            except _Unsupported as e:
                raise _at(e, f"[{k!r}]") from None
        return
    if t is list:
        for i, x in enumerate(o):
            try:
                _check_strict(x)
            except _Unsupported as e:
                raise _at(e, f"[{i}]") from None
        return
    if isinstance(o, (str, int, float, dict, list)):
        if isinstance(o, dict):
            _check_strict(dict(o))
        elif isinstance(o, list):
            _check_strict(list(o))
        return  # subclasses come back as the base type, equal to the original
    why = "plain JSON would return a list" if isinstance(o, tuple) else ""
    raise _Unsupported(o, why or "not a JSON type (the 'safe' serializer stores more)")


class JsonSerializer:
    """Plain strict JSON: exact JSON types only, finite floats, str keys."""

    name = "json"
    id = SERIALIZER_IDS["json"]

    def dumps(self, value: Any) -> bytes:
        # Exact JSON types, finite floats: one C walk (_STRICT_ENCODER's bytes);
        # the rest declines to the checks below, which name what is wrong.
        data = _dumps_plain(value, False, True)
        if data is not None:
            return data
        try:
            _check_strict(value)
        except _Unsupported as e:
            raise e.to_validation_error(self.name) from None
        except RecursionError:
            raise ValidationError(
                "cannot serialize value: nested too deeply or contains a cycle",
                {"serializer": self.name},
            ) from None
        return _json_bytes(_STRICT_ENCODER, value, self.name)

    def loads(self, data: bytes) -> Any:
        try:
            return _C_PLAIN.decode(data)
        except _core.PayloadError as e:
            raise _refused(e, "JSON") from None
        except ValueError as e:  # an int over the interpreter's digit limit
            raise CorruptPayloadError(
                f"payload is not valid JSON: {e}", "serializer"
            ) from None


class PickleSerializer:
    """pickle, highest protocol. loads() must only see authenticated bytes."""

    name = "pickle"
    id = SERIALIZER_IDS["pickle"]

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except RecursionError:
            raise ValidationError(
                "cannot pickle value: nested too deeply", {"serializer": self.name}
            ) from None
        except Exception as e:  # PicklingError, TypeError, AttributeError, ...
            tname = f"{type(value).__module__}.{type(value).__qualname__}"
            raise ValidationError(
                f"cannot pickle value of type {tname}: {e}",
                {"type": tname, "serializer": self.name},
            ) from None

    def loads(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)
        except Exception as e:
            raise CorruptPayloadError(
                f"pickle payload failed to load: {e}", "serializer"
            ) from None


class Utf8Serializer:
    """A str as its UTF-8 bytes (strict: a str with lone surrogates is refused)."""

    name = "utf8"
    id = FAST_PATH_IDS["utf8"]

    def dumps(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise _Unsupported(
                value, "the 'utf8' serializer stores str only"
            ).to_validation_error(self.name)
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValidationError(
                f"cannot serialize str with the 'utf8' serializer: lone surrogate "
                f"at index {e.start}",
                {"serializer": self.name, "index": e.start},
            ) from None

    def loads(self, data: bytes) -> Any:
        try:
            return str(data, "utf-8")
        except UnicodeDecodeError as e:
            raise CorruptPayloadError(
                f"payload is not UTF-8: {e.reason} at byte {e.start}", "serializer"
            ) from None


class RawSerializer:
    """Bytes as they are; bytearray and memoryview are stored (and read) as bytes."""

    name = "raw"
    id = FAST_PATH_IDS["raw"]

    def dumps(self, value: Any) -> bytes:
        if type(value) is bytes:
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise _Unsupported(
            value, "the 'raw' serializer stores bytes only"
        ).to_validation_error(self.name)

    def loads(self, data: bytes) -> Any:
        return data if type(data) is bytes else bytes(data)


_BY_NAME: Final[dict[str, Serializer]] = {
    s.name: s
    for s in (
        SafeSerializer(),
        JsonSerializer(),
        PickleSerializer(),
        Utf8Serializer(),
        RawSerializer(),
    )
}
_BY_ID: Final[dict[int, Serializer]] = {s.id: s for s in _BY_NAME.values()}


def serializer_by_name(name: str) -> Serializer:
    """The serializer called `name` ("safe", "json", "pickle", "utf8" or "raw");
    KeyError otherwise."""
    return _BY_NAME[name]


def serializer_by_id(sid: int) -> Serializer:
    """The serializer whose frame id is `sid`; KeyError otherwise."""
    return _BY_ID[sid]
