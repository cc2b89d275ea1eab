"""Differential test: InMemoryCache against a small pure-Python model of the spec.

The model is spec section 4 with the section-21 fixes: a dict plus a list for LRU
order, a full purge of expired entries on every get/set, overwrite without
eviction, exact memory accounting.  Logical state (lookups, live keys in LRU order,
hits, misses, evictions, active entries, live bytes) must always agree.

Physical state (entries stored but expired) differs only in *when* expired entries
are dropped: the C tier reclaims at most MEM_RECLAIM_BATCH per operation and also
on ``exists``.  With max_size <= MEM_RECLAIM_BATCH each get/set/exists reclaims all
of them, so there the model also purges on ``exists`` and the physical views
(get_keys, total/expired entries, memory_usage_bytes, invalidate counts) must agree
too.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Coroutine
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from aicache import _core
from aicache.memory import InMemoryCache

KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "ab", "ba", "x:1", "x:22"])
VALUES = st.one_of(
    st.integers(), st.text(max_size=40), st.lists(st.integers(), max_size=5), st.none()
)
TTLS = st.sampled_from([None, None, 0, -1, 1, 2, 3, 0.5])
PATTERNS = st.sampled_from(["", "*", "a*", "?", "x:*", "[ab]", "*b", "x:?", "nomatch"])


def drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (every InMemoryCache method)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("coroutine suspended")


class Model:
    def __init__(self, default_ttl: int, max_size: int) -> None:
        self.default_ttl = default_ttl
        self.max_size = max_size
        self.entries: dict[str, tuple[Any, float | None, int]] = {}
        self.order: list[str] = []  # least recently used first
        self.hits = self.misses = self.evictions = 0

    @staticmethod
    def expired(entry: tuple[Any, float | None, int], now: float) -> bool:
        return entry[1] is not None and now > entry[1]

    def _remove(self, key: str) -> None:
        del self.entries[key]
        self.order.remove(key)

    def purge(self, now: float) -> None:
        for key in [k for k, e in self.entries.items() if self.expired(e, now)]:
            self._remove(key)

    def get(self, key: str, now: float) -> Any:
        self.purge(now)
        if key not in self.entries:
            self.misses += 1
            return None
        self.hits += 1
        self.order.remove(key)
        self.order.append(key)
        return self.entries[key][0]

    def set(self, key: str, value: Any, ttl: float | None, now: float) -> None:
        self.purge(now)
        if ttl is None:
            ttl = self.default_ttl
        if key in self.entries:
            self.order.remove(key)  # overwrite: no eviction (spec 21.8 fixed)
        else:
            while len(self.entries) >= self.max_size:
                self._remove(self.order[0])
                self.evictions += 1
        self.entries[key] = (
            value,
            now + ttl if ttl > 0 else None,
            sys.getsizeof(value),
        )
        self.order.append(key)

    def exists(self, key: str, now: float) -> bool:
        self.purge(now)  # the tier reclaims on exists as well (see module doc)
        return key in self.entries

    def delete(self, key: str) -> None:
        if key in self.entries:
            self._remove(key)

    def get_ttl(self, key: str, now: float) -> int | None:
        entry = self.entries.get(key)
        if entry is None or entry[1] is None:
            return None
        return max(0, int(entry[1] - now))

    def invalidate(self, pattern: str) -> int:
        keys = [k for k in self.order if not pattern or fnmatch.fnmatchcase(k, pattern)]
        for k in keys:
            self._remove(k)
        return len(keys)

    def clear(self) -> None:
        self.entries.clear()
        self.order.clear()
        self.hits = self.misses = self.evictions = 0

    def live(self, now: float) -> list[str]:
        return [k for k in self.order if not self.expired(self.entries[k], now)]


class CacheMachine(RuleBasedStateMachine):
    cache: InMemoryCache
    model: Model

    @initialize(max_size=st.integers(1, 14), default_ttl=st.integers(1, 4))
    def init(self, max_size: int, default_ttl: int) -> None:
        self.now = 1_000_000.0
        self.cache = InMemoryCache(
            default_ttl=default_ttl, max_size=max_size, clock=lambda: self.now
        )
        self.model = Model(default_ttl, max_size)
        self.exact = max_size <= _core.MEM_RECLAIM_BATCH

    @rule(key=KEYS, value=VALUES, ttl=TTLS)
    def set(self, key: str, value: Any, ttl: float | None) -> None:
        drive(self.cache.set(key, value, ttl))  # type: ignore[arg-type]
        self.model.set(key, value, ttl, self.now)

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        assert drive(self.cache.get(key)) is self.model.get(key, self.now)

    @rule(key=KEYS)
    def exists(self, key: str) -> None:
        assert drive(self.cache.exists(key)) is self.model.exists(key, self.now)

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        assert drive(self.cache.delete(key)) is None
        self.model.delete(key)

    @rule(key=KEYS)
    def get_ttl(self, key: str) -> None:
        got = drive(self.cache.get_ttl(key))
        want = self.model.get_ttl(key, self.now)
        if self.exact or key in self.model.live(self.now):
            assert got == want
        else:
            assert got in (want, None, 0)

    @rule(seconds=st.sampled_from([0, 0.25, 0.5, 1, 1.5, 2, 5]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule(pattern=PATTERNS)
    def invalidate(self, pattern: str) -> None:
        live_before = set(self.model.live(self.now))
        got = drive(self.cache.invalidate_pattern(pattern))
        want = self.model.invalidate(pattern)
        if self.exact:
            assert got == want
        else:
            matched_live = {
                k for k in live_before if not pattern or fnmatch.fnmatchcase(k, pattern)
            }
            assert len(matched_live) <= got

    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.clear()

    @invariant()
    def agree(self) -> None:
        stats = self.cache.get_stats()
        live = self.model.live(self.now)
        assert self.cache.get_active_keys() == live
        assert stats["active_entries"] == len(live)
        assert (stats["hits"], stats["misses"], stats["evictions"]) == (
            self.model.hits,
            self.model.misses,
            self.model.evictions,
        )
        snapshot = self.cache._cache
        assert stats["memory_usage_bytes"] == sum(
            e["size_bytes"] for e in snapshot.values()
        )
        live_bytes = sum(snapshot[k]["size_bytes"] for k in live)
        assert live_bytes == sum(self.model.entries[k][2] for k in live)
        for k in live:
            assert snapshot[k]["value"] is self.model.entries[k][0]
            assert snapshot[k]["expires_at"] == self.model.entries[k][1]
        assert stats["total_entries"] <= self.model.max_size
        if self.exact:
            assert self.cache.get_keys() == self.model.order
            assert stats["total_entries"] == len(self.model.entries)
            assert stats["expired_entries"] == len(self.model.entries) - len(live)
            assert stats["memory_usage_bytes"] == sum(
                e[2] for e in self.model.entries.values()
            )


CacheMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None
)
TestInMemoryCacheAgainstModel = CacheMachine.TestCase
