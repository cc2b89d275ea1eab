"""Exception hierarchy of the original template (spec section 2).

``InfrastructureError`` deliberately does not derive from ``ApplicationError``:
the template maps it to HTTP 503 through a separate handler.
"""

from typing import Any

__all__ = [
    "ApplicationError",
    "ConfigurationError",
    "InfrastructureError",
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
