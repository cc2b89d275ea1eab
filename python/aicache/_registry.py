"""Process-wide sharing of connections: one per key, leased by its users.

A cache built per request must not cost a socket per request.  Every cache that
asks for the same key (server, credentials, database, TLS settings, timeouts,
event loop: whatever the caller puts in it) gets a lease on the same connection
object.  The registry holds connections weakly: a connection lives while some
lease (or anything else) references it, and an abandoned one is collected and
closes its own socket.  ``Lease.release()`` is the explicit end of one user;
the last release closes the connection.

Keys are opaque hashables built by the caller, so other connection kinds
(cluster, sentinel) share through the same registry.  A connection only needs
an ``async close()``.  Never put a secret in a key as is: use
:func:`secret_digest`.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

__all__ = ["ConnectionRegistry", "Lease", "registry", "secret_digest"]


class _Closable(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


def secret_digest(secret: str | None) -> str | None:
    """A stand-in for a secret inside a registry key (keys may be inspected)."""
    if secret is None:
        return None
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class _Entry:
    __slots__ = ("__weakref__", "conn", "users")

    def __init__(self, conn: object) -> None:
        self.conn = weakref.ref(conn)
        self.users = 0


class Lease(Generic[C]):
    """One user's share of a registered connection."""

    __slots__ = ("__weakref__", "_entry", "_fin", "_registry", "connection", "key")

    def __init__(
        self, registry: ConnectionRegistry, key: Hashable, entry: _Entry, conn: C
    ) -> None:
        self._registry = registry
        self._entry: _Entry | None = entry
        self.key = key
        self.connection = conn
        entry.users += 1
        # A lease dropped without release() still gives its share back.
        self._fin = weakref.finalize(self, _drop_share, weakref.ref(entry))

    @property
    def released(self) -> bool:
        return self._entry is None

    async def release(self) -> None:
        """Ends this share; the last share closes the connection."""
        entry, self._entry = self._entry, None
        if entry is None:
            return
        self._fin.detach()
        if self._registry._give_back(self.key, entry):
            await self.connection.close()


def _drop_share(entry_ref: weakref.ref[_Entry]) -> None:
    entry = entry_ref()
    if entry is not None and entry.users > 0:
        entry.users -= 1


class ConnectionRegistry:
    """Connections by key, held weakly; thread-safe (a lock around the map)."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        # Connections kept alive for a while after their last lease was taken
        # (a cache per request must not reconnect per request): key ->
        # (connection, its loop, token of the last lease).
        self._keep: dict[Hashable, tuple[object, asyncio.AbstractEventLoop, int]] = {}
        self._token = 0
        # Re-entrant: a garbage collection inside lease() runs _forget().
        self._lock = threading.RLock()

    def lease(
        self,
        key: Hashable,
        factory: Callable[[], C],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        keep_alive: float = 0.0,
    ) -> Lease[C]:
        """A share of the connection registered under key (built by factory on
        first use, or again once the previous one was collected or closed).

        With ``loop`` and ``keep_alive``, the registry itself holds the
        connection for ``keep_alive`` seconds after this lease was taken, so
        users that come and go faster than that reuse one socket; after that
        only leases keep it (an idle, unused connection is then collected)."""
        with self._lock:
            self._prune_keep()
            entry = self._entries.get(key)
            conn = entry.conn() if entry is not None else None
            if entry is None or conn is None:
                conn = factory()
                entry = self._entries[key] = _Entry(conn)
                weakref.finalize(conn, self._forget, key, weakref.ref(entry))
            lease: Lease[C] = Lease(self, key, entry, conn)  # type: ignore[arg-type]
            if loop is not None and keep_alive > 0:
                self._token += 1
                self._keep[key] = (conn, loop, self._token)
                loop.call_later(keep_alive, self._end_keep, key, self._token)
            return lease

    def _end_keep(self, key: Hashable, token: int) -> None:
        with self._lock:
            kept = self._keep.get(key)
            if kept is not None and kept[2] == token:
                del self._keep[key]

    def _prune_keep(self) -> None:
        """A kept connection whose loop is closed will never be used again."""
        for key in [k for k, (_, lp, _) in self._keep.items() if lp.is_closed()]:
            del self._keep[key]

    def _give_back(self, key: Hashable, entry: _Entry) -> bool:
        """True when that was the last share (the caller closes the connection)."""
        with self._lock:
            entry.users -= 1
            if entry.users > 0:
                return False
            if self._entries.get(key) is entry:
                del self._entries[key]
            self._keep.pop(key, None)
            return True

    def _forget(self, key: Hashable, entry_ref: weakref.ref[_Entry]) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry is entry_ref():
                del self._entries[key]

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for e in self._entries.values() if e.conn() is not None)

    def users(self, key: Hashable) -> int:
        """Leases currently held on key (0 when none or not registered)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.users if entry is not None else 0


#: The process's registry (RedisConnection users share through it).
registry = ConnectionRegistry()
