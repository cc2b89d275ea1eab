"""Fernet encryption of cache payloads (the original template's ``encryption.py``).

Tokens are made and checked by the C core (``aicache._core.Fernet``) and are
byte-compatible with ``cryptography.fernet`` both ways; ``cryptography`` itself is
not needed.  Additions to the original:

* **Key rotation.**  A key string may hold several comma-separated Fernet keys
  (url-safe base64 of 32 bytes each): the first encrypts, any decrypts, and
  :meth:`FernetKeyring.rotate` re-encrypts a token under the first key
  (``cryptography.fernet.MultiFernet`` semantics).
* **No downgrade.**  With a key configured, a payload that fails authentication
  (tampered, foreign key, or plain JSON) raises :class:`ConfigurationError`
  (``error_type "decryption_failure"``, ``reason "authentication_failure"``); the
  original parsed such bytes as plaintext (spec section 21, item 21).  See
  docs/migration-encryption.md.

Secrets never appear in ``repr()``, log records, exception contexts or stats.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from aicache import _core
from aicache.exceptions import ConfigurationError

__all__ = [
    "CRYPTOGRAPHY_AVAILABLE",
    "EncryptedCacheLayer",
    "FernetKeyring",
    "InvalidToken",
    "create_encryption_layer_from_env",
]

logger = logging.getLogger(__name__)

#: Kept for the original's surface.  aicache's Fernet is built in, so this is
#: always True; the constructor reads it at call time, as the original does, so
#: tests can patch it to False to exercise the "missing_dependency" error.
CRYPTOGRAPHY_AVAILABLE = True

#: Raised by :class:`FernetKeyring` for every rejected token (a ValueError).
InvalidToken = _core.InvalidToken

_SLOW_ENCRYPT_SECONDS = 0.050
_SLOW_DECRYPT_SECONDS = 0.030
_SELF_TEST = b"aicache encryption self-test"


def _invalid_key(index: int, count: int, reason: str) -> NoReturn:
    # Never the key itself, nor any part of it: only where and why.
    raise ConfigurationError(
        "invalid encryption key",
        {
            "error_type": "invalid_encryption_key",
            "key_index": index,
            "key_count": count,
            "reason": reason,
        },
    )


def _key_parts(keys: str | bytes | Sequence[str | bytes]) -> list[bytes]:
    if isinstance(keys, str):
        keys = keys.encode("utf-8")
    if isinstance(keys, bytes | bytearray):
        return [part.strip() for part in bytes(keys).split(b",")]
    parts: list[bytes] = []
    for key in keys:
        if isinstance(key, str):
            key = key.encode("utf-8")
        if not isinstance(key, bytes | bytearray):
            _invalid_key(
                len(parts), len(keys), f"not str or bytes: {type(key).__name__}"
            )
        parts.append(bytes(key).strip())
    return parts


def _decode_key(part: bytes, index: int, count: int) -> bytes:
    if not part:
        _invalid_key(index, count, "empty key")
    try:
        # The decoding cryptography.fernet.Fernet applies to its key argument,
        # so every key it accepts is accepted here.
        raw = base64.urlsafe_b64decode(part)
    except (binascii.Error, ValueError):
        _invalid_key(index, count, "not url-safe base64")
    if len(raw) != _core.FERNET_KEYBYTES:
        _invalid_key(
            index,
            count,
            f"decodes to {len(raw)} bytes, a Fernet key is {_core.FERNET_KEYBYTES}",
        )
    return raw


class FernetKeyring:
    """One or more Fernet keys: the first encrypts, any of them decrypts.

    ``keys`` is a key (url-safe base64 text or bytes), a comma-separated list of
    keys, or a sequence of keys.  Invalid keys raise :class:`ConfigurationError`
    naming the key's position, never its value.  The raw keys live only in C
    memory (wiped when the keyring is freed).
    """

    __slots__ = ("_fernet",)

    def __init__(self, keys: str | bytes | Sequence[str | bytes]) -> None:
        parts = _key_parts(keys)
        if not parts or (len(parts) == 1 and not parts[0]):
            _invalid_key(0, 0, "no key given")
        if len(parts) > _core.FERNET_MAX_KEYS:
            _invalid_key(
                _core.FERNET_MAX_KEYS,
                len(parts),
                f"at most {_core.FERNET_MAX_KEYS} keys are supported",
            )
        raw = [_decode_key(part, i, len(parts)) for i, part in enumerate(parts)]
        self._fernet = _core.Fernet(raw)

    @property
    def core(self) -> _core.Fernet:
        """The C context (what aicache's value codec encrypts with)."""
        return self._fernet

    @property
    def key_count(self) -> int:
        return self._fernet.key_count

    @staticmethod
    def generate_key() -> bytes:
        """A new random key in the Fernet text form (``Fernet.generate_key()``)."""
        return base64.urlsafe_b64encode(os.urandom(_core.FERNET_KEYBYTES))

    def encrypt(self, data: bytes) -> bytes:
        """Token of ``data`` under the first key, stamped with ``time.time()``."""
        return self._fernet.encrypt(data)

    def encrypt_at_time(self, data: bytes, current_time: int) -> bytes:
        return self._fernet.encrypt(data, now=current_time)

    def decrypt(self, token: bytes | str, ttl: int | None = None) -> bytes:
        """Plaintext of ``token``; :data:`InvalidToken` for every rejection.

        With ``ttl``, tokens older than ``ttl`` seconds, or stamped more than 60
        seconds in the future, are rejected (cryptography's rule).
        """
        return self._fernet.decrypt(token, ttl=ttl)

    def decrypt_at_time(self, token: bytes | str, ttl: int, current_time: int) -> bytes:
        if ttl is None:
            raise ValueError("decrypt_at_time() can only be used with a non-None ttl")
        return self._fernet.decrypt(token, ttl=ttl, now=current_time)

    def rotate(self, token: bytes | str) -> bytes:
        """Re-encrypts ``token`` under the first key, keeping its timestamp."""
        return self._fernet.rotate(token)

    def extract_timestamp(self, token: bytes | str) -> int:
        """Timestamp of ``token`` once its MAC has been verified with any key."""
        return self._fernet.extract_timestamp(token)

    def __repr__(self) -> str:
        return f"FernetKeyring(keys={self.key_count})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("FernetKeyring holds secret keys and cannot be pickled")


class EncryptedCacheLayer:
    """Encrypts cache payloads with Fernet (the original's ``EncryptedCacheLayer``).

    ``encryption_key``: a Fernet key, or several separated by commas (str or
    bytes).  None or empty disables encryption (with a WARNING), as in the
    original.  ``fernet`` and ``keyring`` name the same :class:`FernetKeyring`
    (None when disabled).
    """

    def __init__(
        self,
        encryption_key: str | bytes | None = None,
        performance_monitoring: bool = True,
    ) -> None:
        if not CRYPTOGRAPHY_AVAILABLE:
            raise ConfigurationError(
                "encryption support is not available",
                {
                    "error_type": "missing_dependency",
                    "required_package": "cryptography",
                },
            )
        self.logger = logger
        self.performance_monitoring = performance_monitoring
        self._encryption_operations = 0
        self._decryption_operations = 0
        self._total_encryption_time = 0.0
        self._total_decryption_time = 0.0
        self.fernet: FernetKeyring | None = None
        if encryption_key:
            self.fernet = self._keyring_from(encryption_key)
            logger.info(
                "Cache encryption enabled (%d key(s); the first one encrypts)",
                self.fernet.key_count,
            )
        else:
            logger.warning(
                "No encryption key configured: cache data will be stored UNENCRYPTED. "
                "Set REDIS_ENCRYPTION_KEY to a Fernet key to encrypt it."
            )

    @staticmethod
    def _keyring_from(encryption_key: str | bytes) -> FernetKeyring:
        keyring = FernetKeyring(encryption_key)
        try:
            ok = keyring.decrypt(keyring.encrypt(_SELF_TEST)) == _SELF_TEST
        except (ValueError, MemoryError) as exc:
            raise ConfigurationError(
                "invalid encryption key",
                {"error_type": "invalid_encryption_key", "reason": "self-test failed"},
            ) from exc
        if not ok:
            raise ConfigurationError(
                "invalid encryption key",
                {"error_type": "invalid_encryption_key", "reason": "self-test failed"},
            )
        return keyring

    # The new name for the same object (what aicache's value codec takes).
    @property
    def keyring(self) -> FernetKeyring | None:
        return self.fernet

    @keyring.setter
    def keyring(self, value: FernetKeyring | None) -> None:
        self.fernet = value

    @property
    def is_enabled(self) -> bool:
        return self.fernet is not None

    @classmethod
    def create_with_generated_key(cls, **kwargs: Any) -> EncryptedCacheLayer:
        """A layer with a new random key (handy in tests; the key is not exposed)."""
        return cls(encryption_key=FernetKeyring.generate_key(), **kwargs)

    # ------------------------------------------------------------- operations

    def encrypt_cache_data(self, data: Any) -> bytes:
        """``json.dumps(data, ensure_ascii=False, sort_keys=True)`` in UTF-8, then
        a Fernet token of it (the JSON bytes themselves when disabled)."""
        start = time.perf_counter()
        try:
            raw = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"Failed to serialize cache data: {exc}",
                {"error_type": "serialization_error", "data_type": type(data).__name__},
            ) from exc
        if self.fernet is None:
            logger.warning("Encryption disabled: cache data stored unencrypted")
            result = raw
        else:
            try:
                result = self.fernet.encrypt(raw)
            except Exception as exc:
                raise ConfigurationError(
                    f"Failed to encrypt cache data: {type(exc).__name__}",
                    {
                        "error_type": "encryption_failure",
                        "data_type": type(data).__name__,
                    },
                ) from exc
        if self.performance_monitoring:
            elapsed = time.perf_counter() - start
            self._encryption_operations += 1
            self._total_encryption_time += elapsed
            if elapsed > _SLOW_ENCRYPT_SECONDS:
                logger.warning(
                    "Slow encryption: %.1f ms for %d bytes", elapsed * 1000, len(raw)
                )
        return result

    def decrypt_cache_data(self, encrypted_data: bytes) -> Any:
        """Inverse of :meth:`encrypt_cache_data`.

        With a key configured, anything that is not a valid token of one of its
        keys is rejected (never parsed as plaintext).
        """
        start = time.perf_counter()
        data: Any = encrypted_data
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self.fernet is not None:
            try:
                raw = self.fernet.decrypt(data)
            except InvalidToken:
                logger.warning(
                    "Rejected a cache payload that failed authentication "
                    "(tampered, another key, or unencrypted)"
                )
                raise ConfigurationError(
                    "Failed to decrypt cache data: authentication failed",
                    {
                        "error_type": "decryption_failure",
                        "reason": "authentication_failure",
                        "data_size": _size(data),
                    },
                ) from None
            except Exception as exc:
                raise ConfigurationError(
                    f"Failed to decrypt cache data: {type(exc).__name__}",
                    {"error_type": "decryption_failure", "data_size": _size(data)},
                ) from exc
        else:
            raw = data
        try:
            value = json.loads(bytes(raw).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigurationError(
                f"Failed to deserialize cache data: {type(exc).__name__}",
                {"error_type": "deserialization_error", "data_size": _size(raw)},
            ) from exc
        except Exception as exc:
            raise ConfigurationError(
                f"Failed to decrypt cache data: {type(exc).__name__}",
                {"error_type": "decryption_failure", "data_size": _size(raw)},
            ) from exc
        if self.performance_monitoring:
            elapsed = time.perf_counter() - start
            self._decryption_operations += 1
            self._total_decryption_time += elapsed
            if elapsed > _SLOW_DECRYPT_SECONDS:
                logger.warning(
                    "Slow decryption: %.1f ms for %d bytes",
                    elapsed * 1000,
                    _size(encrypted_data),
                )
        return value

    # ------------------------------------------------------------------ stats

    def get_performance_stats(self) -> dict[str, Any]:
        """Counters; totals in seconds, averages in milliseconds (as the original)."""
        if not self.performance_monitoring:
            return {"error": "Performance monitoring is disabled"}
        enc = self._encryption_operations
        dec = self._decryption_operations
        return {
            "encryption_enabled": self.is_enabled,
            "encryption_operations": enc,
            "decryption_operations": dec,
            "total_operations": enc + dec,
            "total_encryption_time": self._total_encryption_time,
            "total_decryption_time": self._total_decryption_time,
            "avg_encryption_time": (
                self._total_encryption_time / enc * 1000 if enc else 0.0
            ),
            "avg_decryption_time": (
                self._total_decryption_time / dec * 1000 if dec else 0.0
            ),
            "performance_monitoring": self.performance_monitoring,
        }

    def reset_performance_stats(self) -> None:
        self._encryption_operations = 0
        self._decryption_operations = 0
        self._total_encryption_time = 0.0
        self._total_decryption_time = 0.0
        logger.info("Encryption performance statistics reset")

    def __repr__(self) -> str:
        keys = self.fernet.key_count if self.fernet is not None else 0
        return (
            f"EncryptedCacheLayer(enabled={self.is_enabled}, keys={keys}, "
            f"performance_monitoring={self.performance_monitoring})"
        )


def _size(data: object) -> int:
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return 0


def create_encryption_layer_from_env() -> EncryptedCacheLayer:
    """A layer keyed by ``REDIS_ENCRYPTION_KEY`` (one key or several, comma-separated).

    Unset or empty: encryption disabled, with a WARNING.  Invalid:
    :class:`ConfigurationError` (``error_type "invalid_encryption_key"``).
    """
    key = os.environ.get("REDIS_ENCRYPTION_KEY")
    if not key:
        logger.warning(
            "REDIS_ENCRYPTION_KEY is not set: cache encryption is disabled. "
            "Generate a key with aicache.encryption.FernetKeyring.generate_key()."
        )
        return EncryptedCacheLayer(encryption_key=None)
    return EncryptedCacheLayer(encryption_key=key)
