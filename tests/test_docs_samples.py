"""Every ```python sample in README.md and docs/*.md runs.

A sample runs as a module of its own (``__name__ == "__doc_sample__"``) with the
cache environment variables cleared. A sample that defines FastAPI ``app`` is also
started and stopped through TestClient (its lifespan runs); samples that define
``test_*`` functions are collected together into one pytest run, as a user's test
file would be. Samples that are not Python code to run use another fence label
(```text, ```sh).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
ENV_PREFIXES = ("CACHE_", "REDIS_", "ENABLE_AI_CACHE", "ENVIRONMENT")


def _samples() -> list[tuple[Path, int, str]]:
    found = []
    for path in DOCUMENTS:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((path, line, match.group(1)))
    return found


SAMPLES = _samples()
TEST_SAMPLES = [s for s in SAMPLES if re.search(r"^(async )?def test_", s[2], re.M)]
RUN_SAMPLES = [s for s in SAMPLES if s not in TEST_SAMPLES]


def _id(sample: tuple[Path, int, str]) -> str:
    return f"{sample[0].relative_to(ROOT)}:{sample[1]}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_there_are_samples_of_each_kind() -> None:
    assert len(RUN_SAMPLES) >= 10
    assert len(TEST_SAMPLES) >= 2


@pytest.mark.parametrize("sample", RUN_SAMPLES, ids=[_id(s) for s in RUN_SAMPLES])
@pytest.mark.usefixtures("clean_env")
def test_sample_runs(sample: tuple[Path, int, str]) -> None:
    path, line, code = sample
    namespace: dict[str, Any] = {"__name__": "__doc_sample__"}
    padded = "\n" * (line - 1) + code  # tracebacks point at the document's lines
    exec(compile(padded, str(path), "exec"), namespace)
    app = namespace.get("app")
    if app is not None and type(app).__name__ == "FastAPI":
        from fastapi.testclient import TestClient

        with TestClient(app) as client:
            for route in getattr(app, "routes", []):
                if getattr(route, "path", "").endswith("/health"):
                    assert client.get(route.path).status_code == 200


@pytest.mark.redis
def test_test_samples_pass_under_pytest(tmp_path: Path) -> None:
    for i, (path, line, code) in enumerate(TEST_SAMPLES):
        header = f"# from {path.relative_to(ROOT)}:{line}\n"
        (tmp_path / f"test_sample_{i}.py").write_text(header + code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.pop("PYTEST_ADDOPTS", None)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-o", "asyncio_mode=strict", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-4000:]
    assert (
        f"{sum(c.count('def test_') for _, _, c in TEST_SAMPLES)} passed" in res.stdout
    )
