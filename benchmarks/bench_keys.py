"""Cache-key generation: aicache's C ``CacheKeyGenerator`` against the original.

Two suites, both written to benchmarks/results/ and plotted under docs/img/:

* ``keys``: one ``generate_cache_key`` call for texts of 10-1000 characters, without
  options, with two options and with a question, against a pure-Python copy of the
  original algorithm (the baseline). Target: aicache at least 5x faster.
* ``keys_hashing``: texts of 10 KB-1 MB (above the threshold, so the key carries a
  hash) against ``hashlib.sha256(text.encode()).hexdigest()`` alone (the baseline).
  Target: aicache within 1.5x of it, although it also counts words and builds a key.

Timing: ``timeit`` loops, the contenders of a case measured in turns (round robin)
so that a busy machine slows them alike; the best loop of each is kept. A non-ASCII
``str`` caches its UTF-8 form the first time it is encoded and later calls reuse it;
the ``fresh`` cases therefore give every call a str that was never encoded.

``python -m benchmarks.bench_keys --instructions`` counts instructions per call
under ``valgrind --tool=callgrind`` instead (repeatable on a shared machine).
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import subprocess
import sys
import tempfile
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


# ---------------------------------------------------------------- timing

Loop = Callable[[], float]  # runs one timing loop, returns ns per call


def same_input(fn: Callable[..., Any], args: tuple[Any, ...], number: int) -> Loop:
    timer = timeit.Timer("f(*a)", globals={"f": fn, "a": args})
    return lambda: timer.timeit(number) / number * 1e9


def fresh_input(
    fn: Callable[[str], Any], make: Callable[[int], str], count: int
) -> Loop:
    """Every call gets a str never encoded before (the strs are built untimed)."""
    serial = iter(range(10**9))

    def loop() -> float:
        texts = [make(next(serial)) for _ in range(count)]
        t0 = time.perf_counter_ns()
        for t in texts:
            fn(t)
        return (time.perf_counter_ns() - t0) / count

    return loop


def measure(loops: dict[str, Loop], repeat: int) -> dict[str, float]:
    """Best ns/call of each contender, running their loops in turns."""
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(repeat):
        for name, loop in loops.items():
            gc.collect()
            best[name] = min(best[name], loop())
    return best


# ---------------------------------------------------------------- suites


def bench_short_keys(quick: bool) -> list[Row]:
    number, repeat = (2_000, 3) if quick else (20_000, 9)
    original, ours = OriginalKeyGenerator(), CacheKeyGenerator()
    rows: list[Row] = []
    for length in (10, 100, 500, 1000):
        text = text_of(length)
        for label, options in OPTION_SETS.items():
            args = (text, "summarize", options)
            assert ours.generate_cache_key(*args) == original.generate_cache_key(*args)
            ns = measure(
                {
                    ORIGINAL: same_input(original.generate_cache_key, args, number),
                    AICACHE: same_input(ours.generate_cache_key, args, number),
                },
                repeat,
            )
            rows += [Row(f"{length} chars, {label}", k, v) for k, v in ns.items()]
    base = text_of(199, UNICODE_SENTENCE)
    options = OPTION_SETS["2 options"]
    count = 500 if quick else 5_000

    def make(i: int) -> str:
        return base + chr(0x4E00 + i % 20_000)

    def orig_key(t: str) -> str:
        return original.generate_cache_key(t, "summarize", options)

    def our_key(t: str) -> str:
        return ours.generate_cache_key(t, "summarize", options)

    ns = measure(
        {
            ORIGINAL: fresh_input(orig_key, make, count),
            AICACHE: fresh_input(our_key, make, count),
        },
        repeat,
    )
    rows += [Row("200 chars non-ASCII fresh, 2 options", k, v) for k, v in ns.items()]
    return rows


def bench_large_texts(quick: bool) -> list[Row]:
    repeat = 3 if quick else 7
    original, ours = OriginalKeyGenerator(), CacheKeyGenerator()

    def orig_key(t: str) -> str:
        return original.generate_cache_key(t, "summarize", {})

    def our_key(t: str) -> str:
        return ours.generate_cache_key(t, "summarize", {})

    rows: list[Row] = []
    for size, label in ((10_000, "10 KB"), (100_000, "100 KB"), (1_000_000, "1 MB")):
        text = text_of(size)
        assert our_key(text) == orig_key(text)
        number = max(3, (200_000 if quick else 2_000_000) // size)
        loops = {
            HASHLIB: same_input(sha256_hexdigest, (text,), number),
            AICACHE: same_input(our_key, (text,), number),
            ORIGINAL: same_input(orig_key, (text,), max(1, number // 10)),
        }
        rows += [
            Row(label, k, v / 1e3, "us/op") for k, v in measure(loops, repeat).items()
        ]
    base = text_of(1_000_000 - 1, UNICODE_SENTENCE)

    def make(i: int) -> str:
        return base + chr(0x4E00 + i)

    count = 2 if quick else 3
    loops = {
        HASHLIB: fresh_input(sha256_hexdigest, make, count),
        AICACHE: fresh_input(our_key, make, count),
        ORIGINAL: fresh_input(orig_key, make, 1),
    }
    rows += [
        Row("1 MB non-ASCII fresh", k, v / 1e3, "us/op")
        for k, v in measure(loops, repeat).items()
    ]
    return rows


def speedups(rows: list[Row], baseline: str, impl: str) -> dict[str, float]:
    """case -> baseline time / impl time (> 1: impl is faster)."""
    by = {(r.case, r.impl): r.value for r in rows}
    return {
        case: by[(case, baseline)] / by[(case, impl)]
        for case in dict.fromkeys(r.case for r in rows)
        if (case, baseline) in by and (case, impl) in by
    }


# ---------------------------------------------------------------- instruction counts

_CHILD = """
import sys
from benchmarks.bench_keys import OPTION_SETS, OriginalKeyGenerator, text_of
from aicache.key_generator import CacheKeyGenerator
def run(impl, length, label, n):
    gen = OriginalKeyGenerator() if impl == "original" else CacheKeyGenerator()
    f, t, o = gen.generate_cache_key, text_of(length), OPTION_SETS[label]
    for _ in range(n):
        f(t, "summarize", o)
run(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
"""


def _callgrind_total(args: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *args],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},  # same start-up in every run
        )
        with open(out) as fh:
            match = re.search(r"^(?:summary|totals): (\d+)", fh.read(), re.M)
    assert match, "no callgrind totals"
    return int(match.group(1))


def instruction_counts(n: int = 20_000) -> list[Row]:
    """Instructions per call (callgrind): the cost of 2n calls minus that of n."""
    rows: list[Row] = []
    for length in (100, 1000):
        for label in OPTION_SETS:
            for impl, name in (("original", ORIGINAL), ("aicache", AICACHE)):
                cmd = [sys.executable, "-c", _CHILD, impl, str(length), label]
                one = _callgrind_total([*cmd, str(n)])
                two = _callgrind_total([*cmd, str(2 * n)])
                rows.append(
                    Row(f"{length} chars, {label}", name, (two - one) / n, "instr/op")
                )
    return rows


def main(quick: bool = False) -> None:
    short = bench_short_keys(quick)
    print("## keys: generate_cache_key, texts up to 1000 characters (ns/op)\n")
    print(ratio_table(short, ORIGINAL))
    fast = speedups(short, ORIGINAL, AICACHE)
    for case, x in fast.items():
        print(f"  {case}: aicache {x:.1f}x faster{'' if x >= 5 else '  (target 5x)'}")
    save(
        "keys", short, {"speedup_vs_original": fast, "quick": quick, "target": ">= 5x"}
    )
    bar_plot(
        "keys", short, "generate_cache_key, up to 1000 chars (ns/op, lower is better)"
    )

    large = bench_large_texts(quick)
    print("\n## keys_hashing: texts above the threshold (us/op)\n")
    print(ratio_table(large, HASHLIB))
    slow = {case: 1 / x for case, x in speedups(large, HASHLIB, AICACHE).items()}
    for case, x in slow.items():
        print(
            f"  {case}: aicache {x:.2f}x hashlib's time{'' if x <= 1.5 else '  (target 1.5x)'}"
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
    if "--instructions" in sys.argv:
        counts = instruction_counts()
        print(ratio_table(counts, ORIGINAL))
        save("keys_instructions", counts, {"tool": "valgrind --tool=callgrind"})
    else:
        main(quick="--quick" in sys.argv)
