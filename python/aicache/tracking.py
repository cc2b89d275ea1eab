"""L1 coherence across processes: Redis server-assisted client-side caching.

``CoherenceTracker`` keeps one subscriber link per Redis primary (one for a
single server or a Sentinel primary, one per primary of a Cluster).  Each link
runs, in its handshake::

    CLIENT ID                                   -> id
    CLIENT TRACKING ON REDIRECT <id> BCAST PREFIX <key_prefix>
    SUBSCRIBE __redis__:invalidate

so the server pushes the name of every key under the cache's prefix that
changes (written, deleted, expired or evicted, by anyone: aicache or not) to
that link.  The tracker hands the names to the cache, which drops them from L1
and from any in-flight read, before a later read can return them.

Why this shape (measured and argued in docs/scaling.md):

* RESP2 REDIRECT, not RESP3 push on the data connection: the C protocol keeps
  resolving exactly one future per command on the hot path, and the tracking
  state lives on the subscriber link alone, so the shared data connections need
  no handshake hook and no re-arming after a reconnect.
* BCAST, not default mode: default mode tracks only keys this connection has
  read, so a value this process wrote and put in L1 would never be invalidated
  by another writer.  BCAST reports every change under the prefix; the cost is
  one message per write per process, which suits read-mostly caches.

The guarantee: L1 is used only while every link is subscribed ("ready").  A
link that drops (or stops answering its heartbeat) flushes L1 at once, from the
link's ``connection_lost``, and L1 stays off until the link is back, because
invalidations may have been missed meanwhile.  The same happens when the set of
primaries changes (cluster failover or resharding to a new node, sentinel
switch).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any

from .pubsub import PubSubLink, PubSubProtocol

__all__ = ["INVALIDATE_CHANNEL", "CoherenceTracker"]

logger = logging.getLogger(__name__)

INVALIDATE_CHANNEL = "__redis__:invalidate"
_POKE_INTERVAL = 0.5

_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


class CoherenceTracker:
    """Invalidation links for one cache; see the module documentation."""

    def __init__(
        self,
        prefix: str,
        on_invalidate: Callable[[list[bytes]], None],
        on_flush: Callable[[], None],
        *,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        heartbeat: float = 1.0,
        owner_alive: Callable[[], bool] | None = None,
    ) -> None:
        self.prefix = prefix
        self._owner_alive = owner_alive
        self._on_invalidate = on_invalidate
        self._on_flush = on_flush
        self._username = username
        self._password = password
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._heartbeat = heartbeat
        self._nodes: Callable[[], list[tuple[str, int]]] = list
        # Asks the connection to look at its topology again (a link that cannot
        # reconnect may point at a node that failed over).
        self._refresh: Callable[[], None] | None = None
        # False while part of the keyspace has no known primary (cluster
        # failover in progress): L1 stays off then.
        self._complete: Callable[[], bool] = _always
        self._poke_handle: asyncio.TimerHandle | None = None
        self._links: dict[tuple[str, int], PubSubLink] = {}
        self._up: set[tuple[str, int]] = set()
        self._fork_gen = _fork_generation
        self._closed = False
        #: True while every primary's link is subscribed: L1 may be used.
        self.ready = False
        self.stats = {
            "messages": 0,
            "keys_invalidated": 0,
            "flushes": 0,
            "links_lost": 0,
            "link_ups": 0,
        }

    def __repr__(self) -> str:
        return f"<CoherenceTracker prefix={self.prefix!r} ready={self.is_ready}>"

    @property
    def is_ready(self) -> bool:
        return self.ready and self._fork_gen == _fork_generation

    # ------------------------------------------------------------ wiring

    def attach(self, connection: Any) -> None:
        """Follows connection's primaries: a RedisConnection (one node), a
        ClusterConnection or a SentinelConnection (whose primaries change)."""
        from ._connection import RedisConnection
        from .cluster import ClusterConnection
        from .sentinel import SentinelConnection

        if isinstance(connection, ClusterConnection):
            cluster = connection

            def cluster_nodes() -> list[tuple[str, int]]:
                return [n.address for n in cluster.primaries]

            self._nodes = cluster_nodes
            self._refresh = cluster.request_refresh

            def cluster_complete() -> bool:
                return cluster.slots_complete

            self._complete = cluster_complete
            cluster.add_topology_listener(self.sync)
        elif isinstance(connection, SentinelConnection):
            sentinel = connection

            def sentinel_nodes() -> list[tuple[str, int]]:
                address = sentinel.address
                return [address] if address is not None else []

            self._nodes = sentinel_nodes
            self._refresh = sentinel.request_refresh
            sentinel.add_topology_listener(self.sync)
        elif isinstance(connection, RedisConnection):
            url = connection._url
            if url.host is None or url.port is None:
                raise ValueError("L1 coherence needs a TCP Redis URL (not unix://)")
            address = (url.host, url.port)

            def single_node() -> list[tuple[str, int]]:
                return [address]

            self._nodes = single_node
        else:
            raise TypeError(f"cannot track {type(connection).__name__}")

    def sync(self) -> None:
        """Matches the links to the current primaries (call in the loop)."""
        if self._closed:
            return
        if self._fork_gen != _fork_generation:
            # A forked child never uses the parent's sockets: start afresh.
            self._links = {}
            self._up = set()
            self._fork_gen = _fork_generation
        wanted = set(self._nodes())
        current = set(self._links)
        if wanted == current:
            self._update_ready()
            return
        for address in current - wanted:
            link = self._links.pop(address)
            self._up.discard(address)
            asyncio.get_running_loop().create_task(link.close())
        if current:
            # The primaries changed: writes may have reached a node nobody was
            # listening to.  Forget everything and wait for the new links.
            self._flush("primaries changed")
        for address in wanted - current:
            link = PubSubLink(
                address[0],
                address[1],
                (INVALIDATE_CHANNEL,),
                self._message,
                username=self._username,
                password=self._password,
                ssl_context=self._ssl,
                connect_timeout=self._connect_timeout,
                heartbeat=self._heartbeat,
                prepare=self._prepare,
                on_up=functools.partial(self._link_up, address),
                on_down=functools.partial(self._link_down, address),
                keep_running=self._owner_alive,
                on_retry=self._link_retry,
            )
            self._links[address] = link
            link.start()
        self._update_ready()

    async def close(self) -> None:
        self._closed = True
        self.ready = False
        if self._poke_handle is not None:
            self._poke_handle.cancel()
            self._poke_handle = None
        links = list(self._links.values())
        self._links.clear()
        self._up.clear()
        await asyncio.gather(*(link.close() for link in links), return_exceptions=True)

    def kill_links(self) -> None:
        """Drops every link (they reconnect): for tests and operators."""
        for link in self._links.values():
            link.kill()

    @property
    def links(self) -> dict[tuple[str, int], PubSubLink]:
        return dict(self._links)

    # ------------------------------------------------------------ link events

    async def _prepare(self, proto: PubSubProtocol) -> None:
        client_id = await proto.command("CLIENT", "ID")
        args: list[Any] = ["CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST"]
        if self.prefix:
            args += ["PREFIX", self.prefix]
        await proto.command(*args)

    def _link_up(self, address: tuple[str, int]) -> None:
        if address not in self._links:
            return
        self.stats["link_ups"] += 1
        self._up.add(address)
        self._update_ready()

    def _link_retry(self) -> None:
        if self._refresh is not None:
            self._refresh()  # rate-limited and single-flight on the other side

    def _link_down(self, address: tuple[str, int]) -> None:
        self.stats["links_lost"] += 1
        self._up.discard(address)
        self._flush("invalidation link lost")

    def _update_ready(self) -> None:
        self.ready = (
            bool(self._links) and self._up >= set(self._links) and self._complete()
        )
        if not self.ready:
            self._schedule_poke()

    def _schedule_poke(self) -> None:
        """While not ready, ask the connection to re-read its topology every
        half second: after a failover nothing else may touch the moved shard."""
        if self._poke_handle is not None or self._refresh is None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._poke_handle = loop.call_later(_POKE_INTERVAL, self._poke)

    def _poke(self) -> None:
        self._poke_handle = None
        if self.ready or self._closed or self._refresh is None:
            return
        if self._owner_alive is not None and not self._owner_alive():
            return  # the cache is gone: stop asking
        self._refresh()
        self._schedule_poke()

    def _flush(self, why: str) -> None:
        """L1 off and empty: invalidations may have been missed."""
        self.ready = False
        self.stats["flushes"] += 1
        logger.debug("L1 flushed: %s", why)
        self._on_flush()
        self._update_ready()

    def _message(self, channel: bytes, payload: Any) -> None:
        self.stats["messages"] += 1
        if payload is None:  # FLUSHDB / FLUSHALL: every key changed
            self._flush("server flushed")
            return
        if type(payload) is list:
            self.stats["keys_invalidated"] += len(payload)
            self._on_invalidate(payload)


def _always() -> bool:
    return True
