"""The serializers inside frames: "safe" tagged JSON, strict "json", and "pickle"."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import json
import math
import pickle
import uuid
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aicache.exceptions import ValidationError
from aicache.serialization import (
    FAST_PATH_IDS,
    SERIALIZER_IDS,
    TAG,
    CorruptPayloadError,
    JsonSerializer,
    PickleSerializer,
    RawSerializer,
    SafeSerializer,
    Utf8Serializer,
    serializer_by_id,
    serializer_by_name,
)

SAFE = SafeSerializer()
STRICT = JsonSerializer()
PICKLE = PickleSerializer()


def same(a: Any, b: Any) -> bool:
    """Equal *and* of the same types all the way down (1 == True == 1.0 is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and str(a) == str(b))
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, dt.datetime | dt.time):
        # wall time + offset (== would be False for an ambiguous ZoneInfo time
        # against its fixed-offset copy: PEP 495's inter-zone rule)
        return (
            a.replace(tzinfo=None) == b.replace(tzinfo=None)
            and a.utcoffset() == b.utcoffset()
            and a.isoformat() == b.isoformat()
            and (a.tzinfo is None) == (b.tzinfo is None)
        )
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        bk = {_key(k): (k, v) for k, v in b.items()}
        return all(
            _key(k) in bk and same(k, bk[_key(k)][0]) and same(v, bk[_key(k)][1])
            for k, v in a.items()
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, set | frozenset):
        return {_key(x) for x in a} == {_key(x) for x in b}
    return bool(a == b)


def _key(x: Any) -> Any:
    """A hashable identity that tells 1, True and 1.0 apart."""
    if isinstance(x, tuple):
        return ("tuple", tuple(_key(i) for i in x))
    if isinstance(x, frozenset):
        return ("frozenset", frozenset(_key(i) for i in x))
    if isinstance(x, float) and math.isnan(x):
        return ("nan",)
    if isinstance(x, dt.datetime | dt.time):
        return (type(x).__name__, x.replace(tzinfo=None), x.utcoffset())
    return (type(x).__name__, x)


def roundtrip(value: Any) -> Any:
    data = SAFE.dumps(value)
    assert isinstance(data, bytes)
    return SAFE.loads(data)


# ---------------------------------------------------------------- strategies

fixed_tz = st.builds(
    dt.timezone,
    st.timedeltas(
        min_value=-dt.timedelta(hours=23, minutes=59),
        max_value=dt.timedelta(hours=23, minutes=59),
    ),
)
any_tz = st.none() | fixed_tz | st.timezones()
hashable_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=20)
    | st.uuids()
    | st.dates()
    | st.datetimes(timezones=any_tz)
    | st.decimals(allow_nan=False)
)
leaf = (
    hashable_leaf
    | st.builds(bytearray, st.binary(max_size=20))
    | st.times(timezones=st.none() | fixed_tz)
    | st.timedeltas()
)
hashable = st.recursive(
    hashable_leaf,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
key = st.text(max_size=8) | st.sampled_from([TAG, "v", "map"]) | hashable


def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.just(TAG), inner, max_size=4)
        | st.dictionaries(key, inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.sets(hashable, max_size=4)
        | st.frozensets(hashable, max_size=4)
    )


values = st.recursive(leaf, containers, max_leaves=25)


@given(values)
@settings(max_examples=400, deadline=None)
def test_every_supported_value_round_trips(value: Any) -> None:
    assert same(roundtrip(value), value)


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text()
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda i: st.lists(i) | st.dictionaries(st.text(), i),
        max_leaves=30,
    )
)
@settings(max_examples=200, deadline=None)
def test_json_values_are_plain_json_in_both_serializers(value: Any) -> None:
    for ser in (SAFE, STRICT):
        data = ser.dumps(value)
        assert same(json.loads(data), value) or TAG in json.dumps(value)
        assert same(ser.loads(data), value)


# ---------------------------------------------------------------- explicit types

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))

EXTRA = [
    dt.datetime(2024, 5, 1, 12, 30, 15, 123456),
    dt.datetime(2024, 5, 1, 12, 30, 15, 1, tzinfo=IST),
    dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    dt.datetime(1, 1, 1),
    dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(microseconds=1))),
    dt.time(1, 2, tzinfo=dt.timezone(-dt.timedelta(seconds=1, microseconds=5))),
    dt.date(2024, 2, 29),
    dt.time(23, 59, 59, 999999),
    dt.time(8, 0, tzinfo=dt.timezone(-dt.timedelta(hours=3))),
    dt.timedelta(days=-3, seconds=5, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Decimal("1.10"),
    Decimal("-0"),
    Decimal("1E+2"),
    Decimal("Infinity"),
    b"\x00\xff binary",
    b"",
    bytearray(b"mutable"),
    (1, "two", (3.0,)),
    (),
    {1, 2, 3},
    frozenset({"a", "b"}),
    {(1, 2), frozenset({3})},
    set(),
    float("inf"),
    -0.0,
    "\ud800 lone surrogate",
    "é€😀 and \x00 control",
    10**300,
]


@pytest.mark.parametrize("value", EXTRA, ids=lambda v: type(v).__name__)
def test_extra_types_round_trip(value: Any) -> None:
    assert same(roundtrip(value), value)
    assert same(roundtrip({"nested": [value]}), {"nested": [value]})


def test_decimal_nan_round_trips() -> None:
    for text in ("NaN", "-sNaN"):
        back = roundtrip(Decimal(text))
        assert isinstance(back, Decimal) and str(back) == text


def test_float_nan_round_trips_in_safe() -> None:
    assert math.isnan(roundtrip(float("nan")))


def test_aware_datetime_keeps_instant_and_offset_not_zone_name() -> None:
    from zoneinfo import ZoneInfo

    value = dt.datetime(2024, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    back = roundtrip(value)
    assert back == value and back.utcoffset() == dt.timedelta(hours=2)
    assert isinstance(back.tzinfo, dt.timezone)


def test_non_str_keys_keep_their_types() -> None:
    value = {
        1: "int",
        "1": "str",
        (1, 2): "tuple",
        None: "none",
        2.5: "float",
        dt.date(2024, 1, 1): "date",
        frozenset({1}): "fs",
    }
    back = roundtrip(value)
    assert same(back, value)
    assert back[1] == "int" and back["1"] == "str"


def test_user_dicts_that_look_like_tags_stay_dicts() -> None:
    sneaky = [
        {TAG: ["tuple", [1, 2]]},
        {TAG: ["datetime", "2024-01-01T00:00:00"], "other": 1},
        {TAG: 1},
        {"x": {TAG: ["map", []]}},
        [TAG, ["bytes", "AAAA"]],
        f'{{"{TAG}":["tuple",[1]]}}',
    ]
    for value in sneaky:
        assert same(roundtrip(value), value)


def test_compact_utf8_output() -> None:
    assert SAFE.dumps({"a": 1, "b": [True, None]}) == b'{"a":1,"b":[true,null]}'
    assert SAFE.dumps("é") == '"é"'.encode()
    assert SAFE.dumps((1,)) == b'{"$aic":["tuple",[1]]}'


def test_set_bytes_are_deterministic_when_orderable() -> None:
    assert SAFE.dumps({3, 1, 2}) == SAFE.dumps({2, 3, 1}) == b'{"$aic":["set",[1,2,3]]}'
    assert same(
        roundtrip({1, "a", None}), {1, "a", None}
    )  # unorderable: iteration order


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Mode(enum.StrEnum):
    FAST = "fast"


class Point(NamedTuple):
    x: int
    y: int


@dataclasses.dataclass
class Usage:
    prompt_tokens: int
    created: dt.datetime
    tags: tuple[str, ...] = ()


def test_model_like_values_come_back_as_plain_values() -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str
        at: dt.datetime
        usage: dict[str, int]

    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert same(
        roundtrip(Answer(text="hi", at=when, usage={"n": 1})),
        {"text": "hi", "at": when, "usage": {"n": 1}},
    )
    assert same(
        roundtrip(Usage(5, when, ("a",))),
        {"prompt_tokens": 5, "created": when, "tags": ("a",)},
    )
    assert same(roundtrip([Color.RED, Level.HIGH, Mode.FAST]), ["red", 3, "fast"])
    assert same(roundtrip({Mode.FAST: 1}), {"fast": 1})
    assert same(roundtrip(Point(1, 2)), (1, 2))
    assert same(roundtrip(collections.OrderedDict(a=1)), {"a": 1})
    assert same(roundtrip(memoryview(b"ab")), b"ab")


class Opaque:
    pass


@pytest.mark.parametrize(
    "value,where,tname",
    [
        (Opaque(), "value", "Opaque"),
        ({"a": [1, {"b": Opaque()}]}, "value['a'][1]['b']", "Opaque"),
        ({"k": 1j}, "value['k']", "complex"),
        ([lambda: 1], "value[0]", "function"),
        ({Opaque(): 1}, "value key", "Opaque"),
        ((1, Opaque), "value[1]", "type"),
    ],
)
def test_unsupported_values_name_type_and_place(
    value: Any, where: str, tname: str
) -> None:
    with pytest.raises(ValidationError) as ei:
        SAFE.dumps(value)
    assert where in str(ei.value) and tname in str(ei.value)
    assert tname in ei.value.context["type"]


def test_cycles_and_huge_ints_are_validation_errors() -> None:
    cyc: list[Any] = []
    cyc.append(cyc)
    with pytest.raises(ValidationError, match="cycle"):
        SAFE.dumps(cyc)
    with pytest.raises(ValidationError):
        SAFE.dumps(10**5000)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe",
        b"{",
        b"[1,2] trailing",
        b'{"$aic":["tuple",[1]],"x":1}',
        b'{"$aic":["nope",1]}',
        b'{"$aic":"tuple"}',
        b'{"$aic":["tuple",{}]}',
        b'{"$aic":["bytes","not base64!"]}',
        b'{"$aic":["bytes",5]}',
        b'{"$aic":["datetime","yesterday"]}',
        b'{"$aic":["uuid","123"]}',
        b'{"$aic":["decimal","1.2.3"]}',
        b'{"$aic":["set",[[1]]]}',
        b'{"$aic":["map",[[1]]]}',
        b'{"$aic":["map",[[[1],2]]]}',
        b'{"$aic":["timedelta",[1e9,0,0]]}',
        b'{"$aic":["timedelta",[999999999999,0,0]]}',
        b"[" * 100000 + b"]" * 100000,
    ],
)
def test_corrupt_safe_payloads(data: bytes) -> None:
    with pytest.raises(CorruptPayloadError) as ei:
        SAFE.loads(data)
    # "limit": refused by the object/depth bounds before decoding (issue 9).
    assert ei.value.reason in ("serializer", "limit")
    assert isinstance(ei.value, ValueError)


# ---------------------------------------------------------------- strict json


def test_strict_json_round_trips_json_and_rejects_the_rest() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": "é"}}
    assert (
        STRICT.dumps(value)
        == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert STRICT.loads(STRICT.dumps(value)) == value
    assert STRICT.loads(STRICT.dumps(Mode.FAST)) == "fast"
    for bad, hint in [
        ((1, 2), "list"),
        ({1: "a"}, "keys must be str"),
        ({1, 2}, "set"),
        (dt.date(2024, 1, 1), "date"),
        (float("nan"), "Out of range float"),
        ({"x": [b"raw"]}, "bytes"),
    ]:
        with pytest.raises(ValidationError) as ei:
            STRICT.dumps(bad)
        assert hint in str(ei.value)
    with pytest.raises(CorruptPayloadError):
        STRICT.loads(b"{nope")


# ---------------------------------------------------------------- pickle


def test_pickle_serializer() -> None:
    value = {"when": dt.datetime(2024, 1, 1), "obj": Point(1, 2), "c": 1j}
    data = PICKLE.dumps(value)
    assert pickle.loads(data) == value
    assert PICKLE.loads(data) == value
    with pytest.raises(ValidationError, match="function"):
        PICKLE.dumps(lambda: 1)
    with pytest.raises(CorruptPayloadError):
        PICKLE.loads(b"\x80\x05garbage")


def test_registry() -> None:
    assert SERIALIZER_IDS == {"safe": 1, "json": 2, "pickle": 3}
    assert FAST_PATH_IDS == {"utf8": 4, "raw": 5}
    for name, sid in {**SERIALIZER_IDS, **FAST_PATH_IDS}.items():
        assert serializer_by_name(name).id == sid
        assert serializer_by_id(sid).name == name
    with pytest.raises(KeyError):
        serializer_by_name("yaml")
    with pytest.raises(KeyError):
        serializer_by_id(0)


# ---------------------------------------------------------------- fast paths


@given(st.text())
def test_utf8_serializer_round_trips_text(value: str) -> None:
    data = Utf8Serializer().dumps(value)
    assert data == value.encode("utf-8")
    assert Utf8Serializer().loads(data) == value


def test_utf8_serializer_refuses_what_has_no_utf8_form() -> None:
    u = Utf8Serializer()
    with pytest.raises(ValidationError, match="lone surrogate at index 1"):
        u.dumps("a\ud800")
    with pytest.raises(ValidationError, match="str only"):
        u.dumps(b"bytes")
    for bad in (b"\xff", b"\xed\xa0\x80", b"abc\xe2\x82"):  # surrogate, truncated
        with pytest.raises(CorruptPayloadError) as ei:
            u.loads(bad)
        assert ei.value.reason == "serializer"


def test_raw_serializer_returns_bytes() -> None:
    r = RawSerializer()
    b = b"\x00\xff"
    assert r.dumps(b) is b  # no copy for bytes
    assert r.dumps(bytearray(b)) == b and type(r.dumps(bytearray(b))) is bytes
    assert r.dumps(memoryview(b"abcd")[1:3]) == b"bc"
    assert r.loads(b) is b
    with pytest.raises(ValidationError, match="bytes only"):
        r.dumps("text")


def test_big_mostly_ascii_text_is_written_with_ascii_escapes() -> None:
    # A few typographic characters in long English text: \u escapes (faster to
    # write and read); text mostly outside ASCII, or small values: raw UTF-8.
    english = ("The answer \u2014 in short: " + "caching pays. " * 20) * 20
    value = {"text": english, "n": 1, "lone": "\ud800", "when": dt.date(2024, 1, 2)}
    data = SAFE.dumps(value)
    assert data.isascii() and b"\\u2014" in data and b"\\ud800" in data
    assert SAFE.loads(data) == value
    cjk = {"text": "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3002" * 600, "lone": "\udfff"}
    data = SAFE.dumps(cjk)
    assert "\u65e5".encode() in data and SAFE.loads(data) == cjk
    assert SAFE.dumps({"t": "caf\u00e9"}) == '{"t":"caf\u00e9"}'.encode()
    for top in (english, [english], (english,)):
        assert SAFE.dumps(top).isascii() and SAFE.loads(SAFE.dumps(top)) == top


def test_big_string_notes_do_not_leak_between_values() -> None:
    class Model:
        def model_dump(self) -> dict[str, Any]:
            inner = SAFE.dumps({"cjk": "\u65e5" * 5000})  # a dumps() inside a dumps()
            return {"inner": len(inner)}

    value = {"a": "x\u2014" + "y" * 5000, "m": Model()}
    data = SAFE.dumps(value)
    assert data.isascii()  # the inner CJK string did not decide the outer value
    assert SAFE.loads(data) == {"a": value["a"], "m": {"inner": 15010}}


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(max_size=5))
def test_big_strings_round_trip_whichever_writer_is_chosen(part: str, odd: str) -> None:
    big = (part * (2048 // len(part) + 1)) + odd  # >= 2048 chars: takes the check
    for value in ({"text": big, "n": [big, 1]}, [big], big, (big, odd)):
        data = SAFE.dumps(value)
        assert same(SAFE.loads(data), value)
        if big.isascii():
            assert data.isascii()


# -- the plain-JSON shortcut of SafeSerializer.dumps writes what the tagged walk writes


def _tagged_walk_bytes(value: Any) -> bytes:
    """The bytes of the full tagged walk (the path before the shortcut)."""
    from aicache import serialization as s

    big: list[str] = []
    outer, s._walk.big = s._walk.big, big
    try:
        tree = s._enc(value)
    finally:
        s._walk.big = outer
    encoder = s._ASCII_ENCODER if s._ascii_escapes_pay(big) else s._ENCODER
    return encoder.encode(tree).encode("utf-8", "surrogatepass")


_shortcut_leaves = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.sampled_from(["é" * 2100, "\u201c" * 2100 + "x", "$aic", None, True]),
    st.tuples(st.integers()),
    st.binary(max_size=3),
    st.dates(),
)
_shortcut_trees = st.recursive(
    _shortcut_leaves,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.one_of(st.sampled_from(["a", "b", "$aic"]), st.integers(0, 3)),
            kids,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_shortcut_trees)
def test_the_plain_shortcut_writes_the_bytes_of_the_tagged_walk(value: Any) -> None:
    assert SafeSerializer().dumps(value) == _tagged_walk_bytes(value)


@pytest.mark.parametrize("depth", [63, 64, 65, 200, 600])
def test_deep_plain_values_are_refused_or_kept_as_by_the_tagged_walk(
    depth: int,
) -> None:
    nested: Any = []
    cur = nested
    for _ in range(depth):
        cur.append([])
        cur = cur[0]
    try:
        expected: bytes | None = _tagged_walk_bytes(nested)
    except RecursionError:
        expected = None
    if expected is None:
        with pytest.raises(ValidationError, match="nested too deeply"):
            SafeSerializer().dumps(nested)
    else:
        assert SafeSerializer().dumps(nested) == expected
