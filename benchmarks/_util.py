"""Shared measurement helpers: timing loops, ratio tables, result files and plots."""

from __future__ import annotations

import asyncio
import gc
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"


@dataclass
class Row:
    """One measurement: `value` in `unit` (lower is better unless `higher_is_better`)."""

    case: str
    impl: str
    value: float
    unit: str = "ns/op"
    higher_is_better: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def best_of(repeat: int, run: Callable[[], float]) -> float:
    """Minimum of `repeat` runs of a timing function (least disturbed by the machine)."""
    gc.collect()
    return min(run() for _ in range(repeat))


def time_sync(fn: Callable[[], Any], n: int, repeat: int = 5) -> float:
    """ns per call of fn(), best of `repeat` loops of n calls."""

    def run() -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        return (time.perf_counter_ns() - t0) / n

    return best_of(repeat, run)


def time_async(make: Callable[[], Awaitable[Any]], n: int, repeat: int = 5) -> float:
    """ns per awaited call, measured inside one event loop (awaits run back to back)."""

    async def loop() -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await make()
        return (time.perf_counter_ns() - t0) / n

    async def runner() -> float:
        results = []
        for _ in range(repeat):
            gc.collect()
            results.append(await loop())
        return min(results)

    return asyncio.run(runner())


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def ratio_table(rows: list[Row], baseline_impl: str) -> str:
    """Markdown table: one line per case, value per impl, and impl/baseline ratios."""
    cases = list(dict.fromkeys(r.case for r in rows))
    impls = list(dict.fromkeys(r.impl for r in rows))
    head = (
        "| case | "
        + " | ".join(impls)
        + " | "
        + " | ".join(f"{i} vs {baseline_impl}" for i in impls if i != baseline_impl)
        + " |"
    )
    sep = "|" + "---|" * (1 + len(impls) + len(impls) - 1)
    lines = [head, sep]
    for c in cases:
        by = {r.impl: r for r in rows if r.case == c}
        vals = [f"{by[i].value:,.1f} {by[i].unit}" if i in by else "-" for i in impls]
        ratios = []
        base = by.get(baseline_impl)
        for i in impls:
            if i == baseline_impl:
                continue
            if base is None or i not in by or by[i].value == 0:
                ratios.append("-")
                continue
            r = by[i]
            # Express as "how many times better than baseline" (>1 = baseline wins).
            x = (
                (r.value / base.value)
                if not r.higher_is_better
                else (base.value / r.value)
            )
            ratios.append(f"{x:.2f}x")
        lines.append(f"| {c} | " + " | ".join(vals) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def save(suite: str, rows: list[Row], notes: dict[str, Any] | None = None) -> Path:
    """Writes benchmarks/results/<suite>.json with the machine description."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{suite}.json"
    payload = {
        "suite": suite,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "notes": notes or {},
        "rows": [asdict(r) for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def bar_plot(suite: str, rows: list[Row], title: str, log: bool = True) -> Path | None:
    """Grouped bar chart docs/img/<suite>.png (None when matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    cases = list(dict.fromkeys(r.case for r in rows))
    impls = list(dict.fromkeys(r.impl for r in rows))
    width = 0.8 / max(1, len(impls))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(cases)), 4.5))
    for k, impl in enumerate(impls):
        xs, ys = [], []
        for j, c in enumerate(cases):
            for r in rows:
                if r.case == c and r.impl == impl:
                    xs.append(j + k * width)
                    ys.append(r.value)
        ax.bar(xs, ys, width=width, label=impl)
    ax.set_xticks([j + width * (len(impls) - 1) / 2 for j in range(len(cases))])
    ax.set_xticklabels(cases, rotation=20, ha="right", fontsize=8)
    units = {r.unit for r in rows}
    ax.set_ylabel(", ".join(sorted(units)))
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / f"{suite}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
