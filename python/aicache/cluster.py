"""Redis Cluster as one connection object: ``ClusterConnection``.

It has the interface of :class:`aicache._connection.RedisConnection`
(``execute``, ``connect``, ``close``, ``stats``, ``is_connected``,
``breaker_state``, ``url``), so ``GenericRedisCache`` drives a cluster exactly as
it drives one server.  Underneath:

* one multiplexed ``RedisConnection`` per node (same implicit pipelining, timeouts,
  backoff and circuit breaker as a single server);
* each command is routed by the CRC16 slot of its key (``_core.key_slot``, hash
  tags honoured) through a 16384-entry table of node connections;
* the slot map comes from ``CLUSTER SHARDS`` (``CLUSTER SLOTS`` on servers
  older than 7.0); ``MOVED`` patches the table at once and asks for a refresh,
  ``ASK`` sends ``ASKING`` + the command to the importing node in one write;
* refreshes are single-flight and rate-limited: a failover that makes every
  in-flight command fail causes one refresh per ``min_refresh_interval``, not a
  storm;
* multi-key commands (MGET, DEL, UNLINK, EXISTS, TOUCH) are split by slot, sent
  concurrently and gathered; keyless commands go to one node, or to every
  primary where the answer is a sum (DBSIZE) or the effect must be global
  (FLUSHDB); ``SCAN`` walks every primary with a composite cursor.

Optional replica reads (``read_from_replicas=True``, off by default) send GET,
MGET, EXISTS, TTL and PTTL to a replica of the slot's shard (after ``READONLY``);
a replica may lag its primary, so use it only where staleness is acceptable.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from . import _core
from ._connection import (
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
)
from .exceptions import ConfigurationError

__all__ = ["ClusterConnection", "ClusterNode"]

logger = logging.getLogger(__name__)

_SLOTS = _core.CLUSTER_SLOTS
_key_slot = _core.key_slot

# Commands whose keys are args[1:] (all of them), and how replies are combined.
_SUM_KEYS = frozenset({"DEL", "UNLINK", "EXISTS", "TOUCH"})
_LIST_KEYS = frozenset({"MGET"})
# Keyless commands answered as a sum over primaries, or run on every primary.
_SUM_ALL = frozenset({"DBSIZE"})
_EVERY_PRIMARY = frozenset({"FLUSHDB", "FLUSHALL"})
_READ_ONLY = frozenset({"GET", "MGET", "EXISTS", "TTL", "PTTL", "STRLEN", "TYPE"})
# Commands without a key that go to any one node.
_KEYLESS = frozenset(
    {"PING", "INFO", "CLUSTER", "CLIENT", "CONFIG", "TIME", "ECHO", "COMMAND",
     "HELLO", "ROLE", "MEMORY", "SCRIPT", "FUNCTION", "LASTSAVE", "READONLY",
     "READWRITE", "ASKING", "WAIT", "SLOWLOG"}
)  # fmt: skip
_SPECIAL = (
    _SUM_KEYS | _LIST_KEYS | _SUM_ALL | _EVERY_PRIMARY | _KEYLESS | {"SCAN", "KEYS"}
)


class ClusterNode:
    """One node of the slot map: address, role and its connection."""

    __slots__ = ("conn", "host", "node_id", "port", "primary")

    def __init__(
        self, host: str, port: int, conn: RedisConnection, primary: bool, node_id: str
    ) -> None:
        self.host = host
        self.port = port
        self.conn = conn
        self.primary = primary
        self.node_id = node_id

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __repr__(self) -> str:
        role = "primary" if self.primary else "replica"
        return f"<ClusterNode {self.host}:{self.port} {role}>"


class _Shard:
    __slots__ = ("primary", "ranges", "replicas")

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.primary: tuple[str, int] | None = None
        self.replicas: list[tuple[str, int]] = []


def _redirect(message: str) -> tuple[int, str, int] | None:
    """(slot, host, port) of a ``MOVED``/``ASK`` error reply, or None."""
    parts = message.split(" ")
    if len(parts) != 3:
        return None
    host, _, port = parts[2].rpartition(":")
    try:
        return int(parts[1]), host.strip("[]"), int(port)
    except ValueError:
        return None


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> dict[str, Any]:
    """A RESP2 flat map [k1, v1, k2, v2, ...] as a dict with str keys."""
    return {_as_str(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def parse_cluster_shards(reply: Any, tls: bool) -> list[_Shard]:
    """The shards of a ``CLUSTER SHARDS`` reply (Redis >= 7.0)."""
    shards: list[_Shard] = []
    for entry in reply:
        fields = _pairs(entry)
        shard = _Shard()
        bounds = [int(x) for x in fields.get("slots", [])]
        shard.ranges = [
            (bounds[i], bounds[i + 1]) for i in range(0, len(bounds) - 1, 2)
        ]
        for node_fields in fields.get("nodes", []):
            node = _pairs(node_fields)
            if _as_str(node.get("health", "online")) != "online":
                continue
            host = _as_str(node.get("endpoint", "?"))
            if host in ("?", ""):
                host = _as_str(node.get("ip", ""))
            port_field = "tls-port" if tls and "tls-port" in node else "port"
            if not host or port_field not in node:
                continue
            address = (host, int(node[port_field]))
            if _as_str(node.get("role")) == "master":
                shard.primary = address
            else:
                shard.replicas.append(address)
        if shard.ranges and shard.primary is not None:
            shards.append(shard)
    return shards


def parse_cluster_slots(reply: Any) -> list[_Shard]:
    """The shards of a ``CLUSTER SLOTS`` reply (servers older than 7.0)."""
    by_primary: dict[tuple[str, int], _Shard] = {}
    for entry in reply:
        start, end = int(entry[0]), int(entry[1])
        nodes = [(_as_str(n[0]), int(n[1])) for n in entry[2:] if len(n) >= 2]
        if not nodes or not nodes[0][0]:
            continue
        shard = by_primary.setdefault(nodes[0], _Shard())
        shard.primary = nodes[0]
        shard.ranges.append((start, end))
        shard.replicas = [n for n in nodes[1:] if n[0]]
    return list(by_primary.values())


class ClusterConnection:
    """A Redis Cluster behind the ``RedisConnection`` interface."""

    def __init__(
        self,
        seeds: Iterable[tuple[str, int]],
        *,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        read_from_replicas: bool = False,
        max_redirects: int = 5,
        min_refresh_interval: float = 0.25,
        connection_factory: Callable[..., RedisConnection] | None = None,
        **connection_options: Any,
    ) -> None:
        self._seeds = [(str(h), int(p)) for h, p in seeds]
        if not self._seeds:
            raise ConfigurationError(
                "a Redis Cluster needs at least one seed node", {"seeds": 0}
            )
        for host, port in self._seeds:
            if not host or not 1 <= port <= 65535:
                raise ConfigurationError(
                    "bad Redis Cluster seed address", {"host": host, "port": port}
                )
        if max_redirects < 1:
            raise ConfigurationError(
                "max_redirects must be >= 1", {"max_redirects": max_redirects}
            )
        if not min_refresh_interval >= 0:
            raise ConfigurationError(
                "min_refresh_interval must be >= 0",
                {"min_refresh_interval": min_refresh_interval},
            )
        self._username = username
        self._password = password
        self._ssl_context = ssl_context
        self._read_from_replicas = bool(read_from_replicas)
        self._max_redirects = int(max_redirects)
        self._min_refresh = float(min_refresh_interval)
        # With replica reads every link says READONLY (harmless on a primary, and
        # roles change on failover).
        self._factory = connection_factory or (
            _ReadOnlyConnection if read_from_replicas else RedisConnection
        )
        self._options = connection_options
        self._connect_timeout = float(connection_options.get("connect_timeout", 5.0))
        # The slot table: the primary node (and replicas) serving each slot.
        self._slots: list[ClusterNode | None] = [None] * _SLOTS
        self._replicas: list[list[ClusterNode]] = [[] for _ in range(_SLOTS)]
        self._nodes: dict[tuple[str, int], ClusterNode] = {}
        self._primaries: list[ClusterNode] = []
        #: True when every slot has a primary in the current map.
        self.slots_complete = False
        self._refresh_task: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._last_refresh = 0.0
        self._rr = itertools.count()
        self._topology_listeners: list[Callable[[], None]] = []
        self._closed = False
        self._stats = {
            "refreshes": 0,
            "refresh_failures": 0,
            "moved": 0,
            "ask": 0,
            "tryagain": 0,
            "cross_slot_splits": 0,
        }
        scheme = "rediss+cluster" if ssl_context is not None else "redis+cluster"
        cred = f"{username or ''}:***@" if password is not None else ""
        hosts = ",".join(f"{h}:{p}" for h, p in self._seeds)
        self._redacted = f"{scheme}://{cred}{hosts}"

    # ------------------------------------------------------------ interface

    @property
    def url(self) -> str:
        return self._redacted

    def __repr__(self) -> str:
        return f"<ClusterConnection {self._redacted} primaries={len(self._primaries)}>"

    @property
    def is_connected(self) -> bool:
        """True once the slot map is known and some primary link is open."""
        return bool(self._primaries) and any(
            n.conn.is_connected for n in self._primaries
        )

    @property
    def breaker_state(self) -> str:
        states = [n.conn.breaker_state for n in self._primaries]
        if not states:
            return "closed"
        if all(s == "open" for s in states):
            return "open"
        return "half_open" if any(s != "closed" for s in states) else "closed"

    @property
    def primaries(self) -> list[ClusterNode]:
        """The primaries of the current slot map."""
        return list(self._primaries)

    @property
    def nodes(self) -> list[ClusterNode]:
        return list(self._nodes.values())

    def node_for_key(self, key: str | bytes) -> ClusterNode | None:
        """The primary serving key now (None before the slot map is known)."""
        return self._slots[_key_slot(key)]

    def add_topology_listener(self, callback: Callable[[], None]) -> None:
        """callback() runs after every slot-map change (e.g. L1 coherence follows
        the set of primaries)."""
        self._topology_listeners.append(callback)

    def stats(self) -> dict[str, Any]:
        """Counters summed over the node connections, plus the cluster's own
        (refreshes, redirects) and one entry per node."""
        totals: dict[str, Any] = {}
        per_node: dict[str, Any] = {}
        for address, node in self._nodes.items():
            s = node.conn.stats()
            per_node[f"{address[0]}:{address[1]}"] = s
            for name, value in s.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    totals[name] = totals.get(name, 0) + value
        totals.update(self._stats)
        totals["connected"] = int(self.is_connected)
        totals["breaker_state"] = self.breaker_state
        totals["url"] = self._redacted
        totals["primaries"] = len(self._primaries)
        totals["nodes"] = per_node
        return totals

    async def connect(self) -> None:
        """Loads the slot map and opens the link to every primary."""
        self._closed = False
        if not self._primaries:
            await self.refresh(force=True)
        results = await asyncio.gather(
            *(n.conn.connect() for n in self._primaries), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors and len(errors) == len(results):
            raise errors[0]

    async def close(self) -> None:
        self._closed = True
        task = self._refresh_task
        self._refresh_task = None
        if task is not None and not task.done():
            task.cancel()
        nodes = list(self._nodes.values())
        self._nodes.clear()
        self._primaries = []
        self.slots_complete = False
        self._slots = [None] * _SLOTS
        self._replicas = [[] for _ in range(_SLOTS)]
        await asyncio.gather(*(n.conn.close() for n in nodes), return_exceptions=True)

    async def execute(
        self,
        *args: bytes | str | int | float,
        decoder: Callable[[bytes], Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Routes one command by the slot of its key and returns its reply."""
        name = args[0]
        if name.__class__ is not str:
            name = _as_str(name)
        name = name.upper()
        if name in _SPECIAL or len(args) < 2:
            return await self._execute_special(name, args, decoder, timeout)
        slot = _key_slot(args[1])  # type: ignore[arg-type]
        node = self._slots[slot]
        if self._read_from_replicas and name in _READ_ONLY:
            node = self._pick_replica(slot) or node
        if node is not None:
            try:
                return await node.conn.execute(*args, decoder=decoder, timeout=timeout)
            except RedisReplyError as exc:
                return await self._on_reply_error(exc, slot, args, decoder, timeout, 1)
            except RedisConnectionError:
                self.request_refresh()
                raise
        return await self._execute_slot(slot, args, decoder, timeout, 0)

    # ------------------------------------------------------------ routing

    def _pick_replica(self, slot: int) -> ClusterNode | None:
        replicas = self._replicas[slot]
        if not replicas:
            return None
        live = [r for r in replicas if r.conn.breaker_state != "open"]
        if not live:
            return None
        return live[next(self._rr) % len(live)]

    async def _execute_slot(
        self,
        slot: int,
        args: tuple[Any, ...],
        decoder: Callable[[bytes], Any] | None,
        timeout: float | None,
        attempt: int,
    ) -> Any:
        node = self._slots[slot]
        if node is None:
            await self.refresh()
            node = self._slots[slot]
            if node is None:
                raise RedisConnectionError(
                    "no Redis Cluster node serves this slot (cluster down?)",
                    {"redis_url": self._redacted, "slot": slot},
                )
        try:
            return await node.conn.execute(*args, decoder=decoder, timeout=timeout)
        except RedisReplyError as exc:
            return await self._on_reply_error(
                exc, slot, args, decoder, timeout, attempt + 1
            )
        except RedisConnectionError:
            self.request_refresh()
            raise

    async def _on_reply_error(
        self,
        exc: RedisReplyError,
        slot: int,
        args: tuple[Any, ...],
        decoder: Callable[[bytes], Any] | None,
        timeout: float | None,
        attempt: int,
    ) -> Any:
        """MOVED: patch the table, refresh, retry.  ASK: ASKING + retry on the
        importing node.  TRYAGAIN / CLUSTERDOWN: short pause, retry."""
        code = exc.code
        if code not in ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "READONLY"):
            raise exc
        if attempt > self._max_redirects:
            raise RedisConnectionError(
                f"Redis Cluster redirected a command {attempt - 1} times; giving up",
                {"redis_url": self._redacted, "slot": slot, "last_reply": exc.message},
            ) from exc
        if code == "MOVED":
            self._stats["moved"] += 1
            target = _redirect(exc.message)
            if target is None:
                raise exc
            moved_slot, host, port = target
            node = self._node(host, port, primary=True)
            self._slots[moved_slot] = node
            if node not in self._primaries:
                # A primary we did not know: followers of the topology (L1
                # coherence) must hear of it before its replies are trusted.
                self._primaries = [*self._primaries, node]
                self._notify_topology()
            self.request_refresh()
            return await self._execute_slot(slot, args, decoder, timeout, attempt)
        if code == "ASK":
            self._stats["ask"] += 1
            target = _redirect(exc.message)
            if target is None:
                raise exc
            node = self._node(target[1], target[2], primary=True)
            try:
                return await self._asking(node, args, decoder)
            except RedisReplyError as again:
                return await self._on_reply_error(
                    again, slot, args, decoder, timeout, attempt + 1
                )
        # TRYAGAIN (keys of a multi-key command are mid-migration), CLUSTERDOWN
        # (failover in progress) or READONLY (a replica was just demoted/promoted).
        self._stats["tryagain"] += 1
        self.request_refresh()
        await asyncio.sleep(min(0.05 * attempt, 0.25))
        return await self._execute_slot(slot, args, decoder, timeout, attempt)

    async def _asking(
        self,
        node: ClusterNode,
        args: tuple[Any, ...],
        decoder: Callable[[bytes], Any] | None,
    ) -> Any:
        """ASKING and the command leave back to back in one write: nothing else
        on the shared link can come between them."""
        conn = node.conn
        await conn.connect()
        proto = conn._proto
        if proto is None:
            raise RedisConnectionError(
                "Redis Cluster node link lost before ASKING",
                {"redis_url": conn.url},
            )
        asking = proto.send(("ASKING",))
        fut = proto.send(args, decoder)
        conn._track(proto, asking)
        conn._track(proto, fut)
        try:
            await asking
        except RedisReplyError:
            fut.add_done_callback(_consume)
            raise
        return await fut

    async def _execute_special(
        self,
        name: str,
        args: tuple[Any, ...],
        decoder: Callable[[bytes], Any] | None,
        timeout: float | None,
    ) -> Any:
        if name in _SUM_KEYS or name in _LIST_KEYS:
            return await self._execute_multi(name, args, decoder, timeout)
        if name == "SCAN":
            return await self._scan(args, timeout)
        if not self._primaries:
            await self.refresh(force=True)
        if name == "KEYS":
            replies = await self._on_primaries(args, timeout)
            return [k for reply in replies for k in reply]
        if name in _SUM_ALL:
            return sum(int(r) for r in await self._on_primaries(args, timeout))
        if name in _EVERY_PRIMARY:
            replies = await self._on_primaries(args, timeout)
            return replies[0] if replies else "OK"
        node = self._any_primary()
        return await node.conn.execute(*args, decoder=decoder, timeout=timeout)

    def _any_primary(self) -> ClusterNode:
        live = [n for n in self._primaries if n.conn.breaker_state != "open"]
        pool = live or self._primaries
        if not pool:
            raise RedisConnectionError(
                "Redis Cluster slot map is empty", {"redis_url": self._redacted}
            )
        return pool[0]

    async def _on_primaries(
        self, args: tuple[Any, ...], timeout: float | None
    ) -> list[Any]:
        return list(
            await asyncio.gather(
                *(n.conn.execute(*args, timeout=timeout) for n in self._primaries)
            )
        )

    async def _execute_multi(
        self,
        name: str,
        args: tuple[Any, ...],
        decoder: Callable[[bytes], Any] | None,
        timeout: float | None,
    ) -> Any:
        """Splits a multi-key command by slot; runs the parts concurrently."""
        keys = args[1:]
        if not keys:
            raise RedisReplyError(
                f"ERR wrong number of arguments for '{name.lower()}' command",
                {"redis_url": self._redacted},
            )
        by_slot: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            by_slot.setdefault(_key_slot(key), []).append(i)
        if len(by_slot) == 1:
            slot = next(iter(by_slot))
            return await self._execute_slot(slot, args, decoder, timeout, 0)
        self._stats["cross_slot_splits"] += 1
        slots = list(by_slot)
        parts: list[Awaitable[Any]] = [
            self._execute_slot(
                slot,
                (args[0], *(keys[i] for i in by_slot[slot])),
                decoder,
                timeout,
                0,
            )
            for slot in slots
        ]
        replies = await asyncio.gather(*parts)
        if name in _SUM_KEYS:
            return sum(int(r) for r in replies)
        out: list[Any] = [None] * len(keys)
        for slot, reply in zip(slots, replies, strict=True):
            for i, value in zip(by_slot[slot], reply, strict=True):
                out[i] = value
        return out

    async def _scan(self, args: tuple[Any, ...], timeout: float | None) -> Any:
        """SCAN over every primary.  The composite cursor is
        ``node_cursor * 16384 + s`` where s is the lowest slot of the node being
        walked: the walk follows the slots, so it survives a failover (the
        promoted replica owns the same slots)."""
        if not self._primaries:
            await self.refresh(force=True)
        try:
            cursor = int(args[1])
        except (IndexError, ValueError):
            raise RedisReplyError(
                "ERR invalid cursor", {"redis_url": self._redacted}
            ) from None
        order = self._primaries_by_first_slot()
        if not order:
            raise RedisConnectionError(
                "Redis Cluster slot map is empty", {"redis_url": self._redacted}
            )
        node_cursor, first = divmod(cursor, _SLOTS)
        if cursor == 0:
            first = order[0][0]
        node = self._slots[first]
        if node is None:
            raise RedisConnectionError(
                "no Redis Cluster node serves this slot", {"slot": first}
            )
        reply = await node.conn.execute("SCAN", node_cursor, *args[2:], timeout=timeout)
        next_cursor, batch = int(reply[0]), list(reply[1])
        if next_cursor != 0:
            return [next_cursor * _SLOTS + first, batch]
        later = [s for s, _ in order if s > first]
        if not later:
            return [0, batch]
        # The next node starts at cursor 0: its composite cursor is its slot.
        # Slot 0 always belongs to the first node, so a later node's first slot is
        # never 0 and the composite cursor never reads as "done".
        return [later[0], batch]

    def _primaries_by_first_slot(self) -> list[tuple[int, ClusterNode]]:
        first: dict[int, tuple[int, ClusterNode]] = {}
        for slot, node in enumerate(self._slots):
            if node is not None and id(node) not in first:
                first[id(node)] = (slot, node)
        return sorted(first.values(), key=lambda item: item[0])

    # ------------------------------------------------------------ topology

    def _node(self, host: str, port: int, primary: bool) -> ClusterNode:
        address = (host, port)
        node = self._nodes.get(address)
        if node is None:
            conn = self._factory(
                f"{'rediss' if self._ssl_context is not None else 'redis'}://"
                f"{_url_host(host)}:{port}",
                username=self._username,
                password=self._password,
                ssl_context=self._ssl_context,
                **self._options,
            )
            node = ClusterNode(host, port, conn, primary, "")
            self._nodes[address] = node
        return node

    def request_refresh(self) -> None:
        """Asks for a slot-map refresh soon (single-flight, rate-limited)."""
        if self._closed:
            return
        task = self._refresh_task
        if task is not None and not task.done():
            self._refresh_again = True
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refresh_task = loop.create_task(self._refresh_loop())
        self._refresh_task.add_done_callback(_consume)

    async def refresh(self, force: bool = False) -> None:
        """Reloads the slot map now (joins a refresh already in flight)."""
        task = self._refresh_task
        if task is None or task.done():
            if not force and time.monotonic() - self._last_refresh < self._min_refresh:
                return
            task = self._refresh_task = asyncio.get_running_loop().create_task(
                self._refresh_loop()
            )
            task.add_done_callback(_consume)
        await asyncio.shield(task)

    async def _refresh_loop(self) -> None:
        while True:
            wait = self._last_refresh + self._min_refresh - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._refresh_again = False
            try:
                await self._load_slot_map()
            finally:
                self._last_refresh = time.monotonic()
            if not self._refresh_again:
                return

    def _candidates(self) -> list[tuple[str, int]]:
        """Where to ask for the slot map: live known primaries first, then the
        other known nodes, then the seeds."""
        known = [n.address for n in self._primaries if n.conn.breaker_state != "open"]
        random.shuffle(known)
        others = [a for a in self._nodes if a not in known]
        seeds = [a for a in self._seeds if a not in known and a not in others]
        return [*known, *others, *seeds]

    async def _load_slot_map(self) -> None:
        last_error: BaseException | None = None
        for address in self._candidates():
            node = self._node(*address, primary=False)
            try:
                shards = await self._ask_shards(node)
            except (RedisConnectionError, RedisReplyError, OSError) as exc:
                last_error = exc
                continue
            if not shards:
                last_error = RedisConnectionError(
                    "Redis Cluster node reported no slots", {"node": f"{address}"}
                )
                continue
            self._install(shards)
            self._stats["refreshes"] += 1
            return
        self._stats["refresh_failures"] += 1
        raise RedisConnectionError(
            "cannot load the Redis Cluster slot map from any node",
            {"redis_url": self._redacted, "last_error": f"{last_error}"},
        ) from last_error

    async def _ask_shards(self, node: ClusterNode) -> list[_Shard]:
        timeout = min(self._connect_timeout, 2.0)
        tls = self._ssl_context is not None
        try:
            reply = await node.conn.execute("CLUSTER", "SHARDS", timeout=timeout)
            return parse_cluster_shards(reply, tls)
        except RedisReplyError as exc:
            if "unknown subcommand" not in exc.message.lower():
                raise
        return parse_cluster_slots(
            await node.conn.execute("CLUSTER", "SLOTS", timeout=timeout)
        )

    def _install(self, shards: list[_Shard]) -> None:
        slots: list[ClusterNode | None] = [None] * _SLOTS
        replicas: list[list[ClusterNode]] = [[] for _ in range(_SLOTS)]
        primaries: list[ClusterNode] = []
        for shard in shards:
            assert shard.primary is not None
            primary = self._node(*shard.primary, primary=True)
            primary.primary = True
            primaries.append(primary)
            shard_replicas = [self._node(*a, primary=False) for a in shard.replicas]
            for r in shard_replicas:
                r.primary = False
            for start, end in shard.ranges:
                for slot in range(max(start, 0), min(end, _SLOTS - 1) + 1):
                    slots[slot] = primary
                    replicas[slot] = shard_replicas
        changed = [n.address for n in primaries] != [
            n.address for n in self._primaries
        ] or any(a is not b for a, b in zip(slots, self._slots, strict=True))
        self._slots = slots
        self._replicas = replicas
        self._primaries = primaries
        complete = None not in slots
        changed = changed or complete != self.slots_complete
        self.slots_complete = complete
        if changed:
            self._notify_topology()

    def _notify_topology(self) -> None:
        for callback in list(self._topology_listeners):
            try:
                callback()
            except Exception as exc:  # a listener never breaks routing
                logger.warning("cluster topology listener failed: %s", exc)


class _ReadOnlyConnection(RedisConnection):
    """A replica link: sends READONLY right after every (re)connect, before
    any command issued on the new link can leave."""

    __slots__ = ()

    def _link_up(
        self, loop: asyncio.AbstractEventLoop, proto: _core.RedisProtocol
    ) -> None:
        super()._link_up(loop, proto)
        proto.send(("READONLY",)).add_done_callback(_consume)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
