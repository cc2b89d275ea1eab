"""get_or_set across real processes sharing one redis-server (heavy).

Each worker is a fresh interpreter running WORKER below: it opens its own
GenericRedisCache, waits for a common start time, fires its share of concurrent
requests and prints JSON. The factory counts its calls with INCR in Redis, so the
count covers every process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from redis_servers import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.heavy]

DB = 13
ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import asyncio, json, sys, time
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig

url, key, n, start_at, delay, lease = sys.argv[1:7]
n, start_at, delay, lease = int(n), float(start_at), float(delay), float(lease)

async def main():
    cache = GenericRedisCache(redis_url=url, security_config=SecurityConfig())
    await cache.connect()
    execute = cache.redis.connection.execute

    async def factory():
        await execute("INCR", key + ":calls")
        print("FACTORY", flush=True)
        await asyncio.sleep(delay)
        return {"pid": __import__("os").getpid()}

    await asyncio.sleep(max(0.0, start_at - time.time()))
    results = await asyncio.gather(
        *(cache.get_or_set(key, factory, ttl=60, lock_lease=lease) for _ in range(n))
    )
    print(json.dumps({"pids": sorted({r["pid"] for r in results}), "n": len(results)}))
    await cache.disconnect()

asyncio.run(main())
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "python") + os.pathsep + env.get("PYTHONPATH", "")
    env["ENVIRONMENT"] = "testing"
    env.pop("REDIS_ENCRYPTION_KEY", None)
    return env


def _spawn(url: str, key: str, n: int, start_at: float, delay: float, lease: float):  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER,
            url,
            key,
            str(n),
            str(start_at),
            str(delay),
            str(lease),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def test_four_processes_of_250_make_one_call(redis_plain: RedisServer) -> None:
    redis_plain.cli("-n", str(DB), "FLUSHDB")
    url = f"{redis_plain.url}/{DB}"
    start_at = time.time() + 3.0  # interpreters start slowly on a loaded machine
    procs = [_spawn(url, "herd4", 250, start_at, 0.2, 10) for _ in range(4)]
    outputs = [p.communicate(timeout=60) for p in procs]
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["n"] for r in results] == [250] * 4
    assert redis_plain.cli("-n", str(DB), "GET", "herd4:calls") == "1"
    # Every process got the one computed value (the same producer pid).
    assert len({tuple(r["pids"]) for r in results}) == 1


def test_sigkilled_owner_lock_expires_and_another_process_takes_over(
    redis_plain: RedisServer,
) -> None:
    redis_plain.cli("-n", str(DB), "FLUSHDB")
    url = f"{redis_plain.url}/{DB}"
    owner = _spawn(url, "killed", 1, 0, 60.0, 1.0)  # hangs in its factory
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "FACTORY"
        lock = "{killed}:aicache-lock"
        assert redis_plain.cli("-n", str(DB), "EXISTS", lock) == "1"
        heir = _spawn(url, "killed", 5, 0, 0.0, 1.0)
        time.sleep(1.5)  # the heir waits on the renewed lease
        assert heir.poll() is None
        assert redis_plain.cli("-n", str(DB), "GET", "killed:calls") == "1"
        killed_at = time.monotonic()
        owner.send_signal(signal.SIGKILL)
        out, err = heir.communicate(timeout=30)
        waited = time.monotonic() - killed_at
        assert heir.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert result["n"] == 5 and result["pids"] == [heir.pid]
        assert redis_plain.cli("-n", str(DB), "GET", "killed:calls") == "2"
        assert waited < 10  # about one lease (1 s) after the kill
    finally:
        owner.kill()
        owner.wait()


STREAM_WORKER = r"""
import asyncio, json, sys
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from aicache.streams import open_stream

url, key = sys.argv[1:3]

async def main():
    cache = GenericRedisCache(redis_url=url, security_config=SecurityConfig())
    await cache.connect()
    execute = cache.redis.connection.execute

    async def model():
        await execute("INCR", key + ":calls")
        for i in range(8):
            await asyncio.sleep(0.2)
            yield f"data: token {i}\n\n" if i % 2 else bytes([i]) * (i + 1)

    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stream = await open_stream(cache, key, model)
    chunks = []
    async for chunk in stream:
        chunks.append(chunk.hex() if isinstance(chunk, bytes) else chunk)
        if len(chunks) == 1:
            print("FIRST", flush=True)
    print(json.dumps({"origin": stream.origin, "chunks": chunks}), flush=True)
    await cache.disconnect()

asyncio.run(main())
"""


def test_a_live_stream_is_followed_from_another_process(
    redis_plain: RedisServer,
) -> None:
    redis_plain.cli("-n", str(DB), "FLUSHDB")
    url = f"{redis_plain.url}/{DB}"

    def spawn() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", STREAM_WORKER, url, "chat:1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )

    producer, follower = spawn(), spawn()
    try:
        for p in (producer, follower):  # both interpreters are up and connected
            assert p.stdout is not None and p.stdout.readline().strip() == "READY"
        assert producer.stdin is not None and producer.stdout is not None
        producer.stdin.write("go\n")
        producer.stdin.flush()
        assert producer.stdout.readline().strip() == "FIRST"
        out_f, err_f = follower.communicate("go\n", timeout=60)
        out_p, err_p = producer.communicate(timeout=60)
    finally:
        for p in (producer, follower):
            p.kill()
            p.wait()
    assert follower.returncode == 0, err_f
    assert producer.returncode == 0, err_p
    produced = json.loads(out_p.strip().splitlines()[-1])
    followed = json.loads(out_f.strip().splitlines()[-1])
    assert produced["origin"] == "source" and followed["origin"] == "remote"
    assert followed["chunks"] == produced["chunks"] and len(produced["chunks"]) == 8
    assert redis_plain.cli("-n", str(DB), "GET", "chat:1:calls") == "1"
