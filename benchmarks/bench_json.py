"""The deserialiser: the stdlib reader (bounds pre-pass + UTF-8 + ``json`` with
the tag hook, ``serialization._stdlib_loads``) against the C decoder of the same
format (``SafeSerializer.loads`` -> ``_core.JsonDecoder``), same process, same
payloads, the two taking turns (best of 7 loops each).

    python -m benchmarks json [--quick]

Payloads: the AI suite's ~2.4 KB LLM responses (all 15: three documents x five
operations), the web suite's ~1 KB values, 100 KB texts inside a dict (English,
written with ASCII escapes as the serializer does, and CJK, written as UTF-8),
tagged-heavy values, wide lists of ints and floats, a tiny value, and hostile
texts (nesting at the limit, over it, a million empty arrays). Also the whole
ValueCodec.decode (Fernet + inflate + deserialise) of the AI response with each
reader. Writes benchmarks/results/json.json.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aicache.codec import ValueCodec
from aicache.encryption import FernetKeyring
from aicache.serialization import (
    MAX_DECODE_DEPTH,
    MAX_DECODED_OBJECTS,
    CorruptPayloadError,
    SafeSerializer,
    _stdlib_loads,
)
from benchmarks._util import Row, save, time_sync
from benchmarks.bench_ai import DOC_SIZES, OPERATIONS, response_for, web_value
from benchmarks.bench_redis import make_text

STDLIB = "stdlib json"
C = "C decoder"
SAFE = SafeSerializer()


def refused_or_value(loads: Callable[[bytes], Any], data: bytes) -> Callable[[], Any]:
    def call() -> Any:
        try:
            return loads(data)
        except CorruptPayloadError:
            return None

    return call


def payloads() -> dict[str, list[bytes]]:
    cjk = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(34_000))
    tagged = {
        "rows": [
            (i, dt.datetime(2024, 1, 1, 12, 0, i % 60), b"\x00payload" * 2)
            for i in range(40)
        ],
        "ids": {uuid.UUID(int=i) for i in range(20)},
        "price": Decimal("19.99"),
    }
    return {
        "AI response ~2.4 KB (15 payloads)": [
            SAFE.dumps(response_for(make_text(size, seed=size), op))
            for size in DOC_SIZES
            for op in OPERATIONS
        ],
        "web value ~1 KB (50 payloads)": [SAFE.dumps(web_value(i)) for i in range(50)],
        "100 KB English text in a dict": [SAFE.dumps({"text": make_text(100_000)})],
        "100 KB CJK text in a dict": [SAFE.dumps({"text": cjk})],
        "tagged: 40 tuples+datetimes+bytes, 20 UUIDs": [SAFE.dumps(tagged)],
        "10,000 ints": [SAFE.dumps(list(range(10_000)))],
        "10,000 floats": [SAFE.dumps([i / 7 for i in range(10_000)])],
        "tiny value {'ok': 1}": [SAFE.dumps({"ok": 1})],
        f"hostile: nesting {MAX_DECODE_DEPTH} (accepted)": [
            b"[" * MAX_DECODE_DEPTH + b"]" * MAX_DECODE_DEPTH
        ],
        f"hostile: nesting {MAX_DECODE_DEPTH + 1} (refused)": [
            b"[" * (MAX_DECODE_DEPTH + 1) + b"]" * (MAX_DECODE_DEPTH + 1)
        ],
        "hostile: 1 MB of '[' (refused)": [b"[" * 1_000_000],
        f"hostile: {MAX_DECODED_OBJECTS:,} empty arrays (refused)": [
            b"[" + b"[]," * MAX_DECODED_OBJECTS + b"[]]"
        ],
    }


def loop_count(data: list[bytes], quick: bool) -> int:
    size = sum(len(d) for d in data) / len(data)
    n = 200_000 // max(1, int(size) // 64 + 1)
    return max(3, n // (10 if quick else 1))


def interleaved(
    runs: dict[str, Callable[[], Any]], n: int, rounds: int
) -> dict[str, float]:
    """ns per call of each impl's run(): the best of `rounds` loops of n calls,
    the impls taking turns (a load spike on the shared machine then hits both,
    not one)."""
    best = {impl: float("inf") for impl in runs}
    for _ in range(rounds):
        for impl, run in runs.items():
            best[impl] = min(best[impl], time_sync(run, n, repeat=1))
    return best


def bench_readers(quick: bool) -> list[Row]:
    rows = []
    for case, data in payloads().items():
        n = loop_count(data, quick)
        per = max(1, n // len(data))
        both = {STDLIB: _stdlib_loads, C: SAFE.loads}
        for d in data:  # the same values (or both refused) before timing anything
            a, b = refused_or_value(both[STDLIB], d)(), refused_or_value(both[C], d)()
            assert (a is None) == (b is None) and (a is None or a == b), case

        def each(
            loads: Callable[[bytes], Any], data: list[bytes] = data
        ) -> Callable[[], None]:
            calls = [refused_or_value(loads, d) for d in data]

            def run() -> None:
                for call in calls:
                    call()

            return run

        runs = {impl: each(loads) for impl, loads in both.items()}
        best = interleaved(runs, per, rounds=3 if quick else 7)
        for impl, ns in best.items():
            us = ns / len(data) / 1000
            rows.append(Row(case, impl, us, "us", extra={"bytes": len(data[0])}))
    return rows


def bench_codec(quick: bool) -> list[Row]:
    """ValueCodec.decode of an AI response in the default configuration (Fernet,
    zlib from 1,000 bytes), with each reader behind it."""
    codec = ValueCodec(keyring=FernetKeyring([FernetKeyring.generate_key()]))
    frame = codec.encode(response_for(make_text(2000, seed=2000), "summarize"))
    n = 2_000 if quick else 20_000
    original = SafeSerializer.loads

    def with_reader(loads: Any) -> Callable[[], None]:
        def run() -> None:
            SafeSerializer.loads = loads  # type: ignore[method-assign]
            try:
                codec.decode(frame)
            finally:
                SafeSerializer.loads = original  # type: ignore[method-assign]

        return run

    runs = {
        STDLIB: with_reader(lambda _self, d: _stdlib_loads(d)),
        C: with_reader(original),
    }
    best = interleaved(runs, n, rounds=3 if quick else 7)
    case = "ValueCodec.decode, AI response (Fernet+zlib)"
    return [Row(case, impl, ns / 1000, "us") for impl, ns in best.items()]


def table(rows: list[Row]) -> str:
    lines = [
        f"| payload | bytes | {STDLIB} (µs) | {C} (µs) | C speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for case in dict.fromkeys(r.case for r in rows):
        by = {r.impl: r for r in rows if r.case == case}
        size = by[C].extra.get("bytes", "")
        lines.append(
            f"| {case} | {size:,} | {by[STDLIB].value:,.2f} | {by[C].value:,.2f} | "
            f"{by[STDLIB].value / by[C].value:.2f}x |"
            if size != ""
            else f"| {case} | - | {by[STDLIB].value:,.2f} | {by[C].value:,.2f} | "
            f"{by[STDLIB].value / by[C].value:.2f}x |"
        )
    return "\n".join(lines)


def main(quick: bool = False) -> None:
    rows = bench_readers(quick) + bench_codec(quick)
    print("## json: the deserialiser, stdlib json vs the C decoder (µs per payload)\n")
    print(table(rows))
    save("json", rows, {"quick": quick})


if __name__ == "__main__":
    main()
