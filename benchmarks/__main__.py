"""Entry point: ``python -m benchmarks {memory,admission,codecs,redis,ai,json,stampede,cluster,all}``,
and ``python -m benchmarks soak --minutes N`` (or ``--seconds S``): the
randomised fault soak (not part of ``all``; exit status 1 if an invariant broke).

Each suite measures aicache against its peers in the same run and writes
benchmarks/results/<suite>.json plus a plot under docs/img/ (when matplotlib is
installed); docs/benchmarks.md explains the numbers.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUITES = {
    "memory": ["benchmarks.bench_memory"],
    "admission": ["benchmarks.bench_admission"],
    "codecs": [
        "benchmarks.bench_keys",
        "benchmarks.bench_codecs",
        "benchmarks.bench_pipeline",
    ],
    "redis": ["benchmarks.bench_redis"],
    "ai": ["benchmarks.bench_ai"],
    "json": ["benchmarks.bench_json"],
    "stampede": ["benchmarks.bench_stampede"],
    "cluster": ["benchmarks.bench_cluster"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("suite", choices=[*SUITES, "all", "soak"])
    parser.add_argument("--minutes", type=float, help="soak: how long to run")
    parser.add_argument("--seconds", type=float, help="soak: how long to run")
    parser.add_argument(
        "--quick", action="store_true", help="fewer iterations (smoke run, noisy)"
    )
    args = parser.parse_args(argv)
    if args.suite == "soak":
        from benchmarks import bench_soak

        seconds = args.seconds
        if args.minutes is not None:
            seconds = args.minutes * 60
        return bench_soak.main(quick=args.quick, seconds=seconds)
    names = (
        [m for s in SUITES.values() for m in s]
        if args.suite == "all"
        else SUITES[args.suite]
    )
    for name in names:
        module = importlib.import_module(name)
        module.main(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
