"""Shared pytest configuration.

Fixture plugins live in their own modules beside this file (tests/ is on sys.path
under pytest's default prepend import mode) and are listed in pytest_plugins.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins: list[str] = ["redis_servers", "cluster_servers", "pytester"]


@pytest.fixture(scope="session", autouse=True)
def _check_build_kind() -> None:
    """The ASan run of the suite must really load the sanitizer build."""
    if os.environ.get("AICACHE_EXPECT_DEBUG_BUILD"):
        from aicache import _core

        assert _core.DEBUG_BUILD == 1, "expected the AICACHE_SANITIZE build of _core"
