"""The pytest plugin (aicache.testing), run as a user would: a fresh project with
no conftest, under pytest-asyncio (auto and strict) and anyio, in a subprocess with
-X dev so leaked sockets show up as errors."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.redis

STRICT_TESTS = """
import pytest
from aicache.testing import assert_hit, assert_miss

@pytest.mark.asyncio
async def test_memory(test_cache, cache_asserts):
    await test_cache.set("user:1", {"name": "Ada"}, ttl=30)
    await cache_asserts.stored(test_cache, "user:1", {"name": "Ada"}, ttl=30)
    await assert_miss(test_cache, "user:2")
    assert test_cache.default_ttl == 60 and test_cache.max_size == 50

@pytest.mark.asyncio
async def test_clock_expires_memory_entries(test_cache, cache_clock):
    await test_cache.set("k", 1, ttl=10)
    cache_clock.advance(9)
    await assert_hit(test_cache, "k", 1)
    cache_clock.advance(2)
    await assert_miss(test_cache, "k")

@pytest.mark.asyncio
async def test_ai_cache(ai_test_cache):
    await ai_test_cache.cache_response("text", "summarize", {}, {"summary": "s"})
    hit = await ai_test_cache.get_cached_response("text", "summarize", {})
    assert hit["cache_hit"] is True and hit["summary"] == "s"

@pytest.mark.asyncio
async def test_redis(redis_test_cache, cache_clock):
    await redis_test_cache.set("k", {"a": 1}, ttl=30)
    await assert_hit(redis_test_cache, "k", {"a": 1})
    cache_clock.advance(31)  # the L1 copy expires; Redis keeps real time
    await assert_hit(redis_test_cache, "k", {"a": 1})
    assert redis_test_cache.get_stats()["redis_hits"] == 1

@pytest.mark.asyncio
async def test_redis_is_flushed_between_tests(redis_test_cache):
    await assert_miss(redis_test_cache, "k")

@pytest.mark.asyncio
async def test_outage(redis_outage):
    cache = redis_outage.cache
    await cache.set("before", 1)
    redis_outage.cut()
    await cache.set("during", 2)  # served by the memory tier
    assert await cache.get("during") == 2
    assert cache.get_stats()["l1_only_sets"] >= 1
    redis_outage.restore()
    await cache.set("after", 3)
    assert await cache.exists("after")

@pytest.mark.asyncio
async def test_redis_ai(redis_ai_test_cache):
    await redis_ai_test_cache.cache_response("t", "qa", None, {"a": 1}, question="q?")
    hit = await redis_ai_test_cache.get_cached_response("t", "qa", question="q?")
    assert hit["a"] == 1 and hit["retrieval_count"] == 1
"""

AUTO_TESTS = """
from aicache.testing import assert_hit

async def test_memory(test_cache):
    await test_cache.set("k", 1)
    await assert_hit(test_cache, "k", 1)

async def test_redis(redis_test_cache):
    await redis_test_cache.set("k", 2)
    await assert_hit(redis_test_cache, "k", 2)
"""

ANYIO_TESTS = """
import pytest
from aicache.testing import assert_hit

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
async def test_memory(test_cache):
    await test_cache.set("k", 1)
    await assert_hit(test_cache, "k", 1)

@pytest.mark.anyio
async def test_redis(redis_test_cache, cache_clock):
    await redis_test_cache.set("k", 2)
    await assert_hit(redis_test_cache, "k", 2)
"""

FASTAPI_TESTS = """
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from aicache.dependencies import get_cache_service

def make_app():
    app = FastAPI()

    @app.post("/items/{name}")
    async def put(name: str, cache=Depends(get_cache_service)):
        await cache.set(name, "stored")
        return {"type": type(cache).__name__}

    @app.get("/items/{name}")
    async def get(name: str, cache=Depends(get_cache_service)):
        return {"value": await cache.get(name)}

    return app

def test_first_app_stores(monkeypatch):
    monkeypatch.setenv("CACHE_PRESET", "development")
    client = TestClient(make_app())
    assert client.post("/items/a").json() == {"type": "InMemoryCache"}
    assert client.get("/items/a").json() == {"value": "stored"}

def test_second_app_starts_empty(monkeypatch):
    monkeypatch.setenv("CACHE_PRESET", "development")
    assert TestClient(make_app()).get("/items/a").json() == {"value": None}

def test_one_line_override(override_cache_dependencies, test_cache):
    app = make_app()
    cache = override_cache_dependencies(app)
    assert cache is test_cache
    client = TestClient(app)
    client.post("/items/b")
    assert test_cache.get_keys() == ["b"]
"""


def _run(pytester: pytest.Pytester, *args: str, **env: str) -> pytest.RunResult:
    for key, value in env.items():
        pytester._monkeypatch.setenv(key, value)
    pytester._monkeypatch.setenv("PYTHONDEVMODE", "1")
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider",
        "-W", "error::pytest.PytestUnraisableExceptionWarning",
        "-W", "error::ResourceWarning",
        *args,
    )  # fmt: skip


@pytest.fixture
def fresh_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory holding nothing but the test files (no conftest)."""
    pytester._monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    for name in ("CACHE_PRESET", "CACHE_REDIS_URL", "REDIS_PASSWORD"):
        pytester._monkeypatch.delenv(name, raising=False)
    return pytester


def test_fixtures_under_pytest_asyncio_strict(fresh_project: pytest.Pytester) -> None:
    """Strict mode, plus two FastAPI apps in a row and the one-line override."""
    fresh_project.makepyfile(test_strict=STRICT_TESTS, test_apps=FASTAPI_TESTS)
    result = _run(fresh_project, "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=10)


def test_fixtures_under_anyio(fresh_project: pytest.Pytester) -> None:
    fresh_project.makepyfile(test_anyio=ANYIO_TESTS)
    result = _run(fresh_project, "-p", "no:asyncio")
    result.assert_outcomes(passed=2)


def test_auto_mode_and_the_skip_without_redis_server(
    fresh_project: pytest.Pytester, tmp_path: Path
) -> None:
    """pytest-asyncio auto mode (plain async tests and fixtures); without a
    redis-server on PATH the Redis fixtures skip and say why."""
    fresh_project.makepyfile(test_auto=AUTO_TESTS)
    # A PATH that has the tools but no redis-server.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "env"):
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    result = _run(fresh_project, "-o", "asyncio_mode=auto", "-rs", PATH=str(bindir))
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*aicache Redis fixtures need redis-server*"])


def test_plugin_is_registered_by_the_entry_point() -> None:
    from importlib.metadata import entry_points

    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("aicache") == "aicache.testing"


def test_plugin_import_stays_light() -> None:
    import subprocess

    code = (
        "import sys, aicache.testing\n"
        "heavy = ('fastapi', 'aicache.redis_generic', 'aicache.dependencies')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    assert res.stdout.strip() == "[]"
