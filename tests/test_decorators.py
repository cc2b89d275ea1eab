"""@cached on plain async functions and FastAPI endpoints (TestClient / ASGI)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Iterator
from typing import Annotated, Any

import pytest

from aicache import stampede
from aicache.decorators import cached, default_key_builder, etag_for
from aicache.exceptions import ConfigurationError, ValidationError
from aicache.memory import InMemoryCache

fastapi = pytest.importorskip("fastapi")
from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from aicache.dependencies import get_cache_service  # noqa: E402


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class Item(BaseModel):
    name: str
    tags: list[str] = []


# ------------------------------------------------------------------ plain functions


def test_plain_function_computes_once_per_arguments() -> None:
    cache = InMemoryCache()
    calls: list[tuple[str, int]] = []

    @cached(ttl=60, cache=cache)
    async def answer(prompt: str, temperature: int = 0) -> str:
        calls.append((prompt, temperature))
        await asyncio.sleep(0.02)
        return f"{prompt}:{temperature}"

    async def main() -> None:
        results = await asyncio.gather(*(answer("hi") for _ in range(100)))
        assert set(results) == {"hi:0"}
        assert await answer("hi", temperature=0) == "hi:0"  # same key as the default
        assert await answer(prompt="hi") == "hi:0"
        assert await answer("hi", 1) == "hi:1"
        assert calls == [("hi", 0), ("hi", 1)]
        key = answer.cache_key("hi")  # type: ignore[attr-defined]
        assert key.startswith("aicache:cached:test_decorators.")
        assert await cache.get(key) == "hi:0"
        await answer.invalidate("hi")  # type: ignore[attr-defined]
        assert await answer("hi") == "hi:0" and len(calls) == 3

    run(main())


def test_key_builder_exclude_and_condition() -> None:
    cache = InMemoryCache()
    calls = itertools.count()

    @cached(
        cache=cache,
        key_builder=lambda func, args: f"custom:{args['q']}",
        exclude=["trace_id"],
        condition=lambda r: r["ok"],
    )
    async def search(q: str, trace_id: str) -> dict[str, Any]:
        n = next(calls)
        return {"ok": q != "bad", "n": n}

    async def main() -> None:
        assert (await search("a", "t1"))["n"] == 0
        assert (await search("a", "t2"))["n"] == 0  # trace_id is not in the key
        assert await cache.get("custom:a") == {"ok": True, "n": 0}
        assert (await search("bad", "t"))["n"] == 1
        assert (await search("bad", "t"))["n"] == 2  # condition false: not cached

    run(main())


def test_cache_from_a_dependency_outside_fastapi() -> None:
    cache = InMemoryCache()

    async def my_cache() -> InMemoryCache:
        return cache

    @cached(ttl=5, cache=my_cache)
    async def f(x: int) -> int:
        return x * 2

    async def main() -> None:
        assert await f(3) == 6
        assert await cache.get(f.cache_key(3)) == 6  # type: ignore[attr-defined]

    run(main())


def test_stable_keys_for_structured_arguments() -> None:
    async def g(item: Any, opts: Any) -> None: ...

    k1 = default_key_builder(g, {"item": Item(name="a"), "opts": {"b": 1, "a": {2, 1}}})
    k2 = default_key_builder(g, {"item": Item(name="a"), "opts": {"a": {1, 2}, "b": 1}})
    k3 = default_key_builder(g, {"item": Item(name="b"), "opts": {"a": {1, 2}, "b": 1}})
    assert k1 == k2 != k3
    assert etag_for(Item(name="a")) == etag_for({"name": "a", "tags": []})


def test_bad_configuration() -> None:
    with pytest.raises(ConfigurationError):

        @cached(cache=InMemoryCache())  # type: ignore[type-var]
        def sync(x: int) -> int:
            return x

    with pytest.raises(ConfigurationError):
        cached(cache=42)
    with pytest.raises(ConfigurationError):
        cached(condition="yes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        cached(stale_ttl=-1)


# ------------------------------------------------------------------ FastAPI


class Session:
    """A per-request dependency (like a DB session): never part of the key."""

    counter = itertools.count()

    def __init__(self) -> None:
        self.id = next(self.counter)


def get_db() -> Iterator[Session]:
    yield Session()


def build_app(cache: InMemoryCache, calls: list[str], **options: Any) -> FastAPI:
    app = FastAPI()
    app.dependency_overrides[get_cache_service] = lambda: cache

    @app.get("/items/{item_id}")
    @cached(ttl=60, **options)
    async def read_item(
        item_id: str,
        request: Request,
        db: Annotated[Session, Depends(get_db)],
        verbose: bool = False,
    ) -> dict[str, Any]:
        calls.append(item_id)
        await asyncio.sleep(0.05)
        return {"id": item_id, "verbose": verbose, "host": request.url.hostname}

    @app.post("/items")
    @cached(ttl=30)
    async def create(item: Item, db: Session = Depends(get_db)) -> Item:  # noqa: B008
        calls.append(item.name)
        return Item(name=item.name.upper(), tags=item.tags)

    return app


def test_endpoint_etag_304_and_cache_control() -> None:
    cache = InMemoryCache()
    calls: list[str] = []
    with TestClient(build_app(cache, calls)) as client:
        first = client.get("/items/7")
        assert first.status_code == 200
        assert first.json() == {"id": "7", "verbose": False, "host": "testserver"}
        etag = first.headers["etag"]
        assert etag.startswith('"') and first.headers["cache-control"] == "max-age=60"
        second = client.get("/items/7")
        assert second.json() == first.json() and second.headers["etag"] == etag
        assert calls == ["7"]  # the per-request DB session is not in the key
        not_modified = client.get("/items/7", headers={"If-None-Match": etag})
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["etag"] == etag
        weak = client.get("/items/7", headers={"If-None-Match": f'"x", W/{etag}'})
        assert weak.status_code == 304
        other = client.get("/items/7", headers={"If-None-Match": '"nope"'})
        assert other.status_code == 200
        assert client.get("/items/7?verbose=true").json()["verbose"] is True
        assert calls == ["7", "7"]
        # Client no-cache is ignored unless enabled.
        client.get("/items/7", headers={"Cache-Control": "no-cache"})
        assert calls == ["7", "7"]


def test_endpoint_body_models_and_no_cache_bypass() -> None:
    cache = InMemoryCache()
    calls: list[str] = []
    with TestClient(build_app(cache, calls, honor_no_cache=True)) as client:
        body = {"name": "pen", "tags": ["a"]}
        first = client.post("/items", json=body)
        second = client.post("/items", json=body)
        assert first.json() == second.json() == {"name": "PEN", "tags": ["a"]}
        assert first.headers["etag"] == second.headers["etag"]
        assert first.headers["cache-control"] == "max-age=30"
        assert calls == ["pen"]
        client.get("/items/1")
        client.get("/items/1", headers={"Cache-Control": "no-cache"})
        assert calls == ["pen", "1", "1"]  # bypassed the read, stored the new value
        client.get("/items/1")
        assert calls == ["pen", "1", "1"]


def test_concurrent_requests_one_call() -> None:
    import httpx

    cache = InMemoryCache()
    calls: list[str] = []
    app = build_app(cache, calls)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            responses = await asyncio.gather(*(c.get("/items/9") for _ in range(200)))
        assert {r.status_code for r in responses} == {200}
        assert len({r.headers["etag"] for r in responses}) == 1
        assert calls == ["9"]
        assert stampede.stampede_stats(cache)["factory_calls"] == 1

    run(main())


def test_endpoint_returning_a_response_is_not_cached() -> None:
    from fastapi.responses import PlainTextResponse

    cache = InMemoryCache()
    app = FastAPI()
    n = itertools.count()

    @app.get("/raw")
    @cached(ttl=60, cache=cache)
    async def raw() -> PlainTextResponse:
        return PlainTextResponse(f"call {next(n)}")

    with TestClient(app) as client:
        assert client.get("/raw").text == "call 0"
        assert client.get("/raw").text == "call 1"


# ------------------------------------------------------------------ uvicorn

UVICORN_APP = """
import asyncio, os
from fastapi import FastAPI
from aicache.decorators import cached
from aicache.dependencies import get_cache_service
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig

cache = GenericRedisCache(
    redis_url=os.environ["STAMPEDE_REDIS_URL"], security_config=SecurityConfig()
)
app = FastAPI()
app.dependency_overrides[get_cache_service] = lambda: cache


@app.get("/health")
async def health():
    return {"pid": os.getpid()}


@app.get("/answer/{q}")
@cached(ttl=60, cache_control="public, max-age=60")
async def answer(q: str, style: str = "short"):
    await cache.connect()
    await cache.redis.connection.execute("INCR", "uv:calls")
    await asyncio.sleep(0.3)
    return {"q": q, "style": style, "by": os.getpid()}
"""


@pytest.mark.heavy
@pytest.mark.redis
def test_uvicorn_workers_compute_once_with_etag(
    tmp_path: Any, redis_plain: Any
) -> None:
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    from redis_servers import free_port

    redis_plain.cli("-n", "13", "DEL", "uv:calls")
    (tmp_path / "uvapp.py").write_text(UVICORN_APP)
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root / "python") + os.pathsep + env.get("PYTHONPATH", "")
    env["ENVIRONMENT"] = "testing"
    env["STAMPEDE_REDIS_URL"] = f"{redis_plain.url}/13"
    env.pop("REDIS_ENCRYPTION_KEY", None)
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "uvapp:app", "--app-dir", str(tmp_path)),
            *("--port", str(port), "--workers", "2", "--log-level", "warning"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.2)

        async def herd() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(base_url=base, limits=limits) as client:
                return await asyncio.gather(
                    *(client.get("/answer/why") for _ in range(60))
                )

        responses = run(herd())
        assert {r.status_code for r in responses} == {200}
        assert len({r.text for r in responses}) == 1
        assert redis_plain.cli("-n", "13", "GET", "uv:calls") == "1"
        etag = responses[0].headers["etag"]
        assert responses[0].headers["cache-control"] == "public, max-age=60"
        again = httpx.get(base + "/answer/why", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        other = httpx.get(base + "/answer/why?style=long")
        assert other.status_code == 200 and other.headers["etag"] != etag
        assert redis_plain.cli("-n", "13", "GET", "uv:calls") == "2"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
