"""Thundering herds on a cold key: ``python -m benchmarks stampede [--quick]``.

N concurrent requests (10 / 100 / 1,000) ask for the same missing key whose factory
takes 200 ms, in one process and spread over 4 processes, against one redis-server
started here. Measured per implementation: how many times the factory ran, and the
p50 / p99 latency of the requests from the common start. Peers, each with its own
stampede feature: aiocache ``cached_stampede`` (RedLock), cashews ``@cache(lock=True)``;
"unprotected" is a plain get-then-set (what a herd costs without protection).

Every herd runs in fresh worker processes (the same code path for one and four
processes); workers connect and warm up first, then start together at a wall-clock
instant the parent hands them.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks._util import ROOT, Row, bar_plot, save

FACTORY_SECONDS = 0.2
HERDS = (10, 100, 1000)
PROCESSES = (1, 4)
IMPLS = ("aicache", "aiocache", "cashews", "unprotected")
DOC = ROOT / "docs" / "benchmarks-stampede.md"


# ---------------------------------------------------------------- worker side


async def _make_request(
    impl: str, port: int, key: str, factory: Callable[[], Awaitable[Any]]
) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[None]]]:
    """(one request, close) for impl; the request is warmed up (connected)."""
    url = f"redis://127.0.0.1:{port}/0"
    if impl in ("aicache", "unprotected"):
        from aicache.redis_generic import GenericRedisCache
        from aicache.security import SecurityConfig

        cache = GenericRedisCache(redis_url=url, security_config=SecurityConfig())
        await cache.connect()
        await cache.get("warm-up")

        if impl == "aicache":

            async def request() -> Any:
                return await cache.get_or_set(key, factory, ttl=60)

        else:

            async def request() -> Any:
                value = await cache.get(key)
                if value is None:
                    value = await factory()
                    await cache.set(key, value, ttl=60)
                return value

        return request, cache.disconnect
    if impl == "aiocache":
        from aiocache import Cache, cached_stampede

        @cached_stampede(
            cache=Cache.REDIS,
            endpoint="127.0.0.1",
            port=port,
            ttl=60,
            lease=2,
            key_builder=lambda *a, **kw: key,
            # redis-py's default pool refuses more than 100 connections ("Too many
            # connections" for a herd of 1,000); one per request is what it needs.
            pool_max_size=1100,
        )
        async def aio() -> Any:
            return await factory()

        await aio.cache.get("warm-up")  # type: ignore[attr-defined]

        async def close() -> None:
            await aio.cache.close()  # type: ignore[attr-defined]

        return aio, close
    if impl == "cashews":
        from cashews import Cache as CashewsCache

        cashews = CashewsCache()
        cashews.setup(url, client_side=False)

        @cashews(ttl=60, key=key, lock=True)
        async def cw() -> Any:
            return await factory()

        await cashews.get("warm-up")
        return cw, cashews.close
    raise SystemExit(f"unknown implementation {impl}")


async def _worker(impl: str, port: int, key: str, n: int) -> dict[str, Any]:
    calls = 0

    async def factory() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(FACTORY_SECONDS)
        return {"answer": "x" * 200, "pid": os.getpid()}

    request, close = await _make_request(impl, port, key, factory)
    print("READY", flush=True)
    start_at = float(await asyncio.get_running_loop().run_in_executor(None, input))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    latencies: list[float] = []
    errors = 0
    error_types: set[str] = set()

    async def one() -> None:
        nonlocal errors
        try:
            await request()
        except Exception as exc:
            errors += 1
            error_types.add(f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:120])
            return
        latencies.append(time.time() - start_at)

    await asyncio.gather(*(one() for _ in range(n)))
    await close()
    return {
        "calls": calls,
        "latencies": latencies,
        "errors": errors,
        "error_types": sorted(error_types)[:3],
    }


def worker_main(argv: list[str]) -> None:
    import logging

    logging.disable(logging.WARNING)
    impl, port, key, n = argv[0], int(argv[1]), argv[2], int(argv[3])
    result = asyncio.run(_worker(impl, port, key, n))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------- parent side


def _herd(impl: str, port: int, total: int, processes: int) -> dict[str, Any]:
    key = f"stampede:{impl}:{uuid.uuid4().hex}"  # a cold key per herd
    shares = [
        total // processes + (1 if i < total % processes else 0)
        for i in range(processes)
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "python"), str(ROOT), env.get("PYTHONPATH", "")]
    )
    env.setdefault("ENVIRONMENT", "testing")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_stampede",
                "worker",
                impl,
                str(port),
                key,
                str(n),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for n in shares
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != "READY":
                raise SystemExit(
                    f"{impl} worker failed: {line} {p.stderr.read() if p.stderr else ''}"
                )
        start_at = time.time() + 0.3
        for p in procs:  # every worker learns the start instant before any starts
            assert p.stdin is not None
            p.stdin.write(f"{start_at}\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            if p.returncode != 0:
                raise SystemExit(f"{impl} worker failed: {err}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    latencies = sorted(x for r in results for x in r["latencies"])
    return {
        "calls": sum(r["calls"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "error_types": sorted({t for r in results for t in r["error_types"]}),
        "p50": _percentile(latencies, 0.50),
        "p99": _percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
    }


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def run(port: int, quick: bool) -> tuple[list[Row], list[dict[str, Any]]]:
    repeats = 1 if quick else 3
    rows: list[Row] = []
    table: list[dict[str, Any]] = []
    for processes in PROCESSES:
        for total in HERDS:
            case = f"{total} req, {processes} proc"
            for impl in IMPLS:
                runs = [_herd(impl, port, total, processes) for _ in range(repeats)]
                entry = {
                    "case": case,
                    "impl": impl,
                    "calls": [r["calls"] for r in runs],
                    "errors": sum(r["errors"] for r in runs),
                    "error_types": sorted({t for r in runs for t in r["error_types"]}),
                    "p50_ms": statistics.median(r["p50"] for r in runs) * 1000,
                    "p99_ms": statistics.median(r["p99"] for r in runs) * 1000,
                }
                table.append(entry)
                print(
                    f"{case:>22} {impl:>12}: calls {entry['calls']} errors "
                    f"{entry['errors']} p50 {entry['p50_ms']:.0f} ms p99 "
                    f"{entry['p99_ms']:.0f} ms",
                    flush=True,
                )
                rows.append(Row(case, impl, entry["p99_ms"], "ms p99"))
                rows.append(
                    Row(case, impl, max(entry["calls"]), "factory calls", extra=entry)
                )
    return rows, table


def write_doc(table: list[dict[str, Any]], notes: dict[str, Any]) -> None:
    target = FACTORY_SECONDS * 1000 * 1.2
    lines = [
        f"Measured {notes.get('measured', '?')} on "
        f"{notes['machine']}; {notes['repeats']} runs per cell (factory calls of each "
        "run; latencies are the median over runs). The machine was shared with other "
        "jobs while this ran, so latencies carry noise.",
        "",
        f"Target: 1 factory call in every case, p99 within 1.2x the factory time "
        f"({target:.0f} ms).",
        "",
        "The last ratio divides by the p99 of the unprotected herd of the same size in "
        "the same run. Every request of that herd runs its own factory, so its p99 "
        "is the floor that the machine and Python set for that many concurrent "
        "requests. A ratio near 1.0 means the protection itself costs almost nothing.",
        "",
        "| herd | implementation | factory calls | errors | p50 (ms) | p99 (ms) "
        "| p99 / 200 ms | target | p99 / unprotected p99 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    floor = {e["case"]: e["p99_ms"] for e in table if e["impl"] == "unprotected"}
    for e in table:
        ok = max(e["calls"]) == 1 and e["errors"] == 0 and e["p99_ms"] <= target
        base = floor.get(e["case"])
        vs_floor = f"{e['p99_ms'] / base:.2f}x" if base else "-"
        lines.append(
            f"| {e['case']} | {e['impl']} | {'/'.join(map(str, e['calls']))} | "
            f"{e['errors']} | {e['p50_ms']:.0f} | {e['p99_ms']:.0f} | "
            f"{e['p99_ms'] / (FACTORY_SECONDS * 1000):.2f}x | "
            f"{'met' if ok else 'missed'} | {vs_floor} |"
        )
    errors = sorted({t for e in table for t in e.get("error_types", [])})
    if errors:
        lines += ["", "Errors seen: " + "; ".join(f"`{t}`" for t in errors) + "."]
    lines += ["", "![p99 latency and factory calls](img/stampede.png)"]
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = (
        DOC.read_text() if DOC.exists() else f"# Stampede benchmark\n\n{start}\n{end}\n"
    )
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    DOC.write_text(head + start + "\n" + "\n".join(lines) + "\n" + end + tail)


def main(quick: bool = False) -> None:
    from benchmarks.bench_redis import Server

    measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    server = Server()
    server.start()
    try:
        print(f"stampede benchmark: server on port {server.port}")
        rows, table = run(server.port, quick)
    finally:
        server.stop()
    notes = {
        "measured": measured,
        "machine": f"{os.cpu_count()} CPU, Python {sys.version.split()[0]}",
        "repeats": 1 if quick else 3,
        "factory_seconds": FACTORY_SECONDS,
        "table": table,
        "quick": quick,
    }
    path = save("stampede", rows, notes)
    bar_plot(
        "stampede",
        [r for r in rows if r.unit == "ms p99"],
        "Cold-key herd, p99 latency (ms, log scale, lower is better; factory = 200 ms)",
    )
    if not quick:
        write_doc(table, notes)
    print(f"results: {path}")


def rewrite_doc() -> None:
    """Regenerate the doc's results from benchmarks/results/stampede.json."""
    from benchmarks._util import RESULTS

    payload = json.loads((RESULTS / "stampede.json").read_text())
    write_doc(payload["notes"]["table"], payload["notes"])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker_main(sys.argv[2:])
    else:
        main(quick="--quick" in sys.argv)
