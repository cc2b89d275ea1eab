"""Exception hierarchy of the original template (spec section 2), plus the Redis errors.

``InfrastructureError`` deliberately does not derive from ``ApplicationError``:
the template maps it to HTTP 503 through a separate handler. The Redis errors are
``InfrastructureError`` subclasses, so a handler for it covers them::

    InfrastructureError
    ├── RedisConnectionError      link down, refused, reset, circuit breaker open
    │   └── RedisTimeoutError     connect or reply took too long
    ├── RedisAuthError            Redis refused the credentials (NOAUTH, WRONGPASS, NOPERM)
    └── RedisReplyError           any other error reply (``.code``: WRONGTYPE, ...)
"""

from typing import Any

__all__ = [
    "ApplicationError",
    "ConfigurationError",
    "InfrastructureError",
    "RedisAuthError",
    "RedisConnectionError",
    "RedisReplyError",
    "RedisTimeoutError",
    "ValidationError",
]


class ApplicationError(Exception):
    """Base of the errors the application can explain to a caller."""

    def __init__(self, message: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = context if context is not None else {}

    def __str__(self) -> str:
        if self.context:
            return f"{self.message} (Context: {self.context})"
        return self.message


class ValidationError(ApplicationError):
    """Input failed validation (HTTP 422 in the template)."""


class ConfigurationError(ApplicationError):
    """Configuration is invalid or inconsistent (HTTP 500 in the template)."""


class InfrastructureError(Exception):
    """An external system (Redis, the network) failed (HTTP 503 in the template)."""

    def __init__(self, message: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = context if context is not None else {}

    def __str__(self) -> str:
        return self.message


class RedisConnectionError(InfrastructureError):
    """The link to Redis is down, was refused or reset, or the breaker is open."""


class RedisTimeoutError(RedisConnectionError):
    """Connecting, or waiting for a reply, took longer than allowed."""


class RedisAuthError(InfrastructureError):
    """Redis refused the credentials (NOAUTH, WRONGPASS, NOPERM)."""


class RedisReplyError(InfrastructureError):
    """Redis answered a command with an error reply (e.g. WRONGTYPE)."""

    @property
    def code(self) -> str:
        """The error code: the first word of the reply (``ERR``, ``WRONGTYPE``...)."""
        return self.message.split(" ", 1)[0]
