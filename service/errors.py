"""Typed domain errors. The API maps `code` to `extensions.code` (or to a payload's userErrors)."""

from __future__ import annotations

from dataclasses import dataclass, field


class TcgraphError(Exception):
    """Base of every error the domain raises on purpose; its message is safe to show."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(TcgraphError):
    code = "BAD_USER_INPUT"


class NotFound(TcgraphError):
    code = "NOT_FOUND"


class Forbidden(TcgraphError):
    code = "FORBIDDEN"


class Unauthenticated(TcgraphError):
    code = "UNAUTHENTICATED"


@dataclass(frozen=True)
class FieldError:
    """One validation failure, pointing at the input field that caused it."""

    field: str
    message: str
    code: str = "INVALID"


@dataclass
class ValidationFailed(TcgraphError):
    """Domain validation failed: reported as userErrors in a mutation payload."""

    errors: list[FieldError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))

    code = "BAD_USER_INPUT"


class Collector:
    """Collects field errors, then raises them all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str, code: str = "INVALID") -> None:
        self.errors.append(FieldError(field=field, message=message, code=code))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(errors=list(self.errors))


class QueryTooComplex(TcgraphError):
    code = "QUERY_TOO_COMPLEX"


class PersistedQueryNotFound(TcgraphError):
    code = "PERSISTED_QUERY_NOT_FOUND"


class PersistedQueryNotSupported(TcgraphError):
    code = "PERSISTED_QUERY_NOT_SUPPORTED"


class OperationNotRegistered(TcgraphError):
    code = "OPERATION_NOT_REGISTERED"


class RateLimited(TcgraphError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_seconds: float):
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailable(TcgraphError):
    """The database could not be reached (restarted, failed over, out of connections): nothing
    was done, and the same request may be sent again after `retry_after_seconds`."""

    code = "SERVICE_UNAVAILABLE"
    retry_after_seconds = 1

    def __init__(self, message: str = "The database is unavailable; retry shortly.") -> None:
        super().__init__(message)
