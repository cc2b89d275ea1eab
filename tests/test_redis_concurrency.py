"""GenericRedisCache under 200 concurrent tasks on one multiplexed connection.

Each key has exactly one writer task that stores ``{"key": k, "v": n}`` with n
increasing; readers note the last version whose ``set`` had completed before they
asked (the floor). Every get must return None or that key's own value at a version
>= the floor: never another key's value (a reply matched to the wrong request)
and never an older value re-installed in L1 by a read that raced with a write.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from aicache.encryption import FernetKeyring
from aicache.redis_generic import GenericRedisCache
from aicache.security import SecurityConfig
from redis_servers import RedisServer

DB = 8
TASKS = 200
KEYS = 40


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


async def hammer(
    cache: GenericRedisCache, rounds: int, big_every: int = 0
) -> list[str]:
    keys = [f"cc:{i}" for i in range(KEYS)]
    completed: dict[str, int] = {}
    violations: list[str] = []
    rng = random.Random(1234)
    padding = "p" * (70 * 1024)  # >= 64 KiB: the codec's worker-thread path

    async def writer(k: str) -> None:
        for version in range(1, rounds + 1):
            value: dict[str, Any] = {"key": k, "v": version}
            if big_every and version % big_every == 0:
                value["pad"] = padding
            await cache.set(k, value)
            completed[k] = version
            if version % 7 == 0:
                await asyncio.sleep(0)

    async def reader(seed: int) -> None:
        r = random.Random(seed)
        for _ in range(rounds * 2):
            k = r.choice(keys)
            floor = completed.get(k, 0)
            got = await cache.get(k)
            if got is None:
                continue
            if got.get("key") != k:
                violations.append(f"asked {k}, got {got.get('key')}")
            elif got["v"] < floor:
                violations.append(f"{k}: version {got['v']} after {floor} completed")

    async def batch_reader(seed: int) -> None:
        r = random.Random(seed)
        for _ in range(rounds // 2):
            wanted = r.sample(keys, 5)
            floors = {k: completed.get(k, 0) for k in wanted}
            got = await cache.get_many(wanted)
            for k, value in got.items():
                if value is not None and (
                    value.get("key") != k or value["v"] < floors[k]
                ):
                    violations.append(f"batch {k}: {value.get('key')} v{value['v']}")

    readers = TASKS - KEYS - 10
    jobs = [writer(k) for k in keys]
    jobs += [reader(rng.randrange(1 << 30)) for _ in range(readers)]
    jobs += [batch_reader(rng.randrange(1 << 30)) for _ in range(10)]
    assert len(jobs) == TASKS
    await asyncio.gather(*jobs)
    # After the dust settles every key reads back its last version.
    for k in keys:
        final = await cache.get(k)
        if final is None or final["v"] != rounds:
            violations.append(f"{k}: final {final}")
    return violations


@pytest.mark.parametrize("l1", [True, False], ids=["with_l1", "redis_only"])
def test_200_tasks_never_see_another_keys_value(url: str, l1: bool) -> None:
    cache = GenericRedisCache(redis_url=url, enable_l1_cache=l1)

    async def go() -> list[str]:
        try:
            return await hammer(cache, rounds=30)
        finally:
            await cache.disconnect()

    assert run(go()) == []
    stats = cache.get_stats()
    assert stats["redis_errors"] == 0 and stats["corrupt_payloads"] == 0
    assert stats["redis_hits"] > 0


def test_concurrency_with_encryption_and_large_values(url: str) -> None:
    cfg = SecurityConfig(encryption_key=FernetKeyring.generate_key().decode())
    cache = GenericRedisCache(redis_url=url, security_config=cfg, l1_cache_size=20)

    async def go() -> list[str]:
        try:
            return await hammer(cache, rounds=12, big_every=3)
        finally:
            await cache.disconnect()

    assert run(go()) == []
    assert cache.get_stats()["corrupt_payloads"] == 0
