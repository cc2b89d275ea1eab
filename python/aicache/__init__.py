"""aicache: a multi-tier cache (C memory tier in front of Redis) for FastAPI and LLM apps."""

from aicache.base import CacheInterface
from aicache.exceptions import (
    ApplicationError,
    ConfigurationError,
    InfrastructureError,
    ValidationError,
)

__version__ = "0.1.0"
__author__ = "aicache developers"
__description__ = (
    "Multi-tier memory + Redis cache with a C core for FastAPI and LLM apps"
)

__all__ = [
    "ApplicationError",
    "CacheInterface",
    "ConfigurationError",
    "InfrastructureError",
    "ValidationError",
]
