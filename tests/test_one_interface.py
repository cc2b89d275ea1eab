"""One interface in every mode (issue 10): the InMemoryCache the factories return
when Redis is down answers what the Redis caches answer; lazy package imports;
factory misconfiguration is reported, not swallowed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aicache import AIResponseCache, CacheFactory, GenericRedisCache, InMemoryCache
from aicache.exceptions import ValidationError
from aicache.monitoring import CachePerformanceMonitor
from redis_servers import free_port

ROOT = Path(__file__).resolve().parents[1]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _closed_url() -> str:
    return f"redis://127.0.0.1:{free_port()}"


# ------------------------------------------------------------------ lazy imports


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import aicache", ("fastapi", "aicache.memory", "aicache.dependencies")),
        ("import aicache.memory", ("fastapi", "aicache.redis_generic", "pydantic")),
        ("from aicache import InMemoryCache", ("fastapi", "aicache.factory")),
        ("from aicache import CacheFactory", ("fastapi", "aicache.dependencies")),
    ],
)
def test_imports_load_only_what_they_use(
    statement: str, absent: tuple[str, ...]
) -> None:
    code = f"{statement}\nimport sys\nprint(sorted(m for m in {absent!r} if m in sys.modules))"
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert res.stdout.strip() == "[]", res.stdout


def test_star_import_and_dir_list_every_export() -> None:
    import aicache

    namespace: dict[str, Any] = {}
    exec("from aicache import *", namespace)
    assert set(aicache.__all__) <= set(namespace)
    assert set(aicache.__all__) <= set(dir(aicache))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        aicache.nope  # noqa: B018


# ------------------------------------------------------------------ the fallback


def test_ai_fallback_answers_the_ai_interface() -> None:
    async def main() -> None:
        cache = await CacheFactory().for_ai_app(
            redis_url=_closed_url(), operation_ttls={"summarize": 120}
        )
        assert isinstance(cache, InMemoryCache)
        assert cache.operation_ttls == {"summarize": 120}
        async with cache as entered:
            assert entered is cache
            assert await cache.connect() is False
            await cache.cache_response("doc", "summarize", {"n": 1}, {"s": "x"})
            key = cache.build_key("doc", "summarize", {"n": 1})
            assert await cache.get_ttl(key) in (119, 120)
            hit = await cache.get_cached_response("doc", "summarize", {"n": 1})
            assert hit is not None and hit["s"] == "x" and hit["cache_hit"] is True
            assert hit["retrieval_count"] == 1 and hit["text_tier"] == "small"
            again = await cache.get_cached_response("doc", "summarize", {"n": 1})
            assert again is not None and again["retrieval_count"] == 2
            assert await cache.get_cached_response("doc", "sentiment") is None
            await cache.cache_response("doc", "sum", None, "plain text")
            assert await cache.invalidate_by_operation("summarize") == 1
            assert await cache.get_cached_response("doc", "summarize", {"n": 1}) is None
            # exactly the operation: "sum" keys survive "summarize"
            kept = await cache.get_cached_response("doc", "sum")
            assert kept is not None and kept["response"] == "plain text"
            summary = cache.get_ai_performance_summary()
            assert summary["hit_rate_by_operation"]["summarize"]["hits"] == 2
            assert cache.get_text_tier_statistics()["tier_distribution"]["small"] == 3
            perf = cache.get_operation_performance()
            assert set(perf["operations"]) == {"summarize", "sentiment", "sum"}
            assert perf["operations"]["summarize"]["configured_ttl"] == 120
            assert cache.get_performance_summary()["ai_operation_metrics"] == {
                "summarize": 2,
                "sum": 1,
            }
            assert isinstance(cache.get_cache_hit_ratio(), float)
            with pytest.raises(ValidationError):
                await cache.invalidate_by_operation("")
            with pytest.raises(ValidationError):
                await cache.cache_response(b"bytes", "op", None, {})  # type: ignore[arg-type]

    run(main())


def test_web_fallback_answers_batch_and_lifecycle_calls() -> None:
    async def main() -> None:
        cache = await CacheFactory().for_web_app(redis_url=_closed_url())
        assert isinstance(cache, InMemoryCache)
        await cache.set_many({"a": 1, "b": 2}, ttl=30)
        assert await cache.get_many(["a", "b", "c", "a"]) == {"a": 1, "b": 2, "c": None}
        assert await cache.delete_many(["a", "c"]) == 1
        assert await cache.invalidate_pattern("b*") == 1
        assert await cache.get_many(["a", "b"]) == {"a": None, "b": None}
        assert await cache.validate_security() is None
        assert cache.get_security_status()["security_enabled"] is False
        assert (await cache.test_security_configuration())["overall_secure"] is False
        assert "no Redis" in await cache.generate_security_report()
        await cache.disconnect()
        await cache.clear()

    run(main())


def test_the_fallback_covers_the_redis_cache_interface() -> None:
    """Every public method of AIResponseCache exists on InMemoryCache, except the
    few that only make sense with a Redis link (listed in docs/migration.md)."""
    not_applicable = {
        "create_secure",  # a constructor of Redis caches
        "register_callback",  # events of the Redis tiers
        "memory_cache",
        "memory_cache_order",
        "memory_cache_size",  # views of a Redis cache's L1
        "l1_cache",  # attributes of a Redis cache (properties, so that assigning
        "performance_monitor",  # them rebuilds the C hit path)
        "ai_metrics",  # an AI cache's counters (a property: reading applies the
        # accounting the C hit path has pending)
    }
    redis_api = {n for n in dir(AIResponseCache) if not n.startswith("_")}
    memory_api = {n for n in dir(InMemoryCache) if not n.startswith("_")}
    assert redis_api - memory_api == not_applicable
    assert hasattr(InMemoryCache, "__aenter__") and hasattr(InMemoryCache, "__aexit__")


def test_operation_ttls_default_is_read_only_and_per_instance() -> None:
    a, b = InMemoryCache(), InMemoryCache()
    with pytest.raises(TypeError):
        a.operation_ttls["x"] = 1  # type: ignore[index]
    a.operation_ttls = {"x": 5}
    assert b.operation_ttls == {}


@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("mypy"), reason="mypy not installed"
)
def test_mypy_sees_one_interface(tmp_path: Path) -> None:
    """User code calling the Redis interface on what the factories return (which
    may be the InMemoryCache stand-in) type-checks under mypy --strict."""
    user = tmp_path / "user_code.py"
    user.write_text(
        textwrap.dedent(
            """
            from aicache import CacheFactory

            async def web() -> int:
                cache = await CacheFactory().for_web_app()
                await cache.set_many({"a": 1}, ttl=5)
                found = await cache.get_many(["a"])
                await cache.invalidate_pattern("a*")
                async with cache:
                    pass
                await cache.disconnect()
                return len(found) + await cache.delete_many(["a"])

            from aicache import AIResponseCache, GenericRedisCache, InMemoryCache
            from aicache.protocols import AICacheService, CacheService

            services: list[CacheService] = [
                InMemoryCache(), GenericRedisCache(), AIResponseCache()
            ]
            ai_services: list[AICacheService] = [InMemoryCache(), AIResponseCache()]

            async def through_protocol(cache: AICacheService) -> int:
                await cache.set_many({"a": 1})
                return await cache.invalidate_by_operation("summarize")

            async def ai() -> int:
                cache = await CacheFactory().for_ai_app()
                await cache.cache_response("t", "summarize", {}, {"s": 1})
                hit = await cache.get_cached_response("t", "summarize")
                summary = cache.get_ai_performance_summary()
                n = await cache.invalidate_by_operation("summarize")
                return n + len(summary) + (0 if hit is None else 1)
            """
        )
    )
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(user)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-3000:]


# ------------------------------------------------------------------ misconfiguration


def test_factory_rejects_made_up_keyword_arguments() -> None:
    factory = CacheFactory()
    with pytest.raises(ValidationError, match=r"unknown argument.*enable_memory_cach"):
        run(factory.for_web_app(redis_url=_closed_url(), enable_memory_cache=False))
    with pytest.raises(ValidationError, match=r"for_ai_app.*colour"):
        run(factory.for_ai_app(redis_url=_closed_url(), colour="blue"))
    with pytest.raises(ValidationError, match="for_testing"):
        run(factory.for_testing(use_memory_cache=True, bogus=1))


@pytest.mark.redis
def test_own_performance_monitor_gets_a_redis_cache(redis_plain: Any) -> None:
    async def main() -> None:
        monitor = CachePerformanceMonitor()
        web = await CacheFactory().for_web_app(
            redis_url=redis_plain.url, performance_monitor=monitor
        )
        ai = await CacheFactory().for_ai_app(
            redis_url=redis_plain.url, performance_monitor=monitor
        )
        try:
            assert type(web) is GenericRedisCache
            assert web.performance_monitor is monitor
            assert type(ai) is AIResponseCache
            assert ai.performance_monitor is monitor
        finally:
            await web.disconnect()
            await ai.disconnect()

    run(main())


@pytest.mark.redis
def test_ai_calls_on_redis_carry_the_seed_metadata(redis_plain: Any) -> None:
    async def main() -> None:
        cache = AIResponseCache(
            redis_url=redis_plain.url, operation_ttls={"qa": 90}, l1_cache_size=10
        )
        try:
            await cache.cache_response(
                "x" * 600, "qa", {"depth": 2}, {"answer": 42}, question="why?"
            )
            key = cache.build_key("x" * 600, "qa", {"depth": 2, "question": "why?"})
            assert "|q:" in key
            assert await cache.get_ttl(key) in (89, 90)
            got = await cache.get_cached_response(
                "x" * 600, "qa", {"depth": 2}, question="why?"
            )
            assert got is not None
            assert got["answer"] == 42 and got["operation"] == "qa"
            assert got["text_length"] == 600 and got["text_tier"] == "medium"
            assert got["cache_hit"] is True and got["retrieval_count"] == 1
            assert got["cached_at"] <= got["retrieved_at"]
            assert (
                await cache.get_cached_response("x" * 600, "qa", {"depth": 2}) is None
            )
        finally:
            await cache.clear()
            await cache.disconnect()

    run(main())


def test_l1_aliases_are_honoured_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="memory_cache_size is deprecated"):
        cache = GenericRedisCache(redis_url=_closed_url(), memory_cache_size=500)
    assert cache.l1_cache is not None and cache.l1_cache.max_size == 500
    with pytest.warns(DeprecationWarning, match="enable_memory_cache is deprecated"):
        cache = GenericRedisCache(redis_url=_closed_url(), enable_memory_cache=False)
    assert cache.l1_cache is None
    with pytest.warns(DeprecationWarning, match="memory_cache_size"):
        run(CacheFactory().for_web_app(redis_url=_closed_url(), memory_cache_size=20))


def test_unknown_constructor_arguments_are_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="aicache.redis_generic"):
        GenericRedisCache(redis_url=_closed_url(), l1_size=5)
    assert "ignores unknown arguments: ['l1_size']" in caplog.text


@pytest.mark.parametrize("name", ["REDIS_TLS_PROTOCOLS", "REDIS_TLS_CERT_REQS"])
def test_seed_tls_variables_are_rejected_with_a_message(name: str) -> None:
    from aicache.exceptions import ConfigurationError
    from aicache.settings import resolve_cache_config

    with pytest.raises(ConfigurationError, match=f"{name} is not supported: ") as info:
        resolve_cache_config({name: "TLSv1.2"})
    assert info.value.context["field"] == name


def test_redis_errors_are_public_under_infrastructure_error() -> None:
    import aicache
    from aicache import _connection, exceptions

    for name in ("RedisConnectionError", "RedisTimeoutError", "RedisAuthError"):
        cls = getattr(aicache, name)
        assert cls is getattr(exceptions, name) is getattr(_connection, name)
        assert issubclass(cls, aicache.InfrastructureError)
        assert name in exceptions.__all__ and name in aicache.__all__
    assert issubclass(aicache.RedisTimeoutError, aicache.RedisConnectionError)


@pytest.mark.redis
def test_wrong_password_is_reported_as_authentication_failure(
    redis_password: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = redis_password.plain_url.replace("redis://", "redis://:wrong@")
    with caplog.at_level("WARNING", logger="aicache.factory"):
        cache = run(CacheFactory().for_web_app(redis_url=url))
    assert isinstance(cache, InMemoryCache)
    assert cache.fallback_reason is not None
    assert cache.fallback_reason.startswith("authentication failed")
    factory_lines = [
        r.getMessage() for r in caplog.records if r.name == "aicache.factory"
    ]
    assert len(factory_lines) == 1
    assert "authentication failed" in factory_lines[0]
    assert "unreachable" not in factory_lines[0]


def test_one_warning_per_condition(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_ENCRYPTION_KEY", raising=False)
    with caplog.at_level("WARNING"):
        run(CacheFactory().for_web_app(redis_url=_closed_url()))
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    no_key = [r for r in warnings if "REDIS_ENCRYPTION_KEY" in r.getMessage()]
    encryption_off = [r for r in warnings if "encryption is disabled" in r.getMessage()]
    connect = [r for r in warnings if "127.0.0.1" in r.getMessage()]
    assert len(no_key) == 1 and not encryption_off, [r.getMessage() for r in warnings]
    assert len(connect) == 1, [r.getMessage() for r in warnings]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]


# ------------------------------------------------------------------ privacy


def test_log_key_hides_the_text_and_keeps_the_namespace() -> None:
    from aicache.privacy import log_key

    ai = InMemoryCache().build_key("my diagnosis is X", "summarize", {})
    shown = log_key(ai)
    assert shown.startswith("ai_cache:op:summarize|…#") and "diagnosis" not in shown
    assert log_key("user:ada@example.com").startswith("user:…#")
    assert "ada" not in log_key("user:ada@example.com")
    assert log_key("plain") == log_key("plain") != log_key("other")


def test_hash_all_text_keeps_user_text_out_of_keys() -> None:
    cache = AIResponseCache(redis_url=_closed_url(), hash_all_text=True)
    key = cache.build_key("my secret", "summarize", {"question": "my ssn?"})
    assert "secret" not in key and "ssn" not in key and "|txt:hash:" in key
    fallback = run(
        CacheFactory().for_ai_app(redis_url=_closed_url(), hash_all_text=True)
    )
    assert isinstance(fallback, InMemoryCache)
    assert fallback.build_key("my secret", "summarize", {}) == cache.build_key(
        "my secret", "summarize", {}
    )


@pytest.mark.redis
def test_warning_logs_never_show_keys_in_clear(
    redis_plain: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        cache = GenericRedisCache(redis_url=redis_plain.url)
        try:
            await cache.set("patient:jane-doe", object())  # cannot be serialized
            memory = InMemoryCache()
            await memory.set(("patient", "jane-doe"), 1)  # type: ignore[arg-type]
        finally:
            await cache.disconnect()

    with caplog.at_level("WARNING"):
        run(main())
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("cannot be stored" in m for m in logged), logged
    assert any("Cache set error" in m for m in logged), logged
    assert not any("jane-doe" in m for m in logged), logged
