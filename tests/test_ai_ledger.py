"""The AI accounting the C hit path batches (csrc/_aicache_ai_ledger.c) leaves
ai_metrics and the duration samples exactly as the Python path's one-by-one
updates do: the same values and the same key order, whenever they are read."""

from __future__ import annotations

import random
from collections import defaultdict, deque
from typing import Any

import pytest

from aicache import _core
from aicache.redis_ai import AIResponseCache
from aicache.security import SecurityConfig
from cache_env import run, testing_env  # noqa: F401  (autouse fixture)
from redis_servers import RedisServer

DB = 12


class PythonAccounting(AIResponseCache):
    """The reference: replacing a recording method sends every get through the
    Python path, with the original's callbacks."""

    def _record_ai_cache_hit(
        self, operation: str, text_tier: str = "unknown", cache_type: str = "redis"
    ) -> None:
        super()._record_ai_cache_hit(operation, text_tier, cache_type)


@pytest.fixture
def url(redis_plain: RedisServer) -> str:
    redis_plain.cli("-n", str(DB), "FLUSHDB")
    return f"{redis_plain.url}/{DB}"


def observed(cache: AIResponseCache) -> list[Any]:
    """Everything a reader sees, in order, except the measured times."""
    out: list[Any] = []
    for name, value in cache.ai_metrics.items():
        if name == "operation_performance":
            value = [(e["operation"], e["data_size"], e["ttl"]) for e in value]
        elif name == "operation_duration_totals":
            value = list(value)  # seconds differ; the keys and their order do not
        elif isinstance(value, dict):
            value = list(value.items())
        out.append((name, value))
    durations = cache._operation_durations
    out.append(("durations", [(op, len(samples)) for op, samples in durations.items()]))
    return out


def workload(seed: int) -> list[tuple[str, str]]:
    """(action, key) steps: more operations and tiers than one batch has accounts
    and more gets than one batch holds, hits (L1 and Redis), misses, plain and
    non-operation AI keys, writes and reads of the counters in between."""
    rnd = random.Random(seed)
    probe = AIResponseCache(redis_url="redis://127.0.0.1:1/0")
    texts = ["t" * n for n in (10, 600, 6000, 60000)]  # the four text tiers
    ops = [f"op{i}" for i in range(12)] + ["summarize", "qa"]
    keys = [probe.build_key(rnd.choice(texts), op, {}) for op in ops for _ in range(3)]
    keys += ["ai_cache:custom:1", "plain:key"]
    stored = set(rnd.sample(keys, len(keys) * 2 // 3))
    steps = [("set", k) for k in sorted(stored)] + [("clear_l1", "")]
    for _ in range(1500):
        r = rnd.random()
        if r < 0.02:
            steps.append(("set", rnd.choice(keys)))
        elif r < 0.03:
            steps.append(("read", ""))
        else:
            steps.append(("get", rnd.choice(keys)))
    return steps


@pytest.mark.redis
def test_batched_accounting_reads_as_the_python_path(url: str) -> None:
    async def main() -> None:
        config = SecurityConfig()
        fast = AIResponseCache(redis_url=url, key_prefix="c:", security_config=config)
        slow = PythonAccounting(redis_url=url, key_prefix="py:", security_config=config)
        caches = (fast, slow)
        for cache in caches:
            assert await cache.connect()
        assert fast._hot is not None and slow._hot is None
        try:
            seen: dict[int, list[Any]] = defaultdict(list)
            batched = 0
            for action, key in workload(seed=7):
                for cache in caches:
                    if action == "set":
                        await cache.set(key, {"k": key}, 60)
                    elif action == "clear_l1":
                        assert cache.l1_cache is not None
                        await cache.l1_cache.clear()
                    elif action == "read":
                        seen[id(cache)].append(observed(cache))
                    else:
                        await cache.get(key)
                assert fast._hot is not None
                batched = max(batched, fast._hot.ai_pending)
            assert batched > 16  # the batch did hold gets (and filled up)
            assert seen[id(fast)] == seen[id(slow)]
            assert observed(fast) == observed(slow)
            hits = fast.ai_metrics["cache_hits_by_operation"]
            assert sum(hits.values()) > 500 and len(hits) == 14
        finally:
            for cache in caches:
                await cache.disconnect()

    run(main())


@pytest.mark.redis
def test_replacing_ai_metrics_applies_the_pending_gets_to_the_old_dict(
    url: str,
) -> None:
    async def main() -> None:
        cache = AIResponseCache(redis_url=url, security_config=SecurityConfig())
        assert await cache.connect()
        try:
            key = cache.build_key("a document", "summarize", {})
            await cache.set(key, "answer", 60)
            for _ in range(5):
                assert await cache.get(key) == "answer"
            hot = cache._hot
            assert hot is not None and hot.ai_pending == 5
            old = cache.__dict__["_ai_metrics"]
            cache.ai_metrics = {
                "cache_hits_by_operation": defaultdict(int),
                "cache_misses_by_operation": defaultdict(int),
                "text_tier_distribution": defaultdict(int),
                "operation_performance": [],
            }
            assert old["cache_hits_by_operation"] == {"summarize": 5}
            assert await cache.get(key) == "answer"
            assert cache.ai_metrics["cache_hits_by_operation"] == {"summarize": 1}
            assert old["cache_hits_by_operation"] == {"summarize": 5}
        finally:
            await cache.disconnect()

    run(main())


@pytest.mark.redis
def test_a_user_callback_sees_the_hit_it_is_called_for(url: str) -> None:
    async def main() -> None:
        cache = AIResponseCache(redis_url=url, security_config=SecurityConfig())
        assert await cache.connect()
        seen: list[int] = []
        cache.register_callback(
            "get_success",
            lambda *_: seen.append(cache.ai_metrics["cache_hits_by_operation"]["qa"]),
        )
        try:
            key = cache.build_key("a document", "qa", {"question": "why?"})
            await cache.set(key, "because", 60)
            for _ in range(3):
                assert await cache.get(key) == "because"
            assert seen == [1, 2, 3]
        finally:
            await cache.disconnect()

    run(main())


def raw_hit_path(
    resolve: Any, metrics: dict[str, Any]
) -> tuple[_core.HitPath, dict[str, deque[float]]]:
    tier = _core.MemoryTier(10)
    tier.set("ai_cache:op:x|txt:a", "v", 0, 1.0)
    durations: dict[str, deque[float]] = {}
    ai = ({}, resolve, metrics, durations, lambda: defaultdict(int),
          lambda: defaultdict(float), lambda: deque(maxlen=5))  # fmt: skip
    return _core.HitPath(tier, None, ai), durations


def test_operations_that_are_not_exact_str_are_applied_at_once() -> None:
    class Op(str):
        pass

    metrics: dict[str, Any] = {
        "cache_hits_by_operation": defaultdict(int),
        "text_tier_distribution": defaultdict(int),
    }
    hot, durations = raw_hit_path(lambda k: (Op("x"), "small", True), metrics)
    for n in (1, 2):
        assert hot.get("ai_cache:op:x|txt:a") == "v"
        assert hot.ai_pending == 0
        assert metrics["cache_hits_by_operation"] == {"x": n}
        assert len(durations["x"]) == n


def test_a_counter_that_fails_does_not_stop_the_others() -> None:
    """A missing counter dict (KeyError) is discarded, as the one-by-one updates
    discarded it; the rest of the batch is applied."""
    metrics: dict[str, Any] = {"text_tier_distribution": defaultdict(int)}
    hot, durations = raw_hit_path(lambda k: ("x", "small", True), metrics)
    for _ in range(3):
        assert hot.get("ai_cache:op:x|txt:a") == "v"
    hot.flush_ai()
    assert hot.ai_pending == 0
    assert "cache_hits_by_operation" not in metrics
    assert metrics["text_tier_distribution"] == {"small": 3}
    assert metrics["operation_count_totals"] == {"x": 3}
    assert len(durations["x"]) == 3
