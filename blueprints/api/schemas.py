"""JSON Schemas (2020-12) of API bodies: they validate requests and make the OpenAPI document."""

from __future__ import annotations

from typing import Any


def obj(
    properties: dict[str, Any], required: list[str] | None = None, *, closed: bool = True
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def text(max_length: int, min_length: int = 0, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if min_length:
        schema["minLength"] = min_length
    schema.update(extra)
    return schema


EMAIL = text(254, 1, format="email")
PASSWORD = text(1024, 1, description="12 to 128 characters; common passwords are refused.")
NAME = text(100, 1, description="No < or > or control characters.")
UUID = {"type": "string", "format": "uuid"}
TIMESTAMP = {"type": "string", "format": "date-time"}

# ------------------------------------------------------------------ requests

REGISTER = obj({"email": EMAIL, "password": PASSWORD, "name": NAME}, ["email", "password", "name"])
LOGIN = obj({"email": EMAIL, "password": PASSWORD}, ["email", "password"])
REFRESH = obj({"refresh_token": text(200, 1)}, ["refresh_token"])
PROFILE_UPDATE = obj({"name": NAME, "bio": text(2000)})
ACCOUNT_DELETE = obj({"password": text(1024)})
PROJECT_CREATE = obj(
    {
        "name": text(120, 1),
        "description": text(5000),
        "course_slug": {"type": ["string", "null"], "maxLength": 120},
    },
    ["name"],
)
PROJECT_UPDATE = obj(
    {
        "name": text(120, 1),
        "description": text(5000),
        "course_slug": {"type": ["string", "null"], "maxLength": 120},
    },
)

# ------------------------------------------------------------------ responses

USER = obj(
    {
        "id": UUID,
        "email": EMAIL,
        "name": NAME,
        "role": {"enum": ["admin", "moderator", "instructor", "learner"]},
        "bio": {"type": "string"},
        "avatar_url": {"type": ["string", "null"], "format": "uri"},
        "email_verified": {"type": "boolean"},
        "created_at": TIMESTAMP,
    },
    ["id", "email", "name", "role", "bio", "avatar_url", "email_verified", "created_at"],
)
USER_ENVELOPE = obj({"user": USER}, ["user"])
TOKENS = obj(
    {
        "access_token": {"type": "string"},
        "refresh_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
        "user": USER,
    },
    ["access_token", "refresh_token", "token_type", "expires_in", "user"],
)
PROJECT = obj(
    {
        "id": UUID,
        "name": {"type": "string"},
        "description": {"type": "string"},
        "course_slug": {"type": ["string", "null"]},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
    ["id", "name", "description", "course_slug", "created_at", "updated_at"],
)
PROJECT_ENVELOPE = obj({"project": PROJECT}, ["project"])
PROJECT_LIST = obj({"items": {"type": "array", "items": PROJECT}}, ["items"])
ERROR = obj(
    {
        "error": obj(
            {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            ["code", "message"],
        )
    },
    ["error"],
)
