"""The abstract cache interface every tier implements (spec section 3)."""

import abc
from typing import Any

__all__ = ["CacheInterface"]


class CacheInterface(abc.ABC):
    """Four async operations; ``exists`` must not change eviction order."""

    @abc.abstractmethod
    async def get(self, key: str) -> Any | None:
        """Return the cached value, or None when missing or expired."""

    @abc.abstractmethod
    async def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store value under key; ``ttl=None`` means the implementation default."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove key; deleting a missing key is not an error."""

    @abc.abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether key holds a live value, without touching LRU order."""
