"""``python -m aicache.demo`` (the README's main job), run as a subprocess: it must
exit 0 within seconds and its transcript must show a miss, then a hit, the status and
a metrics excerpt; with CACHE_REDIS_URL the same code runs against Redis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from redis_servers import RedisServer

ROOT = Path(__file__).resolve().parents[1]
_CLEARED = ("CACHE_PRESET", "CACHE_REDIS_URL", "ENABLE_AI_CACHE", "CACHE_CUSTOM_CONFIG",
            "REDIS_ENCRYPTION_KEY", "REDIS_PASSWORD")  # fmt: skip


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    base["PYTHONPATH"] = str(ROOT / "python")
    base.setdefault("ENVIRONMENT", "development")
    return subprocess.run(
        [sys.executable, "-m", "aicache.demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **env},
        cwd=ROOT,
        check=False,
    )


def _line(out: str, pattern: str) -> str:
    for line in out.splitlines():
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} in:\n{out}")


def check_transcript(out: str) -> None:
    miss = _line(out, r"^1\. POST /v1/summarize .*-> MISS in [\d.]+ ms")
    hit = _line(out, r"^2\. POST /v1/summarize .*-> HIT +in [\d.]+ ms")
    assert out.index(miss) < out.index(hit)
    miss_ms = float(re.findall(r"in ([\d.]+) ms", miss)[0])
    assert miss_ms >= 250  # the fake LLM sleeps 0.3 s on a miss
    assert "key:     ai_cache:op:summarize|txt:" in out
    _line(out, r"ttl: +\d+ s left \(summarize TTL 7200 s\)")
    assert "3. GET /internal/cache/status" in out
    assert _line(out, r"^   memory: ").count('"status": "active"') == 1
    assert "4. GET /internal/cache/metrics" in out
    _line(out, r"^   aicache_cache_hits_total\{tier=\"[a-z0-9_]+\"\} 1(\.0)?$")
    assert out.rstrip().splitlines()[-1].startswith("done in ")


def test_demo_with_the_memory_backend() -> None:
    result = run_demo()
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "backend: embedded memory backend" in out
    assert "cache: InMemoryCache via Depends(get_cache_service)" in out
    check_transcript(out)
    redis = _line(out, r"^   redis: ")
    assert '"status": "disconnected"' in redis


def test_demo_against_redis(redis_plain: RedisServer) -> None:
    redis_plain.flush()
    result = run_demo(CACHE_REDIS_URL=redis_plain.url, CACHE_PRESET="ai-development")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "cache: AIResponseCache via Depends(get_cache_service)" in out
    check_transcript(out)
    redis = _line(out, r"^   redis: ")
    assert '"status": "connected"' in redis and '"keys": 1' in redis
    keys = redis_plain.cli("--scan").splitlines()
    assert len(keys) == 1 and keys[0].startswith("ai_cache:op:summarize|")
    redis_plain.flush()


def test_demo_without_fastapi() -> None:
    base = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    code = (
        "import runpy, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('fastapi', 'starlette'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['aicache.demo']\n"
        "runpy.run_module('aicache.demo', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "PYTHONPATH": str(ROOT / "python"), "ENVIRONMENT": "development"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "via get_cache_service() (FastAPI not installed)" in out
    _line(out, r"^1\. POST /v1/summarize .*-> MISS")
    _line(out, r"^2\. POST /v1/summarize .*-> HIT")
    _line(out, r"^   aicache_cache_hits_total")
