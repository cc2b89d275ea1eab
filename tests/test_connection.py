"""RedisConnection against real redis-server processes (tests/redis_servers.py)."""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from typing import Any
from urllib.parse import quote

import pytest

from aicache._connection import (
    RedisAuthError,
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
    RedisTimeoutError,
)
from aicache.exceptions import ConfigurationError, InfrastructureError
from aicache.redis_url import parse_redis_url
from redis_servers import (
    ACL_ADMIN_PASSWORD,
    ACL_PASSWORD,
    ACL_USER,
    PASSWORD,
    RedisServer,
)

pytestmark = pytest.mark.redis


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------- URLs


def test_parse_redis_url_forms() -> None:
    u = parse_redis_url("redis://user:p%40ss%3Aw@example.com:6380/3")
    assert (u.scheme, u.host, u.port, u.db, u.username, u.password, u.tls) == (
        "redis", "example.com", 6380, 3, "user", "p@ss:w", False,
    )  # fmt: skip
    assert (
        parse_redis_url("rediss://h").tls and parse_redis_url("rediss://h").port == 6379
    )
    assert parse_redis_url("redis://").host == "localhost"
    assert parse_redis_url("redis://h/?db=4").db == 4
    assert parse_redis_url("redis://[::1]:7000").host == "::1"
    assert parse_redis_url("redis://:pw@h").username is None
    u = parse_redis_url("unix://:pw@/tmp/redis.sock?db=2")
    assert (u.scheme, u.path, u.db, u.password, u.host, u.port) == (
        "unix", "/tmp/redis.sock", 2, "pw", None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://h", "scheme"),
        ("h:6379", "scheme"),
        ("", "non-empty"),
        ("redis://h:99999", "port"),
        ("redis://h:0", "port"),
        ("redis://h:abc", "port"),
        ("redis://h/x", "database"),
        ("redis://h/-1", "database"),
        ("redis://h?db=x", "database"),
        ("redis://h/1?db=2", "two different"),
        ("unix://", "socket path"),
    ],
)
def test_parse_redis_url_rejects(url: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        parse_redis_url(url)


def test_secrets_never_shown() -> None:
    secret = "Sup3rS3cret"
    url = f"redis://alice:{secret}@localhost:1/0"
    parsed = parse_redis_url(url)
    assert secret not in repr(parsed) and secret not in parsed.redacted()
    assert parsed.redacted() == "redis://alice:***@localhost:1/0"
    with pytest.raises(ConfigurationError) as info:
        parse_redis_url(f"redis://alice:{secret}@localhost:99999")
    assert secret not in str(info.value) and secret not in repr(info.value.context)

    conn = RedisConnection(url, connect_timeout=0.5)
    assert secret not in repr(conn) and secret not in str(conn.stats())

    async def main() -> None:
        with pytest.raises(RedisConnectionError) as info:
            await conn.execute("PING")
        assert secret not in str(info.value) and secret not in str(info.value.context)

    run(main())


def test_constructor_needs_no_loop_and_validates() -> None:
    RedisConnection("redis://localhost:1")  # no running loop: fine
    with pytest.raises(ConfigurationError):
        RedisConnection("redis://h", db=-1)
    with pytest.raises(ConfigurationError):
        RedisConnection("redis://h", command_timeout=0)
    with pytest.raises(ConfigurationError):
        RedisConnection("redis://h", breaker_failure_threshold=0)
    with pytest.raises(ConfigurationError):
        RedisConnection("redis://user@h")  # a username needs a password


# ---------------------------------------------------------------- commands


def test_reply_types_and_errors(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url)
        assert not conn.is_connected
        assert await conn.execute("SET", "rt:k", b"v\x00\xff") == "OK"
        assert conn.is_connected
        assert await conn.execute("GET", "rt:k") == b"v\x00\xff"
        assert await conn.execute("GET", "rt:missing") is None
        assert await conn.execute("INCRBY", "rt:n", 5) == 5
        assert await conn.execute("INCRBYFLOAT", "rt:f", 1.5) == b"1.5"
        assert await conn.execute("RPUSH", "rt:l", "a", "b") == 2
        assert await conn.execute("LRANGE", "rt:l", 0, -1) == [b"a", b"b"]
        assert await conn.execute("MGET", "rt:k", "rt:missing") == [b"v\x00\xff", None]
        assert await conn.execute("PING") == "PONG"
        with pytest.raises(RedisReplyError) as info:
            await conn.execute("LPUSH", "rt:k", "x")
        assert info.value.code == "WRONGTYPE"
        assert isinstance(info.value, InfrastructureError)
        with pytest.raises(RedisReplyError, match="unknown command"):
            await conn.execute("NOSUCHCOMMAND")
        # Errors inside an aggregate are values, not raised.
        await conn.execute("MULTI")
        await conn.execute("SET", "rt:s", "1")
        await conn.execute("LPUSH", "rt:s", "x")
        res = await conn.execute("EXEC")
        assert res[0] == "OK" and isinstance(res[1], RedisReplyError)
        # The link survived every error reply.
        assert (
            conn.stats()["links_lost"] == 0 and conn.stats()["reply_errors"] == 2
        )  # top-level only
        await conn.close()
        assert not conn.is_connected

    run(main())


def test_decoder_runs_before_the_future_resolves(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url)
        await conn.execute("SET", "dec:k", "payload")

        def bad(raw: bytes) -> Any:
            raise ValueError("tampered")

        assert await conn.execute("GET", "dec:k", decoder=bytes.upper) == b"PAYLOAD"
        with pytest.raises(ValueError, match="tampered"):
            await conn.execute("GET", "dec:k", decoder=bad)
        assert await conn.execute("GET", "dec:none", decoder=bad) is None
        assert await conn.execute("GET", "dec:k") == b"payload"  # link still fine
        assert conn.stats()["links_lost"] == 0
        await conn.close()

    run(main())


def test_implicit_pipelining_single_write(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url)
        await conn.execute("SET", "pipe:k", "v")
        before = conn.stats()
        results = await asyncio.gather(
            *(conn.execute("GET", "pipe:k") for _ in range(100))
        )
        after = conn.stats()
        assert results == [b"v"] * 100
        assert after["commands"] - before["commands"] == 100
        assert after["writes"] - before["writes"] == 1  # all 100 in one write
        await conn.close()

    run(main())


def test_order_and_correctness_under_200_tasks(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url)
        mismatches: list[tuple[int, Any, Any]] = []

        async def worker(i: int) -> None:
            for round_ in range(25):
                value = f"value-{i}-{round_}".encode() * (1 + (i * round_) % 40)
                assert await conn.execute("SET", f"ord:{i}", value) == "OK"
                if round_ % 3 == 0:
                    await asyncio.sleep(0)
                got = await conn.execute("GET", f"ord:{i}")
                if got != value:
                    mismatches.append((i, round_, got))

        await asyncio.gather(*(worker(i) for i in range(200)))
        assert mismatches == []
        stats = conn.stats()
        assert stats["commands"] == 200 * 25 * 2 + 1  # + the handshake PING
        assert stats["writes"] < stats["commands"] / 10  # heavily batched
        await conn.close()

    run(main())


def test_large_values_round_trip(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url)
        big = os.urandom(3 * 1024 * 1024 + 7)
        await conn.execute("SET", "big:k", big)
        gets = await asyncio.gather(*(conn.execute("GET", "big:k") for _ in range(4)))
        assert all(g == big for g in gets)
        await conn.close()

        small = RedisConnection(redis_plain.url, max_bulk_bytes=1024)
        with pytest.raises(RedisConnectionError, match="max_bulk"):
            await small.execute("GET", "big:k")
        assert not small.is_connected
        assert await small.execute("PING") == "PONG"  # a fresh link
        await small.close()

    run(main())


# ---------------------------------------------------------------- auth, db, unix


def test_password_auth(redis_password: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_password.url)
        assert await conn.execute("PING") == "PONG"
        await conn.close()
        # keyword overrides the URL
        conn = RedisConnection(redis_password.plain_url, password=PASSWORD)
        assert await conn.execute("PING") == "PONG"
        await conn.close()

        for bad in (
            RedisConnection(redis_password.plain_url, password="wrong"),
            RedisConnection(redis_password.plain_url),  # NOAUTH
        ):
            with pytest.raises(RedisAuthError) as info:
                await bad.connect()
            assert not bad.is_connected
            assert "wrong" not in str(info.value.context)

    run(main())


def test_acl_user(redis_acl: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(
            redis_acl.url
        )  # user and non-ASCII password from the URL
        assert await conn.execute("ACL", "WHOAMI") == ACL_USER.encode()
        await conn.close()

        conn = RedisConnection(
            redis_acl.plain_url, username=ACL_USER, password=ACL_PASSWORD
        )
        assert await conn.execute("ACL", "WHOAMI") == ACL_USER.encode()
        await conn.close()

        admin = RedisConnection(redis_acl.plain_url, password=ACL_ADMIN_PASSWORD)
        assert await admin.execute("ACL", "WHOAMI") == b"default"
        await admin.close()

        url = f"redis://{ACL_USER}:{quote('nope')}@{redis_acl.host}:{redis_acl.port}"
        with pytest.raises(RedisAuthError, match="WRONGPASS"):
            await RedisConnection(url).execute("PING")

    run(main())


def test_unix_socket_and_db_selection(redis_unix: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(f"{redis_unix.url}?db=2")
        await conn.execute("SET", "unix:k", "in-db-2")
        await conn.close()
        assert redis_unix.cli("-n", "2", "GET", "unix:k") == "in-db-2"
        assert redis_unix.cli("-n", "0", "EXISTS", "unix:k") == "0"

        conn = RedisConnection(f"{redis_unix.url}?db=2", db=5)  # keyword wins
        assert await conn.execute("GET", "unix:k") is None
        info = await conn.execute("CLIENT", "INFO")
        assert b" db=5 " in info
        await conn.close()

    run(main())


def test_tcp_db_in_path_and_client_name(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(f"{redis_plain.url}/3", client_name="aicache-test")
        await conn.execute("SET", "db3:k", "x")
        assert await conn.execute("CLIENT", "GETNAME") == b"aicache-test"
        await conn.close()
        assert redis_plain.cli("-n", "3", "GET", "db3:k") == "x"

    run(main())


# ---------------------------------------------------------------- TLS


def test_tls_verified(redis_tls: RedisServer) -> None:
    async def main() -> None:
        ctx = redis_tls.ssl_context(client_cert=False)
        conn = RedisConnection(redis_tls.url, ssl_context=ctx)
        assert await conn.execute("SET", "tls:k", "secure") == "OK"
        assert await conn.execute("GET", "tls:k") == b"secure"
        transport = conn._proto.transport  # type: ignore[union-attr]
        assert (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        await conn.close()

    run(main())


def test_tls_unverifiable_certificate_is_refused(redis_tls: RedisServer) -> None:
    async def main() -> None:
        rogue = redis_tls.ssl_context(client_cert=False, ca=redis_tls.tls.rogue_ca_cert)  # type: ignore[union-attr]
        for conn in (
            RedisConnection(redis_tls.url, ssl_context=rogue),
            RedisConnection(redis_tls.url),  # default context: system CAs only
        ):
            with pytest.raises(RedisConnectionError, match="certificate verif") as info:
                await conn.connect()
            assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
            assert not conn.is_connected

    run(main())


def test_tls_hostname_is_checked(redis_tls: RedisServer) -> None:
    async def main() -> None:
        ctx = redis_tls.ssl_context(client_cert=False)
        # The certificate names 127.0.0.1 and localhost, not 127.0.0.2.
        conn = RedisConnection(f"rediss://127.0.0.2:{redis_tls.port}", ssl_context=ctx)
        with pytest.raises(RedisConnectionError):
            await conn.connect()

    run(main())


def test_mutual_tls(redis_mtls: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_mtls.url, ssl_context=redis_mtls.ssl_context())
        assert await conn.execute("PING") == "PONG"
        await conn.close()

        no_cert = RedisConnection(
            redis_mtls.url, ssl_context=redis_mtls.ssl_context(client_cert=False)
        )
        with pytest.raises(RedisConnectionError):
            await no_cert.connect()
        assert not no_cert.is_connected

    run(main())


# ---------------------------------------------------------------- loops and fork


def test_second_event_loop_opens_a_fresh_link(redis_plain: RedisServer) -> None:
    conn = RedisConnection(redis_plain.url)

    async def client_id() -> int:
        return int(await conn.execute("CLIENT", "ID"))

    first = run(client_id())
    second = run(client_id())  # asyncio.run closed the first loop
    assert first != second
    assert conn.stats()["connects"] == 2
    deadline = time.monotonic() + 5
    while str(first) in redis_plain.cli("CLIENT", "LIST", "ID", str(first)):
        assert time.monotonic() < deadline, "old link still open on the server"
        time.sleep(0.05)

    async def close() -> None:
        await conn.close()

    run(close())


def test_two_running_loops_never_share_the_socket(redis_plain: RedisServer) -> None:
    """A second loop (in another thread, while the first one runs) gets its own
    link; coming back, the first loop gets a fresh one too."""
    conn = RedisConnection(redis_plain.url)

    async def client_id() -> int:
        return int(await conn.execute("CLIENT", "ID"))

    async def main() -> tuple[int, int, int]:
        a = await client_id()
        b = await asyncio.to_thread(asyncio.run, client_id())
        c = await client_id()
        await conn.close()
        return a, b, c

    a, b, c = run(main())
    assert len({a, b, c}) == 3


def test_fork_opens_a_new_link(redis_plain: RedisServer) -> None:
    conn = RedisConnection(redis_plain.url)

    async def parent_id() -> int:
        return int(await conn.execute("CLIENT", "ID"))

    loop = asyncio.new_event_loop()
    try:
        parent = loop.run_until_complete(parent_id())
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(r)
                child_loop = asyncio.new_event_loop()
                child = child_loop.run_until_complete(parent_id())
                os.write(w, str(child).encode())
            finally:
                os._exit(0)
        os.close(w)
        _, status = os.waitpid(pid, 0)
        child = int(os.read(r, 100) or b"0")
        os.close(r)
        assert status == 0
        assert child not in (0, parent)
        # The parent's link is untouched by the child.
        assert loop.run_until_complete(parent_id()) == parent
        loop.run_until_complete(conn.close())
    finally:
        loop.close()


def test_explicit_timeout_argument(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url, command_timeout=0.3)
        assert await conn.execute("PING", timeout=1.0) == "PONG"
        t0 = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await conn.execute("BLPOP", "to:nothing", 5, timeout=0.1)
        assert time.monotonic() - t0 < 1.0
        # A per-call timeout abandons that call only: the link stays (issue 9).
        await asyncio.sleep(0.35)
        assert conn.is_connected
        # The server is still blocked in BLPOP: the next command sees no reply
        # at all within its own timeout, so the silent link is dropped...
        with pytest.raises(RedisTimeoutError):
            await conn.execute("PING")
        assert not conn.is_connected
        # ... and a command after the backoff (<= backoff_base) reconnects.
        await asyncio.sleep(0.06)
        assert await conn.execute("PING") == "PONG"
        assert conn.stats()["timeouts"] == 2
        await conn.close()

    run(main())


def test_execute_pair_get_and_pttl(redis_plain: RedisServer) -> None:
    async def main() -> None:
        conn = RedisConnection(redis_plain.url)
        assert await conn.execute_pair(("GET", "ep:none"), ("PTTL", "ep:none")) == (
            None,
            -2,
        )
        await conn.execute("SET", "ep:k", b"v", "PX", 50000)
        raw, pttl = await conn.execute_pair(("GET", "ep:k"), ("PTTL", "ep:k"))
        assert raw == b"v" and 0 < pttl <= 50000
        await conn.execute("RPUSH", "ep:list", "x")
        with pytest.raises(RedisReplyError):
            await conn.execute_pair(("GET", "ep:list"), ("PTTL", "ep:list"))
        got = await asyncio.gather(
            *(
                conn.execute_pair(("GET", "ep:k"), ("PTTL", "ep:none"))
                for _ in range(50)
            ),
            conn.execute("PING"),
        )
        assert got[:50] == [(b"v", -2)] * 50 and got[50] == "PONG"
        await conn.close()

    run(main())
