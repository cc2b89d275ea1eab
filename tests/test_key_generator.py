"""CacheKeyGenerator: keys byte-identical to the original (spec §5), C and Python paths.

The oracle is `reference_key` below: the original algorithm written out in plain
Python, independent of aicache.
"""

from __future__ import annotations

import gc
import hashlib
import sys
import threading
import time
import tracemalloc
import weakref
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aicache import _core
from aicache.key_generator import CacheKeyGenerator
from aicache.monitoring import CachePerformanceMonitor

# ---------------------------------------------------------------- the oracle


def reference_text_id(text: Any, threshold: Any, algorithm: Any) -> Any:
    if len(text) <= threshold:
        return text.replace("|", "_").replace(":", "_")
    hasher = algorithm()
    hasher.update(text.encode("utf-8"))
    hasher.update(f"len:{len(text)}".encode())
    hasher.update(f"words:{len(text.split())}".encode())
    return f"hash:{hasher.hexdigest()[:16]}"


def reference_key(
    text: Any,
    operation: Any,
    options: Any,
    threshold: Any = 1000,
    algorithm: Any = hashlib.sha256,
) -> str:
    text_id = reference_text_id(text, threshold, algorithm)
    parts = [f"op:{operation}", f"txt:{text_id}"]
    question = options.get("question") if options else None
    if options:
        rendered = "&".join(f"{k}={v}" for k, v in sorted(options.items()))
        parts.append(f"opts:{hashlib.md5(rendered.encode()).hexdigest()[:8]}")
    if question:
        parts.append(f"q:{hashlib.md5(question.encode()).hexdigest()[:8]}")
    return "ai_cache:" + "|".join(parts)


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    """("ok", value) or ("raise", exception type): compares behaviour, not messages."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:
        return ("raise", type(exc))


class RecordingMonitor:
    """The duck-typed monitor surface the generator uses."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.key_generation_times: list[SimpleNamespace] = []

    def record_key_generation_time(
        self,
        duration: float,
        text_length: int,
        operation_type: str = "",
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        self.calls.append(
            {
                "duration": duration,
                "text_length": text_length,
                "operation_type": operation_type,
                "additional_data": additional_data,
            }
        )
        self.key_generation_times.append(
            SimpleNamespace(
                duration=duration,
                text_length=text_length,
                operation_type=operation_type,
            )
        )


# ---------------------------------------------------------------- spec 5.3

WORKED_EXAMPLES = [
    (("Hello world", "summarize", {}), 1000, "ai_cache:op:summarize|txt:Hello world"),
    (
        ("Hello: a|b world", "summarize", {"max_length": 100}),
        1000,
        "ai_cache:op:summarize|txt:Hello_ a_b world|opts:5104236b",
    ),
    (
        (
            "Document content",
            "qa",
            {"question": "What is the main point?", "max_tokens": 150},
        ),
        1000,
        "ai_cache:op:qa|txt:Document content|opts:9169c942|q:732ed4fc",
    ),
    (
        ("A" * 1001, "summarize", {}),
        1000,
        "ai_cache:op:summarize|txt:hash:564869f68dbdc44f",
    ),
    (("A" * 1000, "summarize", {}), 1000, "ai_cache:op:summarize|txt:" + "A" * 1000),
    (
        ("The quick brown fox. " * 30, "summarize", {"max_length": 100}),
        500,
        "ai_cache:op:summarize|txt:hash:75b3e7fb0dd6d534|opts:5104236b",
    ),
    (
        ("Café naïve 😀", "sentiment", {}),
        1000,
        "ai_cache:op:sentiment|txt:Café naïve 😀",
    ),
    (
        ("x", "op", {"b": [1, 2], "a": {"z": 1, "y": None}, "c": True}),
        1000,
        "ai_cache:op:op|txt:x|opts:2d3f59a9",
    ),
    (
        ("x", "op", {"a": {"y": None, "z": 1}}),
        1000,
        "ai_cache:op:op|txt:x|opts:321d3c8b",
    ),
    (
        ("x", "op", {"a": {"z": 1, "y": None}}),
        1000,
        "ai_cache:op:op|txt:x|opts:9783dd6c",
    ),
    (("x", "op", {"question": ""}), 1000, "ai_cache:op:op|txt:x|opts:ac849af7"),
    (("", "op", None), 1000, "ai_cache:op:op|txt:"),
]


@pytest.mark.parametrize(("args", "threshold", "key"), WORKED_EXAMPLES)
def test_worked_examples(args: tuple[Any, ...], threshold: int, key: str) -> None:
    gen = CacheKeyGenerator(text_hash_threshold=threshold)
    assert gen.generate_cache_key(*args) == key
    assert reference_key(*args, threshold=threshold) == key  # the oracle agrees


def test_worked_example_opts_strings() -> None:
    """The option strings the spec names hash to the parts it shows."""
    assert hashlib.md5(b"max_length=100").hexdigest()[:8] == "5104236b"
    rendered = "a={'z': 1, 'y': None}&b=[1, 2]&c=True"
    assert hashlib.md5(rendered.encode()).hexdigest()[:8] == "2d3f59a9"
    fox = "The quick brown fox. " * 30
    assert (len(fox), len(fox.split())) == (630, 120)
    assert _core.key_text_metrics(fox) == (630, 120)


def test_text_id_matches_original() -> None:
    gen = CacheKeyGenerator()
    assert gen._hash_text_efficiently("text|mixed:chars") == "text_mixed_chars"
    assert gen._hash_text_efficiently("A" * 1000) == "A" * 1000
    assert gen._hash_text_efficiently("A" * 1001) == "hash:564869f68dbdc44f"
    uni = "Hello 世界! 🌍 spëcial: àáâ|"
    assert gen._hash_text_efficiently(uni) == uni.replace("|", "_").replace(":", "_")
    gen.hash_algorithm = hashlib.md5
    gen.text_hash_threshold = 3
    assert gen._hash_text_efficiently("abcd") == reference_text_id(
        "abcd", 3, hashlib.md5
    )


# ---------------------------------------------------------------- constructor, attributes


def test_defaults_and_identity() -> None:
    gen = CacheKeyGenerator()
    assert gen.text_hash_threshold == 1000
    assert gen.hash_algorithm is hashlib.sha256
    assert gen.performance_monitor is None
    monitor = RecordingMonitor()
    gen = CacheKeyGenerator(500, hashlib.md5, monitor)
    assert gen.text_hash_threshold == 500
    assert gen.hash_algorithm is hashlib.md5
    assert gen.performance_monitor is monitor
    gen = CacheKeyGenerator(
        text_hash_threshold=7, hash_algorithm=hashlib.sha1, performance_monitor=None
    )
    assert (gen.text_hash_threshold, gen.hash_algorithm) == (7, hashlib.sha1)


@pytest.mark.parametrize("threshold", [0, 1, 100000])
def test_accepted_thresholds(threshold: int) -> None:
    gen = CacheKeyGenerator(text_hash_threshold=threshold)
    for text in ["", "a", "ab", "x" * 100001]:
        assert gen.generate_cache_key(text, "op", {}) == reference_key(
            text, "op", {}, threshold
        )


def test_no_validation_and_reassignment() -> None:
    gen = CacheKeyGenerator(text_hash_threshold="nope")  # type: ignore[arg-type]
    assert gen.text_hash_threshold == "nope"
    with pytest.raises(TypeError):  # `len(text) <= "nope"`, as the original
        gen.generate_cache_key("text", "op", {})
    gen.text_hash_threshold = 2
    assert gen.generate_cache_key("abc", "op", {}).startswith(
        "ai_cache:op:op|txt:hash:"
    )
    gen.text_hash_threshold = 2.5  # type: ignore[assignment]
    assert gen.generate_cache_key("ab", "op", {}) == "ai_cache:op:op|txt:ab"
    assert gen.generate_cache_key("abc", "op", {}) == reference_key(
        "abc", "op", {}, 2.5
    )
    gen.text_hash_threshold = 10**30
    assert gen.generate_cache_key("abc", "op", {}) == "ai_cache:op:op|txt:abc"
    gen.text_hash_threshold = -(10**30)
    assert gen.generate_cache_key("", "op", {}) == reference_key("", "op", {}, -1)


def test_instances_are_extensible_and_weakrefable() -> None:
    gen = CacheKeyGenerator()
    gen.extra = 1  # type: ignore[attr-defined]
    ref = weakref.ref(gen)
    assert ref() is gen


def test_cycle_through_monitor_is_collected() -> None:
    monitor = RecordingMonitor()
    gen = CacheKeyGenerator(performance_monitor=monitor)
    monitor.owner = gen  # type: ignore[attr-defined]
    ref = weakref.ref(gen)
    del gen, monitor
    gc.collect()
    assert ref() is None


# ---------------------------------------------------------------- hash algorithms


@pytest.mark.parametrize(
    "algorithm",
    [
        hashlib.sha256,
        hashlib.md5,
        hashlib.sha1,
        hashlib.blake2b,
        lambda: hashlib.sha512(),
    ],
)
def test_hash_algorithms(algorithm: Any) -> None:
    gen = CacheKeyGenerator(text_hash_threshold=5, hash_algorithm=algorithm)
    for text in ["short", "long enough text", "x  y\u3000z\x85" * 50, "é" * 3000]:
        assert gen.generate_cache_key(text, "op", {"k": 1}) == reference_key(
            text, "op", {"k": 1}, 5, algorithm
        )


def test_custom_algorithm_sees_three_updates() -> None:
    seen: list[bytes] = []

    class Recorder:
        def update(self, data: bytes) -> None:
            seen.append(data)

        def hexdigest(self) -> str:
            return "0123456789abcdef0123"

    gen = CacheKeyGenerator(text_hash_threshold=3, hash_algorithm=Recorder)
    assert gen.generate_cache_key("a b c", "op", None) == (
        "ai_cache:op:op|txt:hash:0123456789abcdef"
    )
    assert seen == [b"a b c", b"len:5", b"words:3"]


# ---------------------------------------------------------------- unicode, whitespace


def test_whitespace_classification_matches_python_for_every_code_point() -> None:
    mismatches = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # lone surrogates have no UTF-8 form (and are not whitespace)
        ch = chr(cp)
        want = 0 if ch.isspace() else 1
        alone, inside = _core.key_text_metrics(ch), _core.key_text_metrics(f"a{ch}b")
        if (alone, inside) != ((1, want), (3, 2 - want)):
            mismatches.append(cp)
    assert mismatches == []
    spaces = [c for c in range(0x110000) if chr(c).isspace()]
    assert len(spaces) == 29


def test_split_and_length_edge_cases() -> None:
    cases = [
        "",
        " ",
        "a",
        "  lead",
        "trail  ",
        "a\t\n\x0b\x0c\rb",
        "\x1c\x1d\x1e\x1f",
        "a\x1cb\x1dc",
        "x\x85y\xa0z",
        "\u3000ideo\u3000graphic\u3000",
        "\u200bzero-width is not space",
        "\u2028\u2029\u202f\u205f\u1680",
        "😀 😀\t😀",
        "mixed \u2014 dash \u2019quote\u201c and\u2003em space " * 20,
        "ascii words only " * 100,
    ]
    for text in cases:
        assert _core.key_text_metrics(text) == (len(text), len(text.split())), text


@pytest.mark.parametrize(
    "text",
    [
        "naïve: a|b",
        "Ω|ω:x",
        "emoji 😀 | colon:",
        "ascii only",
        "",
        "ÿ" * 999,
        "中" * 1000,
    ],
)
@pytest.mark.parametrize("operation", ["summarize", "résumé", "Ωp", "😀op"])
def test_every_string_kind_gives_a_canonical_equal_key(
    text: str, operation: str
) -> None:
    gen = CacheKeyGenerator()
    for options in [{}, {"question": "¿qué?", "n": 1}]:
        key = gen.generate_cache_key(text, operation, options)
        want = reference_key(text, operation, options)
        assert key == want
        assert hash(key) == hash(want)
        assert sys.getsizeof(key) == sys.getsizeof(want)  # same internal kind
    text_id = gen._hash_text_efficiently(text)
    assert text_id == reference_text_id(text, 1000, hashlib.sha256)
    assert sys.getsizeof(text_id) == sys.getsizeof(
        text.replace("|", "_").replace(":", "_")
    )


def test_surrogates_follow_the_original() -> None:
    gen = CacheKeyGenerator(text_hash_threshold=10)
    short = "a\ud800|b"
    assert gen.generate_cache_key(short, "op", {}) == reference_key(short, "op", {}, 10)
    assert gen._hash_text_efficiently(short) == "a\ud800_b"
    with pytest.raises(UnicodeEncodeError):
        gen.generate_cache_key("x\udfff" * 20, "op", {})
    assert gen.generate_cache_key("t", "o\ud800p", {}) == "ai_cache:op:o\ud800p|txt:t"
    with pytest.raises(UnicodeEncodeError):  # opts_str.encode() in the original
        gen.generate_cache_key("t", "op", {"k": "\ud800"})
    with pytest.raises(UnicodeEncodeError):  # question.encode()
        gen.generate_cache_key("t", "op", {"question": "\ud800"})


# ---------------------------------------------------------------- options


class FormatsDifferently:
    def __format__(self, spec: str) -> str:
        return "F"

    def __str__(self) -> str:
        return "S"


def test_options_rendering_semantics() -> None:
    gen = CacheKeyGenerator()
    cases: list[Any] = [
        {"flag": True},
        {"flag": "True"},
        {"n": 100},
        {"n": 100.0},
        {"n": 1e300, "m": float("inf"), "z": -0.0},
        {"b": b"bytes", "t": (1, "two"), "s": frozenset()},
        {"obj": FormatsDifferently()},
        {3: "int key", 1: "sorted numerically"},
        {"question": "Why?", "a": 1},
        {"question": None},
        {"question": 0, "x": 1},
        {"é": "ü", "中": "文"},
        OrderedDict([("b", 1), ("a", 2)]),  # a dict subclass: the Python path
    ]
    for options in cases:
        assert gen.generate_cache_key("t", "op", options) == reference_key(
            "t", "op", options
        )
    assert gen.generate_cache_key("t", "op", {"flag": True}) == gen.generate_cache_key(
        "t", "op", {"flag": "True"}
    )  # str() makes them equal: kept for compatibility
    assert "|opts:" in gen.generate_cache_key("t", "op", {"obj": FormatsDifferently()})


def test_question_needs_encode() -> None:
    gen = CacheKeyGenerator()

    class Question(str):
        pass

    class BytesQuestion:
        def __bool__(self) -> bool:
            return True

        def encode(self) -> bytes:
            return b"custom"

    for q in [Question("sub"), BytesQuestion()]:
        options = {"question": q}
        # BytesQuestion renders via object.__format__ (its repr): identical either way
        assert gen.generate_cache_key("t", "op", options) == reference_key(
            "t", "op", options
        )
    with pytest.raises(AttributeError):  # int has no .encode()
        gen.generate_cache_key("t", "op", {"question": 5})


def test_options_mutated_while_rendering() -> None:
    class Mutator:
        def __init__(self, target: dict[str, Any]) -> None:
            self.target = target

        def __format__(self, spec: str) -> str:
            self.target.clear()
            self.target["late"] = object()
            return "m"

    def make() -> dict[str, Any]:
        options: dict[str, Any] = {"question": "kept?", "z": "last"}
        options["a"] = Mutator(options)
        return options

    gen = CacheKeyGenerator()
    assert gen.generate_cache_key("t", "op", make()) == reference_key("t", "op", make())


def test_attributes_rebound_during_a_call() -> None:
    """Code run by the call (comparisons, __format__) may rebind the attributes."""
    gen = CacheKeyGenerator()

    class Threshold:
        def __ge__(self, other: object) -> bool:  # `len(text) <= threshold`
            gen.text_hash_threshold = 5  # drops the last reference to self
            return True

        def __lt__(self, other: object) -> bool:  # `len(text) > threshold`
            return False

    gen.text_hash_threshold = Threshold()  # type: ignore[assignment]
    assert gen.generate_cache_key("a:b", "op", {}) == "ai_cache:op:op|txt:a_b"
    assert gen.text_hash_threshold == 5

    monitor = RecordingMonitor()

    class DropsMonitor:
        def __format__(self, spec: str) -> str:
            gen.performance_monitor = None
            return "v"

    gen.performance_monitor = monitor
    gen.generate_cache_key("t", "op", {"k": DropsMonitor()})
    assert monitor.calls == []  # the original checks the attribute at the end too
    del monitor
    gen.performance_monitor = RecordingMonitor()
    gen.text_hash_threshold = Threshold()  # type: ignore[assignment]
    gen.generate_cache_key("t", "op", {})
    gc.collect()


def test_many_options_use_the_heap_path() -> None:
    gen = CacheKeyGenerator()
    options = {f"key{i:03d}": "v" * (i % 50) for i in range(300)}
    assert gen.generate_cache_key("t", "op", options) == reference_key(
        "t", "op", options
    )


# ---------------------------------------------------------------- bad input


def test_exception_types_of_the_original() -> None:
    gen = CacheKeyGenerator()
    with pytest.raises(TypeError):
        gen.generate_cache_key(None, "op", {})  # type: ignore[arg-type]
    for bad in [["x"], "abc", 5, ("a", 1)]:
        with pytest.raises(AttributeError):
            gen.generate_cache_key("t", "op", bad)
    with pytest.raises(TypeError):
        gen.generate_cache_key("t", "op", {1: "a", "b": 2})
    assert gen.generate_cache_key("t", "op", None) == "ai_cache:op:op|txt:t"
    for falsy in [[], "", 0, ()]:  # falsy non-dicts: no options, as the original
        assert gen.generate_cache_key("t", "op", falsy) == "ai_cache:op:op|txt:t"


@pytest.mark.parametrize(
    ("text", "operation", "options"),
    [
        (None, "op", {}),
        (b"bytes", "op", {}),
        (b"x" * 2000, "op", {}),
        (["a", "b"], "op", {}),
        (123, "op", {}),
        ("t", None, {}),
        ("t", 42, {"a": 1}),
        ("t", "op", {"a": object(), "b": 1}),
        ("t", "op", {None: 1, "a": 2}),
        ("t", "op", {(1, 2): 1, (1, 3): 2}),
        ("t", "op", {"question": ["not", "str"]}),
        ("t", "op", {"question": b"bytes"}),
    ],
)
def test_unusual_inputs_behave_like_the_original(
    text: Any, operation: Any, options: Any
) -> None:
    gen = CacheKeyGenerator()
    assert outcome(gen.generate_cache_key, text, operation, options) == outcome(
        reference_key, text, operation, options
    )


def test_str_subclass_text() -> None:
    class Text(str):
        pass

    gen = CacheKeyGenerator(text_hash_threshold=3)
    for value in ["a:b", "a b c d"]:
        assert gen.generate_cache_key(Text(value), "op", {}) == reference_key(
            value, "op", {}, 3
        )


def test_argument_passing() -> None:
    gen = CacheKeyGenerator()
    want = reference_key("t", "op", {"a": 1})
    assert gen.generate_cache_key(text="t", operation="op", options={"a": 1}) == want
    assert gen.generate_cache_key("t", options={"a": 1}, operation="op") == want
    with pytest.raises(TypeError, match="missing"):
        gen.generate_cache_key("t", "op")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        gen.generate_cache_key("t", "op", {}, question="q")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        gen.generate_cache_key("t", "op", {}, text="t")  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        gen.generate_cache_key("t", "op", {}, None)  # type: ignore[call-arg]


def test_subclass_override_of_text_id_is_used() -> None:
    class Upper(CacheKeyGenerator):
        def _hash_text_efficiently(self, text: Any) -> Any:
            return text.upper()

    assert Upper().generate_cache_key("abc", "op", {}) == "ai_cache:op:op|txt:ABC"


def test_no_reference_leaks() -> None:
    gen = CacheKeyGenerator(text_hash_threshold=10)
    text, long_text, question = "some text", "w " * 3000, "what?"
    options = {"question": question, "n": 12345}
    before = [sys.getrefcount(o) for o in (text, long_text, question, options, gen)]
    for _ in range(100):
        gen.generate_cache_key(text, "op", options)
        gen.generate_cache_key(long_text, "op", options)
        gen._hash_text_efficiently(long_text)
        with pytest.raises(AttributeError):
            gen.generate_cache_key(text, "op", ["bad"])
    after = [sys.getrefcount(o) for o in (text, long_text, question, options, gen)]
    assert after == before


def test_long_non_ascii_texts_leave_no_memory_behind() -> None:
    """The UTF-8 of a long non-ASCII text is a temporary: nothing stays attached to
    the str, and nothing leaks."""
    gen = CacheKeyGenerator(text_hash_threshold=10)
    text = "ünïcödé\u3000テキスト " * 10_000
    gen.generate_cache_key(text, "op", {})
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(50):
            gen.generate_cache_key(text, "op", {"q": 1})
            gen._hash_text_efficiently(text)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 10_000  # one leaked UTF-8 copy would be > 200 KB
    size = sys.getsizeof(text)
    gen.generate_cache_key(text, "op", {})
    assert sys.getsizeof(text) == size  # no cached UTF-8 form added to the str


# ---------------------------------------------------------------- the monitor hook


def test_monitor_receives_the_original_arguments() -> None:
    monitor = RecordingMonitor()
    gen = CacheKeyGenerator(text_hash_threshold=10, performance_monitor=monitor)
    gen.generate_cache_key("short", "summarize", {})
    gen.generate_cache_key("x" * 11, "qa", {"question": "q?", "n": 1})
    gen.generate_cache_key("y" * 10, "sentiment", {"question": ""})
    first, second, third = monitor.calls
    assert first["text_length"] == 5 and first["operation_type"] == "summarize"
    assert isinstance(first["duration"], float) and first["duration"] >= 0
    assert first["additional_data"] == {
        "text_tier": "small",
        "has_options": False,
        "has_question": False,
    }
    assert second["text_length"] == 11
    assert second["additional_data"] == {
        "text_tier": "large",
        "has_options": True,
        "has_question": True,
    }
    assert third["additional_data"] == {
        "text_tier": "small",
        "has_options": True,
        "has_question": False,
    }


def test_monitor_duration_uses_time_time_at_call_time() -> None:
    monitor = RecordingMonitor()
    gen = CacheKeyGenerator(performance_monitor=monitor)
    with patch("time.time", side_effect=[100.0, 100.25]):
        gen.generate_cache_key("t", "op", {})
    assert monitor.calls[0]["duration"] == 0.25
    with patch("time.time", side_effect=[5.0, 7.5]):  # the Python path times alike
        gen.generate_cache_key("t", "op", OrderedDict(a=1))
    assert monitor.calls[1]["duration"] == 2.5


def test_monitor_timing_reads_the_clock_time_time_reads() -> None:
    """Unpatched, the clock is read without calling time.time (same clock, same
    arithmetic); a patch returning something other than a float is passed on
    through the Python call, as the original's subtraction would."""
    monitor = CachePerformanceMonitor()
    gen = CacheKeyGenerator(performance_monitor=monitor)
    before = time.time()
    gen.generate_cache_key("t" * 2000, "op", {})
    after = time.time()
    record = monitor.key_generation_times[-1]
    assert before <= record.timestamp <= after
    assert 0.0 <= record.duration <= after - before
    recording = RecordingMonitor()
    gen.performance_monitor = recording
    with patch("time.time", side_effect=[10, 12]):
        gen.generate_cache_key("t", "op", {})
    assert recording.calls[0]["duration"] == 2
    assert type(recording.calls[0]["duration"]) is int


def test_monitor_operation_is_passed_unformatted() -> None:
    monitor = RecordingMonitor()
    gen = CacheKeyGenerator(performance_monitor=monitor)
    assert gen.generate_cache_key("t", 42, None) == "ai_cache:op:42|txt:t"  # type: ignore[arg-type]
    assert monitor.calls[0]["operation_type"] == 42


def test_falsy_monitor_is_not_called() -> None:
    class Falsy(RecordingMonitor):
        def __bool__(self) -> bool:
            return False

    monitor = Falsy()
    gen = CacheKeyGenerator(performance_monitor=monitor)
    gen.generate_cache_key("t", "op", {})
    assert monitor.calls == []
    assert gen.get_key_generation_stats()["monitor_available"] is False


def test_monitor_errors_propagate() -> None:
    class Broken(RecordingMonitor):
        def record_key_generation_time(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("monitor down")

    gen = CacheKeyGenerator(performance_monitor=Broken())
    with pytest.raises(RuntimeError, match="monitor down"):
        gen.generate_cache_key("t", "op", {})


# ---------------------------------------------------------------- statistics (5.4)

EMPTY = {
    "total_keys_generated": 0,
    "average_generation_time": 0.0,
    "text_size_distribution": {},
    "operation_distribution": {},
    "recent_performance": {},
}


def test_stats_without_and_with_an_empty_monitor() -> None:
    assert CacheKeyGenerator().get_key_generation_stats() == {
        **EMPTY,
        "monitor_available": False,
    }
    gen = CacheKeyGenerator(performance_monitor=RecordingMonitor())
    assert gen.get_key_generation_stats() == {**EMPTY, "monitor_available": True}


def test_stats_from_measurements() -> None:
    monitor = RecordingMonitor()
    gen = CacheKeyGenerator(text_hash_threshold=10, performance_monitor=monitor)
    for i in range(12):
        monitor.record_key_generation_time(
            duration=0.001 * (i + 1),
            text_length=5 if i % 3 else 20,
            operation_type="qa" if i < 4 else "summarize",
        )
    stats = gen.get_key_generation_stats()
    assert stats["total_keys_generated"] == 12
    assert stats["average_generation_time"] == pytest.approx(0.0065)
    assert stats["text_size_distribution"] == {
        "small": 8,
        "large": 4,
        "average_size": (8 * 5 + 4 * 20) / 12,
        "max_size": 20,
    }
    assert stats["operation_distribution"] == {"qa": 4, "summarize": 8}
    assert stats["recent_performance"] == {
        "recent_average_time": pytest.approx(
            sum(0.001 * (i + 1) for i in range(2, 12)) / 10
        ),
        "recent_measurements": 10,
    }
    assert stats["monitor_available"] is True


def test_with_the_real_monitor() -> None:
    monitoring = pytest.importorskip("aicache.monitoring")
    monitor = monitoring.CachePerformanceMonitor()
    gen = CacheKeyGenerator(text_hash_threshold=10, performance_monitor=monitor)
    gen.generate_cache_key("short", "summarize", {"max_length": 100})
    gen.generate_cache_key("x" * 50, "qa", {"question": "why?"})
    assert len(monitor.key_generation_times) == 2
    latest = monitor.key_generation_times[-1]
    assert latest.text_length == 50 and latest.operation_type == "qa"
    assert latest.additional_data["text_tier"] == "large"
    stats = gen.get_key_generation_stats()
    assert stats["total_keys_generated"] == 2
    assert stats["text_size_distribution"]["small"] == 1
    assert stats["operation_distribution"] == {"summarize": 1, "qa": 1}
    assert stats["recent_performance"]["recent_measurements"] == 2


# ---------------------------------------------------------------- threads, large texts


def test_large_texts() -> None:
    gen = CacheKeyGenerator()
    for text in ["X" * (10 * 1024 * 1024 + 1000), "héllo wörld\u3000" * 200_000]:
        assert gen.generate_cache_key(text, "test", {}) == reference_key(
            text, "test", {}
        )
        assert len(gen.generate_cache_key(text, "test", {})) < 200


def test_concurrent_threads_agree_with_the_reference() -> None:
    gen = CacheKeyGenerator(text_hash_threshold=100)
    inputs = []
    for i in range(40):
        text = (f"thread text {i} " * (1 + (i * 97) % 600)) + ("é" if i % 2 else "")
        options = {"n": i, "question": f"q{i}"} if i % 3 else {}
        inputs.append((text, f"op{i % 4}", options))
    expected = [reference_key(t, o, opts, 100) for t, o, opts in inputs]
    errors: list[str] = []
    barrier = threading.Barrier(10)

    def worker(seed: int) -> None:
        barrier.wait()
        for round_ in range(30):
            for k in range(len(inputs)):
                j = (k + seed + round_) % len(inputs)
                if gen.generate_cache_key(*inputs[j]) != expected[j]:
                    errors.append(f"thread {seed} input {j}")

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ---------------------------------------------------------------- property test

WHITESPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]
SPECIAL = [*WHITESPACE, "|", ":", "_", "é", "—", "\u200b", "😀", "中", "\x00", "\x7f"]

texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(SPECIAL),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=300,
)
option_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
options_st = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=8), option_values, max_size=5),
    st.dictionaries(st.text(max_size=8), option_values, max_size=3).map(
        lambda d: {**d, "question": "What is the main point?"}
    ),
    st.builds(lambda q: {"question": q}, texts),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=texts,
    operation=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12
    ),
    options=options_st,
    threshold=st.one_of(st.sampled_from([-1, 0, 1, 5, 50, 1000]), st.integers(-3, 320)),
    algorithm=st.sampled_from([hashlib.sha256, hashlib.md5]),
)
def test_property_keys_equal_the_reference(
    text: str, operation: str, options: Any, threshold: int, algorithm: Any
) -> None:
    gen = CacheKeyGenerator(text_hash_threshold=threshold, hash_algorithm=algorithm)
    try:
        want = reference_key(text, operation, options, threshold, algorithm)
    except Exception as exc:  # e.g. a non-str question: the original fails too
        with pytest.raises(type(exc)):
            gen.generate_cache_key(text, operation, options)
        return
    assert gen.generate_cache_key(text, operation, options) == want
    assert gen._hash_text_efficiently(text) == reference_text_id(
        text, threshold, algorithm
    )
    assert _core.key_text_metrics(text) == (len(text), len(text.split()))


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=1e-4, max_value=2.0**50),
        st.integers(min_value=-(10**6), max_value=10**6).map(lambda i: i / 1000),
    )
)
def test_float_option_values_render_like_python_str(value: float) -> None:
    """The C fast path for floats must give exactly str(value) (the original's f-string)."""
    key = CacheKeyGenerator().generate_cache_key("x", "op", {"x": value})
    expected = hashlib.md5(f"x={value}".encode()).hexdigest()[:8]
    assert key == f"ai_cache:op:op|txt:x|opts:{expected}"


def test_monitor_deleted_by_the_threshold_comparison() -> None:
    """The comparison with a non-int threshold runs Python code before the monitor
    is read; deleting (or dropping) the monitor there must not crash the C path."""
    gen = CacheKeyGenerator()
    calls: list[dict[str, Any]] = []

    class Monitor:
        def record_key_generation_time(self, **kw: Any) -> None:
            calls.append(kw)

    class Threshold:
        def __ge__(self, other: object) -> bool:  # `len(text) <= threshold`
            del gen.performance_monitor  # the last reference to the monitor
            gc.collect()
            return True

        def __lt__(self, other: object) -> bool:
            return False

    gen.performance_monitor = Monitor()
    gen.text_hash_threshold = Threshold()  # type: ignore[assignment]
    assert gen.generate_cache_key("t", "op", {}) == "ai_cache:op:op|txt:t"
    assert calls == []


@pytest.mark.parametrize("question", [True, 3, 1.5])
def test_non_str_question_fails_like_the_original(question: Any) -> None:
    """The original calls question.encode(): a truthy non-str question raises
    AttributeError there, and so it does here (with or without a monitor)."""
    with pytest.raises(AttributeError):
        reference_key("t", "qa", {"question": question}, 1000, hashlib.sha256)
    for gen in (
        CacheKeyGenerator(),
        CacheKeyGenerator(performance_monitor=CachePerformanceMonitor()),
    ):
        with pytest.raises(AttributeError):
            gen.generate_cache_key("t", "qa", {"question": question})
