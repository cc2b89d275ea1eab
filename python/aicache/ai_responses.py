"""``cache_response`` / ``get_cached_response``: the AI calls of the seed documents.

The original template documented these two calls and removed them (spec 10.3); aicache
has them on ``AIResponseCache`` and on ``InMemoryCache`` (the fallback the factories
return when Redis is down), with the metadata the seeds describe:

* stored by ``cache_response``: the response's own fields plus ``cached_at`` (UTC,
  ISO 8601), ``cache_hit`` (False), ``operation``, ``text_length`` and ``text_tier``
  (small / medium / large / xlarge); a response that is not a mapping (or a pydantic
  model, stored as its ``model_dump()``) is stored under ``"response"``;
* added by ``get_cached_response`` to the copy it returns: ``cache_hit`` (True),
  ``retrieved_at`` (UTC, ISO 8601) and ``retrieval_count`` (hits of this key through
  this cache object; counted in process, so a hit costs no extra Redis write).

The key is ``cache.build_key(text, operation, options)`` with the question, when
given, added to the options as ``"question"`` (the key gets its ``|q:`` part), so
these calls and ``build_key`` + ``get``/``set`` address the same entries. The TTL is
``operation_ttls[operation]`` when the cache has one, else its ``default_ttl``.
"""

from __future__ import annotations

import datetime
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

from aicache.exceptions import ValidationError

__all__ = [
    "DEFAULT_TEXT_TIERS",
    "build_entry",
    "mark_retrieved",
    "response_key",
    "text_tier",
]

DEFAULT_TEXT_TIERS: dict[str, int] = {"small": 500, "medium": 5000, "large": 50000}
_MAX_COUNTED_KEYS = 10000  # retrieval counters kept per cache object (LRU)


class _KeyBuilder(Protocol):
    def build_key(self, text: str, operation: str, options: dict[str, Any]) -> str: ...


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def text_tier(text: str, tiers: Mapping[str, int] = DEFAULT_TEXT_TIERS) -> str:
    """small / medium / large / xlarge by character count (spec 10.6)."""
    n = len(text)
    if n < tiers["small"]:
        return "small"
    if n < tiers["medium"]:
        return "medium"
    if n < tiers["large"]:
        return "large"
    return "xlarge"


def response_key(
    cache: _KeyBuilder,
    text: Any,
    operation: Any,
    options: Any,
    question: Any,
) -> str:
    """The cache key of (text, operation, options, question).

    Raises:
        ValidationError: text is not a str, operation not a non-empty str, options
            not a mapping, or question neither None nor a str.
    """
    if not isinstance(text, str):
        raise ValidationError(
            "text must be a string", {"text_type": type(text).__name__}
        )
    if not isinstance(operation, str) or not operation.strip():
        raise ValidationError(
            "operation must be a non-empty string", {"operation": repr(operation)}
        )
    if options is not None and not isinstance(options, Mapping):
        raise ValidationError(
            "options must be a dict or None", {"options_type": type(options).__name__}
        )
    if question is not None and not isinstance(question, str):
        raise ValidationError(
            "question must be a string or None",
            {"question_type": type(question).__name__},
        )
    merged = dict(options or {})
    if question:
        merged["question"] = question
    return cache.build_key(text, operation, merged)


def build_entry(
    response: Any, text: str, operation: str, tiers: Mapping[str, int]
) -> dict[str, Any]:
    """What ``cache_response`` stores: the response's fields plus the metadata."""
    dump = getattr(response, "model_dump", None)
    if callable(dump) and not isinstance(response, Mapping):
        response = dump()
    entry: dict[str, Any] = (
        dict(response) if isinstance(response, Mapping) else {"response": response}
    )
    entry.update(
        cached_at=_now(),
        cache_hit=False,
        operation=operation,
        text_length=len(text),
        text_tier=text_tier(text, tiers),
    )
    return entry


class RetrievalCounter:
    """Hits per key through one cache object, bounded (least recent forgotten)."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: OrderedDict[str, int] = OrderedDict()

    def bump(self, key: str) -> int:
        count = self._counts.pop(key, 0) + 1
        self._counts[key] = count
        if len(self._counts) > _MAX_COUNTED_KEYS:
            self._counts.popitem(last=False)
        return count

    def forget(self, key: str) -> None:
        self._counts.pop(key, None)


def mark_retrieved(value: Any, key: str, counter: RetrievalCounter) -> Any:
    """The copy ``get_cached_response`` returns: with ``cache_hit``, ``retrieved_at``
    and ``retrieval_count``. A value that is not a dict (written by plain ``set``) is
    returned as it is."""
    if not isinstance(value, dict):
        return value
    result = dict(value)
    result["cache_hit"] = True
    result["retrieved_at"] = _now()
    result["retrieval_count"] = counter.bump(key)
    return result
