"""Redis Cluster through GenericRedisCache and ClusterConnection, against a real
3-primary/3-replica cluster (tests/cluster_servers.py)."""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from aicache import _core
from aicache.cluster import ClusterConnection
from aicache.exceptions import ConfigurationError, InfrastructureError
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from aicache.topology import parse_topology_url
from cluster_servers import RedisClusterServers

pytestmark = pytest.mark.heavy


def run_async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Runs an async test body in a fresh event loop (fixtures pass through)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def make_cache(url: str, **kwargs: Any) -> GenericRedisCache:
    return GenericRedisCache(
        redis_url=url,
        security_config=SecurityConfig(connection_timeout=5, socket_timeout=5),
        **kwargs,
    )


def keys_covering_every_range(n_ranges: int = 64) -> list[str]:
    """One key per 1/n_ranges of the slot space (found by search)."""
    want = {i: None for i in range(n_ranges)}
    found: dict[int, str] = {}
    i = 0
    while len(found) < len(want):
        key = f"k{i}"
        bucket = _core.key_slot(key) * n_ranges // _core.CLUSTER_SLOTS
        found.setdefault(bucket, key)
        i += 1
    return [found[b] for b in sorted(found)]


def test_key_slot_matches_cluster_keyslot(redis_cluster: RedisClusterServers) -> None:
    node = redis_cluster.nodes[0]
    rng = random.Random(7)
    keys = ["", "{}", "{user1000}.following", "a{b}c{d}", "foo{}{bar}", "ü-ключ"]
    keys += [
        "".join(rng.choice("ab{}xyz:") for _ in range(rng.randrange(12)))
        for _ in range(30)
    ]
    for key in keys:
        if key == "":
            continue  # redis-cli cannot pass an empty argument portably
        assert _core.key_slot(key) == int(node.cli("CLUSTER", "KEYSLOT", key)), key
    assert _core.key_slot(b"") == 0


def test_url_forms() -> None:
    u = parse_topology_url(
        "redis+cluster://u:p%40w@h1:7000,h2,[::1]:7002?read_from_replicas=yes"
    )
    assert u.kind == "cluster" and u.hosts == (
        ("h1", 7000),
        ("h2", 6379),
        ("::1", 7002),
    )
    assert u.password == "p@w" and u.flag("read_from_replicas", False)
    assert "p@w" not in u.redacted()
    s = parse_topology_url(
        "rediss+sentinel://:pw@s1:26379,s2/mymaster/2?sentinel_password=x"
    )
    assert s.kind == "sentinel" and s.tls and s.service == "mymaster" and s.db == 2
    assert s.hosts[1] == ("s2", 26379)
    with pytest.raises(ConfigurationError):
        parse_topology_url("redis+cluster://h1:7000/3")
    with pytest.raises(ConfigurationError):
        parse_topology_url("redis+sentinel://h1:26379")
    with pytest.raises(ConfigurationError):
        parse_topology_url("redis+cluster://h1:99999")
    # The coherence flag can ride on the URL (so CACHE_REDIS_URL alone sets it).
    assert make_cache("redis+cluster://h1:7000,h2:7001?l1_coherence=yes").l1_coherence
    assert make_cache("redis://h1:6379/0?l1_coherence=yes").l1_coherence
    assert not make_cache("redis+cluster://h1:7000").l1_coherence
    assert make_cache("redis://h1:6379", l1_coherence=True).l1_coherence


def test_environment_accepts_cluster_and_sentinel_urls() -> None:
    from aicache.settings import CacheSettings

    for url in ("redis+cluster://h1:7000,h2:7001", "rediss+sentinel://s1,s2/mymaster"):
        settings = CacheSettings.from_environ({"CACHE_REDIS_URL": url})
        assert settings.cache_redis_url == url


@run_async
async def test_routing_every_slot_range_and_hash_tags(
    redis_cluster: RedisClusterServers,
) -> None:
    cache = make_cache(redis_cluster.url, enable_l1_cache=False, key_prefix="rt:")
    async with cache:
        keys = keys_covering_every_range()
        for i, key in enumerate(keys):
            await cache.set(key, {"i": i})
        for i, key in enumerate(keys):
            assert await cache.get(key) == {"i": i}
        # Each key lives on the primary that owns its slot, and only there.
        for key in keys[::8]:
            owner = redis_cluster.owner_of(_core.key_slot("rt:" + key))
            assert owner.cli("EXISTS", "rt:" + key) == "1"
        # Hash tags: every key of one tag lands on one node and one slot.
        tagged = [f"{{user42}}:{n}" for n in range(10)]
        await cache.set_many({k: n for n, k in enumerate(tagged)})
        slots = {_core.key_slot("rt:" + k) for k in tagged}
        assert len(slots) == 1
        owner = redis_cluster.owner_of(slots.pop())
        assert int(owner.cli("EXISTS", *("rt:" + k for k in tagged))) == 10
        # Multi-key operations across slots are split and gathered.
        many = {f"m{n}": n for n in range(50)}
        await cache.set_many(many)
        assert await cache.get_many(list(many)) == many
        conn = cache.redis.connection
        assert isinstance(conn, ClusterConnection)
        assert conn.stats()["cross_slot_splits"] > 0
        assert await cache.delete_many(list(many)[:20]) == 20
        assert await cache.exists("m25") and not await cache.exists("m5")
        # clear() walks every primary with SCAN.
        removed = await cache.clear()
        assert removed == len(keys) + len(tagged) + 30
        for node in redis_cluster.primaries():
            assert node.cli("KEYS", "rt:*") == ""


@run_async
async def test_invalidate_pattern_on_every_primary(
    redis_cluster: RedisClusterServers,
) -> None:
    cache = make_cache(redis_cluster.url, enable_l1_cache=False, key_prefix="ip:")
    async with cache:
        await cache.set_many({f"a:{n}": n for n in range(40)})
        await cache.set_many({f"b:{n}": n for n in range(40)})
        assert await cache.invalidate_pattern("a:*") == 40
        assert await cache.get("a:3") is None and await cache.get("b:3") == 3
        await cache.clear()


async def move_slot(
    cluster: RedisClusterServers, slot: int, key: str, *, finish: bool
) -> tuple[Any, Any]:
    """Moves slot (holding key) to another primary: IMPORTING/MIGRATING, MIGRATE,
    and with finish=True SETSLOT NODE on every node.  Returns (source, target)."""
    source = cluster.owner_of(slot)
    target = next(n for n in cluster.primaries() if n is not source)
    src_id, dst_id = cluster.node_id(source), cluster.node_id(target)
    target.cli("CLUSTER", "SETSLOT", str(slot), "IMPORTING", src_id)
    source.cli("CLUSTER", "SETSLOT", str(slot), "MIGRATING", dst_id)
    source.cli("MIGRATE", target.host, str(target.port), "", "0", "5000", "KEYS", key)
    if finish:
        for node in cluster.live():
            node.cli("CLUSTER", "SETSLOT", str(slot), "NODE", dst_id)
    return source, target


@run_async
async def test_moved_during_resharding(redis_cluster_fn: RedisClusterServers) -> None:
    cluster = redis_cluster_fn
    cache = make_cache(cluster.url, enable_l1_cache=False)
    async with cache:
        await cache.set("mv", "before")
        slot = _core.key_slot("mv")
        source, target = await move_slot(cluster, slot, "mv", finish=True)
        conn = cache.redis.connection
        assert conn.node_for_key("mv").address == source.address  # stale map
        assert await cache.get("mv") == "before"  # MOVED followed
        assert conn.stats()["moved"] >= 1
        assert conn.node_for_key("mv").address == target.address
        await cache.set("mv", "after")
        assert target.cli("GET", "mv").endswith("after")


@run_async
async def test_ask_during_migration(redis_cluster_fn: RedisClusterServers) -> None:
    cluster = redis_cluster_fn
    cache = make_cache(cluster.url, enable_l1_cache=False)
    async with cache:
        await cache.set("{mig}a", "moved-already")
        await cache.set("{mig}b", "still-here")
        slot = _core.key_slot("{mig}a")
        source, target = await move_slot(cluster, slot, "{mig}a", finish=False)
        conn = cache.redis.connection
        # The migrated key: source answers ASK, target serves it after ASKING.
        assert await cache.get("{mig}a") == "moved-already"
        assert conn.stats()["ask"] >= 1
        # A key not yet migrated is still served by the source.
        assert await cache.get("{mig}b") == "still-here"
        assert conn.node_for_key("{mig}a").address == source.address
        # Finishing the migration turns ASK into MOVED.
        source.cli(
            "MIGRATE", target.host, str(target.port), "", "0", "5000", "KEYS", "{mig}b"
        )
        for node in cluster.live():
            node.cli("CLUSTER", "SETSLOT", str(slot), "NODE", cluster.node_id(target))
        assert await cache.get("{mig}b") == "still-here"
        assert conn.stats()["moved"] >= 1


@run_async
async def test_primary_killed_under_load_fails_over(
    redis_cluster_fn: RedisClusterServers,
) -> None:
    """64 tasks read and write while a primary dies: errors are typed and
    bounded, service is back within seconds, and no read ever returns a value
    other than one written for that key."""
    cluster = redis_cluster_fn
    cache = make_cache(
        cluster.url, enable_l1_cache=False, fail_on_connection_error=True,
        operation_timeout=1.0, breaker_reset_timeout=0.5,
    )  # fmt: skip
    keys = keys_covering_every_range(32)
    written: dict[str, set[int]] = {k: {0} for k in keys}
    errors: list[float] = []
    wrong: list[tuple[str, Any]] = []
    ok_after: list[float] = []
    kill_at: list[float] = []
    async with cache:
        for k in keys:
            await cache.set(k, 0)
        stop = time.monotonic() + 9.0

        async def worker(wid: int) -> None:
            rng = random.Random(wid)
            n = 0
            while time.monotonic() < stop:
                key = rng.choice(keys)
                n += 1
                try:
                    if n % 4 == 0:
                        value = wid * 1_000_000 + n
                        written[key].add(value)
                        await cache.set(key, value)
                    else:
                        got = await cache.get(key)
                        if got is not None and got not in written[key]:
                            wrong.append((key, got))
                    if kill_at:
                        ok_after.append(time.monotonic())
                except InfrastructureError:
                    errors.append(time.monotonic())
                    await asyncio.sleep(0.01)

        async def killer() -> None:
            await asyncio.sleep(1.5)
            victim = cluster.primaries()[0]
            kill_at.append(time.monotonic())
            victim.kill()

        await asyncio.gather(killer(), *(worker(i) for i in range(64)))
        conn_stats = cache.redis.connection.stats()
    assert not wrong
    assert kill_at and errors, "the kill should have caused some errors"
    last_error = max(errors)
    print(
        f"cluster failover: {len(errors)} errors, last {last_error - kill_at[0]:.2f}s "
        f"after the kill; {len(ok_after)} successes after it"
    )
    assert last_error - kill_at[0] < 6.0, "service did not recover within 6 s"
    # Thousands of failed commands, yet refreshes stay rate-limited (0.25 s).
    assert conn_stats["refreshes"] <= 9.0 / 0.25 + 5, conn_stats["refreshes"]
    assert any(t > last_error for t in ok_after), "no success after the last error"
    cluster.wait_ok()


@run_async
async def test_replica_reads(redis_cluster: RedisClusterServers) -> None:
    cache = make_cache(
        redis_cluster.url + "?read_from_replicas=yes",
        enable_l1_cache=False,
        key_prefix="rr:",
    )
    async with cache:
        await cache.set("x", "y")
        conn = cache.redis.connection
        replica = conn._pick_replica(_core.key_slot("rr:x"))
        assert replica is not None and not replica.primary
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and await cache.get("x") != "y":
            await asyncio.sleep(0.05)
        assert await cache.get("x") == "y"
        replica_commands = sum(
            n.conn.stats()["commands"] for n in conn.nodes if not n.primary
        )
        assert replica_commands > 0
        await cache.clear()


def test_cluster_create_used_redis_cli(redis_cluster: RedisClusterServers) -> None:
    info = redis_cluster.nodes[0].cli("CLUSTER", "INFO")
    assert "cluster_known_nodes:6" in info and "cluster_size:3" in info
    assert len(redis_cluster.primaries()) == 3
