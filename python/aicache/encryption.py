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

import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any, NoReturn, Self

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

# Error messages: the original's headline (operators alert on it), an "Error:" line
# with the reason (never a key), then advice that holds for aicache.
HEADLINE_INVALID_KEY = "🔒 ENCRYPTION ERROR: Invalid encryption key."
HEADLINE_SERIALIZE = "🔒 ENCRYPTION ERROR: Failed to serialize cache data."
HEADLINE_ENCRYPT = "🔒 ENCRYPTION ERROR: Data encryption failed."
HEADLINE_DESERIALIZE = "🔒 DECRYPTION ERROR: Failed to deserialize cache data."
HEADLINE_DECRYPT = "🔒 DECRYPTION ERROR: Data decryption failed."
HEADLINE_MISSING_DEPENDENCY = (
    "🔒 ENCRYPTION ERROR: cryptography library is required for data encryption."
)

_KEY_ADVICE = (
    "To fix this issue:\n"
    "1. Generate a key, with aicache:\n"
    '   python -c "from aicache.encryption import FernetKeyring; '
    'print(FernetKeyring.generate_key().decode())"\n'
    "   or with the cryptography package (pip install cryptography):\n"
    '   python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"\n'
    "2. Set REDIS_ENCRYPTION_KEY to it (or pass encryption_key= to "
    "EncryptedCacheLayer or SecurityConfig).\n"
    "   For key rotation list several keys separated by commas, newest first: "
    "the first encrypts, every one decrypts.\n"
    "   A key is 32 bytes in url-safe base64 (44 characters); "
    "an empty item between commas is an error.\n"
)
_TYPE_ADVICE = (
    "EncryptedCacheLayer stores JSON values only:\n"
    "- str, int, float, bool, None\n"
    "- list, and dict with str keys (nested freely)\n"
    "Convert other values first (datetime -> isoformat(), set -> list, objects -> "
    "dict). The caches' set() stores more (datetime, date, UUID, Decimal, bytes, "
    "tuple, set, dataclasses, pydantic models) through aicache's value codec.\n"
)
_ENCRYPT_ADVICE = (
    "This may indicate:\n"
    "- a key ring that could not be used (check REDIS_ENCRYPTION_KEY)\n"
    "- memory exhaustion (the payload is too large)\n"
)
_DECRYPT_ADVICE = (
    "Likely causes:\n"
    "- corrupted or tampered data in Redis\n"
    "- wrong key: the entry was written under a key that is not in "
    "REDIS_ENCRYPTION_KEY\n"
    "- data written before encryption was enabled (plaintext is never read as "
    "plaintext once a key is set; such entries are misses until they expire or "
    "are rewritten)\n"
    "- key rotation: the old key was removed before the entries it encrypted "
    "expired (keep it listed after the new one: REDIS_ENCRYPTION_KEY=NEW,OLD)\n"
)
_DESERIALIZE_ADVICE = (
    "The payload is not UTF-8 JSON. Likely causes:\n"
    "- corrupted cache data\n"
    "- data written by something else than EncryptedCacheLayer.encrypt_cache_data\n"
    "- encryption disabled here while the data was written encrypted (set the "
    "same REDIS_ENCRYPTION_KEY as the writer)\n"
)


def _message(headline: str, reason: str, advice: str) -> str:
    return f"{headline}\n\nError: {reason}\n\n{advice}"


def _describe(exc: BaseException) -> str:
    """Non-empty text for ``original_error`` (some exceptions stringify to '')."""
    return str(exc) or type(exc).__name__


def _invalid_key(index: int, count: int, reason: str) -> NoReturn:
    # Never the key itself, nor any part of it: only where and why.
    raise ConfigurationError(
        _message(HEADLINE_INVALID_KEY, reason, _KEY_ADVICE),
        {
            "error_type": "invalid_encryption_key",
            "original_error": reason,
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
        *,
        _warn_disabled: bool = True,
    ) -> None:
        self.logger = logger
        if not CRYPTOGRAPHY_AVAILABLE:
            reason = "aicache.encryption.CRYPTOGRAPHY_AVAILABLE is False"
            raise ConfigurationError(
                _message(
                    HEADLINE_MISSING_DEPENDENCY,
                    reason,
                    "aicache encrypts with its built-in Fernet (the C core), so the "
                    "cryptography package is not needed at run time. This flag, "
                    "kept from the original, is only False when code or a test sets "
                    "it; set it back to True to enable encryption.\n",
                ),
                {
                    "error_type": "missing_dependency",
                    "required_package": "cryptography",
                    "original_error": reason,
                },
            )
        self.performance_monitoring = performance_monitoring
        self._encryption_operations = 0
        self._decryption_operations = 0
        self._total_encryption_time = 0.0
        self._total_decryption_time = 0.0
        self.fernet: FernetKeyring | None = None
        if encryption_key:
            try:
                self.fernet = self._keyring_from(encryption_key)
            except ConfigurationError as exc:
                self.logger.error(
                    "Failed to initialize encryption: %s",
                    exc.context.get("reason", "invalid key"),
                )
                raise
            self.logger.info(
                "🔐 Cache encryption enabled successfully "
                "(%d key(s); the first one encrypts)",
                self.fernet.key_count,
            )
        elif _warn_disabled:  # create_encryption_layer_from_env warns once itself
            self.logger.warning(
                "⚠️  SECURITY WARNING: Cache encryption is disabled!\n"
                "Cache data will be stored UNENCRYPTED in Redis.\n"
                "Set REDIS_ENCRYPTION_KEY to a Fernet key (several, comma-separated, "
                "for rotation) to encrypt it."
            )

    @staticmethod
    def _keyring_from(encryption_key: str | bytes) -> FernetKeyring:
        keyring = FernetKeyring(encryption_key)
        reason = "self-test failed: a token made with the key did not decrypt"
        try:
            ok = keyring.decrypt(keyring.encrypt(_SELF_TEST)) == _SELF_TEST
        except (ValueError, MemoryError) as exc:
            reason = f"self-test failed: {_describe(exc)}"
            ok = False
        if not ok:
            raise ConfigurationError(
                _message(HEADLINE_INVALID_KEY, reason, _KEY_ADVICE),
                {
                    "error_type": "invalid_encryption_key",
                    "original_error": reason,
                    "reason": "self-test failed",
                },
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
    def create_with_generated_key(cls, **kwargs: Any) -> Self:
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
                _message(HEADLINE_SERIALIZE, _describe(exc), _TYPE_ADVICE),
                {
                    "error_type": "serialization_error",
                    "data_type": type(data).__name__,
                    "original_error": _describe(exc),
                },
            ) from exc
        if self.fernet is None:
            self.logger.warning(
                "🔓 Data stored without encryption (encryption disabled)"
            )
            result = raw
        else:
            try:
                result = self.fernet.encrypt(raw)
            except Exception as exc:
                self.logger.error("Encryption failed: %s", _describe(exc))
                raise ConfigurationError(
                    _message(HEADLINE_ENCRYPT, _describe(exc), _ENCRYPT_ADVICE),
                    {
                        "error_type": "encryption_failure",
                        "data_type": type(data).__name__,
                        "original_error": _describe(exc),
                    },
                ) from exc
        if self.performance_monitoring:
            elapsed = time.perf_counter() - start
            self._encryption_operations += 1
            self._total_encryption_time += elapsed
            if elapsed > _SLOW_ENCRYPT_SECONDS:
                self.logger.warning(
                    "Slow encryption operation: %.3fs for %d bytes", elapsed, len(raw)
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
            except InvalidToken as exc:
                # No downgrade: an unauthenticated payload is never read as plaintext.
                reason = f"authentication failed ({_describe(exc)})"
                self.logger.warning(
                    "Rejected a cache payload that failed authentication "
                    "(tampered, another key, or unencrypted)"
                )
                raise ConfigurationError(
                    _message(HEADLINE_DECRYPT, reason, _DECRYPT_ADVICE),
                    {
                        "error_type": "decryption_failure",
                        "original_error": reason,
                        "reason": "authentication_failure",
                        "data_size": _size(data),
                    },
                ) from None
            except Exception as exc:
                self.logger.error("Decryption failed: %s", _describe(exc))
                raise ConfigurationError(
                    _message(HEADLINE_DECRYPT, _describe(exc), _DECRYPT_ADVICE),
                    {
                        "error_type": "decryption_failure",
                        "original_error": _describe(exc),
                        "data_size": _size(data),
                    },
                ) from exc
        else:
            raw = data
        try:
            value = json.loads(bytes(raw).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigurationError(
                _message(HEADLINE_DESERIALIZE, _describe(exc), _DESERIALIZE_ADVICE),
                {
                    "error_type": "deserialization_error",
                    "original_error": _describe(exc),
                    "data_size": _size(raw),
                },
            ) from exc
        except Exception as exc:
            raise ConfigurationError(
                _message(HEADLINE_DECRYPT, _describe(exc), _DECRYPT_ADVICE),
                {
                    "error_type": "decryption_failure",
                    "original_error": _describe(exc),
                    "data_size": _size(raw),
                },
            ) from exc
        if self.performance_monitoring:
            elapsed = time.perf_counter() - start
            self._decryption_operations += 1
            self._total_decryption_time += elapsed
            if elapsed > _SLOW_DECRYPT_SECONDS:
                self.logger.warning(
                    "Slow decryption operation: %.3fs for %d bytes",
                    elapsed,
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
        self.logger.info("Performance statistics reset")

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
            "⚠️  SECURITY WARNING: REDIS_ENCRYPTION_KEY not set!\n"
            "Cache data will not be encrypted.\n"
            "Set REDIS_ENCRYPTION_KEY (a Fernet key; several comma-separated for "
            "rotation) for secure operation. Generate one with: python -c "
            '"from aicache.encryption import FernetKeyring; '
            'print(FernetKeyring.generate_key().decode())"'
        )
        return EncryptedCacheLayer(encryption_key=None, _warn_disabled=False)
    return EncryptedCacheLayer(encryption_key=key)
