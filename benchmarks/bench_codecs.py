"""Fernet and zlib: aicache's C core against cryptography and Python's zlib.

``python -m benchmarks codecs [--quick]`` (this module is one of the suite's three).

* ``codecs_fernet``: encrypt and decrypt of 100 B, 1 KB, 10 KB, 100 KB and 1 MB
  payloads with ``cryptography.fernet.Fernet`` (the baseline), ``aicache._core.Fernet``
  (what the value codec calls) and ``aicache.encryption.FernetKeyring`` (the public
  Python wrapper around it).  Targets: the C binding at least 5x faster than
  cryptography up to 1 KB and at least 2x at 1 MB.
* ``codecs_zlib``: ``_core.deflate`` / ``_core.inflate`` against ``zlib.compress`` /
  ``zlib.decompress`` at level 6 on JSON-like text of 1 KB and 100 KB, for
  reference: both are the same zlib underneath.
* ``codecs_encoders``: the zlib-format encoders and decoders the machine has (system
  zlib, libdeflate, ISA-L), in C on the same bytes (benchmarks/c/zlib_encoders.c,
  compiled here): time and compressed size on LLM-shaped JSON of 1 KB, 4 KB and
  100 KB and on 100 KB of random bytes.  This picks the build's encoder.
* ``codecs_frames``: what a value write and read cost through ``_core.Codec``
  (default level 6, threshold 0: the build's encoder, the compressibility probe and
  effort by size) against ``zlib.compress`` / ``zlib.decompress`` at level 6 on the
  same bytes.

Every timing is the best of 15 rounds in which the implementations of a case take
turns (so load on a shared machine hits every side alike; the least disturbed round
counts).  Results go to benchmarks/results/codecs_{fernet,zlib}.json,
docs/img/codecs_{fernet,zlib}.png and (full runs only) the results block of
docs/benchmarks-codecs.md.  Never part of the test suite: no timing is asserted.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
import zlib
from collections.abc import Callable
from typing import Any

from aicache import _core
from aicache.encryption import FernetKeyring
from benchmarks._util import ROOT, Row, bar_plot, ratio_table, save

FERNET_SIZES = (100, 1000, 10_000, 100_000, 1_000_000)
ZLIB_SIZES = (1000, 100_000)
CRYPTOGRAPHY = "cryptography"
CORE = "aicache _core.Fernet"
KEYRING = "aicache FernetKeyring"
PYZLIB = "python zlib"
AICACHE_ZLIB = "aicache _core"
DOC = ROOT / "docs" / "benchmarks-codecs.md"
START, END = "<!-- fernet-zlib:start -->", "<!-- fernet-zlib:end -->"


def label(size: int) -> str:
    if size >= 1_000_000:
        return f"{size // 1_000_000} MB"
    return f"{size // 1000} KB" if size >= 1000 else f"{size} B"


def loop_size(fn: Callable[[], Any], budget: float) -> int:
    """Calls of fn that take about `budget` seconds."""
    number = 1
    while True:
        t = timeit.timeit(fn, number=number)
        if t >= budget / 5 or number >= 1 << 20:
            return max(1, int(number * budget / max(t, 1e-9)))
        number *= 4


def json_like(size: int) -> bytes:
    chunk = (
        b'{"response": "The model answered the question.", "tokens": 42, "ok": true} '
    )
    return (chunk * (size // len(chunk) + 1))[:size]


_VOCAB = [
    "the",
    "model",
    "answer",
    "question",
    "summary",
    "cache",
    "response",
    "token",
    "latency",
    "request",
    "user",
    "data",
    "result",
    "document",
    "analysis",
    "sentiment",
    "positive",
    "negative",
    "neutral",
    "key",
    "point",
    "service",
    "redis",
    "memory",
    "layer",
    "performance",
    "value",
    "text",
    "operation",
    "compression",
    "network",
    "client",
    "server",
    "query",
    "context",
    "prompt",
    "output",
    "input",
    "system",
    "design",
    "deploy",
    "monitor",
    "metric",
    "error",
    "retry",
    "timeout",
    "connection",
    "pool",
    "security",
    "config",
    "release",
]


def llm_json(size: int, seed: int = 1) -> bytes:
    """A JSON document of exactly `size` bytes shaped like cached LLM results:
    records of an id, an operation, a sentence of common words, a confidence."""
    rng = random.Random(seed)
    items: list[dict[str, object]] = []
    while True:
        words = " ".join(rng.choice(_VOCAB) for _ in range(rng.randint(8, 30)))
        items.append(
            {
                "id": len(items),
                "operation": rng.choice(["summarize", "sentiment", "key_points", "qa"]),
                "text": words.capitalize() + ".",
                "confidence": round(rng.random(), 3),
                "tokens": rng.randint(10, 900),
            }
        )
        doc = json.dumps({"results": items, "model": "gemini-2.0-flash"}).encode()
        if len(doc) >= size:
            return doc[:size]


ENCODER_INPUTS = {
    "json 1 KB": llm_json(1000),
    "json 4 KB": llm_json(4000),
    "json 100 KB": llm_json(100_000),
    "random 100 KB": random.Random(5).randbytes(100_000),
}


def _header_found(header: str) -> bool:
    cc = os.environ.get("CC", "cc")
    probe = subprocess.run(
        [cc, "-E", "-x", "c", "-"], input=f"#include <{header}>\n",
        capture_output=True, text=True,
    )  # fmt: skip
    return probe.returncode == 0


def bench_encoders() -> tuple[list[Row], dict[str, object]]:
    """Rows of µs per call, plus {case: {impl: compressed bytes}} (empty when no
    C compiler)."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return [], {}
    flags, libs = ["-O2"], ["-lz"]
    if _header_found("libdeflate.h"):
        flags.append("-DHAVE_LIBDEFLATE")
        libs.append("-ldeflate")
    if _header_found("isa-l/igzip_lib.h"):
        flags.append("-DHAVE_ISAL")
        libs.append("-lisal")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "zlib_encoders")
        src = str(ROOT / "benchmarks" / "c" / "zlib_encoders.c")
        subprocess.run([cc, *flags, "-o", exe, src, *libs], check=True)
        names = {}
        for case, data in ENCODER_INPUTS.items():
            path = os.path.join(tmp, case.replace(" ", "_"))
            with open(path, "wb") as f:
                f.write(data)
            names[os.path.basename(path)] = case
        out = subprocess.run(
            [exe, *(os.path.join(tmp, n) for n in names)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    rows: list[Row] = []
    sizes: dict[str, dict[str, int]] = {}
    for line in out.splitlines():
        lib, op, level, name, _n, olen, us = line.split()
        if us == "BAD":
            raise SystemExit(f"{lib} level {level} wrote a stream zlib cannot read")
        case = f"{op} {names[name]}"
        impl = lib if op == "inflate" else f"{lib} L{level}"
        rows.append(Row(case, impl, float(us), "us/op"))
        if op == "compress":
            sizes.setdefault(case, {})[impl] = int(olen)
    return rows, {"compressed_bytes": sizes}


FRAME = "aicache _core.Codec"


def bench_frames(quick: bool) -> list[Row]:
    codec = _core.Codec(None, 0, 6, 1 << 26)
    cases: list[tuple[str, str, Callable[[], object]]] = []
    for name, data in ENCODER_INPUTS.items():
        frame = codec.encode(1, data)
        stream = zlib.compress(data, 6)
        assert codec.decode(frame) == (1, data)
        cases += [
            (f"write {name}", PYZLIB, bind(zlib.compress, data)),
            (f"write {name}", FRAME, lambda d=data: codec.encode(1, d)),
            (f"read {name}", PYZLIB, bind(zlib.decompress, stream)),
            (f"read {name}", FRAME, bind(codec.decode, frame)),
        ]
    return run(cases, quick)


def bind(fn: Callable[[bytes], object], arg: bytes) -> Callable[[], object]:
    return lambda: fn(arg)


def run(cases: list[tuple[str, str, Callable[[], object]]], quick: bool) -> list[Row]:
    """µs per call of each case: the implementations of one case take turns, round
    after round, and each keeps its best round (so a busy machine slows every
    side alike and the least disturbed round counts)."""
    budget = 0.01 if quick else 0.03
    rounds = 3 if quick else 15
    rows: list[Row] = []
    for case in dict.fromkeys(c for c, _, _ in cases):
        group = [(impl, fn) for c, impl, fn in cases if c == case]
        sizes = {impl: loop_size(fn, budget) for impl, fn in group}
        best = {impl: float("inf") for impl, _ in group}
        for _ in range(rounds):
            for impl, fn in group:
                t = timeit.timeit(fn, number=sizes[impl]) / sizes[impl]
                best[impl] = min(best[impl], t)
        rows += [Row(case, impl, best[impl] * 1e6, "us/op") for impl, _ in group]
    return rows


def bench_fernet(quick: bool) -> list[Row]:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    ref = Fernet(key)
    core = _core.Fernet([base64.urlsafe_b64decode(key)])
    ring = FernetKeyring(key)
    impls: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
        CRYPTOGRAPHY: (ref.encrypt, ref.decrypt),
        CORE: (core.encrypt, core.decrypt),
        KEYRING: (ring.encrypt, ring.decrypt),
    }
    cases: list[tuple[str, str, Callable[[], object]]] = []
    for size in FERNET_SIZES:
        data = os.urandom(size)
        token = ref.encrypt(data)
        assert core.decrypt(token) == data and ref.decrypt(core.encrypt(data)) == data
        for op, arg in (("encrypt", data), ("decrypt", token)):
            for impl, fns in impls.items():
                fn = fns[0] if op == "encrypt" else fns[1]
                cases.append((f"{op} {label(size)}", impl, bind(fn, arg)))
    return run(cases, quick)


def bench_zlib(quick: bool) -> list[Row]:
    cases: list[tuple[str, str, Callable[[], object]]] = []
    for size in ZLIB_SIZES:
        data = json_like(size)
        stream = zlib.compress(data, 6)
        assert _core.inflate(stream) == data
        assert zlib.decompress(_core.deflate(data)) == data
        cases += [
            (f"deflate {label(size)}", PYZLIB, bind(zlib.compress, data)),
            (f"deflate {label(size)}", AICACHE_ZLIB, bind(_core.deflate, data)),
            (f"inflate {label(size)}", PYZLIB, bind(zlib.decompress, stream)),
            (f"inflate {label(size)}", AICACHE_ZLIB, bind(_core.inflate, stream)),
        ]
    return run(cases, quick)


def speedups(rows: list[Row], baseline: str, impl: str) -> dict[str, float]:
    """case -> baseline time / impl time (> 1: impl is faster)."""
    by = {(r.case, r.impl): r.value for r in rows}
    return {
        case: by[(case, baseline)] / by[(case, impl)]
        for case in dict.fromkeys(r.case for r in rows)
        if (case, baseline) in by and (case, impl) in by
    }


def targets(fast: dict[str, float]) -> list[str]:
    lines = ["| case | _core.Fernet vs cryptography | target | |", "|---|---|---|---|"]
    for case, x in fast.items():
        size = case.split(" ", 1)[1]
        goal = 5.0 if size in ("100 B", "1 KB") else 2.0 if size == "1 MB" else None
        if goal is None:
            lines.append(f"| {case} | {x:.1f}x faster | - | |")
        else:
            verdict = "met" if x >= goal else "MISSED"
            lines.append(f"| {case} | {x:.1f}x faster | >= {goal:.0f}x | {verdict} |")
    return lines


def write_doc(fernet: list[Row], zl: list[Row], fast: dict[str, float]) -> None:
    zfast = speedups(zl, PYZLIB, AICACHE_ZLIB)
    body = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"zlib {_core.ZLIB_RUNTIME_VERSION}; µs per call, best of 15 interleaved rounds.",
        "",
        "#### Fernet targets",
        "",
        *targets(fast),
        "",
        "#### Fernet (µs/op; ratio columns: impl time / cryptography time, < 1 is faster)",
        "",
        ratio_table(fernet, CRYPTOGRAPHY),
        "",
        "#### zlib, level 6, JSON-like text (µs/op; ratio: aicache / Python's zlib)",
        "",
        ratio_table(zl, PYZLIB),
        "",
        "Speed-ups of `_core` over Python's zlib: "
        + ", ".join(f"{c} {x:.2f}x" for c, x in zfast.items())
        + ".",
        "",
        "![Fernet](img/codecs_fernet.png)",
        "![zlib](img/codecs_zlib.png)",
    ]
    text = (
        DOC.read_text() if DOC.exists() else f"# Codec benchmarks\n\n{START}\n{END}\n"
    )
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + START + "\n" + "\n".join(body) + "\n" + END + tail)


ENC_START, ENC_END = "<!-- encoders:start -->", "<!-- encoders:end -->"


def _size_table(sizes: dict[str, dict[str, int]]) -> list[str]:
    impls = list(dict.fromkeys(i for per in sizes.values() for i in per))
    lines = ["| case | " + " | ".join(impls) + " |", "|---" * (len(impls) + 1) + "|"]
    for case, per in sizes.items():
        lines.append(
            f"| {case} | " + " | ".join(str(per.get(i, "-")) for i in impls) + " |"
        )
    return lines


def write_encoder_doc(
    enc: list[Row],
    enc_notes: dict[str, object],
    frames: list[Row],
    frame_sizes: dict[str, dict[str, int]],
) -> None:
    sizes = enc_notes.get("compressed_bytes", {})
    assert isinstance(sizes, dict)
    body = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs (shared with other jobs: compare ratios within a "
        f"table, not absolute times); this build: encoder {_core.ZLIB_ENCODER}, "
        f"decoder {_core.ZLIB_DECODER}.",
        "",
        "#### zlib-format encoders in C (µs/op; ratio: impl / system zlib level 6)",
        "",
        ratio_table(enc, "zlib L6") if enc else "(no C compiler)",
        "",
        "Compressed bytes:",
        "",
        *_size_table(sizes),
        "",
        "#### Value frames through `_core.Codec` (level 6, threshold 0) against "
        "Python's zlib level 6 (µs/op; ratio: Codec / zlib)",
        "",
        ratio_table(frames, PYZLIB),
        "",
        "Stored bytes (frame: 13-byte header + body):",
        "",
        *_size_table(frame_sizes),
    ]
    text = DOC.read_text()
    if ENC_START not in text or ENC_END not in text:
        text += f"\n## zlib encoders and value frames\n\n{ENC_START}\n{ENC_END}\n"
    head, _, rest = text.partition(ENC_START)
    _, _, tail = rest.partition(ENC_END)
    DOC.write_text(head + ENC_START + "\n" + "\n".join(body) + "\n" + ENC_END + tail)


def main(quick: bool = False) -> None:
    fernet = bench_fernet(quick)
    fast = speedups(fernet, CRYPTOGRAPHY, CORE)
    print("## codecs_fernet (us/op)\n")
    print(ratio_table(fernet, CRYPTOGRAPHY))
    print()
    for line in targets(fast):
        print(line)
    save(
        "codecs_fernet",
        fernet,
        {
            "speedup_core_vs_cryptography": fast,
            "speedup_keyring_vs_cryptography": speedups(fernet, CRYPTOGRAPHY, KEYRING),
            "targets": ">= 5x up to 1 KB, >= 2x at 1 MB",
            "quick": quick,
        },
    )
    bar_plot("codecs_fernet", fernet, "Fernet encrypt/decrypt (µs/op, lower is better)")

    zl = bench_zlib(quick)
    print("\n## codecs_zlib (us/op)\n")
    print(ratio_table(zl, PYZLIB))
    save(
        "codecs_zlib",
        zl,
        {"speedup_vs_python_zlib": speedups(zl, PYZLIB, AICACHE_ZLIB), "quick": quick},
    )
    bar_plot("codecs_zlib", zl, "zlib level 6 (µs/op, lower is better)")

    enc, enc_notes = bench_encoders()
    print("\n## codecs_encoders (us/op)\n")
    print(ratio_table(enc, "zlib L6") if enc else "no C compiler: skipped")
    print(json.dumps(enc_notes, indent=1))
    save("codecs_encoders", enc, {**enc_notes, "quick": quick})
    frames = bench_frames(quick)
    print("\n## codecs_frames (us/op)\n")
    print(ratio_table(frames, PYZLIB))
    frame_sizes = {
        name: {
            PYZLIB: len(zlib.compress(data, 6)),
            FRAME: len(_core.Codec(None, 0, 6, 1 << 26).encode(1, data)),
        }
        for name, data in ENCODER_INPUTS.items()
    }
    save(
        "codecs_frames",
        frames,
        {"stored_bytes": frame_sizes, "encoder": _core.ZLIB_ENCODER,
         "decoder": _core.ZLIB_DECODER, "quick": quick},
    )  # fmt: skip
    if not quick:
        write_doc(fernet, zl, fast)
        write_encoder_doc(enc, enc_notes, frames, frame_sizes)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
