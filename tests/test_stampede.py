"""get_or_set: single flight, the cross-process Redis lock, SWR, XFetch, negatives.

In-process cases use InMemoryCache and GenericRedisCache against a real
redis-server; "several processes" are simulated in one process by several cache
objects (each has its own single-flight state, so only the Redis lock joins them),
and by real subprocesses in the heavy tests (tests/test_stampede_processes.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from aicache import stampede
from aicache.exceptions import ValidationError
from aicache.memory import InMemoryCache
from aicache.redis_ai import AIResponseCache
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from redis_servers import RedisServer

DB = 13


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def testing_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("REDIS_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("ENVIRONMENT", "testing")
    yield


@pytest.fixture
def url(redis_plain: RedisServer) -> str:
    redis_plain.cli("-n", str(DB), "FLUSHDB")
    return f"{redis_plain.url}/{DB}"


def redis_cache(url: str, **kwargs: Any) -> GenericRedisCache:
    return GenericRedisCache(redis_url=url, security_config=SecurityConfig(), **kwargs)


class Counter:
    """An async factory that counts its calls and sleeps like a slow model."""

    def __init__(self, delay: float = 0.05, result: Any = "answer") -> None:
        self.calls = 0
        self.delay = delay
        self.result = result
        self.cancelled = 0

    async def __call__(self) -> Any:
        self.calls += 1
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return self.result if self.result != "answer" else f"answer-{self.calls}"


# ------------------------------------------------------------------ in process


def test_thousand_concurrent_misses_one_call_memory() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        factory = Counter()
        results = await asyncio.gather(
            *(cache.get_or_set("k", factory, ttl=60) for _ in range(1000))
        )
        assert factory.calls == 1
        assert set(results) == {"answer-1"}
        assert await cache.get("k") == "answer-1"
        stats = stampede.stampede_stats(cache)
        assert stats["factory_calls"] == 1 and stats["coalesced"] == 999
        # A later call is a plain hit.
        assert await cache.get_or_set("k", factory) == "answer-1"
        assert factory.calls == 1

    run(main())


def test_sync_factory_and_plain_values() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        assert await cache.get_or_set("s", lambda: {"a": 1}) == {"a": 1}
        assert await cache.get("s") == {"a": 1}  # stored as is (no envelope)

    run(main())


def test_factory_error_reaches_every_waiter_and_is_not_cached() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        calls = 0

        async def boom() -> str:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.02)
            raise RuntimeError("model down")

        results = await asyncio.gather(
            *(cache.get_or_set("e", boom) for _ in range(100)), return_exceptions=True
        )
        assert calls == 1
        assert all(isinstance(r, RuntimeError) for r in results)
        assert await cache.get("e") is None
        assert stampede.stampede_stats(cache)["factory_errors"] == 1
        # The next caller tries again.
        assert await cache.get_or_set("e", Counter(0.0, "ok")) == "ok"

    run(main())


def test_starter_cancelled_others_still_get_the_value() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        factory = Counter(delay=0.1)
        first = asyncio.create_task(cache.get_or_set("c", factory))
        await asyncio.sleep(0.01)
        others = [asyncio.create_task(cache.get_or_set("c", factory)) for _ in range(5)]
        await asyncio.sleep(0.01)
        first.cancel()
        results = await asyncio.gather(*others)
        assert first.cancelled()
        assert results == ["answer-1"] * 5
        assert factory.calls == 1 and factory.cancelled == 0
        assert await cache.get("c") == "answer-1"

    run(main())


def test_all_callers_cancelled_cancels_the_work() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        factory = Counter(delay=5)
        tasks = [asyncio.create_task(cache.get_or_set("x", factory)) for _ in range(3)]
        await asyncio.sleep(0.02)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.01)
        assert factory.calls == 1 and factory.cancelled == 1
        assert await cache.get("x") is None
        # A new caller starts a fresh computation (not the cancelled one).
        assert await cache.get_or_set("x", Counter(0.0, "fresh")) == "fresh"

    run(main())


def test_negative_caching_is_optional() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        factory = Counter(0.0, None)
        assert await cache.get_or_set("n", factory) is None
        assert await cache.get_or_set("n", factory) is None
        assert factory.calls == 2  # "no answer" is not cached by default
        factory2 = Counter(0.0, None)
        for _ in range(3):
            assert await cache.get_or_set("n2", factory2, negative_ttl=5) is None
        assert factory2.calls == 1
        assert stampede.stampede_stats(cache)["negative_hits"] == 2
        # Custom "no answer" test, short TTL honoured.
        factory3 = Counter(0.0, {"error": "refused"})
        for _ in range(2):
            await cache.get_or_set(
                "n3",
                factory3,
                negative_ttl=0.2,
                is_negative=lambda r: isinstance(r, dict) and "error" in r,
            )
        assert factory3.calls == 1
        await asyncio.sleep(0.25)
        await cache.get_or_set("n3", factory3, negative_ttl=0.2, is_negative=bool)
        assert factory3.calls == 2

    run(main())


def test_cache_if_keeps_unwanted_results_out() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        factory = Counter(0.0, "partial")
        for _ in range(2):
            assert (
                await cache.get_or_set("p", factory, cache_if=lambda r: r != "partial")
                == "partial"
            )
        assert factory.calls == 2
        assert await cache.get("p") is None

    run(main())


def test_stale_while_revalidate_serves_stale_and_refreshes_once() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        release = asyncio.Event()
        calls = 0

        async def factory() -> str:
            nonlocal calls
            calls += 1
            if calls == 2:
                await release.wait()  # the refresh cannot finish until released
            return f"answer-{calls}"

        assert await cache.get_or_set("s", factory, ttl=0.2, stale_ttl=5) == "answer-1"
        await asyncio.sleep(0.3)  # logically expired, within the grace period
        # Nobody waits for the (blocked) refresh: the stale value comes back.
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    cache.get_or_set("s", factory, ttl=0.2, stale_ttl=5)
                    for _ in range(50)
                )
            ),
            timeout=10,
        )
        assert results == ["answer-1"] * 50
        release.set()
        await asyncio.sleep(0.05)
        assert calls == 2
        assert await cache.get_or_set("s", factory, ttl=0.2, stale_ttl=5) == "answer-2"
        stats = stampede.stampede_stats(cache)
        assert stats["stale_served"] == 50 and stats["background_refreshes"] == 1
        # Past the grace period the stale value is not served.
        await asyncio.sleep(0.25)
        assert (
            await cache.get_or_set("s", factory, ttl=0.2, stale_ttl=0.01) == "answer-3"
        )

    run(main())


def test_failed_background_refresh_keeps_the_stale_value() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        await cache.get_or_set("f", lambda: "old", ttl=0.1, stale_ttl=5)
        await asyncio.sleep(0.15)

        async def boom() -> str:
            raise RuntimeError("down")

        assert await cache.get_or_set("f", boom, ttl=0.1, stale_ttl=5) == "old"
        await asyncio.sleep(0.01)
        assert stampede.stampede_stats(cache)["refresh_errors"] == 1
        assert stampede.unwrap(await cache.get("f")) == "old"

    run(main())


def test_xfetch_refreshes_before_expiry() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        factory = Counter(delay=0.02)
        kw: dict[str, Any] = {"ttl": 1.0, "early_refresh": 100.0}
        await cache.get_or_set("x", factory, **kw)
        first_expiry = stampede._read_entry(await cache.get("x")).expires_at  # type: ignore[union-attr]
        assert first_expiry is not None
        for _ in range(40):
            await asyncio.sleep(0.01)
            await cache.get_or_set("x", factory, **kw)
            if factory.calls > 1:
                break
        await asyncio.sleep(0.05)
        assert factory.calls >= 2
        assert time.time() < first_expiry  # refreshed while still fresh
        entry = stampede._read_entry(await cache.get("x"))
        assert entry is not None and entry.expires_at is not None
        assert entry.expires_at > first_expiry
        stats = stampede.stampede_stats(cache)
        assert stats["misses"] == 1 and stats["early_refreshes"] >= 1

    run(main())


def test_xfetch_disabled_never_refreshes_early() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        factory = Counter(delay=0.01)
        for _ in range(30):
            await cache.get_or_set("x", factory, ttl=10, stale_ttl=1)
        assert factory.calls == 1

    run(main())


def test_bad_options_are_validation_errors() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        for bad in (
            {"stale_ttl": -1},
            {"lock_lease": 0},
            {"early_refresh": "x"},
            {"negative_ttl": 0},
            {"cache_if": 3},
            {"no_such_option": 1},
        ):
            with pytest.raises(ValidationError):
                await cache.get_or_set("k", lambda: 1, **bad)

    run(main())


# ------------------------------------------------------------------ lock keys


def test_crc16_and_slots_match_redis_cluster() -> None:
    assert stampede.key_slot("123456789") == 0x31C3 % 16384  # the XModem check
    assert stampede.key_slot("foo") == 12182
    assert stampede.key_slot("{user1000}.following") == stampede.key_slot("user1000")
    assert stampede.key_slot("foo{}{bar}") == stampede.key_slot("foo{}{bar}")


@pytest.mark.parametrize(
    "key",
    [
        "plain",
        "ai_cache:op:sum|txt:x",
        "{tag}rest",
        "a}b",
        "a{}b",
        "x{y",
        "{}{z}",
        "é{",
    ],
)
def test_lock_key_lives_on_the_value_slot(key: str) -> None:
    lock = stampede.lock_key_for(key)
    assert lock != key and lock.endswith(stampede.LOCK_SUFFIX)
    assert stampede.key_slot(lock) == stampede.key_slot(key)


# ------------------------------------------------------------------ Redis lock


@pytest.mark.redis
def test_thousand_misses_one_call_redis(url: str) -> None:
    async def main() -> None:
        caches = [redis_cache(url) for _ in range(4)]
        factory = Counter(delay=0.1)
        results = await asyncio.gather(
            *(c.get_or_set("herd", factory, ttl=60) for c in caches for _ in range(250))
        )
        assert factory.calls == 1
        assert set(results) == {"answer-1"}
        waits = sum(stampede.stampede_stats(c)["lock_waits"] for c in caches)
        assert waits == 3  # one poller per "process", not per request
        for c in caches:
            await c.disconnect()

    run(main())


@pytest.mark.redis
def test_factory_hanging_past_the_lease_keeps_the_lock(url: str) -> None:
    async def main() -> None:
        a, b = redis_cache(url), redis_cache(url)
        factory = Counter(delay=0.8)
        kw: dict[str, Any] = {"ttl": 60, "lock_lease": 0.2}
        first = asyncio.create_task(a.get_or_set("slow", factory, **kw))
        await asyncio.sleep(0.05)
        second = await b.get_or_set("slow", factory, **kw)
        assert await first == second == "answer-1"
        assert factory.calls == 1  # the renewed lease kept b waiting
        assert stampede.stampede_stats(a)["lock_lost"] == 0
        await a.disconnect()
        await b.disconnect()

    run(main())


@pytest.mark.redis
def test_dead_owner_lock_expires_and_another_takes_over(
    url: str, redis_plain: RedisServer
) -> None:
    async def main() -> None:
        cache = redis_cache(url, key_prefix="t:")
        lock = stampede.lock_key_for("t:orphan")
        # A process took the lock and died: the token stays until the lease ends.
        redis_plain.cli("-n", str(DB), "SET", lock, "dead-token", "PX", "300")
        factory = Counter(delay=0.0)
        start = time.perf_counter()
        assert await cache.get_or_set("orphan", factory) == "answer-1"
        assert time.perf_counter() - start >= 0.25
        assert factory.calls == 1
        stats = stampede.stampede_stats(cache)
        assert stats["lock_takeovers"] == 1
        assert redis_plain.cli("-n", str(DB), "EXISTS", lock) == "0"  # released
        await cache.disconnect()

    run(main())


@pytest.mark.redis
def test_owner_failure_lets_a_waiter_retry(url: str) -> None:
    async def main() -> None:
        a, b = redis_cache(url), redis_cache(url)

        async def boom() -> str:
            await asyncio.sleep(0.1)
            raise RuntimeError("model down")

        good = Counter(delay=0.0, result="recovered")
        first = asyncio.create_task(a.get_or_set("f", boom))
        await asyncio.sleep(0.03)
        assert await b.get_or_set("f", good) == "recovered"
        with pytest.raises(RuntimeError):
            await first
        assert good.calls == 1
        await a.disconnect()
        await b.disconnect()

    run(main())


@pytest.mark.redis
def test_release_only_by_owner(url: str, redis_plain: RedisServer) -> None:
    async def main() -> None:
        cache = redis_cache(url)
        await cache.connect()
        execute = cache.redis.connection.execute
        mine = stampede.RedisLock(execute, "{k}:lock", 5)
        theirs = stampede.RedisLock(execute, "{k}:lock", 5)
        assert await mine.acquire()
        assert not await theirs.acquire()
        assert not await theirs.release()  # not the owner: nothing deleted
        assert not await theirs.renew()
        assert await mine.held()
        assert await mine.renew()
        assert await mine.release()
        assert not await mine.held()
        await cache.disconnect()

    run(main())


@pytest.mark.redis
def test_wait_is_bounded(url: str, redis_plain: RedisServer) -> None:
    async def main() -> None:
        cache = redis_cache(url)
        redis_plain.cli(
            "-n", str(DB), "SET", stampede.lock_key_for("w"), "x", "PX", "10000"
        )
        factory = Counter(delay=0.0)
        start = time.perf_counter()
        assert await cache.get_or_set("w", factory, lock_wait=0.2) == "answer-1"
        assert 0.15 <= time.perf_counter() - start < 8  # the foreign lock lasts 10 s
        assert stampede.stampede_stats(cache)["lock_wait_timeouts"] == 1
        await cache.disconnect()

    run(main())


@pytest.mark.redis
def test_swr_across_caches_refreshes_once(url: str) -> None:
    async def main() -> None:
        caches = [redis_cache(url, enable_l1_cache=False) for _ in range(3)]
        factory = Counter(delay=0.1)
        kw: dict[str, Any] = {"ttl": 0.2, "stale_ttl": 10}
        await caches[0].get_or_set("swr", factory, **kw)
        await asyncio.sleep(0.3)
        results = await asyncio.gather(
            *(c.get_or_set("swr", factory, **kw) for c in caches for _ in range(20))
        )
        assert set(results) == {"answer-1"}
        await asyncio.sleep(0.3)
        assert factory.calls == 2  # one refresh for all three "processes"
        assert await caches[2].get_or_set("swr", factory, **kw) == "answer-2"
        for c in caches:
            await c.disconnect()

    run(main())


@pytest.mark.redis
def test_redis_down_degrades_to_single_flight() -> None:
    async def main() -> None:
        cache = GenericRedisCache(
            redis_url="redis://127.0.0.1:1",
            security_config=SecurityConfig(),
            connect_timeout=0.2,
            operation_timeout=0.2,
        )
        factory = Counter(delay=0.05)
        results = await asyncio.gather(
            *(cache.get_or_set("d", factory) for _ in range(50))
        )
        assert set(results) == {"answer-1"} and factory.calls == 1

    run(main())


@pytest.mark.redis
def test_ai_cache_form_uses_build_key(url: str) -> None:
    async def main() -> None:
        cache = AIResponseCache(
            redis_url=url,
            security_config=SecurityConfig(),
            operation_ttls={"qa": 120},
        )
        factory = Counter(delay=0.01)
        results = await asyncio.gather(
            *(
                cache.get_or_set_response(
                    "Document", "qa", {"max_tokens": 150}, factory, question="Why?"
                )
                for _ in range(20)
            )
        )
        assert set(results) == {"answer-1"} and factory.calls == 1
        key = cache.build_key("Document", "qa", {"max_tokens": 150, "question": "Why?"})
        assert "|q:" in key
        assert await cache.get(key) == "answer-1"
        ttl = await cache.get_ttl(key)
        assert ttl is not None and 100 < ttl <= 120  # the operation's TTL
        await cache.disconnect()

    run(main())


def test_memory_fallback_has_the_ai_form() -> None:
    async def main() -> None:
        cache = InMemoryCache(default_ttl=600)
        cache.operation_ttls = {"qa": 120}  # as the factories set it on a fallback
        factory = Counter(delay=0.01)
        results = await asyncio.gather(
            *(
                cache.get_or_set_response("Doc", "qa", None, factory, question="Why?")
                for _ in range(10)
            )
        )
        assert set(results) == {"answer-1"} and factory.calls == 1
        key = cache.build_key("Doc", "qa", {"question": "Why?"})
        assert await cache.get(key) == "answer-1"
        ttl = await cache.get_ttl(key)
        assert ttl is not None and 100 < ttl <= 120

    run(main())


@pytest.mark.redis
def test_a_herd_costs_a_couple_of_reads_not_one_per_request(
    url: str, redis_plain: RedisServer
) -> None:
    def gets() -> int:
        for line in redis_plain.cli("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_get:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0

    async def main() -> None:
        cache = redis_cache(url)
        await cache.connect()
        before = gets()
        factory = Counter(delay=0.05)
        results = await asyncio.gather(
            *(cache.get_or_set("reads", factory) for _ in range(500))
        )
        assert set(results) == {"answer-1"} and factory.calls == 1
        assert gets() - before <= 3  # the shared miss read, the re-check under lock
        await cache.disconnect()

    run(main())


def test_remembered_options_still_reject_lookalikes() -> None:
    async def main() -> None:
        cache = InMemoryCache()
        assert await cache.get_or_set("m", lambda: 1, ttl=1) == 1
        with pytest.raises(ValidationError):
            await cache.get_or_set("m2", lambda: 1, ttl=True)  # True == 1, still bad

    run(main())
