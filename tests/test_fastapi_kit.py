"""aicache.fastapi through FastAPI's TestClient against real redis-servers:
lifespan startup validation and failure, shutdown, the internal router, health
(up, down, recovering, wrong password), Prometheus metrics, the guard."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from aicache import GenericRedisCache, InMemoryCache
from aicache._connection import RedisAuthError, RedisConnectionError
from aicache.dependencies import get_cache_service
from aicache.exceptions import ConfigurationError
from aicache.fastapi import cache_lifespan, cache_router, metrics_router, with_cache
from aicache.testing_redis import CuttableLink
from redis_servers import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CACHE_REDIS_URL", "REDIS_PASSWORD", "CACHE_CUSTOM_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CACHE_PRESET", "development")
    return monkeypatch


CACHE = Depends(get_cache_service)


def make_app(lifespan: Any = cache_lifespan, guard: Any = None) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    app.include_router(cache_router(guard=guard))
    app.include_router(metrics_router())

    @app.put("/items/{name}")
    async def put(name: str, cache: Any = CACHE) -> dict[str, Any]:
        await cache.set(name, {"name": name})
        return {"cache": type(cache).__name__, "same": cache is app.state.aicache}

    @app.get("/items/{name}")
    async def get(name: str, cache: Any = CACHE) -> Any:
        return await cache.get(name)

    return app


def test_memory_preset_end_to_end(env: pytest.MonkeyPatch) -> None:
    with TestClient(make_app()) as client:
        assert client.put("/items/a").json() == {"cache": "InMemoryCache", "same": True}
        assert client.get("/items/a").json() == {"name": "a"}
        status = client.get("/internal/cache/status").json()
        assert status["memory"]["status"] == "active"
        assert status["redis"]["status"] == "disconnected"
        health = client.get("/internal/cache/health").json()
        assert health["status"] == "healthy"
        assert health["redis"] == {"configured": False, "in_use": False, "url": None}
        invalidated = client.post("/internal/cache/invalidate", params={"pattern": "a"})
        assert invalidated.json() == {"message": "Cache invalidated for pattern: a"}
        assert client.get("/items/a").json() is None
        assert (
            client.get("/internal/cache/invalidation-stats").json()["total_operations"]
            == 0
        )
        assert client.get("/internal/cache/invalidation-recommendations").json() == {
            "recommendations": []
        }
        spec_metrics = client.get("/internal/cache/metrics")
        assert spec_metrics.status_code == 500
        assert spec_metrics.json()["detail"]["error_type"] == (
            "performance_monitor_unavailable"
        )
        prom = client.get("/metrics")
        assert prom.headers["content-type"].startswith("text/plain")
        assert "aicache_redis_in_use 0" in prom.text
        assert "aicache_memory_tier_hits_total 1" in prom.text


@pytest.mark.redis
def test_redis_preset_end_to_end(env: pytest.MonkeyPatch, redis_plain: Any) -> None:
    env.setenv("CACHE_REDIS_URL", redis_plain.url)
    with TestClient(make_app()) as client:
        assert client.put("/items/b").json() == {
            "cache": "GenericRedisCache",
            "same": True,
        }
        assert client.get("/items/b").json() == {"name": "b"}
        health = client.get("/internal/cache/health").json()
        assert health["status"] == "healthy"
        assert health["redis"]["configured"] and health["redis"]["in_use"]
        assert (
            client.get("/internal/cache/status").json()["redis"]["status"]
            == "connected"
        )
        metrics = client.get("/internal/cache/metrics").json()
        assert metrics["total_cache_operations"] >= 2
        prom = client.get("/metrics").text
        assert "aicache_redis_in_use 1" in prom
        assert "aicache_cache_operations_total" in prom
        app_cache = client.app.state.aicache  # type: ignore[attr-defined]
        assert isinstance(app_cache, GenericRedisCache)
    # shutdown disconnected it
    assert app_cache.redis is None


def test_bad_preset_stops_startup(env: pytest.MonkeyPatch) -> None:
    env.setenv("CACHE_PRESET", "turbo")
    with (
        pytest.raises(ConfigurationError, match="CACHE_PRESET"),
        TestClient(make_app()),
    ):
        pass


@pytest.mark.redis
def test_wrong_password_stops_startup(
    env: pytest.MonkeyPatch, redis_password: Any
) -> None:
    env.setenv("CACHE_REDIS_URL", redis_password.plain_url)
    env.setenv("REDIS_PASSWORD", "not-the-password")
    with (
        pytest.raises(RedisAuthError, match="authentication failed"),
        TestClient(make_app()),
    ):
        pass


def test_unreachable_redis_strict_stops_startup_else_degraded(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("CACHE_REDIS_URL", f"redis://127.0.0.1:{free_port()}")
    with (
        pytest.raises(RedisConnectionError, match="unreachable"),
        TestClient(make_app(lifespan=with_cache(strict=True))),
    ):
        pass
    with TestClient(make_app()) as client:
        assert client.put("/items/c").json()["cache"] == "InMemoryCache"
        health = client.get("/internal/cache/health").json()
        assert health["status"] == "degraded"
        assert health["redis"]["configured"] and not health["redis"]["in_use"]
        assert "unreachable" in health["reason"]


@pytest.mark.redis
def test_health_follows_redis_down_and_back(
    env: pytest.MonkeyPatch, redis_plain: Any
) -> None:
    link = CuttableLink(redis_plain.port)
    env.setenv("CACHE_REDIS_URL", link.url)
    try:
        with TestClient(make_app()) as client:
            assert client.get("/internal/cache/health").json()["status"] == "healthy"
            link.cut()
            down = client.get("/internal/cache/health").json()
            assert down["status"] == "degraded"
            assert "unreachable" in down["reason"]
            client.put("/items/d")  # served by the memory tier meanwhile
            assert client.get("/items/d").json() == {"name": "d"}
            link.restore()
            for _ in range(50):  # the reconnect throttle is short
                if client.get("/internal/cache/health").json()["status"] == "healthy":
                    break
                __import__("time").sleep(0.1)
            assert client.get("/internal/cache/health").json()["status"] == "healthy"
    finally:
        link.close()


def test_guard_protects_every_route(env: pytest.MonkeyPatch) -> None:
    async def api_key(x_api_key: str | None = Header(default=None)) -> None:
        if x_api_key != "k":
            raise HTTPException(status_code=401, detail="API key required")

    with TestClient(make_app(guard=api_key)) as client:
        assert client.get("/internal/cache/status").status_code == 401
        assert client.post("/internal/cache/invalidate").status_code == 401
        ok = client.get("/internal/cache/status", headers={"X-API-Key": "k"})
        assert ok.status_code == 200


def test_composition_keeps_the_users_lifespan(env: pytest.MonkeyPatch) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def mine(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append(f"start:{type(app.state.aicache).__name__}")
        yield {"db": "connected"}
        events.append("stop")

    app = make_app(lifespan=with_cache(mine))

    @app.get("/state")
    async def state() -> Any:
        return {"ok": True}

    with TestClient(app) as client:
        assert client.get("/state").json() == {"ok": True}
    assert events == ["start:InMemoryCache", "stop"]


def test_override_in_one_line(
    env: pytest.MonkeyPatch, override_cache_dependencies: Any, test_cache: InMemoryCache
) -> None:
    app = make_app(lifespan=None)
    app.state.aicache = test_cache
    override_cache_dependencies(app)
    with TestClient(app) as client:
        assert client.put("/items/e").json() == {"cache": "InMemoryCache", "same": True}
    assert test_cache.get_keys() == ["e"]


def test_module_does_not_shadow_fastapi() -> None:
    code = (
        "import aicache.fastapi, fastapi, sys\n"
        "assert fastapi.__name__ == 'fastapi'\n"
        "assert not fastapi.__file__.endswith('aicache/fastapi.py')\n"
        "assert sys.modules['aicache.fastapi'].__file__.endswith('aicache/fastapi.py')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.redis
def test_shutdown_leaves_no_resource_warning(redis_plain: Any, tmp_path: Path) -> None:
    script = tmp_path / "app_run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, warnings
            os.environ["CACHE_PRESET"] = "development"
            os.environ["CACHE_REDIS_URL"] = {redis_plain.url!r}
            from fastapi import Depends, FastAPI
            from fastapi.testclient import TestClient
            from aicache.dependencies import get_cache_service
            from aicache.fastapi import cache_lifespan, cache_router

            app = FastAPI(lifespan=cache_lifespan)
            app.include_router(cache_router())

            @app.get("/put")
            async def put(cache=Depends(get_cache_service)):
                await cache.set("k", 1)
                return await cache.get("k")

            for _ in range(2):
                with TestClient(app) as client:
                    assert client.get("/put").json() == 1
                    assert client.get("/internal/cache/health").json()["status"] == "healthy"
            import gc; gc.collect()
            print("done")
            """
        )
    )
    res = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ResourceWarning" not in res.stderr, res.stderr[-3000:]
    assert res.stdout.strip() == "done"


# ------------------------------------------------------------------ real uvicorn

UVICORN_APP = """
from fastapi import Depends, FastAPI
from aicache.dependencies import get_cache_service
from aicache.fastapi import cache_lifespan, cache_router, metrics_router

app = FastAPI(lifespan=cache_lifespan)
app.include_router(cache_router())
app.include_router(metrics_router())

@app.put("/items/{name}/{value}")
async def put(name: str, value: str, cache=Depends(get_cache_service)):
    await cache.set(name, value, ttl=60)
    return {"pid": __import__("os").getpid()}

@app.get("/items/{name}")
async def get(name: str, cache=Depends(get_cache_service)):
    return {"value": await cache.get(name), "pid": __import__("os").getpid()}
"""


def _uvicorn(tmp_path: Path, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    (tmp_path / "kit_app.py").write_text(UVICORN_APP)
    return subprocess.Popen(
        [sys.executable, "-X", "dev", "-m", "uvicorn", "kit_app:app",
         "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    import os

    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CACHE_", "REDIS_"))
    }
    env.update(extra)
    return env


@pytest.mark.heavy
@pytest.mark.redis
def test_uvicorn_two_workers_share_redis(redis_plain: Any, tmp_path: Path) -> None:
    import signal
    import time

    import httpx

    port = free_port()
    proc = _uvicorn(
        tmp_path,
        _env(CACHE_PRESET="development", CACHE_REDIS_URL=redis_plain.url),
        port,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if (
                    httpx.get(f"{base}/internal/cache/health").json()["status"]
                    == "healthy"
                ):
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "uvicorn did not become healthy"
            time.sleep(0.2)
        writers, readers = set(), set()
        with httpx.Client(base_url=base) as client:
            for i in range(40):
                writers.add(client.put(f"/items/k{i}/v{i}").json()["pid"])
            for i in range(40):
                # fresh connections spread the reads over both workers
                got = httpx.get(f"{base}/items/k{i}").json()
                readers.add(got["pid"])
                assert got["value"] == f"v{i}"
        assert len(writers | readers) == 2, "expected two worker processes"
        assert "aicache_redis_in_use 1" in httpx.get(f"{base}/metrics").text
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    # uvicorn's supervisor leaves its own listening socket to the OS at exit
    # (laddr is the served port); anything else would be ours.
    ours = [
        line
        for line in out.splitlines()
        if "ResourceWarning: unclosed" in line and f"'127.0.0.1', {port})" not in line
    ]
    assert not ours, out[-3000:]
    assert "Traceback" not in out, out[-3000:]


@pytest.mark.heavy
def test_uvicorn_refuses_to_start_on_a_bad_preset(tmp_path: Path) -> None:
    proc = _uvicorn(tmp_path, _env(CACHE_PRESET="turbo"), free_port())
    out, _ = proc.communicate(timeout=120)
    assert "CACHE_PRESET" in out, out[-3000:]
    assert "Application startup failed" in out, out[-3000:]


def test_dependency_health_says_degraded_on_the_stand_in(
    env: pytest.MonkeyPatch,
) -> None:
    """aicache.dependencies.get_cache_health_status (the template's health check)
    no longer says healthy when the configured Redis is not in use."""
    import asyncio

    from aicache import CacheFactory
    from aicache.dependencies import get_cache_health_status

    async def main() -> dict[str, Any]:
        cache = await CacheFactory().for_web_app(
            redis_url=f"redis://127.0.0.1:{free_port()}"
        )
        return await get_cache_health_status(cache)

    health = asyncio.run(main())
    assert health["status"] == "degraded"
    assert any("unreachable" in w for w in health["warnings"])
    memory_only = asyncio.run(get_cache_health_status(InMemoryCache()))
    assert memory_only["status"] == "healthy"
