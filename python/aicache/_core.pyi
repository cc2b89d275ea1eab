"""Typed stub of the C extension aicache._core (kept in sync by mypy.stubtest)."""

from typing import Final

DEBUG_BUILD: Final[int]

class CoreError(ValueError): ...
class InvalidToken(CoreError): ...
class PayloadError(CoreError): ...
class ProtocolError(CoreError): ...

# --- area: mem ---

# --- area: key ---

# --- area: fernet ---

# --- area: codec ---

# --- area: resp ---
