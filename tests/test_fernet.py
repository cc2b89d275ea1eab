"""aicache._core.Fernet against cryptography.fernet (the oracle, test-only).

Vectors are generated here at run time with cryptography; the fernet spec's
invalid cases (https://github.com/fernet/spec, invalid.json) are rebuilt from
their descriptions with the spec's key and clock.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import os
import pickle
import sys
import threading
import time

import pytest
from cryptography.fernet import Fernet as RefFernet
from cryptography.fernet import InvalidToken as RefInvalidToken
from cryptography.fernet import MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from aicache import _core

# The fernet spec's generate.json / verify.json parameters.
SPEC_SECRET = b"cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
SPEC_NOW = 499162801  # 1985-10-26T01:20:01-07:00
SPEC_TOKEN = b"gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="

SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 2047, 2048, 4079, 4080, 4081, 65536]


def raw(key: bytes) -> bytes:
    return base64.urlsafe_b64decode(key)


def pair(key: bytes | None = None) -> tuple[_core.Fernet, RefFernet, bytes]:
    key = key or RefFernet.generate_key()
    return _core.Fernet([raw(key)]), RefFernet(key), key


# ----------------------------------------------------------------- constants


def test_constants_match_the_key_format() -> None:
    key = RefFernet.generate_key()
    assert _core.FERNET_KEYBYTES == 32 == len(base64.urlsafe_b64decode(key))
    assert _core.FERNET_IVBYTES == 16
    assert _core.FERNET_MACBYTES == 32
    assert _core.FERNET_MAX_KEYS == 16
    assert _core.FERNET_MAX_CLOCK_SKEW == 60


# ---------------------------------------------------- byte-for-byte equality


def test_spec_generate_vector() -> None:
    ours = _core.Fernet([raw(SPEC_SECRET)])
    token = ours.encrypt(b"hello", now=SPEC_NOW - 1, iv=bytes(range(16)))
    assert token == SPEC_TOKEN
    assert (
        RefFernet(SPEC_SECRET)._encrypt_from_parts(
            b"hello", SPEC_NOW - 1, bytes(range(16))
        )
        == SPEC_TOKEN
    )
    assert ours.decrypt(SPEC_TOKEN, ttl=60, now=SPEC_NOW) == b"hello"


@pytest.mark.parametrize("size", [*SIZES, 1 << 20])
def test_tokens_equal_cryptography_with_fixed_iv_and_time(size: int) -> None:
    ours, ref, _ = pair()
    data = os.urandom(size)
    iv = os.urandom(16)
    t = 1_700_000_000 + size
    token = ours.encrypt(data, now=t, iv=iv)
    assert token == ref._encrypt_from_parts(data, t, iv)
    assert ours.decrypt(token) == data


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=600),
    now=st.integers(min_value=0, max_value=2**64 - 1),
    iv=st.binary(min_size=16, max_size=16),
    key=st.binary(min_size=32, max_size=32),
)
def test_tokens_equal_cryptography_property(
    data: bytes, now: int, iv: bytes, key: bytes
) -> None:
    ours = _core.Fernet([key])
    ref = RefFernet(base64.urlsafe_b64encode(key))
    token = ours.encrypt(data, now=now, iv=iv)
    assert token == ref._encrypt_from_parts(data, now, iv)
    assert ours.decrypt(token) == data
    assert ours.extract_timestamp(token) == now


@pytest.mark.parametrize("size", SIZES)
def test_both_directions_with_random_iv(size: int) -> None:
    ours, ref, _ = pair()
    data = os.urandom(size)
    assert ref.decrypt(ours.encrypt(data)) == data
    assert ours.decrypt(ref.encrypt(data)) == data
    assert ours.decrypt(ref.encrypt(data).decode()) == data  # str tokens too


def test_accepts_any_bytes_like_input() -> None:
    ours, ref, _ = pair()
    for data in (bytearray(b"abc"), memoryview(b"xabcx")[1:4]):
        assert ref.decrypt(ours.encrypt(data)) == b"abc"
    token = ref.encrypt(b"abc")
    assert ours.decrypt(bytearray(token)) == b"abc"
    assert ours.decrypt(memoryview(token)) == b"abc"


def test_random_ivs_differ_and_default_time_is_time_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, _, _ = pair()
    ivs = {base64.urlsafe_b64decode(ours.encrypt(b"x"))[9:25] for _ in range(300)}
    assert len(ivs) == 300
    monkeypatch.setattr(time, "time", lambda: 1234567890.9)
    token = ours.encrypt(b"x")
    assert ours.extract_timestamp(token) == 1234567890  # int(time.time())


def test_forked_child_never_reuses_parent_ivs() -> None:
    ours, _, _ = pair()
    ours.encrypt(b"warm the per-thread IV pool")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            ivs = b"".join(
                base64.urlsafe_b64decode(ours.encrypt(b"c"))[9:25] for _ in range(8)
            )
            os.write(write, ivs)
        finally:
            os._exit(0)
    os.close(write)
    parent = {base64.urlsafe_b64decode(ours.encrypt(b"p"))[9:25] for _ in range(8)}
    got = b""
    while len(got) < 128:
        chunk = os.read(read, 128)
        if not chunk:
            break
        got += chunk
    os.close(read)
    os.waitpid(pid, 0)
    child = {got[i : i + 16] for i in range(0, len(got), 16)}
    assert len(child) == 8
    assert not parent & child


# ------------------------------------------------------------------- TTL


TIMES = [0, 1, 59, 60, 61, 999, 1000, 1001, 1059, 1060, 1061, 2**40]


@pytest.mark.parametrize("ttl", [0, 1, 10, 60, 1000, 2**63])
def test_ttl_and_clock_skew_match_cryptography(ttl: int) -> None:
    ours, ref, _ = pair()
    token = ref._encrypt_from_parts(b"payload", 1000, os.urandom(16))
    # cryptography 51 takes ttl as a C long; past 2**62 every TIME is in range
    # either way, so the oracle is asked with the largest ttl it accepts.
    ref_ttl = min(ttl, 2**62)
    for now in TIMES:
        try:
            expected = ref.decrypt_at_time(token, ref_ttl, now)
        except RefInvalidToken:
            expected = None
        try:
            got = ours.decrypt(token, ttl=ttl, now=now)
        except _core.InvalidToken:
            got = None
        assert got == expected, (ttl, now)


def test_ttl_boundaries() -> None:
    ours, _, _ = pair()
    token = ours.encrypt(b"t", now=1000)
    assert ours.decrypt(token, ttl=10, now=1010) == b"t"  # ts + ttl == now: valid
    with pytest.raises(_core.InvalidToken):
        ours.decrypt(token, ttl=10, now=1011)
    assert ours.decrypt(token, ttl=10, now=940) == b"t"  # 60 s of skew allowed
    with pytest.raises(_core.InvalidToken):
        ours.decrypt(token, ttl=10, now=939)
    # Without ttl neither age nor skew matters (cryptography's ttl=None).
    assert ours.decrypt(token, now=10**12) == b"t"
    assert ours.decrypt(token, now=0) == b"t"


def test_ttl_reads_time_time_when_now_is_omitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, _, _ = pair()
    token = ours.encrypt(b"t", now=1000)
    monkeypatch.setattr(time, "time", lambda: 1005.7)
    assert ours.decrypt(token, ttl=5) == b"t"
    monkeypatch.setattr(time, "time", lambda: 1006.0)
    with pytest.raises(_core.InvalidToken):
        ours.decrypt(token, ttl=5)


# ---------------------------------------------------------- invalid tokens


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key[:16], body, hashlib.sha256).digest()


def _aes(key: bytes, iv: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key[16:]), modes.CBC(iv)).encryptor()
    return enc.update(block) + enc.finalize()


def _token(key: bytes, body: bytes) -> bytes:
    return base64.urlsafe_b64encode(body + _mac(key, body))


def _spec_invalid_cases() -> dict[str, bytes]:
    """The descriptions of fernet/spec invalid.json, rebuilt (key, now, ttl=60)."""
    key = raw(SPEC_SECRET)
    iv = bytes(range(16))
    good = base64.urlsafe_b64decode(SPEC_TOKEN)
    body, ct = good[:-32], good[25:-32]
    ts = (SPEC_NOW - 1).to_bytes(8, "big")
    header = b"\x80" + ts + iv
    cases = {
        "incorrect mac": SPEC_TOKEN[:-4] + b"AA==",  # the real one ends "DA=="
        "too short": base64.urlsafe_b64encode(b"\x80" + ts + iv[:8]),
        "invalid base64": b"%" * len(SPEC_TOKEN),
        "payload size not multiple of block size": _token(key, header + ct[:-1]),
        "payload padding error": _token(
            key, header + _aes(key, iv, b"x" * 15 + b"\x00")
        ),
        "far-future TS (unacceptable clock skew)": _token(
            key, b"\x80" + (SPEC_NOW + 61).to_bytes(8, "big") + iv + ct
        ),
        "expired TTL": _token(
            key, b"\x80" + (SPEC_NOW - 61 - 1).to_bytes(8, "big") + iv + ct
        ),
        "incorrect IV (causes padding error)": _token(
            key, b"\x80" + ts + bytes(range(1, 17)) + ct
        ),
    }
    assert body == header + ct
    return cases


@pytest.mark.parametrize("case", list(_spec_invalid_cases()))
def test_fernet_spec_invalid_cases(case: str) -> None:
    token = _spec_invalid_cases()[case]
    ours = _core.Fernet([raw(SPEC_SECRET)])
    with pytest.raises(RefInvalidToken):
        RefFernet(SPEC_SECRET).decrypt_at_time(token, 60, SPEC_NOW)
    with pytest.raises(_core.InvalidToken):
        ours.decrypt(token, ttl=60, now=SPEC_NOW)


def test_more_rejections() -> None:
    ours, ref, key = pair()
    token = ref.encrypt(b"some data")
    body = base64.urlsafe_b64decode(token)
    bad = [
        b"",
        b"gAAAAA",
        token[:-1],  # padding stripped
        token[:-4],
        token + b"====",
        token + b"A",
        b" " + token,
        token + b"\n",
        b"\x81" + token[1:],
        _token(raw(key), b"\x81" + body[1:-32]),  # bad version, valid MAC
        _token(raw(key), body[:25]),  # no ciphertext, valid MAC
        base64.urlsafe_b64encode(body[:-1] + bytes([body[-1] ^ 1])),
        base64.urlsafe_b64encode(body[:30] + bytes([body[30] ^ 1]) + body[31:]),
        RefFernet(RefFernet.generate_key()).encrypt(b"some data"),  # other key
    ]
    for t in bad:
        with pytest.raises(_core.InvalidToken):
            ours.decrypt(t)
        with pytest.raises(_core.InvalidToken):
            ours.extract_timestamp(t)
    with pytest.raises(_core.InvalidToken):
        ours.decrypt("gAAAAé" + token.decode()[6:])  # non-ASCII str
    assert issubclass(_core.InvalidToken, ValueError)


def test_stricter_than_cryptography_on_base64_spelling() -> None:
    """Only the canonical url-safe spelling is a token here; cryptography before
    51 also took '+'/'/' and non-zero unused bits (51 is as strict as we are).
    cryptography itself only ever writes the canonical form."""
    ours, ref, _ = pair()
    token = ref.encrypt(b"x" * 40)
    while b"-" not in token and b"_" not in token:
        token = ref.encrypt(b"x" * 40)
    std = token.replace(b"-", b"+").replace(b"_", b"/")
    assert ours.decrypt(token) == b"x" * 40
    with pytest.raises(_core.InvalidToken):
        ours.decrypt(std)


# -------------------------------------------------------------- rotation


def test_rotation_decrypt_with_any_key_encrypt_with_first() -> None:
    old, new = RefFernet.generate_key(), RefFernet.generate_key()
    ring = _core.Fernet([raw(new), raw(old)])
    assert ring.key_count == 2
    old_token = RefFernet(old).encrypt(b"secret")
    assert ring.decrypt(old_token) == b"secret"
    assert RefFernet(new).decrypt(ring.encrypt(b"abc")) == b"abc"
    with pytest.raises(RefInvalidToken):
        RefFernet(old).decrypt(ring.encrypt(b"abc"))

    rotated = ring.rotate(old_token)
    assert RefFernet(new).decrypt(rotated) == b"secret"
    with pytest.raises(_core.InvalidToken):
        _core.Fernet([raw(old)]).decrypt(rotated)
    assert ring.extract_timestamp(rotated) == RefFernet(old).extract_timestamp(
        old_token
    )
    # With a fixed IV the result is cryptography's MultiFernet.rotate byte for byte.
    iv = os.urandom(16)
    ts = ring.extract_timestamp(old_token)
    assert ring.rotate(old_token, iv=iv) == RefFernet(new)._encrypt_from_parts(
        b"secret", ts, iv
    )
    ref = MultiFernet([RefFernet(new), RefFernet(old)])
    assert ref.decrypt(ring.rotate(old_token)) == b"secret"
    with pytest.raises(_core.InvalidToken):
        _core.Fernet([raw(new)]).rotate(old_token)


def test_sixteen_keys_and_last_key_decrypts() -> None:
    keys = [RefFernet.generate_key() for _ in range(16)]
    ring = _core.Fernet([raw(k) for k in keys])
    assert ring.decrypt(RefFernet(keys[-1]).encrypt(b"z")) == b"z"
    assert ring.extract_timestamp(RefFernet(keys[7]).encrypt(b"z")) > 0


# ------------------------------------------------------------ arguments


def test_key_validation() -> None:
    k = os.urandom(32)
    with pytest.raises(ValueError, match="1 to 16 keys"):
        _core.Fernet([])
    with pytest.raises(ValueError, match="1 to 16 keys"):
        _core.Fernet([k] * 17)
    with pytest.raises(ValueError, match="32 raw bytes"):
        _core.Fernet([k, k[:31]])
    with pytest.raises(ValueError):
        _core.Fernet([base64.urlsafe_b64encode(k)])  # the text form is 44 bytes
    with pytest.raises(TypeError):
        _core.Fernet(k)  # a single key, not a sequence of keys
    with pytest.raises(TypeError):
        _core.Fernet([k, "x" * 32])
    with pytest.raises(TypeError):
        _core.Fernet(None)  # type: ignore[arg-type]
    assert _core.Fernet(keys=(bytearray(k),)).key_count == 1


def test_argument_validation() -> None:
    ours, _, _ = pair()
    with pytest.raises(ValueError, match="iv"):
        ours.encrypt(b"x", iv=b"short")
    with pytest.raises(ValueError, match="now"):
        ours.encrypt(b"x", now=-1)
    with pytest.raises(ValueError, match="now"):
        ours.encrypt(b"x", now=2**64)
    assert ours.extract_timestamp(ours.encrypt(b"x", now=2**64 - 1)) == 2**64 - 1
    with pytest.raises(TypeError):
        ours.encrypt(b"x", now=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ours.encrypt("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ours.encrypt(b"x", nonce=b"")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ours.encrypt(b"x", b"y")  # type: ignore[misc]
    with pytest.raises(TypeError):
        ours.encrypt()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="ttl"):
        ours.decrypt(ours.encrypt(b"x"), ttl=-1)
    with pytest.raises(TypeError):
        ours.decrypt(ours.encrypt(b"x"), ttl="60")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ours.decrypt(12345)  # type: ignore[arg-type]


def test_no_secrets_in_repr_and_no_pickling() -> None:
    key = os.urandom(32)
    f = _core.Fernet([key, os.urandom(32)])
    text = repr(f)
    assert text == "<aicache._core.Fernet keys=2>"
    assert key.hex() not in text and base64.urlsafe_b64encode(key).decode() not in text
    with pytest.raises(TypeError):
        pickle.dumps(f)
    with pytest.raises(TypeError):
        copy.copy(f)
    assert not hasattr(f, "__dict__")


def test_references_are_released() -> None:
    ours, _, _ = pair()
    data = b"refcounted payload" * 200  # above the GIL threshold
    token = ours.encrypt(data)
    before = (sys.getrefcount(data), sys.getrefcount(token))
    for _ in range(50):
        ours.encrypt(data)
        ours.decrypt(token)
        ours.rotate(token)
        ours.extract_timestamp(token)
        with pytest.raises(_core.InvalidToken):
            ours.decrypt(token[:-4])
    assert (sys.getrefcount(data), sys.getrefcount(token)) == before


def test_concurrent_use_from_threads() -> None:
    ours, ref, _ = pair()
    errors: list[BaseException] = []
    payloads = [os.urandom(n) for n in (10, 3000, 100_000)]
    tokens = [ref.encrypt(p) for p in payloads]

    def work() -> None:
        try:
            for _ in range(30):
                for p, t in zip(payloads, tokens):
                    assert ours.decrypt(t) == p
                    assert ref.decrypt(ours.encrypt(p)) == p
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # More threads than the context's work slots: the overflow path runs too.
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
