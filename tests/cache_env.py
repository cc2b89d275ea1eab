"""Shared by the fault-test modules: a clean Redis/encryption environment for
every test (imported by a module, the autouse fixture applies to that module only)
and a runner for a test's coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def testing_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("REDIS_ENCRYPTION_KEY", "REDIS_PASSWORD", "REDIS_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "testing")
    yield
