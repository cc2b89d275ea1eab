"""The C JSON decoder (_core.JsonDecoder) against the stdlib reader it replaced
(serialization._stdlib_loads): the same values, type for type, or both refused,
for random JSON texts, random byte mutations of real payloads and the hostile
cases one by one; the limits; reference counts on every path."""

from __future__ import annotations

import datetime as dt
import functools
import gc
import json
import math
import random
import struct
import sys
import threading
import uuid
import weakref
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aicache import _core
from aicache.serialization import (
    MAX_DECODE_DEPTH,
    MAX_DECODED_OBJECTS,
    TAG,
    CorruptPayloadError,
    JsonSerializer,
    SafeSerializer,
    _hook,
    _stdlib_loads,
)

SAFE = SafeSerializer()
STRICT = JsonSerializer()
TAGGED = _core.JsonDecoder(TAG, _hook)
PLAIN = _core.JsonDecoder()


def identical(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down, floats bit for bit (NaN equal
    to NaN, -0.0 apart from 0.0), dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return bool(struct.pack("<d", a) == struct.pack("<d", b)) or (
            math.isnan(a) and math.isnan(b)
        )
    if type(a) is dict:
        return list(a) == list(b) and all(
            identical(k1, k2) and identical(a[k1], b[k2])
            for k1, k2 in zip(a, b, strict=True)
        )
    if type(a) in (set, frozenset):  # NaN members: one object per reader
        return sorted(map(repr, a)) == sorted(map(repr, b))
    if type(a) is Decimal:
        return str(a) == str(b)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(
            identical(x, y) for x, y in zip(a, b, strict=True)
        )
    return bool(a == b)


def outcome(loads: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", loads(data)
    except CorruptPayloadError as e:
        return "refused", e.reason


def c_loads(data: bytes) -> Any:
    return SAFE.loads(data)


def assert_same(data: bytes, tagged: bool = True) -> None:
    new = outcome(SAFE.loads if tagged else STRICT.loads, data)
    old = outcome(lambda d: _stdlib_loads(d, tagged), data)
    if old[0] == "refused" and old[1] == "limit" and new[0] == "ok":
        # the stdlib pre-pass is conservative (brackets and commas inside
        # strings count); the C decoder counts exactly
        assert depth_and_values(new[1]) <= (MAX_DECODE_DEPTH, MAX_DECODED_OBJECTS)
        return
    assert new[0] == old[0], (data, new, old)
    if new[0] == "ok":
        assert identical(new[1], old[1]), (data, new, old)
    else:
        assert new[1] == old[1] or "limit" in (new[1], old[1]), (data, new, old)


def depth_and_values(v: Any) -> tuple[int, int]:
    if type(v) is list:
        inner = [depth_and_values(x) for x in v]
        return 1 + max((d for d, _ in inner), default=0), 1 + sum(n for _, n in inner)
    if type(v) is dict:
        return depth_and_values(list(v.values()))
    return 0, 1


# ------------------------------------------------------------ random texts

chars = st.characters(codec=None, exclude_categories=())  # surrogates included
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats()
    | st.text(chars, max_size=12)
)
json_values = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(chars, max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    json_values,
    st.booleans(),
    st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", "\t:\r")]),
    st.sampled_from([None, 1]),
)
@settings(max_examples=400, deadline=None)
def test_random_json_texts_decode_as_stdlib(
    value: Any, ascii_only: bool, separators: tuple[str, str], indent: int | None
) -> None:
    text = json.dumps(
        value, ensure_ascii=ascii_only, separators=separators, indent=indent
    )
    data = text.encode("utf-8", "surrogatepass")
    assert_same(data)
    assert_same(data, tagged=False)
    assert identical(PLAIN.decode(data), json.loads(text))


# Values as the serializers write them: tagged types included.
stored_leaf = (
    json_leaf
    | st.binary(max_size=8)
    | st.datetimes()
    | st.uuids()
    | st.decimals(allow_nan=False, places=3)
)
stored_values = st.recursive(
    stored_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=5) | st.just(TAG), inner, max_size=3)
        | st.dictionaries(st.integers(), inner, max_size=2)
    ),
    max_leaves=12,
)
INTERESTING = [
    b'"',
    b"\\",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"\x00",
    b"\xff",
    b"\xed\xa0\x80",
    b"\\u",
    b"\\ud800",
    b"e",
    b".",
    b"-",
    b"N",
    b" ",
]


@given(stored_values, st.randoms(use_true_random=False), st.integers(1, 4))
@settings(max_examples=500, deadline=None)
def test_mutated_payloads_decode_or_fail_as_stdlib(
    value: Any, rng: random.Random, rounds: int
) -> None:
    data = bytearray(SAFE.dumps(value))
    assert_same(bytes(data))
    for _ in range(rounds):
        if not data:
            break
        i = rng.randrange(len(data))
        op = rng.randrange(5)
        if op == 0:
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            del data[i : i + rng.randrange(1, 4)]
        elif op == 2:
            data[i:i] = rng.choice(INTERESTING)
        elif op == 3:
            data[i] = rng.randrange(256)
        else:
            j = rng.randrange(len(data))
            data[i:i] = data[j : j + rng.randrange(1, 8)]
        assert_same(bytes(data))


# ----------------------------------------------------------- one by one

HOSTILE = [
    b"",
    b" ",
    b"NaN",
    b"[NaN,Infinity,-Infinity]",
    b"-NaN",
    b"nan",
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\ud83d\\ude00"',
    b'"\\ud800\\u0041"',
    b'"\\ud800\\n"',
    b'"\\ud800\\"',
    b'"\xed\xa0\x80"',
    b'"\xed\xa0\x80\xed\xb0\x80"',
    b'"\\ud800\xed\xb0\x80"',
    b'"\xc0\xaf"',
    b'"\xe0\x80\xaf"',
    b'"\xf4\x90\x80\x80"',
    b'"\xff"',
    b"\xef\xbb\xbf[]",
    b'"a\x00b"',
    b'"a\x1fb"',
    b'"\x7f"',
    b'{"a":1,"b":2,"a":3}',
    b'{"a":1,"a":{"b":2}}',
    b"[1,]",
    b'{"a":1,}',
    b"01",
    b"1.",
    b".5",
    b"1e5",
    b"-0",
    b"-0.0",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"123456789012345678",
    b"1234567890123456789",
    b"-9223372036854775809",
    b"0.1",
    b"2.2250738585072011e-308",
    b"9007199254740993",
    b"9007199254740993.0",
    b"[1 2]",
    b"[1]x",
    b"[1] \x0b",
    b" \t\r\n[ ] \t\r\n",
    b"{}",
    b'{"$aic":["tuple",[1,2]]}',
    b'{"$aic":["tuple",[1,2]],"x":1}',
    b'{"$aic":["nope",1]}',
    b'{"$aic":["bytes","!!"]}',
    b'{"$aic":["set",[[1]]]}',
    b'{"$aic":["timedelta",[999999999999,0,0]]}',
    b'{"$aic":["decimal","1.2.3"]}',
    b'{"\\u0024aic":["tuple",[1]]}',
    b'[{"\\u0024aic":["tuple",[1]]},{"$aic":["set",[1]]}]',
    b'{"$aic" :["tuple",[1]]}',
    b'["\\"$aic\\":",{"\\u0024aic":["tuple",[1]]}]',
    b'{"$aic":["tuple",[1]],"$aic":["set",[2]]}',
    b'{"$aic":["map",[[{"$aic":["tuple",[1,2]]},3]]]}',
    # memoized keys of every string kind (raw UTF-8, escapes, both)
    '[{"\u00e9\\n":1},{"\u00e9\\n":2},{"\\u00e9":3},{"\\u00e9":4},{"\u00e9":5},{"\u00e9":6}]'.encode(),
    '["\u4e2d\\n\u6587", "\\ud800\u00e9", "\u00e9\\ud83d\\ude00"]'.encode(),
    b'["\\ud800\xed\xb0\x80", "\xed\xa0\x80\\udc00", "\xc3\\u00a9"]',
    b'["\xe2\x82\\n", "\\n\xa9", "ok\xff\\n"]',
]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_texts_one_by_one(data: bytes) -> None:
    assert_same(data)
    assert_same(data, tagged=False)


def test_lone_surrogates_and_utf8() -> None:
    assert SAFE.loads(b'"\\ud800"') == "\ud800"
    assert SAFE.loads(b'"\xed\xa0\x80"') == "\ud800"
    assert SAFE.loads(b'"\\ud800\\udc00"') == "\U00010000"
    with pytest.raises(CorruptPayloadError) as info:
        SAFE.loads(b'"\xff"')
    assert info.value.reason == "serializer"
    assert "UTF-8" in str(info.value)


def test_every_str_kind_is_canonical() -> None:
    for text in ["abc", "caf\u00e9", "\u20ac uro", "\U0001f600!", "a\\nb", "\ud800"]:
        data = json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")
        got = SAFE.loads(data)
        assert got == text and hash(got) == hash(text)
        assert json.dumps(got) == json.dumps(text)  # the kind matches its contents


def test_huge_ints_follow_the_interpreter_digit_limit() -> None:
    limit = sys.get_int_max_str_digits()
    assert SAFE.loads(b"9" * limit) == int("9" * limit)
    with pytest.raises(CorruptPayloadError) as info:
        SAFE.loads(b"[" + b"9" * (limit + 1) + b"]")
    assert info.value.reason == "serializer"
    sys.set_int_max_str_digits(0)
    try:
        assert SAFE.loads(b"-" + b"7" * (limit + 1)) == -int("7" * (limit + 1))
    finally:
        sys.set_int_max_str_digits(limit)


def test_non_finite_literals_are_one_object_per_decoder() -> None:
    nan, inf, ninf = PLAIN.decode(b"[NaN,Infinity,-Infinity]")
    assert struct.pack("<d", nan) == struct.pack("<d", float("nan"))
    assert (inf, ninf) == (math.inf, -math.inf)
    again = PLAIN.decode(b"[NaN]")
    assert again[0] is nan and again == [nan]  # as json's shared constants


def test_floats_parse_as_float_str() -> None:
    rng = random.Random(5)
    texts = [repr(rng.uniform(-1e6, 1e6)) for _ in range(200)]
    texts += [f"{rng.randrange(10**20)}e{rng.randrange(-330, 310)}" for _ in range(200)]
    texts += ["1" * 400 + ".5", "0." + "0" * 400 + "1"]
    for t in texts:
        got = SAFE.loads(t.encode())
        assert identical(got, float(t)), t


# ------------------------------------------------------------------ limits


def nest(depth: int, obj: bool = False) -> bytes:
    if obj:
        return b'{"k":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("obj", [False, True])
@pytest.mark.parametrize("ser", [SAFE, STRICT])
def test_depth_limit(obj: bool, ser: Any) -> None:
    assert depth_and_values(ser.loads(nest(MAX_DECODE_DEPTH, obj)))[0] == (
        MAX_DECODE_DEPTH
    )
    with pytest.raises(CorruptPayloadError) as info:
        ser.loads(nest(MAX_DECODE_DEPTH + 1, obj))
    assert info.value.reason == "limit"


@pytest.mark.parametrize("ser", [SAFE, STRICT])
def test_value_limit(ser: Any) -> None:
    # [0,0,...,0]: the list and its items
    at_limit = b"[" + b"0," * (MAX_DECODED_OBJECTS - 2) + b"0]"
    assert len(ser.loads(at_limit)) == MAX_DECODED_OBJECTS - 1
    over = b"[" + b"0," * (MAX_DECODED_OBJECTS - 1) + b"0]"
    with pytest.raises(CorruptPayloadError) as info:
        ser.loads(over)
    assert info.value.reason == "limit"


def test_limits_count_values_not_bytes() -> None:
    """What the stdlib pre-pass refused by its conservative bound (commas and
    brackets inside strings) is read now; it is within both limits."""
    data = json.dumps({"csv": "," * (MAX_DECODED_OBJECTS + 5)}).encode()
    with pytest.raises(CorruptPayloadError):
        _stdlib_loads(data)
    assert SAFE.loads(data) == {"csv": "," * (MAX_DECODED_OBJECTS + 5)}
    empties = b"[" + b"[]," * 600_000 + b"[]]"  # 600,002 values, bound 1.2M
    assert len(SAFE.loads(empties)) == 600_001


def test_constants_match_the_core() -> None:
    assert (MAX_DECODE_DEPTH, MAX_DECODED_OBJECTS) == (256, 1_000_000)
    assert (_core.JSON_MAX_DEPTH, _core.JSON_MAX_VALUES) == (256, 1_000_000)


# ------------------------------------------------------------------ the type


def test_decoder_arguments_and_inputs() -> None:
    assert TAGGED.tag == TAG and TAGGED.tag_hook is _hook
    assert PLAIN.tag is None and PLAIN.tag_hook is None
    for bad in ["", "x" * 17, 'a"b', "a\\b"]:
        with pytest.raises(ValueError):
            _core.JsonDecoder(tag=bad)
    with pytest.raises(TypeError):
        _core.JsonDecoder(tag="\u00e9")
    with pytest.raises(TypeError):
        _core.JsonDecoder(tag="t", tag_hook=5)  # type: ignore[arg-type]
    data = b'{"a":[1,"x"]}'
    for form in (data, bytearray(data), memoryview(data)):
        assert PLAIN.decode(form) == {"a": [1, "x"]}
    with pytest.raises(TypeError):
        PLAIN.decode("[]")  # type: ignore[arg-type]
    with pytest.raises(_core.PayloadError) as info:
        PLAIN.decode(b"[1,]")
    assert info.value.reason == "serializer" and info.value.pos == 3  # type: ignore[attr-defined]


def test_hook_sees_inner_objects_first_and_its_result_replaces_the_object() -> None:
    seen: list[Any] = []

    def hook(d: dict[str, Any]) -> Any:
        seen.append(d)
        return ("hooked", d["t"])

    dec = _core.JsonDecoder("t", hook)
    assert dec.decode(b'{"t":{"t":1},"u":2}') == ("hooked", ("hooked", 1))
    assert seen == [{"t": 1}, {"t": ("hooked", 1), "u": 2}]
    assert dec.decode(b'{"u":{"\\u0074":1}}') == {"u": {"t": 1}}  # no literal mark


# -------------------------------------------------------------- refcounts


def rc(obj: object) -> int:
    return sys.getrefcount(obj) - 1


class Token:
    pass


def test_refcounts_on_success() -> None:
    data = SAFE.dumps({"k": ["v" * 50, 1.5, 10**30, None, (1, 2), b"xy"]})
    before = (rc(data), rc(TAGGED), rc(_hook))
    for _ in range(200):
        value = TAGGED.decode(data)
    del value
    gc.collect()
    assert (rc(data), rc(TAGGED), rc(_hook)) == before
    value = PLAIN.decode(b'{"key":"value","key2":["value"]}')
    # (counted outside assert: pytest's rewriting keeps its operands alive)
    counts = sys.getrefcount(value), sys.getrefcount(value["key2"])
    assert counts == (2, 2)  # a name or the dict, and getrefcount's argument
    # memoized keys: one str shared by every dict, held by those dicts only
    rows = PLAIN.decode(b'[{"name":1},{"name":2},{"name":3}]')
    key = next(iter(rows[0]))
    assert all(next(iter(r)) is key for r in rows)
    count = sys.getrefcount(key)
    assert count == 3 + 2  # three dicts, `key`, the argument


def test_refcounts_when_refused_or_the_hook_raises() -> None:
    made: list[weakref.ref[Token]] = []

    def hook(d: dict[str, Any]) -> Any:
        if d["t"] == "boom":
            raise ValueError("boom")
        tok = Token()
        made.append(weakref.ref(tok))
        return tok

    dec = _core.JsonDecoder("t", hook)
    base = rc(hook), rc(dec)
    cases = [
        b'[{"t":1},{"t":"boom"}]',  # the hook raises after building objects
        b'[{"t":1},"x",' + b"9" * 5000 + b"]",  # int over the digit limit late
        b'{"a":{"t":1},"b":' + b"9" * 5000 + b"}",
    ]
    for data in cases:
        with pytest.raises(ValueError):
            dec.decode(data)
    gc.collect()
    assert made and all(r() is None for r in made)  # partial trees were freed
    assert (rc(hook), rc(dec)) == base
    for data in [b"[1,]", nest(MAX_DECODE_DEPTH + 1), b'"\xff"']:
        with pytest.raises(_core.PayloadError):
            dec.decode(data)
    assert (rc(hook), rc(dec)) == base


def test_no_allocations_leak_on_any_path() -> None:
    paths: list[Callable[[], object]] = [
        lambda: SAFE.loads(SAFE.dumps({"k": [1, "x\u00e9", (1,), {"a": b"b"}]})),
        lambda: PLAIN.decode(b'{"a":[1,2,{"b":"\\u00e9"}],"c":1.5}'),
    ]
    bad = [b"[1,]", b'[{"$aic":["nope",1]}]', b'{"$aic":["set",[[1]]]}', b'"\xff"']

    def refused(data: bytes) -> None:
        with pytest.raises(CorruptPayloadError):
            SAFE.loads(data)

    for data in bad:
        paths.append(functools.partial(refused, data))
    for path in paths:
        for _ in range(50):
            path()
        gc.collect()
        start = sys.getallocatedblocks()
        for _ in range(2000):
            path()
        gc.collect()
        assert sys.getallocatedblocks() - start < 50


def test_tagged_values_round_trip_through_the_c_reader() -> None:
    value = {
        "t": (1, 2.5, "x"),
        "s": {1, 2},
        "f": frozenset({"a"}),
        "b": b"\x00\xff",
        "ba": bytearray(b"ab"),
        "dt": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        "d": dt.date(2024, 5, 1),
        "tm": dt.time(1, 2, 3),
        "td": dt.timedelta(days=1, microseconds=5),
        "u": uuid.UUID(int=7),
        "dec": Decimal("1.50"),
        "m": {(1, 2): "pair", 3: "int"},
        TAG: "user key",
    }
    data = SAFE.dumps(value)
    assert SAFE.loads(data) == value
    assert identical(SAFE.loads(data), _stdlib_loads(data))


def test_big_texts_decode_alike_in_threads() -> None:
    """Texts of 64 KiB or more are validated with the GIL released."""
    data = SAFE.dumps({"text": "word " * 40_000, "n": list(range(2000))})
    want = SAFE.loads(data)
    results: list[Any] = []

    def work() -> None:
        results.extend(SAFE.loads(data) for _ in range(5))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(r == want for r in results)


def test_a_hook_that_mutates_the_input_changes_nothing() -> None:
    """A mutable buffer is decoded from a private copy: the tape's offsets stay
    true whatever the hook does to the caller's bytes."""
    source = bytearray(b'[{"t":1},"' + b"x" * 100 + b'",{"t":2}]')

    def hook(d: dict[str, Any]) -> Any:
        source[:] = b"[" * len(source)
        return d["t"]

    assert _core.JsonDecoder("t", hook).decode(source) == [1, "x" * 100, 2]
