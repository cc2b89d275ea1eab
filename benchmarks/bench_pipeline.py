"""The whole value pipeline: serialize + compress + encrypt, and back.

``ValueCodec`` (one C call for frame + zlib + Fernet after the ``safe`` JSON
serializer) against the original template's pipeline (spec section 7) on typical
AI responses of about 1 KB, 20 KB and 200 KB (a dict with generated text, a
datetime, token counts and nested lists). Written to benchmarks/results/pipeline.json
and docs/img/pipeline.png; docs/benchmarks-pipeline.md has the figures.

The original cannot store these values at all: a datetime (or any value whose
compact JSON exceeds ``compression_threshold``) sends it down the pickle path,
whose bytes do not fit its UTF-8 JSON wrapper, and ``set`` fails (spec section 21
item 1). So two versions of it are measured, both in plain Python with
``cryptography.fernet``, exactly as the original layers them:

* ``original (intended)``: what the original's code is written to do for these
  values -- ``pickle`` + ``zlib`` inner payload (``zlib:`` prefix) inside the JSON
  wrapper (``sort_keys=True, ensure_ascii=False``), then Fernet. The one change
  needed to run at all: the inner bytes are carried as latin-1 text instead of
  UTF-8. This is the baseline of the ratios.
* ``original (rawj)``: the path it really takes for JSON-only values: the datetime
  replaced by its ISO string and the threshold raised so the ``rawj:`` JSON path
  is allowed (compact JSON inner, JSON wrapper, Fernet; no compression).

aicache is measured with a key (``aicache``), without (``aicache (no key)``), and
with a key at zlib level 1 instead of the default 6 (``aicache (level 1)``).
Timings are ns per call, best of several loops; ``extra.stored_bytes`` is the
size that goes to Redis.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import json
import pickle
import random
import zlib
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet

from aicache.codec import ValueCodec
from aicache.encryption import FernetKeyring
from benchmarks._util import Row, bar_plot, ratio_table, save, time_sync

THRESHOLD = 1000
LEVEL = 6
BASELINE = "original (intended)"
SIZES = {"1KB": 1_000, "20KB": 20_000, "200KB": 200_000}

# Real English prose for the generated answers: the docstrings of these stdlib
# modules (about 240 KB, so 200 KB of text never repeats). Synthetic word salad
# compresses and deflates at unrealistic ratios/speeds; docstrings do not.
PROSE_MODULES = [
    "argparse",
    "logging",
    "asyncio.events",
    "asyncio.tasks",
    "asyncio.streams",
    "collections",
    "email.message",
    "http.client",
    "http.server",
    "json.decoder",
    "json.encoder",
    "subprocess",
    "threading",
    "unittest.case",
    "pathlib",
    "shutil",
    "tarfile",
    "zipfile",
    "decimal",
    "datetime",
    "urllib.request",
    "inspect",
    "dataclasses",
    "functools",
    "contextlib",
    "enum",
    "ssl",
    "socket",
    "pickle",
    "csv",
    "textwrap",
    "os",
    "io",
    "imaplib",
    "smtplib",
    "ftplib",
    "configparser",
    "difflib",
    "doctest",
    "pdb",
    "random",
    "statistics",
    "string",
    "sqlite3",
    "selectors",
    "mailbox",
    "calendar",
    "optparse",
    "ast",
    "tokenize",
    "urllib.parse",
    "xml.dom.minidom",
    "multiprocessing.pool",
    "concurrent.futures._base",
    "gettext",
    "locale",
]


def _prose() -> str:
    parts = []
    for name in PROSE_MODULES:
        mod = importlib.import_module(name)
        for _, obj in sorted(vars(mod).items()):
            doc = getattr(obj, "__doc__", None)
            own = getattr(obj, "__module__", None) == mod.__name__
            if (
                own
                and isinstance(doc, str)
                and (inspect.isfunction(obj) or inspect.isclass(obj))
            ):
                parts.append(" ".join(doc.split()))
    return " ".join(parts)


def ai_response(target: int, seed: int = 7) -> dict[str, Any]:
    """A chat-completion-like dict whose compact JSON is about `target` bytes."""
    rnd = random.Random(seed)
    base: dict[str, Any] = {
        "id": f"chatcmpl-{rnd.getrandbits(64):016x}",
        "object": "chat.completion",
        "created_at": dt.datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC),
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 412, "completion_tokens": 0, "total_tokens": 0},
        "citations": [],
        "metadata": {"cached": False, "latency_ms": 842.5, "tags": ["summarize", "en"]},
    }
    skeleton = len(json.dumps(base, default=str, separators=(",", ":")))
    prose = _prose()
    start = rnd.randrange(0, max(1, len(prose) - target))
    text = prose[start : start + max(0, target - skeleton - 100)]
    words = text.split()
    base["choices"][0]["message"]["content"] = text
    base["usage"]["completion_tokens"] = len(words)
    base["usage"]["total_tokens"] = 412 + len(words)
    ncit = max(1, target // 2000)
    base["citations"] = [[i * 40, i * 40 + 25, rnd.randint(0, 9)] for i in range(ncit)]
    return base


class OriginalPipeline:
    """The original's _compress_data/_decompress_data + EncryptedCacheLayer (spec 7)."""

    def __init__(self, key: bytes, threshold: int, *, carry_latin1: bool) -> None:
        self.fernet = Fernet(key)
        self.threshold = threshold
        self.carry_latin1 = carry_latin1  # the change needed for pickle to fit

    def _inner(self, value: Any) -> bytes:
        if type(value) in (dict, list, str, int, float, bool, type(None)):
            try:
                compact = json.dumps(value, separators=(",", ":"))
            except (TypeError, ValueError):
                compact = None
            if compact is not None and len(compact.encode()) <= self.threshold:
                return b"rawj:" + compact.encode()
        pickled = pickle.dumps(value)
        size = len(value) if isinstance(value, str | bytes) else len(pickled)
        if size > self.threshold:
            return b"zlib:" + zlib.compress(pickled, LEVEL)
        return b"pick:" + pickled

    def encode(self, value: Any) -> bytes:
        inner = self._inner(value)
        text = inner.decode("latin-1" if self.carry_latin1 else "utf-8")
        wrapper = {"_serialized_data": text}
        data = json.dumps(wrapper, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return self.fernet.encrypt(data)

    def decode(self, stored: bytes) -> Any:
        obj = json.loads(self.fernet.decrypt(stored).decode("utf-8"))
        inner = obj["_serialized_data"].encode(
            "latin-1" if self.carry_latin1 else "utf-8"
        )
        prefix, body = inner[:5], inner[5:]
        if prefix == b"rawj:":
            return json.loads(body)
        if prefix == b"zlib:":
            return pickle.loads(zlib.decompress(body))
        return pickle.loads(body)


def _iterations(size: int, quick: bool) -> int:
    n = max(20, 2_000_000 // (size + 1000))
    return max(5, n // 10) if quick else n


def main(quick: bool = False) -> list[Row]:
    key = Fernet.generate_key()
    keyring = FernetKeyring(key)
    impls: dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any], bool]] = {}
    enc = ValueCodec(
        keyring=keyring, compression_threshold=THRESHOLD, compression_level=LEVEL
    )
    plain = ValueCodec(compression_threshold=THRESHOLD, compression_level=LEVEL)
    fast = ValueCodec(
        keyring=keyring, compression_threshold=THRESHOLD, compression_level=1
    )
    intended = OriginalPipeline(key, THRESHOLD, carry_latin1=True)
    rawj = OriginalPipeline(key, 10**9, carry_latin1=False)
    impls = {
        "aicache": (enc.encode, enc.decode, False),
        "aicache (no key)": (plain.encode, plain.decode, False),
        "aicache (level 1)": (fast.encode, fast.decode, False),
        BASELINE: (intended.encode, intended.decode, False),
        "original (rawj)": (rawj.encode, rawj.decode, True),
    }
    repeat = 3 if quick else 7
    rows: list[Row] = []
    for label, target in SIZES.items():
        value = ai_response(target)
        json_value = json.loads(json.dumps(value, default=str))  # datetime -> str
        n = _iterations(target, quick)
        for impl, (encode, decode, wants_json) in impls.items():
            v = json_value if wants_json else value
            stored = encode(v)
            assert decode(stored) == v, f"{impl} does not round-trip"
            extra = {"stored_bytes": len(stored), "iterations": n}
            t_enc = time_sync(lambda e=encode, v=v: e(v), n, repeat)
            t_dec = time_sync(lambda d=decode, s=stored: d(s), n, repeat)
            rows.append(Row(f"encode {label}", impl, t_enc, extra=extra))
            rows.append(Row(f"decode {label}", impl, t_dec, extra=extra))
        serialized = len(json.dumps(json_value, separators=(",", ":")))
        print(f"{label}: compact JSON {serialized} bytes, {n} iterations")
    table = ratio_table(rows, BASELINE)
    sizes = {
        f"{r.impl} / {r.case.split()[1]}": r.extra["stored_bytes"]
        for r in rows
        if r.case.startswith("encode")
    }
    print(table)
    print("stored bytes:", json.dumps(sizes, indent=1))
    save(
        "pipeline",
        rows,
        {
            "baseline": BASELINE,
            "threshold": THRESHOLD,
            "level": LEVEL,
            "quick": quick,
            "stored_bytes": sizes,
        },
    )
    bar_plot("pipeline", rows, "value pipeline: serialize + zlib + Fernet (ns/op, log)")
    return rows


if __name__ == "__main__":
    main()
