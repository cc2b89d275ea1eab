"""Writes the seed corpora of fuzz_fernet_decrypt and fuzz_inflate.

    python tests/fuzz/make_seeds.py

Deterministic (fixed keys, IVs and clock), so re-running it rewrites the same
files.  Fernet tokens come from cryptography (the reference implementation);
zlib streams from Python's zlib.  The key (bytes 0..31) and clock (1700000000)
are the ones the harnesses use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from pathlib import Path

from cryptography.fernet import Fernet

HERE = Path(__file__).resolve().parent
KEY = bytes(range(32))
NOW = 1700000000


def token(data: bytes, ts: int = NOW, iv_seed: int = 0) -> bytes:
    iv = bytes((iv_seed + i) % 256 for i in range(16))
    return Fernet(base64.urlsafe_b64encode(KEY))._encrypt_from_parts(data, ts, iv)


def signed(body: bytes) -> bytes:
    """A token from raw parts with a valid MAC (reaches the checks behind it)."""
    mac = hmac.new(KEY[:16], body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac)


def fernet_seeds() -> dict[str, bytes]:
    good = token(b'{"_serialized_data": "rawj:{\\"a\\":1}"}', iv_seed=1)
    raw = base64.urlsafe_b64decode(good)
    return {
        "empty_plaintext": token(b""),
        "one_byte": token(b"x", iv_seed=2),
        "block_15": token(b"a" * 15, iv_seed=3),
        "block_16": token(b"b" * 16, iv_seed=4),
        "wrapper_json": good,
        "kilobyte": token(bytes(range(256)) * 4, iv_seed=5),
        "old_timestamp": token(b"stale", ts=NOW - 7200, iv_seed=6),
        "bad_version_valid_mac": signed(b"\x81" + raw[1:-32]),
        "bad_padding_valid_mac": signed(raw[:25] + raw[25:41]),
        "truncated": good[:-8],
    }


def inflate_seeds() -> dict[str, bytes]:
    text = b'{"response": "The quick brown fox", "tokens": [1, 2, 3]} ' * 20
    with_dict = zlib.compressobj(zdict=b"response tokens")
    return {
        # byte 0: cap = (1 << (b % 21)) - 1 + (b >> 7)
        "json_level6": bytes([20]) + zlib.compress(text, 6),
        "json_level1": bytes([20]) + zlib.compress(text[:300], 1),
        "empty_stream": bytes([0]) + zlib.compress(b""),
        "exactly_at_cap": bytes([136]) + zlib.compress(b"z" * 1024),
        "one_past_cap": bytes([10]) + zlib.compress(b"z" * 1024),
        "small_bomb": bytes([16]) + zlib.compress(b"\0" * (1 << 20), 9),
        "stored_block": bytes([12]) + zlib.compress(bytes(range(256)), 0),
        "needs_dictionary": bytes([20]) + with_dict.compress(text) + with_dict.flush(),
        "truncated": bytes([20]) + zlib.compress(text)[:-5],
        "trailing_bytes": bytes([20]) + zlib.compress(b"abc") + b"\0\0",
    }


def write(name: str, seeds: dict[str, bytes]) -> None:
    folder = HERE / "seeds" / name
    folder.mkdir(parents=True, exist_ok=True)
    for file, data in seeds.items():
        (folder / file).write_bytes(data)


if __name__ == "__main__":
    write("fuzz_fernet_decrypt", fernet_seeds())
    write("fuzz_inflate", inflate_seeds())
