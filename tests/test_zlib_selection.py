"""Codec selection: a build without ISA-L and libdeflate (system zlib only) and the
regular build read each other's frames, plain and encrypted, compressed or not.

The fallback build goes to a temporary directory (setup.py with AICACHE_NO_ISAL=1
and AICACHE_NO_LIBDEFLATE=1) and runs in a subprocess, so the two extension
modules never share a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aicache import _core

ROOT = Path(__file__).resolve().parent.parent
KEY = bytes(range(32))
TEXT = json.dumps(
    [
        {"id": i, "text": f"the model answered question {i} about caching"}
        for i in range(300)
    ]
).encode()
NOISE = os.urandom(5000)
BIG_NOISE = os.urandom(200_000)  # the SIMD CRC-32 over a long body

pytestmark = pytest.mark.heavy

CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("aicache._core", sys.argv[1])
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    frames = json.loads(sys.stdin.read())
    fernet = core.Fernet([bytes.fromhex(frames["key"])])
    plain = core.Codec(None, 100, 6, 1 << 20)
    sealed = core.Codec(fernet, 100, 6, 1 << 20)
    out = {"encoder": core.ZLIB_ENCODER, "decoder": core.ZLIB_DECODER,
           "crc": core.CRC32_IMPL, "read": [], "wrote": []}
    for name, codec in (("plain", plain), ("sealed", sealed)):
        for hexframe in frames[name]:
            out["read"].append(codec.decode(bytes.fromhex(hexframe))[1].hex())
        for hexpayload in frames["payloads"]:
            out["wrote"].append([name, codec.encode(1, bytes.fromhex(hexpayload)).hex()])
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def fallback_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nofast")
    env = {**os.environ, "AICACHE_NO_ISAL": "1", "AICACHE_NO_LIBDEFLATE": "1"}
    env.pop("AICACHE_SANITIZE", None)
    subprocess.run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "build_ext",
            "--build-lib",
            str(out / "lib"),
            "--build-temp",
            str(out / "tmp"),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    (so,) = (out / "lib" / "aicache").glob("_core*.so")
    return so


def test_builds_read_each_other(fallback_core: Path) -> None:
    plain = _core.Codec(None, 100, 6, 1 << 20)
    sealed = _core.Codec(_core.Fernet([KEY]), 100, 6, 1 << 20)
    payloads = [TEXT, NOISE, b"short", BIG_NOISE]
    frames = {
        "key": KEY.hex(),
        "payloads": [p.hex() for p in payloads],
        "plain": [plain.encode(1, p).hex() for p in payloads],
        "sealed": [sealed.encode(1, p).hex() for p in payloads],
    }
    assert bytes.fromhex(frames["plain"][0])[4] == 1  # TEXT was compressed
    res = subprocess.run(
        [sys.executable, "-c", CHILD, str(fallback_core)],
        input=json.dumps(frames),
        capture_output=True,
        text=True,
        check=True,
    )
    child = json.loads(res.stdout)
    assert child["encoder"] == "zlib" and child["decoder"] == "zlib"
    assert child["crc"] == "zlib"
    assert [bytes.fromhex(h) for h in child["read"]] == payloads * 2
    codecs = {"plain": plain, "sealed": sealed}
    back = [codecs[name].decode(bytes.fromhex(h))[1] for name, h in child["wrote"]]
    assert back == payloads * 2


def test_crc_implementation_follows_the_build() -> None:
    """ISA-L computes the frame CRC when the build has it, else libdeflate, else zlib."""
    if _core.ZLIB_ENCODER == "isa-l":
        expected = "isa-l"
    elif _core.ZLIB_DECODER == "libdeflate":
        expected = "libdeflate"
    else:
        expected = "zlib"
    impl = _core.CRC32_IMPL
    assert impl == expected
