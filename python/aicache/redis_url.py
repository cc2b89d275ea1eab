"""Parsing of Redis URLs: ``redis://``, ``rediss://`` (TLS) and ``unix://``.

Forms accepted (credentials are URL-decoded, the db may come from the path or
from ``?db=N``)::

    redis://[[username]:password@]host[:port][/db][?db=N]
    rediss://...                                  (same, over TLS)
    unix://[[username]:password@]/path/to/socket[?db=N]

Bad input raises ConfigurationError naming the problem, never echoing the
password.  ``RedisURL.redacted()`` is the only form meant for logs and errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from .exceptions import ConfigurationError

__all__ = ["DEFAULT_PORT", "RedisURL", "parse_redis_url", "redact_redis_url"]

DEFAULT_PORT = 6379
SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class RedisURL:
    scheme: str  # "redis" | "rediss" | "unix"
    host: str | None  # None for unix sockets
    port: int | None  # None for unix sockets
    path: str | None  # the socket path for unix://
    db: int
    username: str | None
    password: str | None = field(repr=False)
    tls: bool
    query: dict[str, str] = field(default_factory=dict, compare=False)

    def redacted(self) -> str:
        """The URL with the password replaced by ``***`` (safe for logs)."""
        cred = ""
        if self.username is not None or self.password is not None:
            user = self.username or ""
            cred = f"{user}:***@" if self.password is not None else f"{user}@"
        if self.scheme == "unix":
            db = f"?db={self.db}" if self.db else ""
            return f"unix://{cred}{self.path}{db}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{self.scheme}://{cred}{host}:{self.port}/{self.db}"

    def __repr__(self) -> str:
        return f"RedisURL({self.redacted()!r})"

    __str__ = redacted


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+-.")
_KNOWN_OTHER_SCHEMES = frozenset(
    ("http", "https", "tcp", "tls", "valkey", "valkeys", "redis+sentinel",
     "rediss+sentinel", "sentinel", "memcached", "file")
)  # fmt: skip


def redact_redis_url(url: object) -> str:
    """A form of ``url`` safe for logs, errors, repr and health output: the parsed
    URL with ``***`` for the password; for text that does not parse, only what
    follows its last ``@`` (the host part), or a placeholder. Never the secret."""
    if not isinstance(url, str) or not url:
        return ""
    try:
        from .topology import is_topology_url, parse_topology_url

        if is_topology_url(url):  # redis+cluster:// and redis+sentinel://
            return parse_topology_url(url).redacted()
        return parse_redis_url(url).redacted()
    except ConfigurationError:
        pass
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    elif scheme.lower() not in SCHEMES and scheme.lower() not in _KNOWN_OTHER_SCHEMES:
        scheme = "?"
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    elif ":" in rest.split("/", 1)[0] and not sep:
        rest = "***"  # "user:password" without scheme or "@": show nothing of it
    shown = f"{scheme}://{rest}" if sep else rest
    return f"<invalid Redis URL {shown[:80]!r}>"


def _bad(message: str, url_hint: str) -> ConfigurationError:
    return ConfigurationError(message, {"redis_url": url_hint})


def _parse_db(text: str, hint: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise _bad(
            f"Redis URL database must be a non-negative integer, got {text!r}", hint
        )
    return int(text)


def parse_redis_url(url: str) -> RedisURL:
    """Parses url; raises ConfigurationError for an unknown scheme, a bad port,
    a bad database number or a unix:// URL without a path."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(
            "Redis URL must be a non-empty string", {"redis_url": url}
        )
    scheme_end = url.find("://")
    if scheme_end <= 0:
        # Never quote the text: without a scheme, any part of it may be a secret.
        what = "has credentials ('@') but no scheme" if "@" in url else "has no scheme"
        raise _bad(
            f"Redis URL {what}: use redis://, rediss:// or unix://",
            "<not shown>",
        )
    scheme = url[:scheme_end].lower()
    if scheme not in SCHEMES:
        # Only a well-known scheme is quoted: any other text may be a secret.
        shown = f" {scheme!r}" if scheme in _KNOWN_OTHER_SCHEMES else ""
        raise _bad(
            f"unsupported Redis URL scheme{shown}: use redis://, rediss:// or unix://",
            "<not shown>",
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # urllib's messages never quote the URL
        raise _bad(f"malformed Redis URL: {exc}", f"{scheme}://...") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    # Hint for errors: never the password.
    hint = f"{scheme}://{'***@' if password is not None else ''}{parts.hostname or ''}"

    query: dict[str, str] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        query[key] = values[-1]

    db = 0
    path_db: int | None = None
    host: str | None = None
    port: int | None = None
    sock_path: str | None = None
    if scheme == "unix":
        sock_path = unquote(parts.path)
        if not sock_path:
            raise _bad(
                "unix:// Redis URL needs a socket path (unix:///path?db=N)", hint
            )
    else:
        host = parts.hostname or "localhost"
        try:
            port = parts.port
        except ValueError:
            raise _bad("Redis URL port must be an integer in 1..65535", hint) from None
        if port is None:
            # urlsplit accepts "host:" with an empty port; so do we (default).
            port = DEFAULT_PORT
        if not 1 <= port <= 65535:
            raise _bad("Redis URL port must be an integer in 1..65535", hint)
        path = parts.path.strip("/")
        if path:
            path_db = _parse_db(path, hint)
            db = path_db
    if "db" in query:
        query_db = _parse_db(query["db"], hint)
        if path_db is not None and path_db != query_db:
            raise _bad("Redis URL names two different databases (path and ?db=)", hint)
        db = query_db
    return RedisURL(
        scheme=scheme,
        host=host,
        port=port,
        path=sock_path,
        db=db,
        username=username or None,
        password=password,
        tls=scheme == "rediss",
        query=query,
    )
