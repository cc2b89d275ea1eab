"""Builds the one extension module, aicache._core, from csrc/.

Toggles (environment variables):
  AICACHE_SANITIZE=1  -fsanitize=address,undefined (implies a debug build)
  AICACHE_COVERAGE=1  --coverage (implies a debug build)
  AICACHE_DEBUG=1     -O0 -g, assertions on, AIC_DEBUG counters
  AICACHE_WERROR=1    -Werror (the test script sets it)
  AICACHE_NO_ISAL=1        build without ISA-L even when it is installed
  AICACHE_NO_LIBDEFLATE=1  build without libdeflate even when it is installed

Optional libraries (found with pkg-config, else by a header probe): ISA-L
(libisal-dev) compresses value frames, libdeflate (libdeflate-dev) inflates
them; without them system zlib does both, writing and reading the same format.
"""

import glob
import os
import shlex
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def pkg_config(*args: str) -> list[str]:
    try:
        out = subprocess.run(
            ["pkg-config", *args, "libcrypto", "zlib"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return shlex.split(out)


def header_compiles(header: str) -> bool:
    """Whether the C compiler finds `header` (the probe when pkg-config cannot)."""
    cc = os.environ.get("CC", "cc")
    try:
        return (
            subprocess.run(
                [*shlex.split(cc), "-E", "-x", "c", "-"],
                input=f"#include <{header}>\n",
                capture_output=True,
                text=True,
            ).returncode
            == 0
        )
    except OSError:
        return False


def optional_library(
    env_off: str, pkg: str, header: str, lib: str, define: str
) -> tuple[list[str], list[str], list[tuple[str, str | None]]]:
    """(cflags, libs, defines) for an optional library, empty when absent or off."""
    if os.environ.get(env_off):
        return [], [], []
    try:
        cf = subprocess.run(
            ["pkg-config", "--cflags", pkg], check=True, capture_output=True, text=True
        ).stdout
        lf = subprocess.run(
            ["pkg-config", "--libs", pkg], check=True, capture_output=True, text=True
        ).stdout
        return shlex.split(cf), shlex.split(lf), [(define, "1")]
    except (OSError, subprocess.CalledProcessError):
        pass
    if header_compiles(header):
        return [], [f"-l{lib}"], [(define, "1")]
    return [], [], []


SANITIZE = bool(os.environ.get("AICACHE_SANITIZE"))
COVERAGE = bool(os.environ.get("AICACHE_COVERAGE"))
DEBUG = bool(os.environ.get("AICACHE_DEBUG")) or SANITIZE or COVERAGE

cflags = pkg_config("--cflags")
libs = pkg_config("--libs") or ["-lcrypto", "-lz"]

extra_compile_args = [
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Wstrict-prototypes",
    "-Wwrite-strings",
    "-Wno-missing-field-initializers",
    "-fvisibility=hidden",
    *[f for f in cflags],
]
extra_link_args = [*libs]
define_macros: list[tuple[str, str | None]] = []
for opt in (
    optional_library("AICACHE_NO_ISAL", "libisal", "isa-l/igzip_lib.h", "isal", "AIC_HAVE_ISAL"),
    optional_library(
        "AICACHE_NO_LIBDEFLATE", "libdeflate", "libdeflate.h", "deflate", "AIC_HAVE_LIBDEFLATE"
    ),
):
    extra_compile_args += opt[0]
    extra_link_args += opt[1]
    define_macros += opt[2]

if os.environ.get("AICACHE_WERROR"):
    extra_compile_args.append("-Werror")
if DEBUG:
    extra_compile_args += ["-O0", "-g3", "-UNDEBUG"]
    define_macros.append(("AIC_DEBUG", "1"))
else:
    extra_compile_args += ["-O2"]
if SANITIZE:
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    extra_compile_args += san
    extra_link_args += san
if COVERAGE:
    extra_compile_args.append("--coverage")
    extra_link_args.append("--coverage")

# What to install when a header is missing, per distribution family.
_HEADER_PACKAGES = {
    "Python.h": ("python3-dev", "python3-devel", "python3-dev"),
    "openssl/evp.h": ("libssl-dev", "openssl-devel", "openssl-dev"),
    "zlib.h": ("zlib1g-dev", "zlib-devel", "zlib-dev"),
}
_COMPILER_PACKAGES = ("build-essential", "gcc", "build-base")


def _install_hint(packages: tuple[str, str, str]) -> str:
    debian, fedora, alpine = packages
    return (
        f"    Debian/Ubuntu: sudo apt-get install {debian}\n"
        f"    Fedora/RHEL:   sudo dnf install {fedora}\n"
        f"    Alpine:        apk add {alpine}"
    )


def missing_build_requirements(
    compiler: list[str], include_dirs: list[str]
) -> list[str]:
    """Messages for what the C build lacks (compiler, Python/OpenSSL/zlib headers),
    found by preprocessing one #include each; empty when everything is there."""
    import sysconfig
    import tempfile

    flags = [f"-I{d}" for d in include_dirs if d] + [
        f for f in cflags if f.startswith("-I")
    ]
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for header, packages in _HEADER_PACKAGES.items():
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as fh:
                fh.write(f"#include <{header}>\n")
            try:
                result = subprocess.run(
                    [*compiler, "-E", *flags, src],
                    capture_output=True,
                    text=True,
                    check=False,
                )
            except OSError:
                return [
                    f"no C compiler ({compiler[0]!r} not found); install one:\n"
                    + _install_hint(_COMPILER_PACKAGES)
                ]
            if result.returncode != 0:
                where = sysconfig.get_paths()["include"] if header == "Python.h" else ""
                problems.append(
                    f"missing C header <{header}>"
                    + (f" (looked in {where})" if where else "")
                    + "; install it:\n"
                    + _install_hint(packages)
                )
    return problems


class CheckedBuildExt(build_ext):
    """build_ext that names the missing system packages before compiling,
    instead of ending in a bare compiler error."""

    def run(self) -> None:
        self.compiler_probe()
        super().run()

    def compiler_probe(self) -> None:
        import sysconfig

        if os.environ.get("AICACHE_SKIP_BUILD_CHECK"):
            return
        compiler = shlex.split(
            os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
        )
        include_dirs = [
            sysconfig.get_paths()["include"],
            sysconfig.get_paths()["platinclude"],
            *(self.include_dirs or []),
        ]
        problems = missing_build_requirements(compiler, include_dirs)
        if problems:
            raise SystemExit(
                "aicache cannot build its C extension:\n- "
                + "\n- ".join(problems)
                + "\n(or install a prebuilt wheel: pip install --only-binary aicache aicache)"
            )


setup(
    cmdclass={"build_ext": CheckedBuildExt},
    ext_modules=[
        Extension(
            "aicache._core",
            sources=sorted(glob.glob("csrc/*.c")),
            depends=sorted(glob.glob("csrc/*.h")),
            include_dirs=["csrc"],
            define_macros=define_macros,
            extra_compile_args=extra_compile_args,
            extra_link_args=extra_link_args,
        )
    ],
)
