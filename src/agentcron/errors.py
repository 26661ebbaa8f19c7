"""Errors that map to the wire contract's ``{"message","code"}`` bodies."""

from __future__ import annotations

CODES = {
    400: "BAD_REQUEST",
    401: "NOT_AUTHENTICATED",
    403: "NOT_AUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "TIMEOUT",
    409: "CONFLICT",
    413: "CONTENT_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "LIMITS_REACHED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """An error with an HTTP status and a stable code; the message is shown to the user as is."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODES.get(status, f"ERROR_{status}")


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, message)


def limits_reached(message: str) -> ApiError:
    return ApiError(429, message, "LIMITS_REACHED")
