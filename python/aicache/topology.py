"""URLs naming several Redis nodes: Redis Cluster and Sentinel.

Forms (credentials URL-encoded, as in ``redis://``)::

    redis+cluster://[[user]:password@]host1:port1[,host2:port2...][/0][?options]
    rediss+cluster://...                          (TLS to every node)
    redis+sentinel://[[user]:password@]s1:26379[,s2:26379...]/service[/db][?options]
    rediss+sentinel://...                         (TLS to the data nodes)

Cluster options: ``read_from_replicas=yes``.  Sentinel options:
``sentinel_username``, ``sentinel_password`` (the sentinels' own credentials;
the userinfo part is for the data nodes), ``sentinel_tls=yes|no`` (default:
as the data nodes).  A cluster has only database 0.

``build_topology_connection`` turns such a URL into a ``ClusterConnection`` or
``SentinelConnection`` with the security manager's credentials and TLS context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote

from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .cluster import ClusterConnection
    from .security import RedisCacheSecurityManager
    from .sentinel import SentinelConnection

__all__ = [
    "TOPOLOGY_SCHEMES",
    "TopologyURL",
    "build_topology_connection",
    "is_topology_url",
    "parse_topology_url",
]

TOPOLOGY_SCHEMES = (
    "redis+cluster",
    "rediss+cluster",
    "redis+sentinel",
    "rediss+sentinel",
)
_DEFAULT_PORTS = {"cluster": 6379, "sentinel": 26379}
_TRUE = ("1", "yes", "true", "on")
_FALSE = ("0", "no", "false", "off")


@dataclass(frozen=True)
class TopologyURL:
    kind: str  # "cluster" | "sentinel"
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    username: str | None
    password: str | None = field(repr=False)
    db: int
    service: str | None  # the sentinel service (master) name
    query: dict[str, str] = field(default_factory=dict, compare=False)

    def redacted(self) -> str:
        scheme = f"{'rediss' if self.tls else 'redis'}+{self.kind}"
        cred = ""
        if self.password is not None:
            cred = f"{self.username or ''}:***@"
        elif self.username:
            cred = f"{self.username}@"
        hosts = ",".join(f"{_bracket(h)}:{p}" for h, p in self.hosts)
        path = f"/{self.service}" if self.service else ""
        return f"{scheme}://{cred}{hosts}{path}/{self.db}"

    def node_url(self, host: str | None = None, port: int | None = None) -> str:
        """A single-node ``redis(s)://`` URL with these credentials (for the
        security manager's checks and credential rules)."""
        h, p = (host, port) if host is not None and port is not None else self.hosts[0]
        cred = ""
        if self.password is not None:
            cred = f"{quote(self.username or '', safe='')}:{quote(self.password, safe='')}@"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{cred}{_bracket(h)}:{p}/{self.db}"

    def flag(self, name: str, default: bool) -> bool:
        raw = self.query.get(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigurationError(
            f"Redis URL option {name} must be yes or no", {"option": name, "value": raw}
        )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def is_topology_url(url: object) -> bool:
    return isinstance(url, str) and url.split("://", 1)[0].lower() in TOPOLOGY_SCHEMES


def _parse_host(text: str, default_port: int, hint: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise ConfigurationError("Redis URL names an empty host", {"redis_url": hint})
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigurationError(
            "Redis URL port must be an integer in 1..65535", {"redis_url": hint}
        )
    return host, int(port_text)


def parse_topology_url(url: str) -> TopologyURL:
    """Parses a ``redis+cluster://`` / ``redis+sentinel://`` URL (see module doc);
    ConfigurationError names the problem and never echoes the password."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in TOPOLOGY_SCHEMES:
        raise ConfigurationError(
            "not a cluster or sentinel Redis URL", {"redis_url": f"{scheme}://..."}
        )
    kind = scheme.split("+", 1)[1]
    hint = f"{scheme}://..."
    rest, _, query_text = rest.partition("?")
    rest, _, _fragment = rest.partition("#")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user_text, colon, pw_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(pw_text) if colon else None
        if password is not None:
            hint = f"{scheme}://***@..."
    hosts = tuple(
        _parse_host(h, _DEFAULT_PORTS[kind], hint)
        for h in hostlist.split(",")
        if h.strip()
    )
    if not hosts:
        raise ConfigurationError("Redis URL names no host", {"redis_url": hint})
    query = {k: v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
    segments = [unquote(s) for s in path.split("/") if s]
    service: str | None = None
    db_text: str | None = None
    if kind == "sentinel":
        if not segments:
            raise ConfigurationError(
                "a sentinel Redis URL needs the service name: "
                "redis+sentinel://host:26379/mymaster",
                {"redis_url": hint},
            )
        service = segments[0]
        db_text = segments[1] if len(segments) > 1 else None
        if len(segments) > 2:
            raise ConfigurationError("too many path segments", {"redis_url": hint})
    else:
        if len(segments) > 1:
            raise ConfigurationError("too many path segments", {"redis_url": hint})
        db_text = segments[0] if segments else None
    db_text = query.get("db", db_text)
    db = 0
    if db_text is not None:
        if not db_text.isdigit() or not db_text.isascii():
            raise ConfigurationError(
                "Redis URL database must be a non-negative integer", {"redis_url": hint}
            )
        db = int(db_text)
    if kind == "cluster" and db != 0:
        raise ConfigurationError(
            "Redis Cluster has only database 0", {"redis_url": hint, "db": db}
        )
    return TopologyURL(
        kind=kind,
        tls=scheme.startswith("rediss"),
        hosts=hosts,
        username=username,
        password=password,
        db=db,
        service=service,
        query=query,
    )


def build_topology_connection(
    manager: RedisCacheSecurityManager, url: str, **overrides: Any
) -> ClusterConnection | SentinelConnection:
    """The connection object for a cluster or sentinel URL, with the manager's
    credentials (URL first, then ACL, then redis_auth) and TLS context."""
    parsed = parse_topology_url(url)
    node_url = parsed.node_url()
    username, password = manager._credentials(node_url)
    ssl_context = manager.get_ssl_context(node_url)
    config = manager.config
    options: dict[str, Any] = {
        "connect_timeout": float(config.connection_timeout),
        "command_timeout": float(config.socket_timeout),
    }
    options.update(overrides)
    if parsed.kind == "cluster":
        from .cluster import ClusterConnection

        return ClusterConnection(
            parsed.hosts,
            username=username,
            password=password,
            ssl_context=ssl_context,
            read_from_replicas=parsed.flag("read_from_replicas", False),
            **options,
        )
    from .sentinel import SentinelConnection

    sentinel_tls = parsed.flag("sentinel_tls", parsed.tls)
    assert parsed.service is not None
    return SentinelConnection(
        parsed.hosts,
        parsed.service,
        username=username,
        password=password,
        db=parsed.db,
        ssl_context=ssl_context,
        sentinel_username=parsed.query.get("sentinel_username"),
        sentinel_password=parsed.query.get("sentinel_password"),
        sentinel_ssl_context=(
            (ssl_context or manager.get_ssl_context("rediss://x"))
            if sentinel_tls
            else None
        ),
        **options,
    )
