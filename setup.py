"""Builds the one extension module, aicache._core, from csrc/.

Toggles (environment variables):
  AICACHE_SANITIZE=1  -fsanitize=address,undefined (implies a debug build)
  AICACHE_COVERAGE=1  --coverage (implies a debug build)
  AICACHE_DEBUG=1     -O0 -g, assertions on, AIC_DEBUG counters
  AICACHE_WERROR=1    -Werror (the test script sets it)
"""

import glob
import os
import shlex
import subprocess

from setuptools import Extension, setup


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

setup(
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
