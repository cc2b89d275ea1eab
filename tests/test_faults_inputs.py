"""Hostile inputs to GenericRedisCache: bad TTLs and keys, URLs that must not leak
their password, malformed reply shapes, and cancellations mid-write.

Each test states the invariant it guards: a typed error (never a bare
IndexError/OverflowError), no secret in any text the library produces, no stale
value served after a write that may have reached Redis.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import pytest

from aicache.config import CacheConfig
from aicache.exceptions import (
    ConfigurationError,
    InfrastructureError,
    ValidationError,
)
from aicache.redis_generic import GenericRedisCache
from aicache.redis_url import parse_redis_url, redact_redis_url
from aicache.security import SecurityConfig, redact_url
from aicache.settings import resolve_cache_config
from cache_env import run, testing_env  # noqa: F401 (autouse fixture)
from fault_servers import FakeRedis, array, bulk
from redis_servers import RedisServer

SECRET = "hunter2-s3cr3t"


def make(url: str, **kw: Any) -> GenericRedisCache:
    kw.setdefault("security_config", SecurityConfig(max_retries=0))
    kw.setdefault("operation_timeout", 0.5)
    kw.setdefault("connect_timeout", 0.5)
    return GenericRedisCache(redis_url=url, **kw)


# ------------------------------------------------------------------ TTL


@pytest.mark.redis
def test_sub_second_ttl_expires(redis_plain: RedisServer) -> None:
    async def main() -> None:
        cache = make(redis_plain.url, key_prefix="ttl-sub:", enable_l1_cache=False)
        for i, ttl in enumerate((0.5, 0.999, 1e-9, 1.5)):
            await cache.set(f"k{i}", "v", ttl=ttl)
            seconds = await cache.get_ttl(f"k{i}")
            assert seconds is not None and 0 <= seconds <= 1, (ttl, seconds)
        await cache.set("zero", "v", ttl=0)
        assert await cache.get_ttl("zero") is None  # 0: no expiry, as documented
        await cache.disconnect()

    run(main())


@pytest.mark.parametrize("ttl", [math.inf, -math.inf, math.nan, "10", 2**70])
def test_bad_ttl_is_a_validation_error(ttl: Any) -> None:
    async def main() -> None:
        cache = make("redis://127.0.0.1:1", fail_on_connection_error=False)
        with pytest.raises(ValidationError):
            await cache.set("k", "v", ttl=ttl)
        with pytest.raises(ValidationError):
            await cache.set_many({"k": "v"}, ttl=ttl)
        assert cache.get_stats()["redis_errors"] == 0

    run(main())


# ------------------------------------------------------------------ keys

BAD_KEYS = [None, ("a", "b"), ["a"], 2**80, -(2**70), 1.5, object(), b"\xff\xfe"]


@pytest.mark.redis
@pytest.mark.parametrize("strict", [False, True])
def test_bad_keys_are_validation_errors_not_redis_failures(
    redis_plain: RedisServer, strict: bool
) -> None:
    async def main() -> None:
        cache = make(
            redis_plain.url, key_prefix="badkey:", fail_on_connection_error=strict
        )
        assert await cache.connect()
        for key in BAD_KEYS:
            for op in (
                cache.get(key),
                cache.set(key, "v"),
                cache.delete(key),
                cache.exists(key),
                cache.get_ttl(key),
                cache.get_many([key]),
                cache.set_many({key: "v"} if _hashable(key) else {}),
                cache.delete_many([key]),
            ):
                try:
                    await op
                except ValidationError:
                    continue
                except InfrastructureError as exc:  # pragma: no cover - the bug
                    raise AssertionError(f"{key!r} counted as Redis failure") from exc
        stats = cache.get_stats()
        assert stats["redis_errors"] == 0
        assert stats["degraded"] is False
        # Keys that are fine: str, int (as its decimal text), UTF-8 bytes.
        await cache.set(7, "seven")
        assert await cache.get("7") == "seven"
        await cache.set(b"bk", "bytes")
        assert await cache.get("bk") == "bytes"
        await cache.clear()
        await cache.disconnect()

    run(main())


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


# ------------------------------------------------------------------ secrets

LEAKY_URLS = [
    f"redis:/user:{SECRET}@localhost:6379",  # one slash short
    f"user:{SECRET}@localhost:6379",  # no scheme at all
    f"redis//:{SECRET}@host:6379/0",
    f":{SECRET}@host",
    f"http://:{SECRET}@host:6379",  # wrong scheme
    f"{SECRET}://host",  # the secret where the scheme goes
    f"redis://:{SECRET}@host:99999",  # bad port
    f"redis://:{SECRET}@host:6379/notadb",
    f"redis://:{SECRET}@[::1",  # malformed IPv6
]


@pytest.mark.parametrize("url", LEAKY_URLS)
def test_bad_url_never_leaks_the_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigurationError) as info:
        make(url)
    exc = info.value
    texts = [str(exc), repr(exc), exc.message, repr(exc.context)]
    cause: BaseException | None = exc
    while cause is not None:  # the whole exception chain
        texts += [str(cause), repr(getattr(cause, "context", ""))]
        cause = cause.__cause__ or cause.__context__
    texts.append(redact_url(url))
    texts.append(redact_redis_url(url))
    texts.append(caplog.text)
    for text in texts:
        assert SECRET not in text, text
    assert "URL" in exc.message or "url" in exc.message.lower()


def test_scheme_errors_name_the_problem_only() -> None:
    with pytest.raises(ConfigurationError, match="no scheme") as info:
        parse_redis_url(f"user:{SECRET}@host")
    assert "credentials" in info.value.message
    with pytest.raises(ConfigurationError, match="unsupported Redis URL scheme 'http'"):
        parse_redis_url("http://host")
    with pytest.raises(ConfigurationError) as info:
        parse_redis_url(f"{SECRET}://host")
    assert SECRET not in str(info.value)


def test_reprs_and_stats_redact_the_password() -> None:
    url = f"redis://app:{SECRET}@127.0.0.1:1/0"
    cache = make(url)
    assert SECRET not in repr(cache)
    assert SECRET not in str(cache.get_stats())
    config = CacheConfig(redis_url=url)
    assert SECRET not in repr(config)
    assert "app:***@" in repr(config)
    bad = CacheConfig(redis_url=f"redis:/app:{SECRET}@host")
    result = bad.validate()
    assert not result.is_valid
    assert SECRET not in repr(result.__dict__)


def test_env_url_with_at_but_no_scheme_is_a_configuration_error() -> None:
    env = {"CACHE_REDIS_URL": f"app:{SECRET}@redis:6379"}
    with pytest.raises(ConfigurationError) as info:
        resolve_cache_config(env)
    assert SECRET not in str(info.value) + repr(info.value.context)


@pytest.mark.redis
def test_connection_failure_contexts_and_logs_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        url = f"redis://app:{SECRET}@127.0.0.1:1/0"
        cache = make(url)
        assert await cache.get("k") is None
        strict = make(url, fail_on_connection_error=True)
        with pytest.raises(InfrastructureError) as info:
            await strict.get("k")
        text = str(info.value) + repr(info.value.context)
        assert SECRET not in text
        health = await cache.get_cache_stats()
        assert SECRET not in repr(health)
        assert SECRET not in repr(cache.get_stats())

    run(main())
    assert SECRET not in caplog.text


# ------------------------------------------------------------------ reply shapes


@pytest.mark.parametrize(
    "reply",
    [
        array([bulk(b"x")]),  # one element for two keys
        b"*-1\r\n",  # nil array
        b":5\r\n",  # an integer
        array([bulk(None), array([])]),  # a nested array as a value
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_mget_reply_of_the_wrong_shape_is_typed(reply: bytes, strict: bool) -> None:
    def handler(args: list[bytes]) -> bytes | None:
        if args[0] == b"MGET":
            return reply
        if args[0] == b"PTTL":
            return b":-1\r\n"
        return b"+OK\r\n"

    async def main() -> None:
        server = await FakeRedis(handler).start()
        try:
            for l1 in (True, False):
                cache = make(
                    server.url, enable_l1_cache=l1, fail_on_connection_error=strict
                )
                if strict:
                    with pytest.raises(InfrastructureError):
                        await cache.get_many(["a", "b"])
                else:
                    assert await cache.get_many(["a", "b"]) == {"a": None, "b": None}
                    assert cache.get_stats()["redis_errors"] == 1
                await cache.disconnect()
        finally:
            await server.close()

    run(main())


# ------------------------------------------------------------------ cancellation


@pytest.mark.redis
def test_cancelled_set_leaves_no_stale_l1(redis_plain: RedisServer) -> None:
    """Every set is cancelled right after it was queued: whatever Redis ends up
    holding, this process must never serve the value it overwrote."""

    async def main() -> None:
        cache = make(redis_plain.url, key_prefix="cancel-set:")
        stale = 0
        for i in range(200):
            key = f"k{i % 10}"
            await cache.set(key, "old")
            assert await cache.get(key) == "old"  # in L1 now
            task = asyncio.create_task(cache.set(key, "new"))
            for _ in range(i % 4):  # cancel at different points
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(0.002)  # the SET, if sent, has been answered
            in_redis = await cache.redis.get(f"cancel-set:{key}")
            got = await cache.get(key)
            if in_redis is not None and b"new" in in_redis and got != "new":
                stale += 1
        assert stale == 0
        await cache.clear()
        await cache.disconnect()

    run(main())
