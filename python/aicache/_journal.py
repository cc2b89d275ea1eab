"""What was written or deleted while Redis was unreachable (degraded mode).

A write acknowledged from L1 alone leaves Redis holding an older value (or a
value the caller deleted).  Every such write records its Redis key here; before
any read goes back to Redis, the keys are removed from Redis (UNLINK), so Redis
can only miss them, never return what the process overwrote or deleted.  (L1
keeps the values written during the outage until they expire or are evicted;
after that a read misses.)  Invalidating rather than replaying is the safe
choice: a cache may forget, it must never resurrect.

The journal is bounded (``MAX_DEGRADED_JOURNAL_KEYS`` by default).  Past the
bound the individual keys are no longer tracked; instead the *scope* of each
cache that wrote (its ``key_prefix``, or the whole database without one: what
``clear()`` removes) is cleared in Redis at reconciliation, and reads stay on L1
until that succeeds.

One journal per Redis server and database, shared by every cache object of the
process that uses it, so a cache that did not write during the outage does not
read another cache's stale entry either.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable

__all__ = ["MAX_DEGRADED_JOURNAL_KEYS", "DegradedJournal", "journal_for"]

#: Keys remembered individually while degraded, per server and database.
MAX_DEGRADED_JOURNAL_KEYS = 10_000


class DegradedJournal:
    __slots__ = ("__weakref__", "dirty", "keys", "limit", "overflow_scopes", "seq",
                 "stats")  # fmt: skip

    def __init__(self, limit: int = MAX_DEGRADED_JOURNAL_KEYS) -> None:
        self.limit = limit
        self.dirty = False  # anything to reconcile (read on every Redis read)
        self.seq = 0
        self.keys: dict[str, int] = {}  # Redis key -> sequence of its last record
        # Prefixes whose whole scope must be cleared ("" = the whole database).
        self.overflow_scopes: set[str] = set()
        self.stats = {"recorded": 0, "overflows": 0, "reconciled_keys": 0,
                      "reconciled_scopes": 0, "reconcile_failures": 0}  # fmt: skip

    def record(self, rkey: str, scope: str) -> None:
        """A write or delete of rkey (Redis key, prefix included) by a cache
        whose scope is ``scope`` was acknowledged without reaching Redis."""
        self.stats["recorded"] += 1
        self.dirty = True
        self.seq += 1
        if scope in self.overflow_scopes or "" in self.overflow_scopes:
            return  # the whole scope is cleared anyway
        if rkey in self.keys or len(self.keys) < self.limit:
            self.keys[rkey] = self.seq
            return
        self.stats["overflows"] += 1
        self.overflow_scopes.add(scope)
        if scope == "":
            self.keys.clear()
        else:
            for key in [k for k in self.keys if k.startswith(scope)]:
                del self.keys[key]

    def snapshot(self) -> tuple[list[tuple[str, int]], list[str], int]:
        """The keys and scopes to reconcile now, and the sequence number they
        go up to (they stay recorded until :meth:`done` confirms them)."""
        return list(self.keys.items()), sorted(self.overflow_scopes), self.seq

    def done(self, keys: list[tuple[str, int]], scopes: list[str], seq: int) -> None:
        """keys and scopes of a snapshot taken at ``seq`` were reconciled in
        Redis; a key or scope recorded again since stays."""
        for key, key_seq in keys:
            if self.keys.get(key) == key_seq:
                del self.keys[key]
        if self.seq == seq:
            self.overflow_scopes.difference_update(scopes)
        self.dirty = bool(self.keys) or bool(self.overflow_scopes)
        self.stats["reconciled_keys"] += len(keys)
        self.stats["reconciled_scopes"] += len(scopes)


_journals: weakref.WeakValueDictionary[Hashable, DegradedJournal] = (
    weakref.WeakValueDictionary()
)


def journal_for(
    server: Hashable, limit: int = MAX_DEGRADED_JOURNAL_KEYS
) -> DegradedJournal:
    """The process's journal for one Redis server and database."""
    journal = _journals.get(server)
    if journal is None:
        journal = _journals[server] = DegradedJournal(limit)
    return journal
