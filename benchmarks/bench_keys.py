"""Cache-key generation: aicache's C ``CacheKeyGenerator`` against the original.

Two suites, both written to benchmarks/results/ and plotted under docs/img/:

* ``keys``: one ``generate_cache_key`` call for texts of 10-1000 characters, without
  options, with two options and with a question, against a pure-Python copy of the
  original algorithm (the baseline). Target: aicache at least 5x faster.
* ``keys_hashing``: texts of 10 KB-1 MB (above the threshold, so the key carries a
  hash) against ``hashlib.sha256(text.encode()).hexdigest()`` alone (the baseline).
  Target: aicache within 1.5x of it, although it also counts words and builds a key.

Timing uses ``timeit`` loops (the harness costs the same few ns for both sides). A
non-ASCII ``str`` caches its UTF-8 form on first encoding, which later calls reuse;
the ``fresh`` cases therefore hand every call a str never encoded before.
"""

from __future__ import annotations

import gc
import hashlib
import time
import timeit
from collections.abc import Callable
from typing import Any

from aicache.key_generator import CacheKeyGenerator
from benchmarks._util import Row, bar_plot, ratio_table, save

ORIGINAL = "original (Python)"
AICACHE = "aicache"
HASHLIB = "hashlib.sha256 only"

SENTENCE = "The quick brown fox jumps over the lazy dog while the cache warms up. "
UNICODE_SENTENCE = (
    "Café naïve — “quoted” résumé, 東京の天気は晴れ。 Zürich\u3000und Köln. "
)

OPTION_SETS: dict[str, dict[str, Any]] = {
    "no options": {},
    "2 options": {"max_length": 100, "temperature": 0.7},
    "question": {"question": "What is the main point?", "max_tokens": 150},
}


class OriginalKeyGenerator:
    """The original CacheKeyGenerator's algorithm, in plain Python (spec §5.2)."""

    def __init__(self, text_hash_threshold: int = 1000) -> None:
        self.text_hash_threshold = text_hash_threshold
        self.hash_algorithm = hashlib.sha256
        self.performance_monitor = None

    def _hash_text_efficiently(self, text: str) -> str:
        if len(text) <= self.text_hash_threshold:
            return text.replace("|", "_").replace(":", "_")
        hasher = self.hash_algorithm()
        hasher.update(text.encode("utf-8"))
        hasher.update(f"len:{len(text)}".encode())
        hasher.update(f"words:{len(text.split())}".encode())
        return f"hash:{hasher.hexdigest()[:16]}"

    def generate_cache_key(
        self, text: str, operation: str, options: dict[str, Any]
    ) -> str:
        start_time = time.time()
        text_identifier = self._hash_text_efficiently(text)
        components = [f"op:{operation}", f"txt:{text_identifier}"]
        question = options.get("question") if options else None
        if options:
            opts_str = "&".join(f"{k}={v}" for k, v in sorted(options.items()))
            components.append(f"opts:{hashlib.md5(opts_str.encode()).hexdigest()[:8]}")
        if question:
            components.append(f"q:{hashlib.md5(question.encode()).hexdigest()[:8]}")
        cache_key = "ai_cache:" + "|".join(components)
        if self.performance_monitor:
            _ = time.time() - start_time
        return cache_key


def sha256_hexdigest(text: str) -> str:
    """The baseline of the hashing suite: what hashing the text alone costs."""
    return hashlib.sha256(text.encode()).hexdigest()


def text_of(length: int, sentence: str = SENTENCE) -> str:
    return (sentence * (length // len(sentence) + 1))[:length]


def per_call_ns(
    fn: Callable[..., Any], args: tuple[Any, ...], number: int, repeat: int
) -> float:
    """Best-of-`repeat` ns per call of fn(*args), `number` calls per loop."""
    timer = timeit.Timer("f(*a)", globals={"f": fn, "a": args})
    gc.collect()
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def fresh_per_call_ns(
    fn: Callable[[str], Any], make: Callable[[int], str], count: int, repeat: int
) -> float:
    """ns per call when every call gets a str never encoded before (built untimed)."""
    best = float("inf")
    for r in range(repeat):
        texts = [make(r * count + i) for i in range(count)]
        gc.collect()
        t0 = time.perf_counter_ns()
        for t in texts:
            fn(t)
        best = min(best, (time.perf_counter_ns() - t0) / count)
    return best


def bench_short_keys(quick: bool) -> list[Row]:
    number, repeat = (2_000, 3) if quick else (20_000, 7)
    original, ours = OriginalKeyGenerator(), CacheKeyGenerator()
    rows: list[Row] = []
    for length in (10, 100, 500, 1000):
        text = text_of(length)
        for label, options in OPTION_SETS.items():
            args = (text, "summarize", options)
            assert ours.generate_cache_key(*args) == original.generate_cache_key(*args)
            case = f"{length} chars, {label}"
            rows.append(
                Row(
                    case,
                    ORIGINAL,
                    per_call_ns(original.generate_cache_key, args, number, repeat),
                )
            )
            rows.append(
                Row(
                    case,
                    AICACHE,
                    per_call_ns(ours.generate_cache_key, args, number, repeat),
                )
            )
    # non-ASCII text, new str objects every call (no cached UTF-8 to reuse)
    count = 500 if quick else 5_000
    base = text_of(199, UNICODE_SENTENCE)
    options = OPTION_SETS["2 options"]

    def make(i: int) -> str:
        return base + chr(0x4E00 + i % 20_000)

    for label, gen in ((ORIGINAL, original), (AICACHE, ours)):
        fn = gen.generate_cache_key
        ns = fresh_per_call_ns(
            lambda t, fn=fn: fn(t, "summarize", options), make, count, repeat
        )
        rows.append(Row("200 chars non-ASCII fresh, 2 options", label, ns))
    return rows


def bench_large_texts(quick: bool) -> list[Row]:
    repeat = 3 if quick else 7
    ours = CacheKeyGenerator()
    original = OriginalKeyGenerator()
    rows: list[Row] = []
    for size, label in ((10_000, "10 KB"), (100_000, "100 KB"), (1_000_000, "1 MB")):
        text = text_of(size)
        number = max(3, (200_000 if quick else 2_000_000) // size)
        assert ours.generate_cache_key(
            text, "summarize", {}
        ) == original.generate_cache_key(text, "summarize", {})
        rows.append(
            Row(
                label,
                HASHLIB,
                per_call_ns(sha256_hexdigest, (text,), number, repeat) / 1e3,
                "us/op",
            )
        )
        rows.append(
            Row(
                label,
                AICACHE,
                per_call_ns(
                    ours.generate_cache_key, (text, "summarize", {}), number, repeat
                )
                / 1e3,
                "us/op",
            )
        )
        rows.append(
            Row(
                label,
                ORIGINAL,
                per_call_ns(
                    original.generate_cache_key, (text, "summarize", {}), number, repeat
                )
                / 1e3,
                "us/op",
            )
        )
    # 1 MB of non-ASCII text, a str never encoded before on every call
    base = text_of(1_000_000 - 1, UNICODE_SENTENCE)
    count = 2 if quick else 4

    def make(i: int) -> str:
        return base + chr(0x4E00 + i)

    key = ours.generate_cache_key
    orig_key = original.generate_cache_key
    case = "1 MB non-ASCII fresh"
    rows.append(
        Row(
            case,
            HASHLIB,
            fresh_per_call_ns(sha256_hexdigest, make, count, repeat) / 1e3,
            "us/op",
        )
    )
    rows.append(
        Row(
            case,
            AICACHE,
            fresh_per_call_ns(lambda t: key(t, "summarize", {}), make, count, repeat)
            / 1e3,
            "us/op",
        )
    )
    rows.append(
        Row(
            case,
            ORIGINAL,
            fresh_per_call_ns(
                lambda t: orig_key(t, "summarize", {}), make, count, repeat
            )
            / 1e3,
            "us/op",
        )
    )
    return rows


def speedups(rows: list[Row], baseline: str, impl: str) -> dict[str, float]:
    """case -> baseline time / impl time (>1: impl is faster)."""
    by = {(r.case, r.impl): r.value for r in rows}
    return {
        case: by[(case, baseline)] / by[(case, impl)]
        for case in dict.fromkeys(r.case for r in rows)
        if (case, baseline) in by and (case, impl) in by
    }


def main(quick: bool = False) -> None:
    short = bench_short_keys(quick)
    print("## keys: generate_cache_key, short texts (ns/op)\n")
    print(ratio_table(short, ORIGINAL))
    fast = speedups(short, ORIGINAL, AICACHE)
    for case, x in fast.items():
        print(
            f"  {case}: aicache {x:.1f}x faster than the original{'' if x >= 5 else '  (< 5x target)'}"
        )
    save(
        "keys", short, {"speedup_vs_original": fast, "quick": quick, "target": ">= 5x"}
    )
    bar_plot(
        "keys",
        short,
        "generate_cache_key, texts up to 1000 chars (ns/op, lower is better)",
    )

    large = bench_large_texts(quick)
    print("\n## keys_hashing: texts above the threshold (us/op)\n")
    print(ratio_table(large, HASHLIB))
    slow = {case: 1 / x for case, x in speedups(large, HASHLIB, AICACHE).items()}
    for case, x in slow.items():
        print(
            f"  {case}: aicache takes {x:.2f}x hashlib's time{'' if x <= 1.5 else '  (> 1.5x target)'}"
        )
    save(
        "keys_hashing",
        large,
        {"aicache_over_hashlib": slow, "quick": quick, "target": "<= 1.5x"},
    )
    bar_plot(
        "keys_hashing", large, "key of a long text vs sha256(text.encode()) (us/op)"
    )


if __name__ == "__main__":
    main()
