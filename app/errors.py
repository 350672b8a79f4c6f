"""Domain errors raised by services; HTML pages and the JSON API each turn them into answers."""

from __future__ import annotations


class LecternError(Exception):
    status = 400
    code = "bad_request"
    message = "The request could not be understood."

    def __init__(self, message: str | None = None, *, fields: dict[str, str] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields or {}


class Malformed(LecternError):
    status = 400
    code = "malformed"
    message = "The request could not be understood."


class Unauthenticated(LecternError):
    status = 401
    code = "unauthenticated"
    message = "Sign in to continue."


class Forbidden(LecternError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do that."


class NotFound(LecternError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(LecternError):
    status = 409
    code = "conflict"
    message = "That conflicts with the current state."


class ValidationFailed(LecternError):
    status = 422
    code = "invalid"
    message = "Some fields are not valid."


class TooLarge(LecternError):
    status = 413
    code = "too_large"
    message = "What you sent is larger than we accept."


class WrongMediaType(LecternError):
    status = 415
    code = "unsupported_media_type"
    message = "We do not accept that kind of content here."


class RateLimited(LecternError):
    status = 429
    code = "rate_limited"
    message = "Too many attempts. Try again later."

    def __init__(self, retry_after: int, message: str | None = None):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
