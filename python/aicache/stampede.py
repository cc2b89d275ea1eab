"""Compute once per key: the engine behind ``get_or_set`` on every cache.

* In process, concurrent misses on one key share one factory call (single flight).
  A factory error reaches every waiter and is never cached. A caller that is
  cancelled leaves; the computation goes on for the others and is cancelled only
  when no caller is left.
* Across processes (caches with a Redis tier), the caller that computes holds a
  Redis lock: ``SET lock token NX PX lease``, renewed while the factory runs and
  released only by its owner (compare-and-delete in a Lua script). The others poll
  for the value for at most ``lock_wait`` seconds; if the owner dies, its lease
  runs out and one of them takes over. The lock key carries the value key's hash
  tag, so it lives on the same Cluster slot.
* Stale-while-revalidate: an entry may be served up to ``stale_ttl`` seconds after
  it expired while one refresh runs in the background.
* Probabilistic early expiration (XFetch, Vattani et al., VLDB 2015): a fresh read
  starts a background refresh with a probability that grows as expiry nears,
  scaled by how long the factory took (``early_refresh`` is the beta factor).
* Negative caching: a result ``is_negative`` says is "no answer" (default: None)
  is cached for ``negative_ttl`` seconds only when ``negative_ttl`` is given.

Entries that need metadata (stale-while-revalidate, XFetch, negative results) are
stored as a small envelope dict ``{"__aicache_entry__": 1, "v": value, "e":
expires_at, "d": factory_seconds, "n": negative}``; plain ``get`` returns that dict,
:func:`unwrap` returns the value. Without those options the value is stored as is.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aicache import _core
from aicache.exceptions import InfrastructureError, ValidationError
from aicache.privacy import log_key

__all__ = [
    "ENTRY_MARK",
    "RedisLock",
    "StampedeGuard",
    "get_or_set",
    "guard_for",
    "lock_key_for",
    "stampede_stats",
    "unwrap",
]

logger = logging.getLogger(__name__)

ENTRY_MARK = "__aicache_entry__"
LOCK_SUFFIX = ":aicache-lock"
_POLL_FIRST = 0.002  # seconds between polls for another process's value, doubling
_POLL_MAX = 0.01
_MAX_LEASE = 3600.0

# Compare-and-delete / compare-and-extend: only the token's owner may touch the lock.
_RELEASE_SCRIPT = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) end return 0"
)
_RENEW_SCRIPT = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)

Factory = Callable[[], Any]


# ---------------------------------------------------------------------------- options


@dataclass(frozen=True)
class ComputeOptions:
    """Validated options of one ``get_or_set`` call (see :func:`get_or_set`)."""

    ttl: float | None = None
    stale_ttl: float = 0.0
    early_refresh: float = 0.0
    negative_ttl: float | None = None
    is_negative: Callable[[Any], bool] | None = None
    cache_if: Callable[[Any], bool] | None = None
    lock: bool = True
    lock_lease: float = 10.0
    lock_wait: float = 60.0
    force_refresh: bool = False

    @property
    def envelope(self) -> bool:
        return self.stale_ttl > 0 or self.early_refresh > 0


def _number(name: str, value: Any, *, low: float, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or value < low
    ):
        raise ValidationError(f"{name} must be a number >= {low}", {name: repr(value)})


_options_memo: dict[Any, ComputeOptions] = {}
_MEMO_MAX = 256


def make_options(**kwargs: Any) -> ComputeOptions:
    """ComputeOptions from keyword arguments; ValidationError on bad values.

    Validated options are remembered per distinct set of arguments (a decorated
    function or a call site passes the same ones every time)."""
    try:
        memo_key: Any = tuple((k, type(v), v) for k, v in sorted(kwargs.items()))
        options = _options_memo.get(memo_key)
    except TypeError:  # an unhashable or unorderable argument
        memo_key, options = None, None
    if options is not None:
        return options
    options = _make_options(kwargs)
    if memo_key is not None:
        if len(_options_memo) >= _MEMO_MAX:
            _options_memo.clear()
        _options_memo[memo_key] = options
    return options


def _make_options(kwargs: dict[str, Any]) -> ComputeOptions:
    try:
        options = ComputeOptions(**kwargs)
    except TypeError as exc:
        raise ValidationError(
            f"get_or_set: {exc}", {"options": sorted(kwargs)}
        ) from None
    _number("ttl", options.ttl, low=-math.inf, allow_none=True)
    _number("stale_ttl", options.stale_ttl, low=0)
    _number("early_refresh", options.early_refresh, low=0)
    _number("negative_ttl", options.negative_ttl, low=0.001, allow_none=True)
    _number("lock_lease", options.lock_lease, low=0.01)
    _number("lock_wait", options.lock_wait, low=0)
    if options.lock_lease > _MAX_LEASE:
        raise ValidationError(
            f"lock_lease must be at most {_MAX_LEASE} seconds",
            {"lock_lease": options.lock_lease},
        )
    for name in ("is_negative", "cache_if"):
        fn = getattr(options, name)
        if fn is not None and not callable(fn):
            raise ValidationError(f"{name} must be callable", {name: repr(fn)})
    return options


# ---------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class _Entry:
    value: Any
    expires_at: float | None  # wall-clock seconds; None: never
    delta: float  # seconds the factory took
    negative: bool


def _read_entry(raw: Any) -> _Entry | None:
    """The entry a cache read returned (None: a miss)."""
    if raw is None:
        return None
    if isinstance(raw, dict) and raw.get(ENTRY_MARK) == 1:
        expires = raw.get("e")
        delta = raw.get("d")
        return _Entry(
            raw.get("v"),
            float(expires) if isinstance(expires, int | float) else None,
            float(delta) if isinstance(delta, int | float) else 0.0,
            bool(raw.get("n")),
        )
    return _Entry(raw, None, 0.0, False)


def unwrap(raw: Any) -> Any:
    """The value of what ``cache.get`` returned for a key written by ``get_or_set``."""
    entry = _read_entry(raw)
    return None if entry is None else entry.value


def _default_ttl(cache: Any, key: str) -> float:
    """The TTL ``cache.set(key, value)`` would apply (AI caches: per operation)."""
    operation_ttls = getattr(cache, "operation_ttls", None)
    extract = getattr(cache, "_extract_operation_from_key", None)
    if isinstance(operation_ttls, dict) and callable(extract):
        ttl = operation_ttls.get(extract(key))
        if isinstance(ttl, int | float):
            return float(ttl)
    return float(getattr(cache, "default_ttl", 3600))


# ---------------------------------------------------------------------------- lock


def _has_hash_tag(key: str) -> bool:
    start = key.find("{")
    if start < 0:
        return False
    end = key.find("}", start + 1)
    return end > start + 1


def key_slot(key: str) -> int:
    """The Redis Cluster slot of key (hash tags honoured; CRC16 in the C core)."""
    slot: int = _core.key_slot(key.encode("utf-8", "surrogateescape"))
    return slot


_slot_tags: dict[int, str] = {}


def _tag_for_slot(slot: int) -> str:
    """A short hash tag that maps to slot (searched once per slot, then remembered)."""
    tag = _slot_tags.get(slot)
    n = 0
    while tag is None:
        candidate = f"s{n}"
        found = key_slot(candidate)
        _slot_tags.setdefault(found, candidate)
        tag = _slot_tags.get(slot)
        n += 1
    return tag


def lock_key_for(redis_key: str) -> str:
    """The lock's key: on the same Cluster slot as redis_key.

    A key with a hash tag keeps it (the suffix does not change the slot); a key
    without one is wrapped in braces; a key whose braces would change the slot
    (a stray ``}``, an empty ``{}``) gets a tag chosen for its slot."""
    if _has_hash_tag(redis_key):
        return redis_key + LOCK_SUFFIX
    if "}" not in redis_key and "{" not in redis_key:
        return "{" + redis_key + "}" + LOCK_SUFFIX
    return "{" + _tag_for_slot(key_slot(redis_key)) + "}" + redis_key + LOCK_SUFFIX


Execute = Callable[..., Awaitable[Any]]


class RedisLock:
    """One attempt at owning a key's lock: a random token set with NX and a lease.

    Only the holder of the token can extend (``renew``) or delete (``release``)
    the lock; if the holder dies the lease runs out and the key disappears."""

    __slots__ = ("_execute", "lease_ms", "name", "token")

    def __init__(self, execute: Execute, name: str, lease: float) -> None:
        self._execute = execute
        self.name = name
        self.token = secrets.token_hex(16)
        self.lease_ms = max(10, int(lease * 1000))

    async def acquire(self) -> bool:
        reply = await self._execute(
            "SET", self.name, self.token, "NX", "PX", self.lease_ms
        )
        return reply is not None

    async def renew(self) -> bool:
        reply = await self._execute(
            "EVAL", _RENEW_SCRIPT, 1, self.name, self.token, self.lease_ms
        )
        return bool(reply)

    async def release(self) -> bool:
        reply = await self._execute("EVAL", _RELEASE_SCRIPT, 1, self.name, self.token)
        return bool(reply)

    async def held(self) -> bool:
        """Whether anyone holds the lock now."""
        return int(await self._execute("EXISTS", self.name)) > 0


async def _redis_execute(cache: Any) -> Execute | None:
    """How to send raw commands to the cache's Redis, or None (no Redis tier now)."""
    client_of = getattr(cache, "_client", None)
    if client_of is None or not hasattr(cache, "_rkey"):
        return None
    try:
        client = await client_of()
    except InfrastructureError:
        return None
    if client is None:
        return None
    connection = getattr(client, "connection", None)
    execute = getattr(connection, "execute", None)
    if callable(execute):
        node_for_key = getattr(connection, "node_for_key", None)
        if callable(node_for_key):
            return _routed_by_script_key(execute, node_for_key)
        return execute  # type: ignore[no-any-return]
    execute = getattr(client, "execute_command", None)
    return execute if callable(execute) else None


def _routed_by_script_key(
    execute: Execute, node_for_key: Callable[[str], Any]
) -> Execute:
    """A Cluster connection routes by the first argument, which for EVAL is the
    script: send EVAL to the node that owns KEYS[1] (the lock) instead."""

    async def routed(*args: Any) -> Any:
        if args and args[0] == "EVAL":
            node = node_for_key(args[3])
            if node is not None:
                return await node.conn.execute(*args)
        return await execute(*args)

    return routed


# ---------------------------------------------------------------------------- guard


class _Flight:
    """One computation in progress and how many callers await it."""

    __slots__ = ("background", "listeners", "task", "waiters")

    def __init__(self, task: asyncio.Task[Any], background: bool) -> None:
        self.task = task
        self.waiters = 0
        self.background = background
        # One plain future per waiter, settled together when the task ends (lighter
        # than asyncio.shield per waiter; a cancelled waiter cancels only its own).
        self.listeners: list[asyncio.Future[Any]] = []


def _settle(listeners: list[asyncio.Future[Any]], task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        for f in listeners:
            f.cancel()
        return
    exc = task.exception()
    for f in listeners:
        if f.done():
            continue
        if exc is not None:
            f.set_exception(exc)
        else:
            f.set_result(task.result())


_COUNTERS = (
    "hits",
    "misses",
    "factory_calls",
    "factory_errors",
    "coalesced",
    "lock_acquired",
    "lock_waits",
    "lock_takeovers",
    "lock_wait_timeouts",
    "lock_errors",
    "lock_lost",
    "stale_served",
    "background_refreshes",
    "early_refreshes",
    "refresh_errors",
    "negative_stored",
    "negative_hits",
    "not_cached",
)


class StampedeGuard:
    """Per-cache state of ``get_or_set``: computations in flight and counters."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight] = {}
        self._reads: dict[str, list[asyncio.Future[Any]]] = {}
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)

    def in_flight(self, key: str) -> bool:
        flight = self._flights.get(key)
        return flight is not None and not flight.task.done()

    async def read(self, cache: Any, key: str) -> _Entry | None:
        """cache.get(key) as an entry; concurrent reads of one key share one GET."""
        loop = asyncio.get_running_loop()
        pending = self._reads.get(key)
        if pending is not None and pending[0].get_loop() is loop:
            mine = loop.create_future()
            pending.append(mine)
            entry = await mine
            if entry is not _RETRY:
                return entry  # type: ignore[no-any-return]
            return _read_entry(await cache.get(key))
        # The first element marks the loop that owns this read.
        readers: list[asyncio.Future[Any]] = [loop.create_future()]
        self._reads[key] = readers
        outcome: Any = _RETRY  # on failure the others read for themselves
        try:
            outcome = _read_entry(await cache.get(key))
            return outcome  # type: ignore[no-any-return]
        finally:
            if self._reads.get(key) is readers:
                del self._reads[key]
            for f in readers:
                if not f.done():
                    f.set_result(outcome)

    def computing(self, key: str) -> bool:
        """Whether a foreground computation of key runs in this event loop."""
        flight = self._current(key)
        return flight is not None and not flight.background

    def _start(
        self, key: str, work: Callable[[], Awaitable[Any]], background: bool = False
    ) -> _Flight:
        loop = asyncio.get_running_loop()
        task: asyncio.Task[Any] = loop.create_task(work())  # type: ignore[arg-type]
        flight = _Flight(task, background)
        self._flights[key] = flight

        def done(t: asyncio.Task[Any]) -> None:
            if self._flights.get(key) is flight:
                del self._flights[key]
            _settle(flight.listeners, t)

        task.add_done_callback(done)
        return flight

    def _current(self, key: str) -> _Flight | None:
        flight = self._flights.get(key)
        if flight is None:
            return None
        task = flight.task
        if task.done() or task.get_loop() is not asyncio.get_running_loop():
            return None
        return flight

    async def join(self, key: str, work: Callable[[], Awaitable[Any]]) -> Any:
        """Await the computation of key, starting it with work() if none runs."""
        flight = self._current(key)
        if flight is None:
            flight = self._start(key, work)
        else:
            self.counters["coalesced"] += 1
        flight.waiters += 1
        mine = flight.task.get_loop().create_future()
        flight.listeners.append(mine)
        try:
            return await mine
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                # Every caller left: nobody wants the value any more.
                if self._flights.get(key) is flight:
                    del self._flights[key]
                flight.task.cancel()

    def background(self, key: str, work: Callable[[], Awaitable[Any]]) -> bool:
        """Start work() for key unless a computation of key already runs."""
        if self._current(key) is not None:
            return False
        self._start(key, work, background=True).waiters += 1  # keeps itself alive
        return True

    async def settle_refresh(self, key: str) -> bool:
        """Wait for a background refresh of key, if one runs; whether one did."""
        flight = self._current(key)
        if flight is None or not flight.background:
            return False
        await asyncio.shield(flight.task)  # a refresh never raises
        return True


_RETRY = object()  # a shared read failed: read again

_guards: weakref.WeakKeyDictionary[Any, StampedeGuard] = weakref.WeakKeyDictionary()


def guard_for(cache: Any) -> StampedeGuard:
    """The StampedeGuard of cache (created on first use, dies with the cache)."""
    guard = _guards.get(cache)
    if guard is None:
        guard = _guards[cache] = StampedeGuard()
    return guard


def stampede_stats(cache: Any) -> dict[str, int]:
    """Counters of ``get_or_set`` on cache (factory calls, coalesced waiters, lock
    waits and takeovers, stale serves, refreshes, negative entries...)."""
    return dict(guard_for(cache).counters)


# ---------------------------------------------------------------------------- engine


async def get_or_set(
    cache: Any, key: str, factory: Factory, ttl: float | None = None, **options: Any
) -> Any:
    """The cached value of key, or factory's result computed once and stored.

    Args:
        cache: an aicache cache (``InMemoryCache``, ``GenericRedisCache``,
            ``AIResponseCache``) or anything with async ``get``/``set``.
        key: the cache key.
        factory: zero-argument callable returning the value or an awaitable of it.
        ttl: seconds the value is fresh (None: the cache's default for key;
            ``<= 0``: never expires).

    Keyword options: ``stale_ttl`` (seconds an expired value may still be served
    while one background refresh runs), ``early_refresh`` (XFetch beta; 1.0 is the
    usual value, 0 disables), ``negative_ttl`` (cache "no answer" results this
    long; default: never cached), ``is_negative`` (what "no answer" means; default
    ``result is None``), ``cache_if`` (store a result only when it returns true),
    ``lock`` (cross-process Redis lock, default True), ``lock_lease`` (seconds, 10;
    renewed while the factory runs), ``lock_wait`` (seconds to wait for another
    process's value before computing anyway, 60), ``force_refresh`` (skip the read).

    A factory exception reaches every caller waiting on this computation and
    nothing is stored.
    """
    opts = make_options(ttl=ttl, **options)
    guard = guard_for(cache)
    if guard.computing(key):
        # The value is being computed here: wait for it instead of reading the
        # cache (a herd of a thousand costs one read, not a thousand).
        guard.counters["misses"] += 1
        return await guard.join(key, lambda: _fill(cache, guard, key, factory, opts))
    if not opts.force_refresh:
        entry = await guard.read(cache, key)
        served = _serve(cache, guard, key, factory, opts, entry)
        if served is not _MISS:
            return served
    guard.counters["misses"] += 1
    if not opts.force_refresh and await guard.settle_refresh(key):
        # A refresh was storing the value this read just missed.
        entry = _read_entry(await cache.get(key))
        if _usable(entry, opts):
            return entry.value  # type: ignore[union-attr]
    return await guard.join(key, lambda: _fill(cache, guard, key, factory, opts))


async def get_or_set_response(
    cache: Any,
    text: str,
    operation: str,
    options: dict[str, Any] | None,
    factory: Factory,
    question: str | None,
    ttl: float | None,
    compute_options: dict[str, Any],
    *,
    operation_ttls: Mapping[str, float] | None = None,
) -> Any:
    """``cache.get_or_set`` keyed like ``cache.build_key(text, operation, options)``
    (a ``question`` joins the options): the one body of the AI caches'
    ``get_or_set_response``. Without ``ttl``, ``operation_ttls[operation]`` applies
    when the caller passes its table (a cache whose ``set`` does not apply it by
    itself); else the cache's own default for the key."""
    opts = dict(options or {})
    if question is not None:
        opts["question"] = question
    key = cache.build_key(text, operation, opts)
    if ttl is None and operation_ttls is not None and operation in operation_ttls:
        ttl = operation_ttls[operation]
    return await cache.get_or_set(key, factory, ttl, **compute_options)


_MISS = object()


def _serve(
    cache: Any,
    guard: StampedeGuard,
    key: str,
    factory: Factory,
    opts: ComputeOptions,
    entry: _Entry | None,
) -> Any:
    """entry's value if it may be served now (scheduling refreshes), else _MISS."""
    if entry is None:
        return _MISS
    counters = guard.counters
    if entry.expires_at is None:
        counters["hits"] += 1
        if entry.negative:
            counters["negative_hits"] += 1
        return entry.value
    now = time.time()
    remaining = entry.expires_at - now
    if remaining > 0:
        counters["hits"] += 1
        if entry.negative:
            counters["negative_hits"] += 1
        elif opts.early_refresh > 0 and entry.delta > 0:
            # XFetch: refresh early when delta * beta * -ln(U) reaches the expiry.
            draw = -math.log(1.0 - random.random())
            if (
                entry.delta * opts.early_refresh * draw >= remaining
                and guard.background(
                    key, lambda: _refresh(cache, guard, key, factory, opts)
                )
            ):
                counters["early_refreshes"] += 1
        return entry.value
    if not entry.negative and -remaining < opts.stale_ttl:
        counters["stale_served"] += 1
        if guard.background(key, lambda: _refresh(cache, guard, key, factory, opts)):
            counters["background_refreshes"] += 1
        return entry.value
    return _MISS


async def _call(factory: Factory) -> tuple[Any, float]:
    start = time.perf_counter()
    result = factory()
    if inspect.isawaitable(result):
        result = await result
    return result, time.perf_counter() - start


async def _compute_and_store(
    cache: Any, guard: StampedeGuard, key: str, factory: Factory, opts: ComputeOptions
) -> Any:
    counters = guard.counters
    counters["factory_calls"] += 1
    try:
        value, delta = await _call(factory)
    except Exception:
        counters["factory_errors"] += 1
        raise
    negative = (
        opts.is_negative(value) if opts.is_negative is not None else value is None
    )
    if negative:
        if opts.negative_ttl is not None:
            ttl = opts.negative_ttl
            entry = {ENTRY_MARK: 1, "v": value, "e": time.time() + ttl, "d": delta}
            entry["n"] = True
            await cache.set(key, entry, math.ceil(ttl))
            counters["negative_stored"] += 1
        else:
            counters["not_cached"] += 1
        return value
    if opts.cache_if is not None and not opts.cache_if(value):
        counters["not_cached"] += 1
        return value
    if opts.envelope:
        ttl = opts.ttl if opts.ttl is not None else _default_ttl(cache, key)
        if ttl > 0:
            expires: float | None = time.time() + ttl
            physical = math.ceil(ttl + opts.stale_ttl)
        else:
            expires, physical = None, 0
        await cache.set(
            key, {ENTRY_MARK: 1, "v": value, "e": expires, "d": delta}, physical
        )
    else:
        ttl_arg = opts.ttl
        if ttl_arg is not None and not isinstance(ttl_arg, int):
            ttl_arg = math.ceil(ttl_arg) if ttl_arg > 0 else 0
        await cache.set(key, value, ttl_arg)
    return value


async def _owned_compute(
    cache: Any,
    guard: StampedeGuard,
    key: str,
    factory: Factory,
    opts: ComputeOptions,
    lock: RedisLock,
) -> Any:
    """Compute while holding lock: renew it meanwhile, release it after storing."""
    renewer = asyncio.get_running_loop().create_task(_keep_renewed(guard, lock))
    try:
        return await _compute_and_store(cache, guard, key, factory, opts)
    finally:
        renewer.cancel()
        await _release(guard, lock)


async def _release(guard: StampedeGuard, lock: RedisLock) -> None:
    try:
        await asyncio.shield(lock.release())
    except Exception as exc:  # the lease ends it anyway
        guard.counters["lock_errors"] += 1
        logger.debug("Could not release lock %s: %s", lock.name, exc)


async def _keep_renewed(guard: StampedeGuard, lock: RedisLock) -> None:
    interval = lock.lease_ms / 3000.0
    while True:
        await asyncio.sleep(interval)
        try:
            if not await lock.renew():
                guard.counters["lock_lost"] += 1
                logger.warning("Lost the compute lock %s (lease ran out)", lock.name)
                return
        except Exception as exc:
            guard.counters["lock_errors"] += 1
            logger.debug("Could not renew lock %s: %s", lock.name, exc)


def _usable(entry: _Entry | None, opts: ComputeOptions) -> bool:
    """Whether entry (read while filling) may be returned instead of computing."""
    if entry is None:
        return False
    if entry.expires_at is None:
        return True
    return time.time() < entry.expires_at + (0 if entry.negative else opts.stale_ttl)


async def _new_lock(cache: Any, key: str, opts: ComputeOptions) -> RedisLock | None:
    if not opts.lock:
        return None
    execute = await _redis_execute(cache)
    if execute is None:
        return None
    return RedisLock(execute, lock_key_for(cache._rkey(key)), opts.lock_lease)


async def _fill(
    cache: Any, guard: StampedeGuard, key: str, factory: Factory, opts: ComputeOptions
) -> Any:
    """The leader's work after a miss: take the lock or wait for its owner."""
    counters = guard.counters
    lock = await _new_lock(cache, key, opts)
    if lock is None:
        return await _compute_and_store(cache, guard, key, factory, opts)
    try:
        acquired = await lock.acquire()
    except Exception as exc:
        counters["lock_errors"] += 1
        logger.debug("Lock unavailable for %r (%s); computing without it", key, exc)
        return await _compute_and_store(cache, guard, key, factory, opts)
    if acquired:
        counters["lock_acquired"] += 1
        if not opts.force_refresh:
            # Another process may have stored it between our miss and the lock.
            entry = _read_entry(await cache.get(key))
            if _usable(entry, opts):
                await _release(guard, lock)
                counters["hits"] += 1
                return entry.value  # type: ignore[union-attr]
        return await _owned_compute(cache, guard, key, factory, opts, lock)
    counters["lock_waits"] += 1
    deadline = time.monotonic() + opts.lock_wait
    interval = _POLL_FIRST
    saw_owner = True  # the failed SET NX means someone held it
    while time.monotonic() < deadline:
        await asyncio.sleep(interval * (0.5 + random.random()))
        interval = min(interval * 2, _POLL_MAX)
        try:
            if await lock.held():
                saw_owner = True
                continue
            entry = _read_entry(await cache.get(key))
            if _usable(entry, opts) and (saw_owner or not opts.force_refresh):
                counters["hits"] += 1
                return entry.value  # type: ignore[union-attr]
            saw_owner = False
            if await lock.acquire():
                # The owner is gone without leaving a value (it failed or died).
                counters["lock_takeovers"] += 1
                counters["lock_acquired"] += 1
                entry = _read_entry(await cache.get(key))
                if _usable(entry, opts) and not opts.force_refresh:
                    await _release(guard, lock)
                    counters["hits"] += 1
                    return entry.value  # type: ignore[union-attr]
                return await _owned_compute(cache, guard, key, factory, opts, lock)
        except InfrastructureError as exc:
            counters["lock_errors"] += 1
            logger.debug("Lock wait for %r failed (%s); computing", key, exc)
            return await _compute_and_store(cache, guard, key, factory, opts)
    counters["lock_wait_timeouts"] += 1
    logger.warning(
        "Waited %.1fs for another process to compute %s; computing here",
        opts.lock_wait,
        log_key(key),
    )
    return await _compute_and_store(cache, guard, key, factory, opts)


async def _refresh(
    cache: Any, guard: StampedeGuard, key: str, factory: Factory, opts: ComputeOptions
) -> None:
    """Background refresh (stale or early): one per key across processes; errors
    are logged and the current value stays."""
    try:
        lock = await _new_lock(cache, key, opts)
        if lock is not None:
            try:
                if not await lock.acquire():
                    return  # another process is refreshing it
            except InfrastructureError:
                lock = None
        if lock is None:
            await _compute_and_store(cache, guard, key, factory, opts)
        else:
            guard.counters["lock_acquired"] += 1
            await _owned_compute(cache, guard, key, factory, opts, lock)
    except Exception as exc:
        guard.counters["refresh_errors"] += 1
        logger.warning("Background refresh of %s failed: %s", log_key(key), exc)
