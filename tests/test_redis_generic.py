"""GenericRedisCache (spec sections 6, 19, 21) against a real redis-server.

Raw Redis contents are read with redis-py (an independent client), never through the
code under test. Faults (kill, restart, SIGSTOP, bad credentials, garbage servers)
are in test_redis_generic_faults.py; concurrency in test_redis_concurrency.py.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Coroutine, Iterator
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import redis as redis_py

from aicache import redis_generic
from aicache.base import CacheInterface
from aicache.encryption import EncryptedCacheLayer, FernetKeyring
from aicache.exceptions import ConfigurationError, InfrastructureError, ValidationError
from aicache.memory import InMemoryCache
from aicache.monitoring import CachePerformanceMonitor
from aicache.redis_generic import GenericRedisCache, RedisClient
from aicache.security import RedisCacheSecurityManager, SecurityConfig
from redis_servers import PASSWORD, RedisServer

DB = 7
UNREACHABLE = "redis://127.0.0.1:1/15"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def testing_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in (
        "REDIS_ENCRYPTION_KEY",
        "REDIS_PASSWORD",
        "REDIS_AUTH",
        "REDIS_ACL_USERNAME",
        "REDIS_ACL_PASSWORD",
        "REDIS_USE_TLS",
        "REDIS_TLS_ENABLED",
        "ENFORCE_AUTH",
        "REDIS_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "testing")
    yield monkeypatch


@pytest.fixture
def url(redis_plain: RedisServer) -> str:
    redis_plain.cli("-n", str(DB), "FLUSHDB")
    return f"{redis_plain.url}/{DB}"


@pytest.fixture
def raw(url: str) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis.from_url(url)
    yield client
    client.close()


def make(url: str, **kw: Any) -> GenericRedisCache:
    kw.setdefault(
        "security_config", SecurityConfig(connection_timeout=5, socket_timeout=5)
    )
    return GenericRedisCache(redis_url=url, **kw)


def key() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ construction


def test_constructor_defaults_and_attributes() -> None:
    cache = GenericRedisCache(redis_url=UNREACHABLE)  # no running loop needed
    assert isinstance(cache, CacheInterface)
    assert cache.redis_url == UNREACHABLE and cache.default_ttl == 3600
    assert cache.enable_l1_cache is True
    assert (cache.compression_threshold, cache.compression_level) == (1000, 6)
    assert cache.fail_on_connection_error is False
    assert cache.redis is None
    assert isinstance(cache.l1_cache, InMemoryCache)
    assert cache.l1_cache.max_size == 100 and cache.l1_cache.default_ttl == 3600
    assert isinstance(cache.performance_monitor, CachePerformanceMonitor)
    assert isinstance(cache.security_config, SecurityConfig)
    assert isinstance(cache.security_manager, RedisCacheSecurityManager)
    assert isinstance(cache.encryption, EncryptedCacheLayer)
    assert isinstance(cache._callbacks, defaultdict)
    assert cache._connect_retry_interval == 0.5
    assert GenericRedisCache.__init__.__defaults__ == (
        "rediss://redis:6380",
        3600,
        True,
        100,
        1000,
        6,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("default_ttl", 0),
        ("default_ttl", 86401),
        ("default_ttl", "60"),
        ("l1_cache_size", -1),
        ("l1_cache_size", 10001),
        ("compression_level", 0),
        ("compression_level", 10),
        ("compression_threshold", 99),
        ("compression_threshold", 100001),
    ],
)
def test_validation_ranges(param: str, value: Any) -> None:
    with pytest.raises(ConfigurationError) as e:
        GenericRedisCache(redis_url=UNREACHABLE, **{param: value})
    assert e.value.context == {param: value}


def test_boundaries_and_l1_switches() -> None:
    for kw in (
        {"default_ttl": 1},
        {"default_ttl": 86400},
        {"compression_threshold": 100, "compression_level": 9},
        {"compression_threshold": 100000, "compression_level": 1},
        {"l1_cache_size": 10000},
    ):
        GenericRedisCache(redis_url=UNREACHABLE, **kw)  # type: ignore[arg-type]
    assert GenericRedisCache(redis_url=UNREACHABLE, l1_cache_size=0).l1_cache is None
    no_l1 = GenericRedisCache(redis_url=UNREACHABLE, enable_l1_cache=False)
    assert no_l1.l1_cache is None
    honoured = GenericRedisCache(
        redis_url=UNREACHABLE, fail_on_connection_error=True, something_else=1
    )
    assert honoured.fail_on_connection_error is True


def test_security_fail_fast_at_construction(
    testing_env: pytest.MonkeyPatch,
) -> None:
    testing_env.setenv("ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError) as e:
        GenericRedisCache(redis_url="redis://cache:6379")
    ctx = e.value.context
    assert ctx["error_type"] == "security_initialization_failure"
    assert ctx["missing_requirements"] == ["authentication", "tls", "encryption_key"]
    key_ = FernetKeyring.generate_key().decode()
    cfg = SecurityConfig(redis_auth="pw", encryption_key=key_)
    cache = GenericRedisCache(redis_url="rediss://cache:6380", security_config=cfg)
    assert cache.encryption.is_enabled


def test_invalid_encryption_key_is_a_configuration_error() -> None:
    cfg = SecurityConfig()
    cfg.encryption_key = "dGVzdC1rZXktZm9yLXRlc3Rpbmc="
    with pytest.raises(ConfigurationError):
        GenericRedisCache(redis_url=UNREACHABLE, security_config=cfg)


def test_encryption_key_from_environment(testing_env: pytest.MonkeyPatch) -> None:
    testing_env.setenv("REDIS_ENCRYPTION_KEY", FernetKeyring.generate_key().decode())
    assert GenericRedisCache(redis_url=UNREACHABLE).encryption.is_enabled


# ------------------------------------------------------------------ values and TTLs


VALUES: list[Any] = [
    {"a": 1, "b": "x"},
    [1, 2.5, None, True],
    "hello",
    "é€ unicode",
    42,
    3.25,
    False,
    (1, 2),
    {1, 2, 3},
    b"\x00\x80bytes",
    datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC),
    datetime.date(2024, 5, 1),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Decimal("1.10"),
    {"big": "y" * 5000, "when": datetime.datetime(2024, 1, 1)},
    {"nested": [{"t": (1, "a")}, {"s": frozenset({"x"})}]},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_every_supported_value_reaches_redis(
    url: str, raw: redis_py.Redis, value: Any
) -> None:
    cache = make(url, enable_l1_cache=False)

    async def go() -> Any:
        await cache.set("v", value)
        try:
            return await cache.get("v")
        finally:
            await cache.disconnect()

    got = run(go())
    assert got == value and type(got) is type(value)
    assert raw.exists("v") == 1
    assert cache.get_stats()["redis_hits"] == 1


def test_compression_really_runs(url: str, raw: redis_py.Redis) -> None:
    cache = make(url, enable_l1_cache=False, compression_threshold=100)
    text = "the same words again and again " * 200

    async def go() -> Any:
        await cache.set("small", "tiny")
        await cache.set("big", text)
        out = await cache.get("big")
        await cache.disconnect()
        return out

    assert run(go()) == text
    stored = raw.get("big")
    assert stored is not None and len(stored) < len(text) / 10
    assert cache.get_stats()["codec"]["compressed"] == 1
    off = make(url, enable_l1_cache=False, enable_compression=False)
    run(_set(off, "big", text, None))
    stored = raw.get("big")
    assert stored is not None and len(stored) > len(text)
    assert off.get_stats()["codec"]["compressed"] == 0


def test_ttl_semantics(url: str, raw: redis_py.Redis) -> None:
    cache = make(url, default_ttl=600)

    async def go() -> None:
        await cache.set("default", 1)
        await cache.set("five", 1, ttl=5)
        await cache.set("zero", 1, ttl=0)
        await cache.set("negative", 1, ttl=-3)
        assert await cache.get_ttl("default") in (599, 600)
        assert await cache.get_ttl("zero") is None
        assert await cache.get_ttl("missing") is None
        assert cache.l1_cache is not None
        assert await cache.l1_cache.get_ttl("zero") is None  # same rule in L1
        assert await cache.l1_cache.get_ttl("five") in (4, 5)
        with pytest.raises(ValidationError):
            await cache.set("bad", 1, ttl="10")  # type: ignore[arg-type]
        await cache.disconnect()

    run(go())
    assert 595 <= raw.ttl("default") <= 600
    assert 0 < raw.ttl("five") <= 5
    assert raw.ttl("zero") == -1 and raw.ttl("negative") == -1
    # Overwriting with ttl=0 removes an existing expiry.
    run(_set(make(url), "five", 2, 0))
    assert raw.ttl("five") == -1


async def _set(cache: GenericRedisCache, k: str, v: Any, ttl: int | None) -> None:
    await cache.set(k, v, ttl)
    await cache.disconnect()


def test_promotion_gets_at_most_the_remaining_redis_ttl(
    url: str, raw: redis_py.Redis
) -> None:
    writer = make(url, enable_l1_cache=False)
    reader = make(url, default_ttl=3600)

    async def go() -> None:
        await writer.set("short", "s", ttl=3)
        await writer.set("forever", "f", ttl=0)
        raw.set("sub_second", writer._serialize_value("x"), px=400)
        assert reader.l1_cache is not None
        assert await reader.get("short") == "s"
        assert (await reader.l1_cache.get_ttl("short") or 0) <= 3
        assert await reader.get("forever") == "f"
        assert (await reader.l1_cache.get_ttl("forever") or 0) <= 3600
        assert await reader.get("sub_second") == "x"
        assert not await reader.l1_cache.exists("sub_second")  # not promoted
        await writer.disconnect()
        await reader.disconnect()

    run(go())
    assert reader.get_stats()["promotions"] == 2


def test_get_and_pttl_leave_in_one_write(url: str) -> None:
    cache = make(url)

    async def go() -> tuple[int, int]:
        await cache.set("p", "v")
        assert cache.l1_cache is not None
        cache.l1_cache.clear()
        assert isinstance(cache.redis, RedisClient)
        before = cache.redis.connection.stats()
        assert await cache.get("p") == "v"
        after = cache.redis.connection.stats()
        await cache.disconnect()
        return (
            int(after["writes"]) - int(before["writes"]),
            int(after["commands"]) - int(before["commands"]),
        )

    assert run(go()) == (1, 2)


def test_none_value_is_a_miss_and_unsupported_value_invalidates(
    url: str, raw: redis_py.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = make(url)

    async def go() -> None:
        await cache.set("n", None)
        assert await cache.get("n") is None
        await cache.set("u", "old")
        with caplog.at_level(logging.WARNING, logger="aicache.redis_generic"):
            await cache.set("u", object())
        assert await cache.get("u") is None  # no stale "old" anywhere
        await cache.disconnect()

    run(go())
    assert raw.exists("u") == 0
    assert cache.get_stats()["serialization_errors"] == 1
    assert "cannot be stored" in caplog.text


# ------------------------------------------------------------------ operations


def test_delete_exists_and_return_values(url: str, raw: redis_py.Redis) -> None:
    cache = make(url)

    async def go() -> None:
        assert await cache.delete("nope") is False
        await cache.set("d", 1)
        assert await cache.exists("d") is True
        assert cache.l1_cache is not None
        cache.l1_cache.clear()
        assert await cache.exists("d") is True  # from Redis
        assert await cache.delete("d") is True
        assert await cache.exists("d") is False
        assert await cache.get("d") is None
        await cache.disconnect()

    run(go())
    assert raw.exists("d") == 0


def test_batch_operations(url: str, raw: redis_py.Redis) -> None:
    cache = make(url)
    items = {f"b{i}": {"i": i, "t": (i, i)} for i in range(50)}

    async def go() -> None:
        await cache.connect()
        assert isinstance(cache.redis, RedisClient)
        before = int(cache.redis.connection.stats()["writes"])
        await cache.set_many(items, ttl=100)
        assert int(cache.redis.connection.stats()["writes"]) - before == 1
        assert cache.l1_cache is not None
        cache.l1_cache.clear()
        got = await cache.get_many([*items, "missing"])
        assert got == {**items, "missing": None}
        assert await cache.l1_cache.get("b3") == {"i": 3, "t": (3, 3)}  # promoted
        assert await cache.delete_many(["b1", "b2", "missing"]) == 2
        assert await cache.get_many(["b1", "b3"]) == {"b1": None, "b3": items["b3"]}
        await cache.disconnect()

    run(go())
    assert raw.exists("b1") == 0 and 0 < raw.ttl("b4") <= 100


def test_get_many_never_promotes_a_value_overwritten_while_it_decodes(
    url: str,
) -> None:
    """A batch decodes its values one by one, and a decode may await (a worker
    thread for a big payload): a set that completes meanwhile must not be undone
    by the batch promoting the older value it fetched into L1."""
    cache = make(url)
    big = {"pad": "x" * (200 * 1024)}  # decoded on a worker thread

    async def go() -> None:
        await cache.set_many({"a-big": big, "b": "old"})
        assert cache.l1_cache is not None
        cache.l1_cache.clear()
        decode = cache._decode

        async def decode_then_write(raw: bytes) -> Any:
            value = await decode(raw)
            if value == big:  # between the MGET's reply and the promotion of b
                await cache.set("b", "new")
            return value

        cache._decode = decode_then_write  # type: ignore[method-assign]
        got = await cache.get_many(["a-big", "b"])
        assert got == {"a-big": big, "b": "old"}  # what Redis held when asked
        assert await cache.l1_cache.get("b") == "new"
        assert await cache.get("b") == "new"
        assert cache._counter_values()["stale_promotions_skipped"] == 1
        await cache.disconnect()

    run(go())


def test_clear_and_invalidate_pattern_are_scoped_and_never_use_keys(
    url: str, raw: redis_py.Redis
) -> None:
    raw.set("foreign:key", b"keep me")
    cache = make(url, key_prefix="app1:")
    keys_before = int(raw.info("commandstats").get("cmdstat_keys", {}).get("calls", 0))

    async def go() -> None:
        for i in range(30):
            await cache.set(f"user:{i}", i)
            await cache.set(f"item:{i}", i)
        assert raw.get("app1:user:1") is not None  # stored under the prefix
        assert await cache.invalidate_pattern("user:1*") == 11  # 1, 10..19
        assert await cache.get("user:1") is None and await cache.get("user:2") == 2
        assert await cache.invalidate_pattern("item:[0-4]") == 5
        assert await cache.clear() == 44
        assert await cache.get("user:2") is None
        assert cache.l1_cache is not None and cache.l1_cache.size() == 0
        await cache.disconnect()

    run(go())
    assert raw.get("foreign:key") == b"keep me"
    keys_after = int(raw.info("commandstats").get("cmdstat_keys", {}).get("calls", 0))
    assert keys_after == keys_before


def test_invalidate_pattern_counts_l1_only_keys_when_redis_is_down() -> None:
    cache = GenericRedisCache(redis_url=UNREACHABLE)

    async def go() -> int:
        for i in range(5):
            await cache.set(f"x{i}", i)
        await cache.set("y", 1)
        return await cache.invalidate_pattern("x*")

    assert run(go()) == 5


def test_context_manager_and_reconnect_after_disconnect(url: str) -> None:
    async def go() -> None:
        async with make(url) as cache:
            assert isinstance(cache.redis, RedisClient)
            await cache.set("cm", 1)
        assert cache.redis is None
        assert await cache.get("cm") == 1  # L1
        assert cache.l1_cache is not None
        cache.l1_cache.clear()
        assert await cache.get("cm") == 1  # reconnects by itself
        await cache.disconnect()

    run(go())


def test_stats_shapes(url: str) -> None:
    cache = make(url)

    async def go() -> dict[str, Any]:
        await cache.set("s", 1)
        await cache.get("s")
        await cache.get("missing")
        stats = await cache.get_cache_stats()
        await cache.disconnect()
        return stats

    stats = run(go())
    assert stats["redis"]["status"] == "connected" and stats["redis"]["keys"] == 1
    assert {"memory_used", "memory_used_bytes", "connected_clients"} <= set(
        stats["redis"]
    )
    assert stats["memory"]["status"] == "active" and stats["memory"]["entries"] == 1
    perf = stats["performance"]
    assert perf["hit_rate"] == 0.5 and perf["total_operations"] == 2
    assert perf["cache_type"] == "redis_with_l1"
    s = cache.get_stats()
    assert s["hits"] == 1 and s["misses"] == 1 and s["hit_rate"] == 50.0
    assert s["corrupt_payloads"] == 0 and s["l1"]["max_size"] == 100
    down = GenericRedisCache(redis_url=UNREACHABLE, enable_l1_cache=False)
    unavailable = run(down.get_cache_stats())
    assert unavailable["redis"]["status"] == "unavailable"
    assert unavailable["memory"]["status"] == "disabled"


# ------------------------------------------------------------------ callbacks & patching


def test_callbacks_events_arguments_order_and_failures(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = make(url)
    calls: list[tuple[Any, ...]] = []
    for event in ("get_success", "get_miss", "set_success", "delete_success"):
        cache.register_callback(event, lambda *a, e=event: calls.append((e, *a)))

    def boom(*args: Any) -> None:
        raise RuntimeError("callback exploded")

    cache.register_callback("get_success", boom)
    cache.register_callback("get_success", lambda *a: calls.append(("second", *a)))
    assert len(cache._callbacks["get_success"]) == 3

    async def go() -> None:
        await cache.set("c", 1, ttl=60)
        await cache.get("c")  # L1 hit
        assert cache.l1_cache is not None
        cache.l1_cache.clear()
        await cache.get("c")  # Redis hit
        await cache.get("none")
        await cache.delete("c")
        await cache.delete("c")  # did not exist: no event
        await cache.disconnect()

    with caplog.at_level(logging.WARNING, logger="aicache.redis_generic"):
        run(go())
    assert calls == [
        ("set_success", "c", 1),
        ("get_success", "c", 1),
        ("second", "c", 1),
        ("get_success", "c", 1),
        ("second", "c", 1),
        ("get_miss", "none"),
        ("delete_success", "c"),
    ]
    assert "Callback for event 'get_success' failed: callback exploded" in caplog.text


def test_patched_serializers_are_honoured(url: str, raw: redis_py.Redis) -> None:
    """The template's secure_fakeredis_cache fixture patches the instance helpers."""
    cache = make(url, enable_l1_cache=False)

    def dumps(value: Any) -> bytes:
        return json.dumps(value).encode()

    def loads(data: bytes) -> Any:
        return json.loads(data)

    async def go() -> Any:
        with (
            mock.patch.object(cache, "_serialize_value", side_effect=dumps) as ser,
            mock.patch.object(cache, "_deserialize_value", side_effect=loads) as de,
        ):
            await cache.set("j", {"a": 1})
            out = await cache.get("j")
        await cache.disconnect()
        assert ser.call_count == 1 and de.call_count == 1
        return out

    assert run(go()) == {"a": 1}
    assert raw.get("j") == b'{"a": 1}'


def test_patched_fire_callback_sees_every_event() -> None:
    cache = GenericRedisCache(redis_url=UNREACHABLE)

    async def go() -> None:
        with mock.patch.object(cache, "_fire_callback") as fire:
            await cache.set("k", 1)
            await cache.get("k")
            await cache.get("nope")
        assert [c.args for c in fire.call_args_list] == [
            ("set_success", "k", 1),
            ("get_success", "k", 1),
            ("get_miss", "nope"),
        ]

    run(go())


# ------------------------------------------------------------------ assigned clients


@pytest.mark.filterwarnings("ignore:Call to deprecated setex")
def test_an_assigned_redis_py_client_is_used(url: str, raw: redis_py.Redis) -> None:
    import redis.asyncio as aioredis

    cache = make(url, default_ttl=123)

    async def go() -> None:
        cache.redis = aioredis.Redis.from_url(url)
        cache._redis_connected = True  # what the template's fixtures do
        assert await cache.connect() is True
        await cache.set("rp", {"x": (1, 2)})
        assert await cache.redis.ttl("rp") in (122, 123)
        assert cache.l1_cache is not None
        cache.l1_cache.clear()
        assert await cache.get("rp") == {"x": (1, 2)}
        assert (await cache.l1_cache.get_ttl("rp") or 0) <= 123
        assert await cache.exists("rp") is True
        await cache.set("other", 1)
        assert await cache.invalidate_pattern("o*") == 1
        assert await cache.delete("rp") is True
        stats = await cache.get_cache_stats()
        assert stats["redis"]["status"] == "connected"
        await cache.disconnect()
        assert cache.redis is None

    run(go())
    assert raw.exists("rp") == 0


class DictRedis:
    """A minimal client of the shape the template's fakeredis fixtures provide."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttls: dict[str, int] = {}
        self.closed = False

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def setex(self, key: str, ttl: int, value: bytes) -> bool:
        self.data[key], self.ttls[key] = value, ttl
        return True

    async def set(self, key: str, value: bytes) -> bool:
        self.data[key] = value
        self.ttls.pop(key, None)
        return True

    async def delete(self, *keys: str | bytes) -> int:
        names = [k.decode() if isinstance(k, bytes) else k for k in keys]
        return sum(self.data.pop(k, None) is not None for k in names)

    async def exists(self, *keys: str) -> int:
        return sum(k in self.data for k in keys)

    async def ttl(self, key: str) -> int:
        return self.ttls.get(key, -1) if key in self.data else -2

    async def keys(self, pattern: str) -> list[bytes]:
        import fnmatch

        return [k.encode() for k in self.data if fnmatch.fnmatchcase(k, pattern)]

    async def close(self) -> None:
        self.closed = True


def test_an_assigned_minimal_client_is_used() -> None:
    cache = GenericRedisCache(redis_url=UNREACHABLE, default_ttl=77)
    fake = DictRedis()

    async def go() -> None:
        cache.redis = fake
        await cache.set("a", [1, 2])
        assert fake.ttls["a"] == 77 and fake.data["a"]
        await cache.set("forever", 1, ttl=0)
        assert "forever" not in fake.ttls
        assert cache.l1_cache is not None
        cache.l1_cache.clear()
        assert await cache.get("a") == [1, 2]
        assert await cache.get_ttl("a") == 77
        assert await cache.invalidate_pattern("a") == 1
        await cache.disconnect()

    run(go())
    assert fake.closed and "a" not in fake.data


# ------------------------------------------------------------------ encryption & corruption


def test_encrypted_values_are_opaque_and_tampering_is_a_miss(
    url: str, raw: redis_py.Redis
) -> None:
    cfg = SecurityConfig(encryption_key=FernetKeyring.generate_key().decode())
    cache = make(url, security_config=cfg, enable_l1_cache=False)
    secret_text = "patient record: very private diagnosis"

    async def go() -> None:
        await cache.set("e", {"text": secret_text})
        stored = raw.get("e")
        assert stored is not None and stored.startswith(b"gAAAAA")
        assert b"private" not in stored and b"diagnosis" not in stored
        # cache.redis reads the raw bytes too (the template's integration check)
        assert await cache.redis.get("e") == stored
        assert await cache.get("e") == {"text": secret_text}
        tampered = bytearray(stored)
        tampered[40] ^= 0x01
        raw.set("e", bytes(tampered))
        assert await cache.get("e") is None
        raw.set("plain", make(url, enable_l1_cache=False)._serialize_value("x"))
        assert await cache.get("plain") is None  # no downgrade to plaintext
        await cache.disconnect()

    run(go())
    stats = cache.get_stats()
    assert stats["corrupt_payloads"] == 2 and stats["misses"] == 2


def test_wrong_key_and_garbage_are_misses(url: str, raw: redis_py.Redis) -> None:
    one = make(
        url,
        enable_l1_cache=False,
        security_config=SecurityConfig(
            encryption_key=FernetKeyring.generate_key().decode()
        ),
    )
    other = make(
        url,
        enable_l1_cache=False,
        security_config=SecurityConfig(
            encryption_key=FernetKeyring.generate_key().decode()
        ),
    )
    plain = make(url, enable_l1_cache=False)

    async def go() -> None:
        await one.set("w", "value")
        assert await other.get("w") is None
        raw.set("g", b"\x80\x04garbage that is not a frame")
        assert await plain.get("g") is None
        for c in (one, other, plain):
            await c.disconnect()

    run(go())
    assert other.get_stats()["corrupt_payloads"] == 1
    assert plain.get_stats()["corrupt_payloads"] == 1


def test_key_rotation_reads_old_tokens(url: str) -> None:
    old = FernetKeyring.generate_key().decode()
    new = FernetKeyring.generate_key().decode()
    before = make(
        url, enable_l1_cache=False, security_config=SecurityConfig(encryption_key=old)
    )
    after = make(
        url,
        enable_l1_cache=False,
        security_config=SecurityConfig(encryption_key=f"{new},{old}"),
    )

    async def go() -> Any:
        await before.set("r", "rotated")
        out = await after.get("r")
        await before.disconnect()
        await after.disconnect()
        return out

    assert run(go()) == "rotated"


def test_original_template_payload_is_read_for_migration(
    url: str, raw: redis_py.Redis
) -> None:
    raw.set("legacy", b'{"_serialized_data": "rawj:{\\"a\\":1,\\"b\\":\\"x\\"}"}')
    cache = make(url, enable_l1_cache=False)

    async def go() -> Any:
        out = await cache.get("legacy")
        await cache.disconnect()
        return out

    assert run(go()) == {"a": 1, "b": "x"}


# ------------------------------------------------------------------ without Redis


POLY_CACHES = [
    InMemoryCache(max_size=100, default_ttl=3600),
    GenericRedisCache(
        redis_url="redis://localhost:1/15",
        default_ttl=3600,
        enable_l1_cache=True,
        fail_on_connection_error=False,
    ),
]  # built at import (collection) time, with no running event loop


@pytest.mark.parametrize("cache", POLY_CACHES, ids=lambda c: type(c).__name__)
def test_polymorphism_without_redis(cache: CacheInterface) -> None:
    async def go() -> None:
        await cache.set("poly", {"v": 1})
        assert await cache.get("poly") == {"v": 1}
        assert await cache.exists("poly") is True
        await cache.delete("poly")
        assert await cache.exists("poly") is False
        assert await cache.get("poly") is None

    run(go())


def test_connect_failure_is_throttled_and_flag_is_read_at_call_time() -> None:
    cache = GenericRedisCache(redis_url=UNREACHABLE)

    async def go() -> None:
        assert await cache.connect() is False
        manager_calls = cache.security_manager
        assert manager_calls is not None
        with mock.patch.object(
            manager_calls,
            "build_connection",
            side_effect=AssertionError("not throttled"),
        ):
            assert await cache.connect() is False  # within 0.5 s: no new attempt
        with mock.patch.object(redis_generic, "REDIS_AVAILABLE", False):
            cache._last_connect_ts = 0.0
            assert await cache.connect() is False

    run(go())


def test_fail_on_connection_error_raises_typed_errors() -> None:
    cache = GenericRedisCache(redis_url=UNREACHABLE, fail_on_connection_error=True)

    async def go() -> None:
        with pytest.raises(InfrastructureError):
            await cache.connect()
        cache._last_connect_ts = 0.0
        with pytest.raises(InfrastructureError):
            await cache.get("k")

    run(go())


def test_no_secrets_in_logs_repr_or_stats(
    redis_password: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = redis_password.url.replace("s3cret", "wrong")
    good = GenericRedisCache(redis_url=redis_password.url)
    bad = GenericRedisCache(redis_url=wrong)

    async def go() -> None:
        assert await good.connect() is True
        await good.set("x", 1)
        assert await bad.connect() is False
        await good.disconnect()

    with caplog.at_level(logging.DEBUG):
        run(go())
    blob = caplog.text + repr(good) + repr(bad) + repr(good.get_stats())
    blob += repr(bad.get_stats()) + repr(good.get_security_status())
    assert PASSWORD not in blob and "s3cret" not in blob and "wrong:" not in blob


# ------------------------------------------------------------------ security helpers


def test_security_helpers(url: str) -> None:
    cache = make(url)

    async def go() -> None:
        assert await cache.validate_security() is None  # not connected
        assert await cache.connect()
        result = await cache.validate_security()
        assert result is not None and not result.is_secure
        assert "No authentication configured" in result.vulnerabilities
        report = await cache.generate_security_report()
        assert "REDIS CACHE SECURITY ASSESSMENT REPORT" in report
        test = await cache.test_security_configuration()
        assert test["connection_successful"] is True
        await cache.disconnect()

    run(go())
    status = cache.get_security_status()
    assert status["last_validation"] is not None
    assert cache.get_security_recommendations()
    cache.security_manager = None
    assert cache.get_security_status()["security_level"] == "NONE"
    assert len(cache.get_security_recommendations()) == 3


def test_create_secure_uses_redis_url(testing_env: pytest.MonkeyPatch) -> None:
    testing_env.setenv("REDIS_URL", "redis://from-env:6379")
    assert GenericRedisCache.create_secure().redis_url == "redis://from-env:6379"
    assert GenericRedisCache.create_secure("redis://x:1").redis_url == "redis://x:1"
    testing_env.delenv("REDIS_URL")
    assert GenericRedisCache.create_secure().redis_url == "rediss://localhost:6380"


def test_template_integration_flow_over_tls(
    redis_tls: RedisServer, testing_env: pytest.MonkeyPatch
) -> None:
    """Construct, replace security_manager.config, connect, read raw bytes."""
    assert redis_tls.tls is not None
    testing_env.setenv("REDIS_ENCRYPTION_KEY", FernetKeyring.generate_key().decode())
    cache = GenericRedisCache(
        redis_url=redis_tls.plain_url + "/0",
        default_ttl=3600,
        enable_l1_cache=True,
        l1_cache_size=100,
        compression_threshold=1000,
    )
    assert cache.security_manager is not None
    cache.security_manager.config = SecurityConfig(
        use_tls=True,
        tls_ca_path=str(redis_tls.tls.ca_cert),
        verify_certificates=False,
        connection_timeout=10,
        socket_timeout=10,
    )

    async def go() -> None:
        assert await cache.connect() is True
        k = key()
        await cache.set(k, {"secret": "plaintext-marker"})
        raw_bytes = await cache.redis.get(k)
        assert raw_bytes and b"plaintext-marker" not in raw_bytes
        assert await cache.get(k) == {"secret": "plaintext-marker"}
        result = await cache.validate_security()
        assert result is not None and result.connection_encrypted
        await cache.delete(k)
        await cache.disconnect()

    run(go())


def test_patched_aioredis_from_url_feeds_connect() -> None:
    """The template patches ``...redis_generic.aioredis.from_url`` with a fake."""

    class PingableDict(DictRedis):
        async def ping(self) -> bool:
            return True

    fake = PingableDict()
    cache = GenericRedisCache(redis_url=UNREACHABLE)

    async def go() -> None:
        with mock.patch.object(redis_generic.aioredis, "from_url", return_value=fake):
            assert await cache.connect() is True
        assert cache.redis is fake
        await cache.set("via-fake", 1)
        assert "via-fake" in fake.data

    run(go())


def test_build_key_matches_the_memory_cache_and_the_spec() -> None:
    """GenericRedisCache builds the same keys as InMemoryCache (threshold 1000)."""
    from aicache.memory import InMemoryCache

    cache = GenericRedisCache(redis_url="redis://127.0.0.1:1/0")
    opts = {"max_length": 100}
    assert (
        cache.build_key("Hello: a|b world", "summarize", opts)
        == "ai_cache:op:summarize|txt:Hello_ a_b world|opts:5104236b"
    )
    text = "A" * 1001
    assert cache.build_key(text, "summarize", {}) == InMemoryCache().build_key(
        text, "summarize", {}
    )
    assert cache.build_key("A" * 1000, "op", {}).endswith("|txt:" + "A" * 1000)
