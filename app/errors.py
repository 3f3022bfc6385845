"""Application errors, mapped to JSON once in main.py.

AppError(code, status, detail)
 ├── BadRequest            400
 ├── Unauthorized          401 unauthorized
 ├── Forbidden             403 forbidden
 ├── NotFound              404 not_found
 ├── Conflict              409 (already_submitted, attempt_expired, not_published, ...)
 ├── Gone                  410 gone (a share page taken down by its learner)
 ├── PayloadTooLarge       413 payload_too_large
 ├── Unprocessable         422 (validation_error, idempotency_key_reused, invalid_response, ...)
 │    └── InsufficientPrecision 422 insufficient_precision, with the design's precision figures
 └── ServiceUnavailable    503 (signing key unavailable, ...)
      └── Busy             503 busy, with Retry-After (no database session free in time)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str
    detail: str


class AppError(Exception):
    """An error with a stable short code that clients can branch on."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(self, detail: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.code, "detail": self.detail}


class BadRequest(AppError):
    status = 400
    default_code = "bad_request"


class Unauthorized(AppError):
    status = 401
    default_code = "unauthorized"

    def __init__(self, detail: str = "A valid API key is required: Authorization: Bearer <key>."):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = 403
    default_code = "forbidden"


class NotFound(AppError):
    status = 404
    default_code = "not_found"


class Conflict(AppError):
    status = 409
    default_code = "conflict"


class Gone(AppError):
    status = 410
    default_code = "gone"


class PayloadTooLarge(AppError):
    status = 413
    default_code = "payload_too_large"


class Unprocessable(AppError):
    status = 422
    default_code = "validation_error"


class InsufficientPrecision(Unprocessable):
    """A design whose pass is too likely for a candidate below the mark; the body carries the figures."""

    default_code = "insufficient_precision"

    def __init__(self, detail: str, precision: dict[str, Any]):
        super().__init__(detail)
        self.precision = precision

    def body(self) -> dict[str, Any]:
        return {**super().body(), "precision": self.precision}


class PrecisionErrorBody(ErrorBody):
    """422 insufficient_precision: the error, and the design's computed precision."""

    precision: dict[str, Any] | None = None


class ServiceUnavailable(AppError):
    status = 503
    default_code = "service_unavailable"


class Busy(ServiceUnavailable):
    """No database session became free in time; the client should retry after Retry-After seconds."""

    default_code = "busy"
    retry_after_seconds: ClassVar[int] = 2

    def __init__(self, detail: str = "The server is busy; retry after a short wait."):
        super().__init__(detail, headers={"Retry-After": str(self.retry_after_seconds)})


def validation_detail(errors: Sequence[Mapping[str, Any]]) -> str:
    """One sentence from pydantic's (or FastAPI's) validation errors: `location: message; ...`, the first five."""
    parts = []
    for error in errors[:5]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "The request is not valid."


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses a route can return."""
    descriptions = {
        400: "Bad request",
        401: "Missing or unknown API key",
        403: "The API key lacks the required role",
        404: "Not found (or not yours)",
        409: "Conflict with the current state",
        410: "Gone: it was there and has been taken down",
        413: "Body too large",
        422: "Invalid input",
        503: "Service unavailable",
    }
    return {
        status: {"model": ErrorBody, "description": descriptions[status]} for status in statuses
    }
