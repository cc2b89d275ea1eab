"""Soak: randomised faults under concurrent load against a real redis-server.

``python -m benchmarks soak --minutes N`` (or ``--seconds S``) starts a private
redis-server on a free loopback port, puts a partition proxy in front of it, and
runs GenericRedisCache workers (set/get/delete on keys each worker owns, so the
last acknowledged write of every key is known) while a fault injector picks, every
few seconds, one of: kill -9 + restart, SIGSTOP/SIGCONT, CLIENT KILL, a network
partition (data kept), or nothing. It checks the invariants of issue 9 and
reports every figure (benchmarks/results/soak.json):

* wrong values: a read returning anything but the last acknowledged value of its
  key or a miss (after a delete: anything but a miss) — must be 0;
* untyped exceptions reaching a caller — must be 0;
* operations over their deadline (operation timeout + 0.25 s) — must be 0;
* recovery time after each fault: from Redis accepting connections again to the
  first read answered by Redis;
* RSS at start, peak and end.

Exit status 1 when an invariant failed. Nothing leaves loopback; the server is
killed at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from aicache.redis_generic import GenericRedisCache  # noqa: E402
from aicache.security import SecurityConfig  # noqa: E402
from fault_servers import PartitionProxy  # noqa: E402

OP_TIMEOUT = 0.5
SLACK = 0.25
WORKERS = 16
KEYS_PER_WORKER = 16
_DELETED = object()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self) -> None:
        self.exe = shutil.which("redis-server")
        self.cli_exe = shutil.which("redis-cli")
        if self.exe is None or self.cli_exe is None:
            raise SystemExit("soak needs redis-server and redis-cli")
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="aicache-soak-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.exe is not None
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def cli(self, *args: str) -> str:
        assert self.cli_exe is not None
        out = subprocess.run(
            [self.cli_exe, "-p", str(self.port), *args],
            capture_output=True, timeout=10, check=False,
        )  # fmt: skip
        return out.stdout.decode()


class Soak:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.server = Server()
        self.stop = asyncio.Event()
        self.stats: dict[str, Any] = {
            "operations": 0, "gets": 0, "sets": 0, "deletes": 0, "wrong_values": 0,
            "untyped_exceptions": 0, "over_deadline": 0, "max_op_seconds": 0.0,
            "faults": {}, "recovery_seconds": [], "rss_mib": {},
        }  # fmt: skip
        self.examples: list[str] = []

    async def worker(self, cache: GenericRedisCache, n: int) -> None:
        model: dict[str, Any] = {}
        rng = random.Random(n)
        version = 0
        while not self.stop.is_set():
            key = f"w{n}:k{rng.randrange(KEYS_PER_WORKER)}"
            op = rng.random()
            t0 = time.monotonic()
            try:
                if op < 0.35:
                    version += 1
                    value = [n, version]
                    await cache.set(key, value, ttl=60)
                    model[key] = value
                    self.stats["sets"] += 1
                elif op < 0.45:
                    await cache.delete(key)
                    model[key] = _DELETED
                    self.stats["deletes"] += 1
                else:
                    got = await cache.get(key)
                    self.stats["gets"] += 1
                    want = model.get(key)
                    if got is not None and (want is _DELETED or got != want):
                        self.stats["wrong_values"] += 1
                        self.examples.append(f"{key}: got {got!r}, last {want!r}")
            except Exception as exc:  # the invariant: nothing untyped, nothing
                self.stats["untyped_exceptions"] += 1
                self.examples.append(f"{type(exc).__name__}: {exc}")
            elapsed = time.monotonic() - t0
            self.stats["operations"] += 1
            self.stats["max_op_seconds"] = max(self.stats["max_op_seconds"], elapsed)
            if elapsed > OP_TIMEOUT + SLACK:
                self.stats["over_deadline"] += 1
            await asyncio.sleep(0)

    async def recovered_after(self, cache: GenericRedisCache, since: float) -> None:
        """Time from `since` (Redis accepting again) to a read served by Redis."""
        self.server.cli("SET", "soak:__probe__", '"p"')
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            hits = cache.get_stats()["redis_hits"]
            await cache.get("__probe__")
            if cache.get_stats()["redis_hits"] > hits:
                self.stats["recovery_seconds"].append(
                    round(time.monotonic() - since, 3)
                )
                return
            await asyncio.sleep(0.01)
        self.stats["recovery_seconds"].append(None)

    async def injector(self, cache: GenericRedisCache, proxy: PartitionProxy) -> None:
        rng = random.Random(7)
        faults = ["kill_restart", "sigstop", "client_kill", "partition", "none"]
        while not self.stop.is_set():
            await asyncio.sleep(rng.uniform(1.0, 2.5))
            if self.stop.is_set():
                return
            fault = rng.choice(faults)
            self.stats["faults"][fault] = self.stats["faults"].get(fault, 0) + 1
            if fault == "kill_restart":
                self.server.kill()
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                await asyncio.to_thread(self.server.start)
                await self.recovered_after(cache, time.monotonic())
            elif fault == "sigstop":
                self.server.signal(signal.SIGSTOP)
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                self.server.signal(signal.SIGCONT)
                await self.recovered_after(cache, time.monotonic())
            elif fault == "client_kill":
                await asyncio.to_thread(
                    self.server.cli, "CLIENT", "KILL", "TYPE", "normal"
                )
                await self.recovered_after(cache, time.monotonic())
            elif fault == "partition":
                await proxy.cut()
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                await proxy.heal()
                await self.recovered_after(cache, time.monotonic())
            self.stats["rss_mib"]["peak"] = max(
                self.stats["rss_mib"].get("peak", 0.0), _rss_mib()
            )

    async def run(self) -> dict[str, Any]:
        self.server.start()
        proxy = await PartitionProxy(self.server.port).start()
        os.environ.setdefault("ENVIRONMENT", "testing")
        cache = GenericRedisCache(
            redis_url=proxy.url,
            key_prefix="soak:",
            operation_timeout=OP_TIMEOUT,
            connect_timeout=OP_TIMEOUT,
            l1_cache_size=64,
            security_config=SecurityConfig(max_retries=0),
        )
        self.stats["rss_mib"]["start"] = round(_rss_mib(), 1)
        t0 = time.monotonic()
        tasks = [asyncio.create_task(self.worker(cache, n)) for n in range(WORKERS)]
        inject = asyncio.create_task(self.injector(cache, proxy))
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.stop.set()
            await asyncio.gather(*tasks, inject, return_exceptions=True)
            await cache.disconnect()
            await proxy.close()
            self.server.kill()
            shutil.rmtree(self.server.dir, ignore_errors=True)
        elapsed = time.monotonic() - t0
        rec = [r for r in self.stats["recovery_seconds"] if r is not None]
        self.stats.update(
            seconds=round(elapsed, 1),
            ops_per_second=round(self.stats["operations"] / elapsed),
            recovery_max_seconds=max(rec) if rec else None,
            recovery_never=self.stats["recovery_seconds"].count(None),
            max_op_seconds=round(self.stats["max_op_seconds"], 3),
            deadline_seconds=OP_TIMEOUT + SLACK,
            journal=cache.get_stats()["degraded_journal"],
            examples=self.examples[:10],
        )
        self.stats["rss_mib"]["end"] = round(_rss_mib(), 1)
        self.stats["rss_mib"]["peak"] = round(
            max(self.stats["rss_mib"].get("peak", 0.0), _rss_mib()), 1
        )
        return self.stats


def main(quick: bool = False, seconds: float | None = None) -> int:
    duration = seconds if seconds is not None else (15.0 if quick else 60.0)
    # Degraded-mode warnings and slow-operation lines are expected here by the
    # thousand; the report below carries the figures.
    logging.getLogger("aicache").setLevel(logging.CRITICAL)
    logging.getLogger().setLevel(logging.CRITICAL)
    stats = asyncio.run(Soak(duration).run())
    if duration >= 60:  # the CI smoke run leaves the recorded figures alone
        out = REPO / "benchmarks" / "results" / "soak.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(stats, indent=2) + "\n")
    print(json.dumps(stats, indent=2))
    failed = (
        stats["wrong_values"]
        or stats["untyped_exceptions"]
        or stats["over_deadline"]
        or stats["recovery_never"]
    )
    if failed:
        print("soak: INVARIANT FAILED", file=sys.stderr)
        return 1
    print(
        f"soak: {stats['operations']} ops in {stats['seconds']} s, "
        f"faults {stats['faults']}, 0 wrong, 0 untyped, 0 over deadline, "
        f"recovery max {stats['recovery_max_seconds']} s"
    )
    return 0
