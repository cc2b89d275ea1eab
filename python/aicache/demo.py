"""``python -m aicache.demo``: a small FastAPI app that caches a slow "LLM" call.

The app has three endpoints:

* ``POST /v1/summarize`` ``{"text", "max_length"}``: builds the cache key with
  ``cache.build_key(text, "summarize", options)``, returns the cached summary or calls
  a deliberately slow fake LLM and stores its answer with the operation's TTL;
* ``GET /internal/cache/status``: ``await cache.get_cache_stats()``;
* ``GET /internal/cache/metrics``: Prometheus text (:mod:`aicache.prometheus`).

The cache comes from ``Depends(get_cache_service)``: the configuration is read from the
environment (``CACHE_PRESET``, ``CACHE_REDIS_URL``, ...). Without ``CACHE_REDIS_URL``
the cache is the embedded memory backend, so the demo needs no Redis; with it the same
code runs against Redis.

By default the demo drives the app in-process (ASGI calls, no server) and prints a
transcript: a miss, then a hit with timings, the key, the stats and a metrics
excerpt. ``--serve`` runs it with uvicorn instead. Without FastAPI installed
the same steps run as a plain asyncio script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from aicache.dependencies import cleanup_cache_registry, get_cache_service, get_settings
from aicache.monitoring import CachePerformanceMonitor
from aicache.prometheus import CONTENT_TYPE_LATEST, render_text

__all__ = ["build_app", "fake_llm_summarize", "main", "summarize_cached"]

#: Seconds the fake LLM takes per call: slow enough to make a cache hit obvious.
LLM_LATENCY_SECONDS = 0.3

#: TTL per AI operation (seconds), as the template's text processor uses them.
OPERATION_TTLS = {"summarize": 7200, "sentiment": 86400, "key_points": 7200}

SAMPLE_TEXT = (
    "aicache puts an in-process memory tier in front of Redis. Cache keys for AI "
    "responses embed the operation, the text (or a hash of long texts) and a digest "
    "of the options, so the same request always finds the same answer. Values are "
    "framed, compressed above a threshold and optionally encrypted with Fernet."
)


# One monitor for caches that have none of their own (the memory backend).
_demo_monitor = CachePerformanceMonitor()


def _monitor_for(cache: Any) -> CachePerformanceMonitor:
    monitor = getattr(cache, "performance_monitor", None)
    return monitor if isinstance(monitor, CachePerformanceMonitor) else _demo_monitor


async def fake_llm_summarize(text: str, max_length: int) -> dict[str, Any]:
    """A stand-in for a slow model call: the first ``max_length`` words."""
    await asyncio.sleep(LLM_LATENCY_SECONDS)
    words = text.split()
    summary = " ".join(words[:max_length]) + (" ..." if len(words) > max_length else "")
    return {
        "summary": summary,
        "model": "fake-llm-1",
        "generated_at": dt.datetime.now(dt.UTC),
    }


async def summarize_cached(cache: Any, text: str, max_length: int) -> dict[str, Any]:
    """The cache-aside pattern: build_key -> get -> (LLM -> set with the op TTL)."""
    operation = "summarize"
    key = cache.build_key(text, operation, {"max_length": max_length})
    monitor = _monitor_for(cache)
    own_monitor = monitor is _demo_monitor
    start = time.perf_counter()
    value = await cache.get(key)
    if own_monitor:
        monitor.record_cache_operation_time(
            "get", time.perf_counter() - start, value is not None, len(text),
            {"cache_tier": "memory"},
        )  # fmt: skip
    cached = value is not None
    if not cached:
        value = await fake_llm_summarize(text, max_length)
        set_start = time.perf_counter()
        await cache.set(key, value, ttl=OPERATION_TTLS[operation])
        if own_monitor:
            monitor.record_cache_operation_time(
                "set", time.perf_counter() - set_start, True, len(text),
                {"cache_tier": "memory"},
            )  # fmt: skip
    get_ttl = getattr(cache, "get_ttl", None)
    ttl = await get_ttl(key) if get_ttl is not None else None
    generated = value.get("generated_at") if isinstance(value, dict) else None
    return {
        "summary": value.get("summary") if isinstance(value, dict) else value,
        "generated_at": generated.isoformat()
        if isinstance(generated, dt.datetime)
        else generated,
        "cached": cached,
        "cache_key": key,
        "ttl_remaining": ttl,
        "elapsed_ms": round((time.perf_counter() - start) * 1000, 3),
    }


def _jsonable(value: Any) -> Any:
    """Stats dicts hold defaultdicts, datetimes...: make them JSON."""
    return json.loads(json.dumps(value, default=str))


def _request_model() -> Any:
    """The request body model (pydantic comes with FastAPI). Built at runtime so
    the module imports without pydantic; a real class object, because FastAPI
    cannot resolve a string annotation naming a function-local class (see
    build_app)."""
    from pydantic import BaseModel, Field

    class SummarizeRequest(BaseModel):
        text: str = Field(min_length=1, max_length=100_000)
        max_length: int = Field(default=12, ge=1, le=500)

    return SummarizeRequest


def build_app() -> Any:
    """The demo FastAPI application (requires FastAPI)."""
    from fastapi import Depends, FastAPI
    from fastapi.responses import PlainTextResponse

    request_model = _request_model()
    cache_dependency = Depends(get_cache_service)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await cleanup_cache_registry()

    app = FastAPI(title="aicache demo", lifespan=lifespan)

    async def summarize(request: Any, cache: Any = cache_dependency) -> dict[str, Any]:
        result = await summarize_cached(cache, request.text, request.max_length)
        result["cache_type"] = type(cache).__name__
        return result

    # A real class object: FastAPI cannot resolve the string annotation of a
    # model built at runtime (this module uses postponed annotations).
    summarize.__annotations__["request"] = request_model
    app.post("/v1/summarize")(summarize)

    @app.get("/internal/cache/status")
    async def cache_status(cache: Any = cache_dependency) -> dict[str, Any]:
        try:
            stats = await cache.get_cache_stats()
        except Exception as exc:
            return {
                "redis": {"status": "error"},
                "memory": {"status": "unavailable"},
                "performance": {"status": "unavailable"},
                "error": str(exc),
            }
        result: dict[str, Any] = _jsonable(stats)
        return result

    @app.get("/internal/cache/metrics", response_class=PlainTextResponse)
    async def cache_metrics(cache: Any = cache_dependency) -> Any:
        return PlainTextResponse(
            render_text(_monitor_for(cache)), media_type=CONTENT_TYPE_LATEST
        )

    return app


# ------------------------------------------------------------------ transcript


def _print(line: str = "") -> None:
    print(line, flush=True)


def _metrics_excerpt(text: str, limit: int = 8) -> list[str]:
    """Hit/miss counters first, then the non-zero operation counters."""
    samples = [ln for ln in text.splitlines() if ln.startswith("aicache")]
    first = [ln for ln in samples if "_hits_total" in ln or "_misses_total" in ln]
    ops = [
        ln
        for ln in samples
        if "_cache_operations_total" in ln and not ln.endswith((" 0.0", " 0"))
    ]
    return (first + ops)[:limit]


def _describe_backend() -> str:
    url = os.environ.get("CACHE_REDIS_URL", "").strip()
    if url:
        from aicache.security import redact_url

        return f"Redis at {redact_url(url)} (CACHE_REDIS_URL)"
    return "embedded memory backend (set CACHE_REDIS_URL to use Redis)"


def _shorten(key: str, width: int = 110) -> str:
    if len(key) <= width:
        return key
    half = (width - 5) // 2
    return f"{key[:half]} ... {key[-half:]} ({len(key)} chars)"


def _print_call(step: int, label: str, body: dict[str, Any]) -> None:
    state = "HIT " if body["cached"] else "MISS"
    _print(
        f"{step}. POST /v1/summarize ({label}) -> {state} in {body['elapsed_ms']:.2f} ms"
    )
    if not body["cached"]:
        _print(f"   key:     {_shorten(body['cache_key'])}")
        _print(f"   ttl:     {body['ttl_remaining']} s left (summarize TTL "
               f"{OPERATION_TTLS['summarize']} s)")  # fmt: skip
    _print(f"   summary: {body['summary']}")


def _print_status(step: int, status: dict[str, Any]) -> None:
    _print(f"{step}. GET /internal/cache/status")
    for section in ("redis", "memory", "performance"):
        part = status.get(section)
        if isinstance(part, dict):
            brief = {k: v for k, v in part.items() if not isinstance(v, dict | list)}
            _print(f"   {section}: {json.dumps(brief, sort_keys=True)}")


class DemoHTTPError(Exception):
    """An endpoint answered with a non-2xx status."""


async def asgi_request(
    app: Any, method: str, path: str, body: Any = None
) -> tuple[int, bytes]:
    """One HTTP request to an ASGI app, in process (no server, no HTTP client
    library): the demo needs nothing beyond FastAPI."""
    payload = b"" if body is None else json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"demo"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("demo", 80),
    }
    pending = [{"type": "http.request", "body": payload, "more_body": False}]
    done = asyncio.Event()
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await done.wait()  # the client "disconnects" once the response is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    await app(scope, receive, send)
    done.set()
    data = b"".join(chunks)
    if not 200 <= status < 300:
        raise DemoHTTPError(f"{method} {path} -> {status}: {data[:500]!r}")
    return status, data


async def _run_http(text: str) -> int:
    app = build_app()

    async def call(method: str, path: str, body: Any = None) -> bytes:
        return (await asgi_request(app, method, path, body))[1]

    payload = {"text": text, "max_length": 12}
    first = json.loads(await call("POST", "/v1/summarize", payload))
    _print(f"cache: {first['cache_type']} via Depends(get_cache_service)")
    _print()
    _print_call(1, "first request", first)
    second = json.loads(await call("POST", "/v1/summarize", payload))
    _print_call(2, "same request", second)
    if second["elapsed_ms"] > 0:
        ratio = first["elapsed_ms"] / second["elapsed_ms"]
        _print(f"   {ratio:.0f}x faster than the miss")
    _print_status(3, json.loads(await call("GET", "/internal/cache/status")))
    metrics = (await call("GET", "/internal/cache/metrics")).decode()
    _print("4. GET /internal/cache/metrics (excerpt)")
    for line in _metrics_excerpt(metrics):
        _print(f"   {line}")
    await cleanup_cache_registry()
    ok = (not first["cached"]) and second["cached"]
    return 0 if ok else 1


async def _run_plain(text: str) -> int:
    """The same steps without FastAPI: the dependency called directly."""
    cache = await get_cache_service()
    _print(
        f"cache: {type(cache).__name__} via get_cache_service() (FastAPI not installed)"
    )
    _print()
    first = await summarize_cached(cache, text, 12)
    _print_call(1, "first request", first)
    second = await summarize_cached(cache, text, 12)
    _print_call(2, "same request", second)
    _print_status(3, _jsonable(await cache.get_cache_stats()))
    _print("4. metrics (excerpt)")
    for line in _metrics_excerpt(render_text(_monitor_for(cache))):
        _print(f"   {line}")
    await cleanup_cache_registry()
    return 0 if (not first["cached"]) and second["cached"] else 1


def _http_available() -> bool:
    try:
        import fastapi  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aicache.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--serve", action="store_true", help="serve the app with uvicorn"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--text", default=SAMPLE_TEXT, help="text to summarize")
    args = parser.parse_args(argv)

    get_settings.cache_clear()
    if args.serve:
        try:
            import uvicorn  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            print("--serve needs uvicorn: pip install uvicorn", file=sys.stderr)
            return 2
        uvicorn.run(build_app(), host=args.host, port=args.port)
        return 0

    _print("aicache demo: caching a slow LLM call behind a FastAPI dependency")
    _print(f"backend: {_describe_backend()}")
    _print(f"preset:  {get_settings().cache_preset}")
    started = time.perf_counter()
    runner = _run_http if _http_available() else _run_plain
    code = asyncio.run(runner(args.text))
    _print()
    _print(
        f"{'done' if code == 0 else 'FAILED'} in {time.perf_counter() - started:.2f} s"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
