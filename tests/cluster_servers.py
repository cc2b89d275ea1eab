"""Pytest fixture plugin: a real Redis Cluster and a Sentinel-managed set.

``redis_cluster`` (session) is a 3-primary/3-replica cluster of redis-server
processes created with ``redis-cli --cluster create`` on loopback ports below
55535 (each node's cluster bus listens on port + 10000).  Tests that kill or
reshard nodes take ``redis_cluster_fn`` (a private cluster, torn down after the
test).  ``sentinel_set_fn`` starts a primary, a replica and three
redis-sentinel processes watching them.

Every process runs with ``--save "" --appendonly no`` in its own directory and is
killed at teardown; the module skips only when redis-server / redis-cli /
redis-sentinel are absent.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
REDIS_SENTINEL = shutil.which("redis-sentinel")

# A fast failover: a primary is "failed" after this many ms of silence.
NODE_TIMEOUT_MS = 1000
_used_ports: set[int] = set()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free loopback port p < 55535 whose bus port p + 10000 is free too.
    Both stay below the kernel's ephemeral range (32768+), so no outgoing
    connection can take one between this check and the server's bind."""
    for _ in range(1000):
        port = random.randrange(20000, 22768)
        if port in _used_ports or port + 10000 in _used_ports:
            continue
        if _port_free(port) and _port_free(port + 10000):
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port pair for a cluster node")


class Node:
    """One redis-server process (cluster node, primary/replica, or sentinel)."""

    def __init__(self, workdir: Path, port: int, argv: list[str]) -> None:
        self.workdir = workdir
        self.port = port
        self.host = "127.0.0.1"
        self.argv = argv
        self.password: str | None = None  # for cli()
        self.tls_ca: Path | None = None  # for cli(): the node speaks TLS only
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def start(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            self.argv, cwd=self.workdir, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.workdir / "redis.log"
                text = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"{self.argv[0]} on {self.port} exited: {text}")
            try:
                socket.create_connection(self.address, timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"node on port {self.port} did not start")

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cli(self, *args: str, check: bool = True) -> str:
        assert REDIS_CLI is not None
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        if self.tls_ca is not None:
            auth += ["--tls", "--cacert", str(self.tls_ca)]
        out = subprocess.run(
            [REDIS_CLI, "-h", self.host, "-p", str(self.port), *auth, *args],
            capture_output=True, timeout=15, check=check,
        )  # fmt: skip
        return out.stdout.decode(errors="replace").strip()

    def __repr__(self) -> str:
        return f"<Node {self.host}:{self.port}>"


def _server_argv(workdir: Path, port: int, *extra: str) -> list[str]:
    assert REDIS_SERVER is not None
    return [
        REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
        "--appendonly", "no", "--dir", str(workdir), "--protected-mode", "no",
        "--logfile", str(workdir / "redis.log"), "--daemonize", "no", *extra,
    ]  # fmt: skip


class RedisClusterServers:
    """Six cluster nodes: 3 primaries, 3 replicas."""

    def __init__(self, workdir: Path, size: int = 6, replicas: int = 1) -> None:
        self.workdir = workdir
        self.nodes: list[Node] = []
        for _ in range(size):
            port = cluster_port()
            d = workdir / f"node-{port}"
            self.nodes.append(
                Node(
                    d,
                    port,
                    _server_argv(
                        d,
                        port,
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(d / "nodes.conf"),
                        "--cluster-node-timeout",
                        str(NODE_TIMEOUT_MS),
                        "--cluster-replica-validity-factor",
                        "0",
                    ),
                )
            )
        self.replicas = replicas

    @property
    def seeds(self) -> list[tuple[str, int]]:
        return [n.address for n in self.nodes]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in self.seeds[:3])

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        assert REDIS_CLI is not None
        subprocess.run(
            [REDIS_CLI, "--cluster", "create",
             *(f"{h}:{p}" for h, p in self.seeds),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        self.wait_ok()

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.running]

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node says cluster_state:ok and agrees on 3 primaries
        that each have their slots."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = [n.cli("CLUSTER", "INFO") for n in self.live()]
                if all("cluster_state:ok" in s for s in states):
                    views = {self._primary_view(n) for n in self.live()}
                    if len(views) == 1:
                        return
            except subprocess.SubprocessError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the test cluster did not reach cluster_state:ok")

    def _primary_view(self, node: Node) -> tuple[str, ...]:
        lines = node.cli("CLUSTER", "NODES").splitlines()
        return tuple(
            sorted(
                line.split()[1].split("@")[0]
                for line in lines
                if "master" in line.split()[2] and "fail" not in line.split()[2]
                and len(line.split()) > 8
            )
        )  # fmt: skip

    def primaries(self) -> list[Node]:
        view = self._primary_view(self.live()[0])
        return [n for n in self.nodes if f"{n.host}:{n.port}" in view]

    def node_at(self, address: tuple[str, int]) -> Node:
        return next(n for n in self.nodes if n.address == address)

    def owner_of(self, slot: int) -> Node:
        """The primary serving slot (as the first live node sees it)."""
        for line in self.live()[0].cli("CLUSTER", "NODES").splitlines():
            parts = line.split()
            if "master" not in parts[2] or "fail" in parts[2]:
                continue
            for spec in parts[8:]:
                if spec.startswith("["):
                    continue
                lo, _, hi = spec.partition("-")
                if int(lo) <= slot <= int(hi or lo):
                    host, port = parts[1].split("@")[0].rsplit(":", 1)
                    return self.node_at((host, int(port)))
        raise LookupError(slot)

    def node_id(self, node: Node) -> str:
        return node.cli("CLUSTER", "MYID")

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


class SentinelSet:
    """A primary, one replica, and three sentinels watching them as 'mymaster'."""

    SERVICE = "mymaster"

    def __init__(
        self,
        workdir: Path,
        password: str | None = None,
        sentinel_password: str | None = None,
        tls: Any = None,
    ) -> None:
        """password: the data nodes' requirepass; sentinel_password: the
        sentinels' own (clients and the other sentinels must give it); tls: a
        redis_servers.TLSFiles, to run every process on TLS ports only."""
        assert REDIS_SENTINEL is not None
        self.workdir = workdir
        self.password = password
        self.sentinel_password = sentinel_password
        p1, p2 = cluster_port(), cluster_port()
        self.tls = tls
        auth: list[str] = []
        if password is not None:
            auth = ["--requirepass", password, "--masterauth", password]
        tls_conf: list[tuple[str, str]] = []
        if tls is not None:
            tls_conf = [
                ("tls-cert-file", str(tls.server_cert)),
                ("tls-key-file", str(tls.server_key)),
                ("tls-ca-cert-file", str(tls.ca_cert)),
                ("tls-auth-clients", "no"),
                ("tls-replication", "yes"),
            ]
            for name, value in tls_conf:
                auth += [f"--{name}", value]

        def ports(port: int) -> list[str]:
            return ["--port", "0", "--tls-port", str(port)] if tls is not None else []

        self.primary = Node(
            workdir / "primary", p1,
            _server_argv(workdir / "primary", p1, *auth, *ports(p1)),
        )  # fmt: skip
        self.replica = Node(
            workdir / "replica", p2,
            _server_argv(workdir / "replica", p2, "--replicaof", "127.0.0.1", str(p1),
                         *auth, *ports(p2)),
        )  # fmt: skip
        self.sentinels: list[Node] = []
        for i in range(3):
            port = cluster_port()
            d = workdir / f"sentinel-{i}"
            d.mkdir(parents=True, exist_ok=True)
            conf = d / "sentinel.conf"
            listen = f"port {port}\n"
            if tls is not None:
                listen = f"port 0\ntls-port {port}\n" + "".join(
                    f"{name} {value}\n" for name, value in tls_conf
                )
            conf.write_text(
                f"{listen}bind 127.0.0.1\nprotected-mode no\ndir {d}\n"
                f"logfile {d / 'redis.log'}\n"
                f"sentinel monitor {self.SERVICE} 127.0.0.1 {p1} 2\n"
                f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
                f"sentinel failover-timeout {self.SERVICE} 5000\n"
                f"sentinel parallel-syncs {self.SERVICE} 1\n"
                + (
                    f"sentinel auth-pass {self.SERVICE} {password}\n"
                    if password
                    else ""
                )
                + (
                    f"requirepass {sentinel_password}\n"
                    f"sentinel sentinel-pass {sentinel_password}\n"
                    if sentinel_password
                    else ""
                )
            )
            sentinel = Node(d, port, [REDIS_SENTINEL, str(conf)])
            sentinel.password = sentinel_password
            self.sentinels.append(sentinel)
        self.primary.password = self.replica.password = password
        if tls is not None:
            for node in (self.primary, self.replica, *self.sentinels):
                node.tls_ca = tls.ca_cert

    @property
    def url(self) -> str:
        from urllib.parse import quote

        hosts = ",".join(f"{s.host}:{s.port}" for s in self.sentinels)
        cred = f":{quote(self.password, safe='')}@" if self.password else ""
        query = (
            f"?sentinel_password={quote(self.sentinel_password, safe='')}"
            if self.sentinel_password
            else ""
        )
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}+sentinel://{cred}{hosts}/{self.SERVICE}{query}"

    def start(self) -> None:
        self.primary.start()
        self.replica.start()
        for s in self.sentinels:
            s.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = self.primary.cli("INFO", "replication")
            ready = all(
                "num-other-sentinels" in s.cli("SENTINEL", "master", self.SERVICE)
                for s in self.sentinels
            )
            if "connected_slaves:1" in info and ready:
                text = self.sentinels[0].cli("SENTINEL", "master", self.SERVICE)
                lines = text.splitlines()
                others = int(lines[lines.index("num-other-sentinels") + 1])
                if others == 2:
                    return
            time.sleep(0.1)
        raise RuntimeError("the sentinel set did not come up")

    def current_primary(self) -> tuple[str, int]:
        out = (
            self.sentinels[0]
            .cli("SENTINEL", "get-master-addr-by-name", self.SERVICE)
            .split()
        )
        return (out[0], int(out[1]))

    def node_at(self, address: tuple[str, int]) -> Node:
        return self.primary if self.primary.address == address else self.replica

    def stop(self) -> None:
        for node in [*self.sentinels, self.primary, self.replica]:
            node.kill()


def _require(*tools: str | None) -> None:
    if not all(tools):
        pytest.skip("redis-server, redis-cli and redis-sentinel are needed")


@pytest.fixture(scope="session")
def redis_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisClusterServers]:
    """A shared cluster: tests must leave its topology as they found it."""
    _require(REDIS_SERVER, REDIS_CLI)
    cluster = RedisClusterServers(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster_fn(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisClusterServers]:
    """A private cluster for tests that kill nodes or move slots."""
    _require(REDIS_SERVER, REDIS_CLI)
    cluster = RedisClusterServers(tmp_path_factory.mktemp("cluster-fn"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def sentinel_set_fn(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SentinelSet]:
    _require(REDIS_SERVER, REDIS_CLI, REDIS_SENTINEL)
    sentinels = SentinelSet(tmp_path_factory.mktemp("sentinel"))
    try:
        sentinels.start()
        yield sentinels
    finally:
        sentinels.stop()


@pytest.fixture
def sentinel_set_tls_fn(
    tmp_path_factory: pytest.TempPathFactory, redis_tls_files: Any
) -> Iterator[SentinelSet]:
    """Data nodes and sentinels on TLS ports only (certificates of redis_servers)."""
    _require(REDIS_SERVER, REDIS_CLI, REDIS_SENTINEL)
    sentinels = SentinelSet(
        tmp_path_factory.mktemp("sentinel-tls"), tls=redis_tls_files
    )
    try:
        sentinels.start()
        yield sentinels
    finally:
        sentinels.stop()


@pytest.fixture
def sentinel_set_auth_fn(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SentinelSet]:
    """Data nodes with a password, sentinels with another one of their own."""
    _require(REDIS_SERVER, REDIS_CLI, REDIS_SENTINEL)
    sentinels = SentinelSet(
        tmp_path_factory.mktemp("sentinel-auth"),
        password="data-pw:/@",
        sentinel_password="sentinel-pw",
    )
    try:
        sentinels.start()
        yield sentinels
    finally:
        sentinels.stop()


def wait_for(
    predicate: Callable[[], bool], timeout: float = 15.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("condition not reached")
