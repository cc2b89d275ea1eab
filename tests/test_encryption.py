"""aicache.encryption: the original's EncryptedCacheLayer surface (spec section 8),
key rotation, and the no-downgrade rule; cryptography is the oracle."""

from __future__ import annotations

import base64
import json
import logging
import pickle
from typing import Any

import pytest
from cryptography.fernet import Fernet as RefFernet

import aicache.encryption as encryption
from aicache import _core
from aicache.encryption import (
    CRYPTOGRAPHY_AVAILABLE,
    EncryptedCacheLayer,
    FernetKeyring,
    InvalidToken,
    create_encryption_layer_from_env,
)
from aicache.exceptions import ConfigurationError

STATS_KEYS = {
    "encryption_enabled",
    "encryption_operations",
    "decryption_operations",
    "total_operations",
    "total_encryption_time",
    "total_decryption_time",
    "avg_encryption_time",
    "avg_decryption_time",
    "performance_monitoring",
}


def original_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")


@pytest.fixture
def key() -> bytes:
    return RefFernet.generate_key()


# ------------------------------------------------------------------ surface


def test_module_surface() -> None:
    assert CRYPTOGRAPHY_AVAILABLE is True
    assert encryption.logger.name == "aicache.encryption"
    assert InvalidToken is _core.InvalidToken
    assert set(encryption.__all__) >= {
        "EncryptedCacheLayer",
        "create_encryption_layer_from_env",
        "CRYPTOGRAPHY_AVAILABLE",
        "FernetKeyring",
    }


@pytest.mark.parametrize("empty", [None, "", b""])
def test_no_key_disables_with_a_warning(
    empty: str | bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aicache.encryption"):
        layer = EncryptedCacheLayer(encryption_key=empty)
    assert not layer.is_enabled
    assert layer.fernet is None and layer.keyring is None
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    value = {"b": [1, 2], "a": "é€"}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aicache.encryption"):
        stored = layer.encrypt_cache_data(value)
    assert stored == original_json(value)  # plain JSON, sorted keys, not escaped
    assert any(
        "Data stored without encryption" in r.getMessage() for r in caplog.records
    )
    assert layer.decrypt_cache_data(stored) == value


def test_enabled_round_trip_and_cryptography_interop(key: bytes) -> None:
    layer = EncryptedCacheLayer(encryption_key=key.decode())
    assert layer.is_enabled
    assert layer.fernet is layer.keyring
    assert isinstance(layer.keyring, FernetKeyring)
    value = {"z": 1, "a": {"nested": [1.5, None, True]}, "text": "naïve ☃"}
    token = layer.encrypt_cache_data(value)
    assert token.startswith(b"gAAAAA")
    assert RefFernet(key).decrypt(token) == original_json(value)
    assert layer.decrypt_cache_data(token) == value
    # The reverse: what the original wrote with cryptography reads back here.
    assert (
        layer.decrypt_cache_data(RefFernet(key).encrypt(original_json(value))) == value
    )
    # bytes keys are accepted too
    assert EncryptedCacheLayer(encryption_key=key).decrypt_cache_data(token) == value


def test_spec_token_size(key: bytes) -> None:
    """{"a": 1} as the original wrapped it becomes a 140-byte token (spec 7)."""
    wrapper = {"_serialized_data": 'rawj:{"a":1}'}
    assert 32 < len(original_json(wrapper)) < 48  # one padded length: 48 bytes
    assert len(EncryptedCacheLayer(key).encrypt_cache_data(wrapper)) == 140


def test_accepts_any_json_value(key: bytes) -> None:
    layer = EncryptedCacheLayer(key)
    for value in ([1, 2], "s", 3, 2.5, None, True, {"k": {}}):
        assert layer.decrypt_cache_data(layer.encrypt_cache_data(value)) == value


# ------------------------------------------------------------ no downgrade


def test_tampered_foreign_and_plaintext_payloads_are_rejected(key: bytes) -> None:
    layer = EncryptedCacheLayer(key)
    token = layer.encrypt_cache_data({"a": 1})
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[40] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw))
    foreign = RefFernet(RefFernet.generate_key()).encrypt(b'{"a": 1}')
    plaintext = original_json({"a": 1})  # the original accepted this (downgrade)
    for payload in (tampered, foreign, plaintext, b"", b"not a token"):
        with pytest.raises(ConfigurationError) as info:
            layer.decrypt_cache_data(payload)
        ctx = info.value.context
        assert ctx["error_type"] == "decryption_failure"
        assert ctx["reason"] == "authentication_failure"
        assert ctx["data_size"] == len(payload)


def test_deserialization_errors_when_disabled() -> None:
    layer = EncryptedCacheLayer()
    for payload in (b"{not json", b"\xff\xfe", b""):
        with pytest.raises(ConfigurationError) as info:
            layer.decrypt_cache_data(payload)
        assert info.value.context["error_type"] == "deserialization_error"
        assert info.value.context["data_size"] == len(payload)


def test_serialization_errors(key: bytes) -> None:
    layer = EncryptedCacheLayer(key)
    circular: list[Any] = []
    circular.append(circular)
    for value, type_name in ((object(), "object"), ({1, 2}, "set"), (circular, "list")):
        with pytest.raises(ConfigurationError) as info:
            layer.encrypt_cache_data(value)
        assert info.value.context["error_type"] == "serialization_error"
        assert info.value.context["data_type"] == type_name
        assert info.value.context["original_error"]


# ------------------------------------------------------------------- keys


def test_key_rotation_through_a_comma_separated_key_string() -> None:
    old, new = RefFernet.generate_key(), RefFernet.generate_key()
    old_layer = EncryptedCacheLayer(old)
    stored = old_layer.encrypt_cache_data({"v": 1})
    rotating = EncryptedCacheLayer(f"{new.decode()}, {old.decode()}")
    assert rotating.keyring is not None and rotating.keyring.key_count == 2
    assert rotating.decrypt_cache_data(stored) == {"v": 1}
    fresh = rotating.encrypt_cache_data({"v": 2})
    assert RefFernet(new).decrypt(fresh) == original_json({"v": 2})
    rotated = rotating.keyring.rotate(stored)
    assert EncryptedCacheLayer(new).decrypt_cache_data(rotated) == {"v": 1}
    assert rotating.keyring.extract_timestamp(rotated) == RefFernet(
        old
    ).extract_timestamp(stored)


@pytest.mark.parametrize(
    ("bad", "index"),
    [
        ("not base64!!", 0),
        ("QUFBQQ==", 0),  # 4 bytes
        (base64.urlsafe_b64encode(b"k" * 31).decode(), 0),
        (base64.urlsafe_b64encode(b"k" * 33).decode(), 0),
        ("{good},", 1),  # empty part
        (",{good}", 0),
        ("{good}, ,{good}", 1),
        ("{good},QUFBQQ==", 1),
        ("abc", 0),  # bad padding
    ],
)
def test_invalid_keys_name_the_index_never_the_key(
    bad: str, index: int, key: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    text = bad.replace("{good}", key.decode())
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as info:
        EncryptedCacheLayer(encryption_key=text)
    err = info.value
    assert err.message.startswith("🔒 ENCRYPTION ERROR: Invalid encryption key.")
    assert err.context["error_type"] == "invalid_encryption_key"
    assert err.context["key_index"] == index
    rendered = str(err) + repr(err.context) + caplog.text
    for part in text.split(","):
        if part.strip():
            assert part.strip() not in rendered


def test_too_many_keys() -> None:
    keys = ",".join(RefFernet.generate_key().decode() for _ in range(17))
    with pytest.raises(ConfigurationError) as info:
        FernetKeyring(keys)
    assert info.value.context["error_type"] == "invalid_encryption_key"
    assert FernetKeyring(keys.rsplit(",", 1)[0]).key_count == 16


def test_keys_cryptography_accepts_are_accepted() -> None:
    """cryptography before 51 decoded keys leniently (standard alphabet, stray
    characters), so such key text may sit in a deployment of the original; it
    must keep working here whatever the installed oracle accepts."""
    raw = bytes(range(200, 232))
    std = base64.standard_b64encode(raw)  # contains '+' and '/'
    assert b"+" in std or b"/" in std
    token = RefFernet(base64.urlsafe_b64encode(raw)).encrypt(b"x")
    assert FernetKeyring(std).decrypt(token) == b"x"
    assert FernetKeyring(std.decode() + "\n").decrypt(token) == b"x"


def test_missing_dependency_flag_is_read_at_call_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(encryption, "CRYPTOGRAPHY_AVAILABLE", False)
    with pytest.raises(ConfigurationError) as info:
        EncryptedCacheLayer()
    assert info.value.context["error_type"] == "missing_dependency"
    assert info.value.context["required_package"] == "cryptography"


# ------------------------------------------------------------------ keyring


def test_keyring_api(key: bytes) -> None:
    ring = FernetKeyring(key)
    assert ring.key_count == 1
    assert isinstance(ring.core, _core.Fernet)
    new_key = FernetKeyring.generate_key()
    assert len(new_key) == 44 and len(base64.urlsafe_b64decode(new_key)) == 32
    token = ring.encrypt_at_time(b"data", 1000)
    assert ring.extract_timestamp(token) == 1000
    assert ring.decrypt_at_time(token, 10, 1010) == b"data"
    with pytest.raises(InvalidToken):
        ring.decrypt_at_time(token, 10, 1011)
    with pytest.raises(InvalidToken):
        ring.decrypt(token, ttl=10)  # 1970 is long ago
    assert ring.decrypt(token) == b"data"
    assert RefFernet(key).decrypt(ring.encrypt(b"abc")) == b"abc"
    with pytest.raises(ValueError):
        ring.decrypt_at_time(token, None, 5)  # type: ignore[arg-type]
    assert FernetKeyring([key, new_key]).key_count == 2
    with pytest.raises(ConfigurationError):
        FernetKeyring([])
    with pytest.raises(ConfigurationError):
        FernetKeyring([key, 5])  # type: ignore[list-item]


def test_no_secrets_in_repr_logs_or_stats(
    key: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        layer = EncryptedCacheLayer(key)
        layer.decrypt_cache_data(layer.encrypt_cache_data({"a": 1}))
        with pytest.raises(ConfigurationError):
            layer.decrypt_cache_data(b"tampered")
    raw = base64.urlsafe_b64decode(key)
    texts = [
        repr(layer),
        repr(layer.keyring),
        repr(vars(layer)),
        caplog.text,
        repr(layer.get_performance_stats()),
    ]
    for text in texts:
        assert key.decode() not in text
        assert raw.hex() not in text
        assert repr(raw) not in text
    assert repr(layer.keyring) == "FernetKeyring(keys=1)"
    with pytest.raises(TypeError):
        pickle.dumps(layer.keyring)


# -------------------------------------------------------------------- stats


def test_performance_stats(key: bytes, caplog: pytest.LogCaptureFixture) -> None:
    layer = EncryptedCacheLayer(key)
    stats = layer.get_performance_stats()
    assert set(stats) == STATS_KEYS
    assert stats["encryption_operations"] == 0
    assert stats["avg_encryption_time"] == 0.0
    for i in range(3):
        layer.decrypt_cache_data(layer.encrypt_cache_data({"i": i}))
    layer.encrypt_cache_data({"x": 1})
    stats = layer.get_performance_stats()
    assert stats["encryption_enabled"] is True
    assert stats["encryption_operations"] == 4
    assert stats["decryption_operations"] == 3
    assert stats["total_operations"] == 7
    assert stats["performance_monitoring"] is True
    # totals in seconds, averages in milliseconds
    assert 0 < stats["total_encryption_time"] < 1
    assert stats["avg_encryption_time"] == pytest.approx(
        stats["total_encryption_time"] / 4 * 1000
    )
    assert stats["avg_decryption_time"] == pytest.approx(
        stats["total_decryption_time"] / 3 * 1000
    )
    with caplog.at_level(logging.INFO, logger="aicache.encryption"):
        layer.reset_performance_stats()
    assert "reset" in caplog.text
    stats = layer.get_performance_stats()
    assert stats["total_operations"] == 0 and stats["total_encryption_time"] == 0.0


def test_stats_when_monitoring_is_off(key: bytes) -> None:
    layer = EncryptedCacheLayer(key, performance_monitoring=False)
    layer.encrypt_cache_data({"a": 1})
    assert layer.get_performance_stats() == {
        "error": "Performance monitoring is disabled"
    }


def test_slow_operations_are_logged(
    key: bytes, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(encryption, "_SLOW_ENCRYPT_SECONDS", -1.0)
    monkeypatch.setattr(encryption, "_SLOW_DECRYPT_SECONDS", -1.0)
    layer = EncryptedCacheLayer(key)
    with caplog.at_level(logging.WARNING, logger="aicache.encryption"):
        layer.decrypt_cache_data(layer.encrypt_cache_data({"a": 1}))
    assert "Slow encryption" in caplog.text and "Slow decryption" in caplog.text


def test_create_with_generated_key() -> None:
    layer = EncryptedCacheLayer.create_with_generated_key(performance_monitoring=False)
    assert isinstance(layer, EncryptedCacheLayer)
    assert layer.is_enabled and not layer.performance_monitoring
    assert layer.decrypt_cache_data(layer.encrypt_cache_data([1])) == [1]
    other = EncryptedCacheLayer.create_with_generated_key()
    with pytest.raises(ConfigurationError):
        other.decrypt_cache_data(layer.encrypt_cache_data([1]))


# ------------------------------------------------------------- from the env


def test_from_env_unset_is_disabled_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("REDIS_ENCRYPTION_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="aicache.encryption"):
        layer = create_encryption_layer_from_env()
    assert not layer.is_enabled
    assert "REDIS_ENCRYPTION_KEY" in caplog.text


def test_from_env_with_one_or_several_keys(
    monkeypatch: pytest.MonkeyPatch, key: bytes
) -> None:
    monkeypatch.setenv("REDIS_ENCRYPTION_KEY", key.decode())
    layer = create_encryption_layer_from_env()
    assert layer.is_enabled and layer.keyring is not None
    assert layer.keyring.key_count == 1
    second = RefFernet.generate_key().decode()
    monkeypatch.setenv("REDIS_ENCRYPTION_KEY", f"{second},{key.decode()}")
    layer2 = create_encryption_layer_from_env()
    assert layer2.decrypt_cache_data(layer.encrypt_cache_data({"k": 1})) == {"k": 1}


def test_from_env_invalid_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_ENCRYPTION_KEY", "definitely-not-a-key")
    with pytest.raises(ConfigurationError) as info:
        create_encryption_layer_from_env()
    assert info.value.context["error_type"] == "invalid_encryption_key"
    assert "definitely-not-a-key" not in str(info.value)
