"""The interface every cache the factories and dependencies return answers, as types.

``CacheFactory().for_web_app()`` returns a ``GenericRedisCache`` or, with Redis down, an
``InMemoryCache``; ``for_ai_app()`` an ``AIResponseCache`` or an ``InMemoryCache``.
Annotate code that receives either with these protocols (mypy checks both classes
against them)::

    from aicache.protocols import AICacheService, CacheService

    async def handler(cache: CacheService = Depends(get_cache_service)) -> ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

__all__ = ["AICacheService", "CacheService"]


class CacheService(Protocol):
    """What ``InMemoryCache``, ``GenericRedisCache`` and ``AIResponseCache`` share."""

    default_ttl: int

    async def get(self, key: str) -> Any: ...
    async def set(self, key: str, value: Any, ttl: int | None = None) -> None: ...
    async def delete(self, key: str) -> object: ...
    async def exists(self, key: str) -> bool: ...
    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]: ...
    async def set_many(
        self, items: Mapping[str, Any], ttl: int | None = None
    ) -> None: ...
    async def delete_many(self, keys: Iterable[str]) -> int: ...
    async def invalidate_pattern(
        self, pattern: str, operation_context: str = ""
    ) -> int: ...
    async def get_ttl(self, key: str) -> int | None: ...
    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], Any],
        ttl: float | None = None,
        **options: Any,
    ) -> Any: ...
    def build_key(self, text: str, operation: str, options: dict[str, Any]) -> str: ...
    def get_stats(self) -> dict[str, Any]: ...
    async def get_cache_stats(self) -> dict[str, Any]: ...
    async def connect(self) -> bool: ...
    async def disconnect(self) -> None: ...


class AICacheService(CacheService, Protocol):
    """What ``AIResponseCache`` and its ``InMemoryCache`` stand-in share."""

    async def cache_response(
        self,
        text: str,
        operation: str,
        options: dict[str, Any] | None,
        response: Any,
        question: str | None = None,
    ) -> None: ...
    async def get_cached_response(
        self,
        text: str,
        operation: str,
        options: dict[str, Any] | None = None,
        question: str | None = None,
    ) -> dict[str, Any] | None: ...
    async def invalidate_by_operation(
        self, operation: str, operation_context: str = ""
    ) -> int: ...
    def get_ai_performance_summary(self) -> dict[str, Any]: ...
    def get_text_tier_statistics(self) -> dict[str, Any]: ...
    def get_operation_performance(self) -> dict[str, Any]: ...
    def get_cache_hit_ratio(self) -> float: ...
