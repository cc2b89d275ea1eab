"""Cache keys in logs without the user text they may carry.

AI keys embed short texts verbatim (``ai_cache:op:summarize|txt:<the text>|...``) and
web keys often carry identifiers (``user:ada@example.com``). Every WARNING (and
ERROR) line of aicache that names a key shows it through :func:`log_key`: the
namespace it belongs to and a short digest that is stable, so repeated failures of
one key can still be correlated, but nothing of the text itself.

For keys that carry no raw text at all (Redis contents, MONITOR, slow logs), build AI
caches with ``hash_all_text=True`` (every text hashed in the key, whatever its
length); see docs/security.md ("Privacy").
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["log_key"]

_AI_OP = "ai_cache:op:"


def log_key(key: Any) -> str:
    """``key`` as it may appear in a log: ``ai_cache:op:<op>|…#<digest>`` for AI
    keys, ``<first segment>:…#<digest>`` for ``a:b:c`` keys, ``…#<digest>`` else."""
    text = key if isinstance(key, str) else repr(key)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    if text.startswith(_AI_OP):
        operation = text[len(_AI_OP) :].split("|", 1)[0]
        return f"{_AI_OP}{operation}|…#{digest}"
    if ":" in text:
        return f"{text.split(':', 1)[0]}:…#{digest}"
    return f"…#{digest}"
