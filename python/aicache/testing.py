"""pytest plugin: cache fixtures and assertion helpers, loaded by ``pip install aicache``.

Registered through the ``pytest11`` entry point, so a project's tests get these
fixtures without a conftest:

=============================  =========  ================================================
fixture                        scope      what
=============================  =========  ================================================
``test_cache``                 function   ``InMemoryCache(default_ttl=60, max_size=50)``,
                                          what ``CacheFactory().for_testing(
                                          use_memory_cache=True)`` builds
``ai_test_cache``              function   ``InMemoryCache(default_ttl=3600, max_size=100)``,
                                          what ``for_ai_app()`` returns with Redis down;
                                          it has ``cache_response`` and the AI statistics
``aicache_redis_server``       session    a ``redis-server`` on a free loopback port
                                          (skips, saying why, when it is not installed)
``redis_test_cache``           function   a ``GenericRedisCache`` on that server (50-entry
                                          L1, encrypted); the server is flushed after
                                          each test
``redis_ai_test_cache``        function   the same as an ``AIResponseCache``
``redis_outage``               function   a cache reaching Redis through a link the test
                                          can ``cut()`` and ``restore()``
``cache_clock``                function   a controllable clock: replaces ``time.time``
                                          for the test; ``advance(seconds)`` expires
                                          memory-tier entries without sleeping
``cache_asserts``              function   ``hit`` / ``miss`` / ``stored`` assertions
``override_cache_dependencies``  function ``override(app, cache)``: every aicache FastAPI
                                          dependency of ``app`` returns ``cache``
=============================  =========  ================================================

Every test also starts and ends with an empty dependency registry
(``aicache.dependencies``) and a fresh ``get_settings()``, so two apps in two tests
never share a cache.

All fixtures are synchronous (the caches connect lazily on first use, in the test's
event loop), so they work the same under pytest-asyncio (auto or strict mode), anyio
and plain ``asyncio.run``. The Redis caches are disconnected at teardown in the loop
that used them.

Redis TTLs are kept by the server in real time: ``cache_clock`` drives the memory tier
(``InMemoryCache``, the L1 of the Redis caches), not Redis itself.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from aicache.testing_redis import (
    CuttableLink,
    RedisServerMissing,
    RedisTestServer,
)

if TYPE_CHECKING:
    from aicache.memory import InMemoryCache
    from aicache.redis_ai import AIResponseCache
    from aicache.redis_generic import GenericRedisCache

__all__ = [
    "CacheAsserts",
    "CacheClock",
    "RedisOutage",
    "assert_hit",
    "assert_miss",
    "assert_stored",
    "override_cache_dependencies_of",
]

_MISSING: Any = object()
_real_time = time.time
# Redis caches handed to the current test, disconnected in the test's own loop.
_OPEN_CACHES = pytest.StashKey[list[Any]]()


# ------------------------------------------------------------------ clock


class CacheClock:
    """A clock that moves only when told to; callable like ``time.time``."""

    def __init__(self, start: float | None = None) -> None:
        self._now = _real_time() if start is None else float(start)

    def __call__(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0); the new time."""
        if seconds < 0:
            raise ValueError("a cache clock only moves forward")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` (not before the current time)."""
        if when < self._now:
            raise ValueError("a cache clock only moves forward")
        self._now = float(when)


# ------------------------------------------------------------------ assertions


async def assert_hit(cache: Any, key: str, expected: Any = _MISSING) -> Any:
    """``await cache.get(key)`` is not None (and equals ``expected`` when given);
    the value."""
    value = await cache.get(key)
    assert value is not None, f"expected a cache hit for {key!r}, got a miss"
    if expected is not _MISSING:
        assert value == expected, f"cache hit for {key!r}: {value!r} != {expected!r}"
    return value


async def assert_miss(cache: Any, key: str) -> None:
    """``await cache.get(key)`` is None."""
    value = await cache.get(key)
    assert value is None, f"expected a cache miss for {key!r}, got {value!r}"


async def assert_stored(
    cache: Any, key: str, expected: Any = _MISSING, *, ttl: int | None = None
) -> None:
    """``key`` is stored (``exists``), with value ``expected`` when given, and,
    when ``ttl`` is given, expires within ``ttl`` seconds (and not yet)."""
    assert await cache.exists(key), f"{key!r} is not stored"
    if expected is not _MISSING:
        await assert_hit(cache, key, expected)
    if ttl is not None:
        left = await cache.get_ttl(key)
        assert left is not None, f"{key!r} is stored without expiry, expected <= {ttl}s"
        assert 0 <= left <= ttl, f"{key!r} expires in {left}s, expected <= {ttl}s"


class CacheAsserts:
    """The assertion helpers as methods (the ``cache_asserts`` fixture)."""

    hit = staticmethod(assert_hit)
    miss = staticmethod(assert_miss)
    stored = staticmethod(assert_stored)


# ------------------------------------------------------------------ teardown helpers


def _owning_loop(cache: Any) -> asyncio.AbstractEventLoop | None:
    """The event loop a Redis cache's connection lives in, if any."""
    conn = getattr(cache, "_connection", None)
    if conn is None:
        conn = getattr(getattr(cache, "redis", None), "connection", None)
    loop = getattr(conn, "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def close_cache(cache: Any) -> None:
    """Disconnect a cache from synchronous code (fixture teardown): in the loop its
    connection belongs to when that loop is still open, else in a fresh loop."""
    disconnect = getattr(cache, "disconnect", None)
    if not callable(disconnect):
        return
    loop = _owning_loop(cache)
    if loop is not None and not loop.is_closed() and not loop.is_running():
        loop.run_until_complete(disconnect())
    else:
        asyncio.run(disconnect())


def _reset_registry() -> None:
    deps = sys.modules.get("aicache.dependencies")
    if deps is None:
        return
    caches = list(deps._cache_registry.values())
    deps._cache_registry.clear()
    deps._fallback_deadlines.clear()
    deps.get_settings.cache_clear()
    for cache in caches:
        try:
            close_cache(cache)
        except Exception:  # teardown of one test must not fail the next
            pass


# ------------------------------------------------------------------ FastAPI


def override_cache_dependencies_of(app: Any, cache: Any) -> Callable[[], None]:
    """Make every aicache cache dependency of ``app`` return ``cache``; returns a
    function that removes these overrides."""
    from aicache import dependencies

    targets: list[Any] = [
        dependencies.get_cache_service,
        dependencies.get_web_cache_service,
        dependencies.get_ai_cache_service,
        dependencies.get_test_cache,
        dependencies.get_test_redis_cache,
        dependencies.get_fallback_cache_service,
    ]
    kit = sys.modules.get("aicache.fastapi")
    if kit is not None:
        targets.extend(getattr(kit, "CACHE_DEPENDENCIES", ()))

    async def _the_cache() -> Any:
        return cache

    for target in targets:
        app.dependency_overrides[target] = _the_cache

    def undo() -> None:
        for target in targets:
            if app.dependency_overrides.get(target) is _the_cache:
                del app.dependency_overrides[target]

    return undo


# ------------------------------------------------------------------ outage


class RedisOutage:
    """A Redis cache reaching the session server through a link that can be cut.

    ``cut()`` makes Redis unreachable (new connections refused, open ones reset);
    ``restore()`` brings it back on the same address. ``url`` is the link's URL, for
    building other caches or apps that should go down together.
    """

    def __init__(self, link: CuttableLink, cache: GenericRedisCache) -> None:
        self.link = link
        self.cache = cache

    @property
    def url(self) -> str:
        return self.link.url

    @property
    def is_down(self) -> bool:
        return self.link.is_cut

    def cut(self) -> None:
        self.link.cut()

    def restore(self) -> None:
        self.link.restore()


# ------------------------------------------------------------------ hooks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """For an async test that uses our Redis caches, disconnect them at the end of
    the test coroutine, in its event loop: pytest-asyncio and anyio close that loop
    before fixture teardown, and a connection left in a closed loop leaks its
    transport (ResourceWarning under -X dev)."""
    caches = item.stash.get(_OPEN_CACHES, None)
    original = getattr(item, "obj", None)
    if not caches or not inspect.iscoroutinefunction(original):
        return (yield)
    assert original is not None

    @functools.wraps(original)
    async def run_then_disconnect(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        finally:
            for cache in caches:
                await cache.disconnect()

    item.obj = run_then_disconnect  # type: ignore[attr-defined]
    try:
        return (yield)
    finally:
        item.obj = original  # type: ignore[attr-defined]


def _track(request: pytest.FixtureRequest, cache: Any) -> None:
    request.node.stash.setdefault(_OPEN_CACHES, []).append(cache)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _aicache_isolation() -> Iterator[None]:
    """A fresh dependency registry and settings for every test."""
    _reset_registry()
    yield
    _reset_registry()


@pytest.fixture
def test_cache() -> InMemoryCache:
    """``InMemoryCache(default_ttl=60, max_size=50)`` (``for_testing(use_memory_cache=True)``)."""
    from aicache.memory import InMemoryCache

    return InMemoryCache(default_ttl=60, max_size=50)


@pytest.fixture
def ai_test_cache() -> InMemoryCache:
    """``InMemoryCache(default_ttl=3600, max_size=100)``: what ``for_ai_app()`` returns
    when Redis is down; answers ``cache_response`` and the AI statistics."""
    from aicache.memory import InMemoryCache

    return InMemoryCache(default_ttl=3600, max_size=100)


@pytest.fixture
def cache_clock(monkeypatch: pytest.MonkeyPatch) -> CacheClock:
    """A controllable clock installed as ``time.time`` for this test."""
    clock = CacheClock()
    monkeypatch.setattr(time, "time", clock)
    return clock


@pytest.fixture
def cache_asserts() -> CacheAsserts:
    return CacheAsserts()


@pytest.fixture(scope="session")
def aicache_redis_server() -> Iterator[RedisTestServer]:
    """A redis-server for the session on a free loopback port; skips when the
    binary is missing."""
    try:
        server = RedisTestServer.start()
    except RedisServerMissing as exc:
        pytest.skip(f"aicache Redis fixtures need redis-server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _aicache_test_key() -> str:
    from aicache.encryption import FernetKeyring

    return FernetKeyring.generate_key().decode()


def _redis_cache(cls: Any, url: str, key: str, **kwargs: Any) -> Any:
    from aicache.security import SecurityConfig

    return cls(
        redis_url=url,
        default_ttl=60,
        l1_cache_size=50,
        compression_level=1,
        security_config=SecurityConfig(encryption_key=key),
        **kwargs,
    )


@pytest.fixture
def redis_test_cache(
    request: pytest.FixtureRequest,
    aicache_redis_server: RedisTestServer,
    _aicache_test_key: str,
) -> Iterator[GenericRedisCache]:
    """A ``GenericRedisCache`` on the session's redis-server (flushed after the test)."""
    from aicache.redis_generic import GenericRedisCache

    cache = _redis_cache(GenericRedisCache, aicache_redis_server.url, _aicache_test_key)
    _track(request, cache)
    try:
        yield cache
    finally:
        close_cache(cache)
        aicache_redis_server.flushall()


@pytest.fixture
def redis_ai_test_cache(
    request: pytest.FixtureRequest,
    aicache_redis_server: RedisTestServer,
    _aicache_test_key: str,
) -> Iterator[AIResponseCache]:
    """An ``AIResponseCache`` on the session's redis-server (flushed after the test)."""
    from aicache.redis_ai import AIResponseCache

    cache = _redis_cache(AIResponseCache, aicache_redis_server.url, _aicache_test_key)
    _track(request, cache)
    try:
        yield cache
    finally:
        close_cache(cache)
        aicache_redis_server.flushall()


@pytest.fixture
def redis_outage(
    request: pytest.FixtureRequest,
    aicache_redis_server: RedisTestServer,
    _aicache_test_key: str,
) -> Iterator[RedisOutage]:
    """A ``GenericRedisCache`` behind a cuttable link (``cut()`` / ``restore()``);
    short timeouts so degradation shows within a test."""
    from aicache.redis_generic import GenericRedisCache

    link = CuttableLink(aicache_redis_server.port)
    cache = _redis_cache(
        GenericRedisCache,
        link.url,
        _aicache_test_key,
        connect_timeout=1,
        operation_timeout=1,
        breaker_reset_timeout=0.2,
    )
    _track(request, cache)
    try:
        yield RedisOutage(link, cache)
    finally:
        link.restore()
        close_cache(cache)
        link.close()
        aicache_redis_server.flushall()


@pytest.fixture
def override_cache_dependencies(
    test_cache: InMemoryCache,
) -> Iterator[Callable[..., Any]]:
    """``override(app, cache=test_cache)``: the app's aicache dependencies return
    ``cache`` (``test_cache`` by default) until the test ends; returns the cache."""
    undo: list[Callable[[], None]] = []

    def override(app: Any, cache: Any = None) -> Any:
        chosen = test_cache if cache is None else cache
        undo.append(override_cache_dependencies_of(app, chosen))
        return chosen

    yield override
    for fn in reversed(undo):
        fn()
