"""Pytest fixture plugin: real redis-server processes on free loopback ports.

Session-scoped servers (shared, do not break them): ``redis_plain``,
``redis_password``, ``redis_acl``, ``redis_tls``, ``redis_mtls``, ``redis_unix``.
Function-scoped ``redis_server_factory(kind)`` (and ``redis_plain_fn``) start
private servers for destructive tests (kill, restart, SIGSTOP), killed at teardown.
``garbage_server(mode)`` is a tiny misbehaving RESP server (a thread).

Every server runs with ``--save "" --appendonly no`` and its own ``--dir``.  The
whole module skips (with the reason) only when ``redis-server`` is absent.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")

ACL_USER = "app"
ACL_PASSWORD = "app-pw-ü"  # non-ASCII on purpose: URL-encoding round trip
ACL_ADMIN_PASSWORD = "admin-pw"
PASSWORD = "s3cret:/@pw"  # characters that need URL-encoding

KINDS = ("plain", "password", "acl", "tls", "mtls", "unix")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- certificates


@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca_cert: Path  # a CA that did not sign the server certificate


def _make_certs(directory: Path) -> TLSFiles:
    """CA, server cert for 127.0.0.1/localhost, client cert, and a rogue CA,
    generated with the cryptography package."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(
                x509.BasicConstraints(ca=True, path_length=None), critical=True
            )
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return key, cert

    def make_leaf(
        cn: str,
        ca_key: ec.EllipticCurvePrivateKey,
        ca_cert: x509.Certificate,
        usage: x509.ObjectIdentifier,
        san: list[x509.GeneralName] | None,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(san), critical=False
            )
        return key, builder.sign(ca_key, hashes.SHA256())

    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca("aicache test CA")
    rogue_key, rogue_cert = make_ca("aicache rogue CA")
    del rogue_key
    srv_key, srv_cert = make_leaf(
        "localhost",
        ca_key,
        ca_cert,
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    cli_key, cli_cert = make_leaf(
        "aicache-client", ca_key, ca_cert, ExtendedKeyUsageOID.CLIENT_AUTH, None
    )
    files = TLSFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        rogue_ca_cert=directory / "rogue-ca.pem",
    )
    pem = serialization.Encoding.PEM
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    files.rogue_ca_cert.write_bytes(rogue_cert.public_bytes(pem))
    files.server_cert.write_bytes(srv_cert.public_bytes(pem))
    files.client_cert.write_bytes(cli_cert.public_bytes(pem))
    write_key(srv_key, files.server_key)
    write_key(cli_key, files.client_key)
    return files


# ---------------------------------------------------------------- servers


class RedisServer:
    """One redis-server process.  ``url`` carries the credentials (URL-encoded);
    the helper methods act on the process (kill/restart/pause/resume) or on the
    data (flush, cli)."""

    def __init__(self, kind: str, workdir: Path, tls: TLSFiles | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown redis server kind {kind!r}")
        self.kind = kind
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tls = tls if kind in ("tls", "mtls") else None
        self.host = "127.0.0.1"
        self.port = 0 if kind == "unix" else free_port()
        self.unixsocket: Path | None = (
            workdir / "redis.sock" if kind == "unix" else None
        )
        self.username: str | None = ACL_USER if kind == "acl" else None
        self.password: str | None = {"password": PASSWORD, "acl": ACL_PASSWORD}.get(
            kind
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.logfile = workdir / "redis.log"

    # -- addresses
    @property
    def url(self) -> str:
        from urllib.parse import quote

        cred = ""
        if self.password is not None:
            user = quote(self.username, safe="") if self.username else ""
            cred = f"{user}:{quote(self.password, safe='')}@"
        if self.unixsocket is not None:
            return f"unix://{cred}{self.unixsocket}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{cred}{self.host}:{self.port}"

    @property
    def plain_url(self) -> str:
        """The URL without credentials."""
        if self.unixsocket is not None:
            return f"unix://{self.unixsocket}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}"

    def ssl_context(self, *, client_cert: bool = True, ca: Path | None = None) -> Any:
        """A verifying client context trusting the test CA (or `ca`)."""
        import ssl

        assert self.tls is not None
        ctx = ssl.create_default_context(cafile=str(ca or self.tls.ca_cert))
        if client_cert:
            ctx.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return ctx

    # -- process control
    def _argv(self) -> list[str]:
        assert REDIS_SERVER is not None
        argv = [
            REDIS_SERVER,
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.logfile),
            "--daemonize", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        if self.kind == "unix":
            argv += ["--port", "0", "--unixsocket", str(self.unixsocket)]
            argv += ["--unixsocketperm", "700"]
        elif self.tls is not None:
            argv += [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", str(self.tls.server_cert),
                "--tls-key-file", str(self.tls.server_key),
                "--tls-ca-cert-file", str(self.tls.ca_cert),
                "--tls-auth-clients", "yes" if self.kind == "mtls" else "no",
            ]  # fmt: skip
        else:
            argv += ["--port", str(self.port)]
        if self.kind == "password":
            argv += ["--requirepass", PASSWORD]
        if self.kind == "acl":
            argv += ["--user", ACL_USER, "on", f">{ACL_PASSWORD}", "~*", "&*", "+@all"]
            argv += ["--user", "default", "on", f">{ACL_ADMIN_PASSWORD}", "~*", "&*"]
            argv += ["+@all"]
        return argv

    def start(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.unixsocket is not None:
            with contextlib.suppress(FileNotFoundError):
                self.unixsocket.unlink()
        self.proc = subprocess.Popen(
            self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.logfile.read_text() if self.logfile.exists() else ""
                raise RuntimeError(
                    f"redis-server ({self.kind}) exited: {err}{log[-2000:]}"
                )
            if self._accepting():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server ({self.kind}) did not start in {timeout}s")

    def _accepting(self) -> bool:
        try:
            if self.unixsocket is not None:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(0.2)
                    s.connect(str(self.unixsocket))
            else:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL (after SIGCONT, in case it was paused) and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def stop(self) -> None:
        self.kill()

    def restart(self) -> None:
        """Kill and start again on the same port (the data is gone)."""
        self.kill()
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                # The port may linger for a moment after the kill.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- data, through redis-cli (independent of the code under test)
    def cli(self, *args: str) -> str:
        if REDIS_CLI is None:
            pytest.skip("redis-cli not installed")
        argv = [REDIS_CLI, "--no-auth-warning"]
        if self.unixsocket is not None:
            argv += ["-s", str(self.unixsocket)]
        else:
            argv += ["-h", self.host, "-p", str(self.port)]
        if self.tls is not None:
            argv += ["--tls", "--cacert", str(self.tls.ca_cert)]
            argv += [
                "--cert",
                str(self.tls.client_cert),
                "--key",
                str(self.tls.client_key),
            ]
        if self.username:
            argv += ["--user", self.username]
        if self.password is not None:
            argv += ["--pass", self.password]
        out = subprocess.run(
            [*argv, *args], capture_output=True, timeout=10, check=True
        )
        return out.stdout.decode().strip()

    def flush(self) -> None:
        self.cli("FLUSHALL")

    def __repr__(self) -> str:
        return f"<RedisServer {self.kind} {self.plain_url}>"


def _require_redis() -> None:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")


@pytest.fixture(scope="session")
def redis_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return _make_certs(tmp_path_factory.mktemp("redis-tls-certs"))


def _session_server(
    kind: str, tmp_path_factory: pytest.TempPathFactory, tls: TLSFiles | None
) -> Iterator[RedisServer]:
    _require_redis()
    server = RedisServer(kind, tmp_path_factory.mktemp(f"redis-{kind}"), tls)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def redis_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from _session_server("plain", tmp_path_factory, None)


@pytest.fixture(scope="session")
def redis_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from _session_server("password", tmp_path_factory, None)


@pytest.fixture(scope="session")
def redis_acl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from _session_server("acl", tmp_path_factory, None)


@pytest.fixture(scope="session")
def redis_unix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from _session_server("unix", tmp_path_factory, None)


@pytest.fixture(scope="session")
def redis_tls(
    tmp_path_factory: pytest.TempPathFactory, redis_tls_files: TLSFiles
) -> Iterator[RedisServer]:
    yield from _session_server("tls", tmp_path_factory, redis_tls_files)


@pytest.fixture(scope="session")
def redis_mtls(
    tmp_path_factory: pytest.TempPathFactory, redis_tls_files: TLSFiles
) -> Iterator[RedisServer]:
    yield from _session_server("mtls", tmp_path_factory, redis_tls_files)


@pytest.fixture
def redis_server_factory(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], RedisServer]]:
    """Starts private servers for destructive tests; all are killed at teardown."""
    _require_redis()
    started: list[RedisServer] = []
    tls_files: list[TLSFiles] = []

    def make(kind: str = "plain") -> RedisServer:
        tls = None
        if kind in ("tls", "mtls"):
            if not tls_files:
                tls_files.append(_make_certs(tmp_path / "certs"))
            tls = tls_files[0]
        server = RedisServer(kind, tmp_path / f"{kind}-{len(started)}", tls)
        server.start()
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.kill()


@pytest.fixture
def redis_plain_fn(redis_server_factory: Callable[[str], RedisServer]) -> RedisServer:
    """A private plain server for one test (kill/restart/pause freely)."""
    return redis_server_factory("plain")


# ---------------------------------------------------------------- garbage server


class GarbageServer:
    """A loopback TCP server that misbehaves after reading each request chunk.

    modes: "malformed" (replies with bytes that are not RESP), "close_mid_reply"
    (half a bulk, then FIN), "reset" (RST on the first request), "silent" (reads,
    never answers), "unsolicited" (sends a reply before any request), "echo_ok"
    (answers +OK to each request chunk), "bytes" (sends `payload` per request).
    """

    def __init__(self, mode: str, payload: bytes = b"") -> None:
        self.mode = mode
        self.payload = payload
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.host = "127.0.0.1"
        self.port = int(self.sock.getsockname()[1])
        self.url = f"redis://{self.host}:{self.port}"
        self.connections = 0
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        with conn:
            if self.mode == "unsolicited":
                conn.sendall(b"+SURPRISE\r\n")
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                self.received += data
                if self.mode == "malformed":
                    conn.sendall(b"?this is not RESP\r\n")
                elif self.mode == "close_mid_reply":
                    conn.sendall(b"$10\r\nabc")
                    conn.shutdown(socket.SHUT_WR)
                    return
                elif self.mode == "reset":
                    linger = struct.pack("ii", 1, 0)  # close() sends RST
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    return
                elif self.mode == "echo_ok":
                    conn.sendall(b"+OK\r\n" * data.count(b"*"))
                elif self.mode == "bytes":
                    conn.sendall(self.payload)
                # "silent" and "unsolicited": never answer

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=2)


@pytest.fixture
def garbage_server() -> Iterator[Callable[..., GarbageServer]]:
    servers: list[GarbageServer] = []

    def make(mode: str, payload: bytes = b"") -> GarbageServer:
        server = GarbageServer(mode, payload)
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.close()
