"""Writes the seed corpus of fuzz_frame_decode (tests/fuzz/seeds/fuzz_frame_decode/).

Each seed is one mode byte (bit 0: decode through the Fernet key below; bit 1: a
4 KiB max_decoded) followed by a stored payload. Frames are built here from the
format description in docs/wire-format.md (not with aicache), tokens with
cryptography's Fernet and the harness's key (bytes 0..31).

    python tests/fuzz/make_frame_seeds.py
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

from cryptography.fernet import Fernet

OUT = Path(__file__).resolve().parent / "seeds" / "fuzz_frame_decode"
KEY = base64.urlsafe_b64encode(bytes(range(32)))
HEADER = struct.Struct(">2sBBBI")  # magic, version, serializer, flags, payload length


def frame(payload: bytes, serializer: int = 1, compress: bool = False) -> bytes:
    body = zlib.compress(payload, 6) if compress else payload
    head = HEADER.pack(b"\xff\xac", 1, serializer, 1 if compress else 0, len(payload))
    crc = zlib.crc32(body, zlib.crc32(head))
    return head + struct.pack(">I", crc) + body


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    f = Fernet(KEY)
    text = json.dumps({"response": "the model says " * 40, "tokens": 412}).encode()
    tagged = b'{"created":{"$aic":["datetime","2024-05-01T12:00:00+00:00"]}}'
    seeds = {
        "plain_small": b"\x00" + frame(b'{"a":1}', 2),
        "plain_tagged": b"\x00" + frame(tagged, 1),
        "plain_empty": b"\x00" + frame(b"", 1),
        "plain_compressed": b"\x00" + frame(text, 1, compress=True),
        "plain_compressed_small_cap": b"\x02" + frame(text * 8, 1, compress=True),
        "plain_pickle_refused": b"\x00" + frame(b"\x80\x05N.", 3),
        "token_small": b"\x01" + f.encrypt(frame(b'"hello"', 1)),
        "token_compressed": b"\x01" + f.encrypt(frame(text, 1, compress=True)),
        "token_pickle": b"\x01" + f.encrypt(frame(b"\x80\x05N.", 3)),
        "token_legacy_wrapper": b"\x01"
        + f.encrypt(b'{"_serialized_data": "rawj:{\\"a\\":1}"}'),
        "legacy_plain_wrapper": b"\x00" + b'{"_serialized_data": "rawj:[1,2]"}',
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
