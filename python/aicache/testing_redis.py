"""Real Redis for tests: a redis-server process and a TCP link that can be cut.

Used by the pytest plugin (:mod:`aicache.testing`); usable on its own::

    server = RedisTestServer.start()        # a redis-server on a free loopback port
    link = CuttableLink(server.port)        # 127.0.0.1:<link.port> -> the server
    link.cut(); link.restore(); link.close(); server.stop()

No mocks: the server is the ``redis-server`` binary, the link a real TCP relay
(threads), so the client sees refused connections and reset sockets exactly as it
would when Redis goes away.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["CuttableLink", "RedisServerMissing", "RedisTestServer", "free_port"]

_START_TIMEOUT = 10.0


class RedisServerMissing(RuntimeError):
    """``redis-server`` is not on PATH."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def send_command(port: int, *args: str, password: str | None = None) -> bytes:
    """Send one command over a fresh blocking socket; the raw reply (tests only)."""

    def pack(parts: tuple[str, ...]) -> bytes:
        out = [f"*{len(parts)}\r\n".encode()]
        for part in parts:
            data = part.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if password is not None:
            s.sendall(pack(("AUTH", password)))
            s.recv(1024)
        s.sendall(pack(args))
        return s.recv(65536)


class RedisTestServer:
    """A ``redis-server`` on 127.0.0.1, no persistence, in a temporary directory."""

    def __init__(self, port: int, workdir: Path, proc: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = proc

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, *extra_args: str) -> RedisTestServer:
        """Start one (``extra_args`` go to redis-server, e.g. ``"--requirepass",
        "pw"``).

        Raises:
            RedisServerMissing: no ``redis-server`` on PATH.
            RuntimeError: it exited or did not accept connections in 10 s.
        """
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerMissing(
                "redis-server is not installed (Debian/Ubuntu: apt-get install "
                "redis-server; Fedora: dnf install redis; Alpine: apk add redis)"
            )
        workdir = Path(tempfile.mkdtemp(prefix="aicache-redis-"))
        port = free_port()
        argv = [
            binary, "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
            "--logfile", str(workdir / "redis.log"), "--protected-mode", "no",
            *extra_args,
        ]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = cls(port, workdir, proc)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                server.stop()
                raise RuntimeError(f"redis-server exited at start: {err.strip()}")
            if _accepting(port):
                return server
            time.sleep(0.02)
        server.stop()
        raise RuntimeError(
            f"redis-server did not accept connections in {_START_TIMEOUT}s"
        )

    def flushall(self, password: str | None = None) -> None:
        send_command(self.port, "FLUSHALL", password=password)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class CuttableLink:
    """A TCP relay 127.0.0.1:<port> -> 127.0.0.1:<target_port> that can be cut
    (listener closed, live connections reset: clients get refused/reset errors)
    and restored on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.restore()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    def restore(self) -> None:
        """Accept connections again (idempotent)."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            deadline = time.monotonic() + 5
            while True:
                try:
                    listener.bind(("127.0.0.1", self.port))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        listener.close()
                        raise
                    time.sleep(0.05)
            listener.listen(64)
            self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def cut(self) -> None:
        """Refuse new connections and reset the open ones (idempotent)."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = [t for t in self._threads if t.is_alive()]

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        # Either side closing ends the pair: close both (once).
        with self._lock:
            owned = [s for s in (src, dst) if s in self._sockets]
            self._sockets.difference_update(owned)
        for s in owned:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
