"""_core.json_dumps_plain, the C writer of plain JSON values: byte-for-byte the
bytes of the Python path it replaces (the plain check plus the stdlib encoder,
ensure_ascii chosen by _ascii_escapes_pay), None for every value that path
would not write as it is, no reference leaked on any path, no crash on deep or
huge values."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import json
import sys
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aicache import _core
from aicache.exceptions import ValidationError
from aicache.serialization import (
    _ASCII_ENCODER,
    _BIG_STR,
    _ENCODER,
    _STRICT_ENCODER,
    JsonSerializer,
    SafeSerializer,
    _ascii_escapes_pay,
    _json_bytes,
    _plain,
)

dumps_plain = _core.json_dumps_plain


def old_safe_bytes(value: Any) -> bytes:
    """What SafeSerializer.dumps wrote for a plain value before the C writer."""
    big: list[str] = []
    if type(value) in (dict, list):
        assert _plain(value, big)
    elif type(value) is str and len(value) >= _BIG_STR:
        big.append(value)
    encoder = _ASCII_ENCODER if _ascii_escapes_pay(big) else _ENCODER
    return _json_bytes(encoder, value, "safe")


def stdlib_bytes(value: Any, ensure_ascii: bool) -> bytes:
    text = json.dumps(
        value,
        ensure_ascii=ensure_ascii,
        separators=(",", ":"),
        check_circular=False,
        allow_nan=True,
    )
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- strategies

# Every kind of code unit: ASCII with the escaped ones and DEL, Latin-1, BMP,
# non-BMP and lone surrogates (valid in a Python str).
_chars = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x7F),
    st.characters(min_codepoint=0x80, max_codepoint=0xFF),
    st.characters(min_codepoint=0x100, max_codepoint=0xFFFF, exclude_categories=()),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
)
_small_text = st.text(_chars, max_size=12)
_SPRINKLES = ["\u00e9", "\u2014", "\u4e2d", "\U0001f600", "\ud800", "\x7f", "\n"]


@st.composite
def _big_text(draw: st.DrawFn) -> str:
    """2048+ characters, mostly ASCII with a drawn share of non-ASCII: around
    the 2 % of the sample at which _ascii_escapes_pay flips."""
    size = draw(st.integers(_BIG_STR, _BIG_STR + 1200))
    chars = ["a"] * size
    for _ in range(draw(st.integers(0, 120))):
        chars[draw(st.integers(0, size - 1))] = draw(st.sampled_from(_SPRINKLES))
    return "".join(chars)


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e300, -1e300, 5e-324, 1e16, 1e-5, 0.1 + 0.2]),
    _small_text,
    _big_text(),
)
_keys = st.one_of(
    _small_text.filter(lambda k: k != "$aic"),
    st.sampled_from(["a", "$aicx", "aic", "$AIC", ""]),
)
plain_trees = st.recursive(
    _leaves,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(_keys, kids, max_size=5),
    max_leaves=25,
)


# ---------------------------------------------------------------- differential


@settings(max_examples=200, deadline=None)
@given(plain_trees)
def test_plain_values_are_written_as_the_python_path_wrote_them(value: Any) -> None:
    assert dumps_plain(value) == old_safe_bytes(value)
    assert SafeSerializer().dumps(value) == old_safe_bytes(value)


@settings(max_examples=100, deadline=None)
@given(plain_trees, st.booleans())
def test_a_forced_ensure_ascii_equals_json_dumps(
    value: Any, ensure_ascii: bool
) -> None:
    assert dumps_plain(value, ensure_ascii) == stdlib_bytes(value, ensure_ascii)


@settings(max_examples=100, deadline=None)
@given(plain_trees)
def test_strict_mode_writes_what_the_json_serializer_wrote(value: Any) -> None:
    finite = all(
        p == p and p not in (float("inf"), -float("inf"))
        for p in _parts(value)
        if type(p) is float
    )
    got = dumps_plain(value, False, True)
    if finite:
        assert got == _json_bytes(_STRICT_ENCODER, value, "json")
        assert JsonSerializer().dumps(value) == got
    else:
        assert got is None
        with pytest.raises(ValidationError):
            JsonSerializer().dumps(value)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 3000,  # big, ASCII: escapes pay but change nothing
        "a" * 3000 + "\u00e9",  # big, 1 non-ASCII char: ASCII escapes
        "a" * 3000 + "\x7f",  # DEL is escaped under ensure_ascii
        "\u4e2d" * 3000,  # CJK: UTF-8
        "\u00e9" + "a" * 3000,  # sampled non-ASCII at index 0, 1 of 97: ASCII
        ("\u2014" + "a" * 30) * 80,  # every sample non-ASCII: UTF-8
        "\U0001f600" * 2048,  # non-BMP: UTF-8
        "a" * 2047 + "\u00e9",  # 2048 characters: big
        "a" * 2046 + "\u00e9",  # 2047 characters: not big, UTF-8
    ],
)
def test_the_ensure_ascii_choice_follows_the_big_strings(text: str) -> None:
    for value in ({"t": text, "u": "\u00e9"}, [text, "\U0001f600"], text):
        assert dumps_plain(value) == old_safe_bytes(value)


def test_big_keys_do_not_count_as_big_strings() -> None:
    value = {"a" * 3000: "\u00e9"}
    assert dumps_plain(value) == old_safe_bytes(value) == stdlib_bytes(value, False)


def test_a_big_non_ascii_string_anywhere_keeps_utf8() -> None:
    value = ["a" * 3000 + "\u00e9", ["\u4e2d" * 3000], "caf\u00e9"]
    assert dumps_plain(value) == old_safe_bytes(value) == stdlib_bytes(value, False)


# ---------------------------------------------------------------- declines


class IntE(enum.IntEnum):
    ONE = 1


class StrSub(str):
    pass


class IntSub(int):
    pass


class FloatSub(float):
    pass


class DictSub(dict[str, Any]):
    pass


class ListSub(list[Any]):
    pass


def _nested(depth: int, kind: type) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind is list else {"k": value}
    return value


NOT_PLAIN: list[Any] = [
    (1, 2),
    {1, 2},
    frozenset({1}),
    b"x",
    bytearray(b"x"),
    memoryview(b"x"),
    dt.datetime(2024, 1, 2, 3, 4, 5),
    dt.date(2024, 1, 2),
    dt.time(1, 2),
    dt.timedelta(seconds=3),
    Decimal("1.5"),
    uuid.UUID(int=5),
    object(),
    IntE.ONE,
    StrSub("s"),
    IntSub(3),
    FloatSub(1.5),
    DictSub(a=1),
    ListSub([1]),
    collections.OrderedDict(a=1),
    collections.defaultdict(list, a=[]),
    {1: "int key"},
    {StrSub("k"): 1},
    {(1, 2): 1},
    {"$aic": 1},
    {"a": 1, "$aic": ["tuple", []]},
    _nested(65, list),
    _nested(65, dict),
    10**5000,  # over the int-to-str digit limit: the Python path raises
]


@pytest.mark.parametrize("bad", NOT_PLAIN, ids=lambda v: type(v).__name__)
def test_every_non_plain_value_declines(bad: Any) -> None:
    for value in (bad, [1, "x", bad], {"a": [bad]}, {"a": 1, "b": {"c": bad}}):
        assert dumps_plain(value) is None
        assert dumps_plain(value, True) is None
        assert dumps_plain(value, False) is None


def test_strict_mode_declines_nan_and_allows_the_tag_key() -> None:
    for bad in (float("nan"), float("inf"), -float("inf")):
        assert dumps_plain([bad], False, True) is None
    assert dumps_plain({"$aic": [1]}, False, True) == b'{"$aic":[1]}'
    assert JsonSerializer().dumps({"$aic": [1]}) == b'{"$aic":[1]}'
    assert dumps_plain((1,), False, True) is None


@pytest.mark.parametrize("depth", [1, 63, 64, 65, 66])
def test_64_levels_are_written_65_decline(depth: int) -> None:
    for kind in (list, dict):
        value = _nested(depth, kind)
        if depth <= 64:
            assert dumps_plain(value) == old_safe_bytes(value)
        else:
            assert not _plain(value, [])
            assert dumps_plain(value) is None


def test_declined_values_keep_their_serializer_behaviour() -> None:
    assert SafeSerializer().loads(SafeSerializer().dumps({"a": (1, 2)})) == {
        "a": (1, 2)
    }
    with pytest.raises(ValidationError):
        SafeSerializer().dumps([10**5000])
    with pytest.raises(ValidationError):
        JsonSerializer().dumps([10**5000])
    assert JsonSerializer().dumps([IntSub(3), StrSub("s")]) == b'[3,"s"]'


def test_bad_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError):
        dumps_plain([], 1)
    with pytest.raises(TypeError):
        dumps_plain()
    with pytest.raises(TypeError):
        dumps_plain([], None, False, 3)


# ---------------------------------------------------------------- limits


def test_a_very_deep_value_declines_without_a_crash() -> None:
    for kind in (list, dict):
        deep = _nested(200_000, kind)
        assert dumps_plain(deep) is None
        with pytest.raises(ValidationError, match="nested too deeply"):
            SafeSerializer().dumps(deep)


def test_a_huge_string_is_written_exactly() -> None:
    text = ("line \u00e9\n" * 400_000) + "\U0001f600"  # ~3.2 M characters, UCS-4
    value = {"t": text}
    assert dumps_plain(value) == old_safe_bytes(value)
    ascii_text = "x\t" * 2_000_000
    assert dumps_plain([ascii_text]) == old_safe_bytes([ascii_text])


# ---------------------------------------------------------------- references


def rc(obj: object) -> int:
    """sys.getrefcount without this call's own reference."""
    return sys.getrefcount(obj) - 1


def _parts(value: Any) -> list[Any]:
    """value and every container, key and leaf in it (each once, by identity)."""
    seen: dict[int, Any] = {}
    stack = [value]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen[id(o)] = o
        if type(o) is dict:
            stack.extend(o.keys())
            stack.extend(o.values())
        elif type(o) is list:
            stack.extend(o)
    return list(seen.values())


_REF_VALUES: list[Any] = [
    # success paths: small and huge ints, short and dtoa floats, NaN, the
    # ASCII rewrite, wide strings
    {"i": 12345678901234567890123, "f": 0.1 + 0.2, "g": 1.5, "n": float("nan")},
    ["a" * 3000 + "\u00e9", "\U0001f600", -7, None, True, False],
    {"k\u4e2d": ["\ud800", 1e-7]},
    # declines: first element, after written elements, nested, key, tag, depth,
    # an int over the digit limit (a cleared ValueError)
    [(1,)],
    [1, "x", 2.5, {"a": [set()]}],
    {"a": 1, 2: "b"},
    {"a": "x", "$aic": 1},
    [_nested(64, list)],
    ["x", 10**5000],
]


@pytest.mark.parametrize("value", _REF_VALUES, ids=[f"v{i}" for i in range(9)])
def test_no_reference_is_kept_or_lost(value: Any) -> None:
    parts = _parts(value)
    before = [rc(p) for p in parts]
    for _ in range(50):
        dumps_plain(value)
        dumps_plain(value, True)
        dumps_plain(value, False, True)
    assert [rc(p) for p in parts] == before
