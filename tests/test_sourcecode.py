"""Source rules and the format/lint/type checks, run as tests (uvloop's habit).

A check whose tool is absent is skipped with the reason; in the README's test
command every tool is installed, so none is skipped there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
CORE_FILES = sorted(CSRC.glob("aic_*.[ch]"))
BINDING_FILES = sorted(CSRC.glob("_aicache*.[ch]"))


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_core_never_sees_python() -> None:
    assert CORE_FILES, "no core files found"
    for path in CORE_FILES:
        text = path.read_text()
        assert "Python.h" not in text, f"{path.name} must stay pure C"
        assert not re.search(r"\bPy[A-Z_]\w*\(", text), f"{path.name} calls the C-API"


def test_core_never_reads_a_clock_or_aborts() -> None:
    banned = re.compile(r"\b(time|clock_gettime|gettimeofday|abort|exit)\s*\(")
    for path in CORE_FILES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//")[0]
            if code.lstrip().startswith(("/*", "*")):
                continue
            assert not banned.search(code), f"{path.name}:{n}: {line.strip()}"


def test_core_allocates_only_through_the_hooks() -> None:
    raw = re.compile(r"(?<![\w.>])(malloc|calloc|realloc|free)\s*\(")
    for path in CORE_FILES:
        if path.name == "aic_alloc.c":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//")[0]
            if code.lstrip().startswith(("/*", "*")):
                continue
            assert not raw.search(code), f"{path.name}:{n} allocates around aic_malloc"


def test_no_implicit_openssl_fetch_outside_aic_crypto() -> None:
    implicit = re.compile(r"\bEVP_(sha256|sha1|md5|aes_128_cbc|sha512)\s*\(")
    for path in CORE_FILES + BINDING_FILES:
        assert not implicit.search(path.read_text()), f"{path.name}: use aic_crypto"


def test_allow_threads_balanced() -> None:
    for path in BINDING_FILES:
        src = path.read_text()
        assert src.count("Py_BEGIN_ALLOW_THREADS") == src.count(
            "Py_END_ALLOW_THREADS"
        ), path.name


def test_binding_never_names_hiredis() -> None:
    for path in BINDING_FILES:
        assert not re.search(r"\bredis[A-Z]\w*\(", path.read_text()), path.name


def test_package_ships_typing_markers() -> None:
    pkg = ROOT / "python" / "aicache"
    assert (pkg / "py.typed").exists()
    assert (pkg / "_core.pyi").exists()


@pytest.mark.skipif(
    shutil.which("clang-format") is None, reason="clang-format not installed"
)
def test_c_sources_are_clang_formatted() -> None:
    files = [str(p) for p in sorted(CSRC.glob("*.[ch]"))]
    files += [str(p) for p in sorted((ROOT / "tests" / "c").glob("*.[ch]"))]
    files += [str(p) for p in sorted((ROOT / "tests" / "fuzz").glob("*.[ch]"))]
    res = _run(["clang-format", "--dry-run", "-Werror", *files])
    assert res.returncode == 0, res.stderr[-4000:]


def _tool(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        pytest.skip(f"{module} not installed (pip install -e '.[dev]')")


def test_ruff_lint() -> None:
    _tool("ruff")
    res = _run([sys.executable, "-m", "ruff", "check", "python", "tests", "benchmarks"])
    assert res.returncode == 0, res.stdout[-4000:]


def test_ruff_format() -> None:
    _tool("ruff")
    res = _run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--check",
            "python",
            "tests",
            "benchmarks",
        ]
    )
    assert res.returncode == 0, res.stdout[-4000:]


def test_mypy_strict() -> None:
    _tool("mypy")
    res = _run([sys.executable, "-m", "mypy", "python/aicache"])
    assert res.returncode == 0, res.stdout[-4000:]


def test_stub_matches_the_extension() -> None:
    _tool("mypy")
    res = _run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "aicache._core",
            "--ignore-missing-stub",
        ]
    )
    assert res.returncode == 0, res.stdout[-4000:]
