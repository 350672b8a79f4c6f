"""JSON Schemas (2020-12) of API bodies: they validate requests and make the OpenAPI document."""

from __future__ import annotations

from typing import Any

from app.accounts import passwords
from app.accounts.profiles import BIO_MAX
from app.accounts.projects import PROJECT_DESCRIPTION_MAX, PROJECT_NAME_MAX
from app.accounts.registration import EMAIL_MAX
from app.courses.rules import (
    KINDS,
    LEVELS,
    MAX_CHOICES,
    MAX_QUESTIONS,
    POSITION_MAX,
    REVEAL_MODES,
    STATUSES,
)
from app.roles import ROLES
from app.validation import (
    NAME_MAX,
    NAME_PATTERN,
    NAME_RULE,
    SLUG_MAX,
    SLUG_PATTERN,
    TEXT_PATTERN,
)


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


def name(max_length: int) -> dict[str, Any]:
    """A one-line name, as app.validation.clean_name takes it."""
    return text(max_length, 1, pattern=NAME_PATTERN, description=NAME_RULE)


def multiline(max_length: int) -> dict[str, Any]:
    """Free text, as app.validation.clean_text takes it."""
    return text(
        max_length,
        pattern=TEXT_PATTERN,
        description="Newlines and tabs are fine; other control characters are not.",
    )


EMAIL = text(EMAIL_MAX, 1, format="email")
NEW_PASSWORD = text(
    passwords.MAX_LENGTH,
    passwords.MIN_LENGTH,
    description=f"{passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters of any script, "
    "counted after Unicode NFC normalisation. Common passwords, and your email or name, "
    "are refused (422).",
)
# Any password is checked; a wrong one is a 401. The cap leaves room for every spelling
# (say, decomposed accents) of a password that is at most MAX_LENGTH characters in NFC.
PASSWORD = text(passwords.MAX_INPUT_LENGTH, 1, description="The account's password.")
NAME = name(NAME_MAX)
SLUG = text(
    SLUG_MAX,
    1,
    pattern=SLUG_PATTERN,
    description="Lower-case letters and digits, in words joined by single dashes.",
)
UUID = {"type": "string", "format": "uuid"}
TIMESTAMP = {"type": "string", "format": "date-time"}

# ------------------------------------------------------------------ requests

REGISTER = obj(
    {"email": EMAIL, "password": NEW_PASSWORD, "name": NAME}, ["email", "password", "name"]
)
DEVICE_TOKEN = text(
    500,
    1,
    description="What an earlier sign-in on this device returned as device_token: sent back, "
    "it lets the device sign in although strangers' guesses have used up the account's "
    "allowance elsewhere.",
)
LOGIN = obj(
    {"email": EMAIL, "password": PASSWORD, "device_token": DEVICE_TOKEN}, ["email", "password"]
)
REFRESH = obj({"refresh_token": text(200, 1)}, ["refresh_token"])
PROFILE_UPDATE = obj({"name": NAME, "bio": multiline(BIO_MAX)})
ACCOUNT_DELETE = obj({"password": text(passwords.MAX_INPUT_LENGTH)})
_PROJECT_FIELDS = {
    "name": name(PROJECT_NAME_MAX),
    "description": multiline(PROJECT_DESCRIPTION_MAX),
    "course_slug": {
        "anyOf": [SLUG, {"const": ""}, {"type": "null"}],
        "description": "A course's address; null or an empty string clears it.",
    },
}
PROJECT_CREATE = obj(_PROJECT_FIELDS, ["name"])
PROJECT_UPDATE = obj(_PROJECT_FIELDS)

# ------------------------------------------------------------------ responses

USER = obj(
    {
        "id": UUID,
        "email": EMAIL,
        "name": NAME,
        "role": {"enum": list(ROLES)},
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
        "device_token": {
            "type": "string",
            "description": "Sign-in only: keep it and send it with the next sign-in.",
        },
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

# ------------------------------------------------------------------ courses

COURSE_SUMMARY = obj(
    {
        "slug": {"type": "string"},
        "title": {"type": "string"},
        "subtitle": {"type": "string"},
        "category": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "level": {"enum": list(LEVELS)},
        "language": {"type": "string"},
        "cover_url": {"type": ["string", "null"]},
        "instructor": obj({"id": {"type": "string"}, "name": {"type": "string"}}),
        "lesson_count": {"type": "integer"},
        "duration_minutes": {"type": "integer"},
        "enrollment_count": {"type": "integer"},
        "rating": obj({"average": {"type": "number"}, "count": {"type": "integer"}}),
        "published_at": {"type": ["string", "null"], "format": "date-time"},
    },
    ["slug", "title", "instructor", "lesson_count", "rating"],
)
LESSON_OUTLINE = obj(
    {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "kind": {"enum": list(KINDS)},
        "preview": {"type": "boolean"},
        "duration_minutes": {"type": "integer"},
    },
    ["id", "title", "kind", "preview"],
)
COURSE_DETAIL = obj(
    {
        **COURSE_SUMMARY["properties"],
        "status": {"enum": list(STATUSES)},
        "description_html": {"type": "string"},
        "sections": {
            "type": "array",
            "items": obj(
                {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "lessons": {"type": "array", "items": LESSON_OUTLINE},
                }
            ),
        },
    },
    ["slug", "title", "sections"],
)
COURSE_ENVELOPE = obj({"course": COURSE_DETAIL}, ["course"])
COURSE_PAGE = obj(
    {
        "items": {"type": "array", "items": COURSE_SUMMARY},
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
        "total": {"type": "integer"},
    },
    ["items", "page", "per_page", "total"],
)
ENROLLMENT = obj(
    {
        "course_slug": {"type": "string"},
        "enrolled_at": TIMESTAMP,
        "progress_percent": {"type": "integer"},
        "completed_lessons": {"type": "integer"},
        "last_lesson_id": {"type": ["string", "null"]},
        "completed_at": {"type": ["string", "null"]},
        "certificate_code": {"type": ["string", "null"]},
        "course": COURSE_SUMMARY,
    },
    ["course_slug", "progress_percent"],
)
ENROLLMENT_ENVELOPE = obj({"enrollment": ENROLLMENT}, ["enrollment"])
ENROLLMENT_LIST = obj({"items": {"type": "array", "items": ENROLLMENT}}, ["items"])
QUESTION_PUBLIC = obj(
    {
        "id": {"type": "string"},
        "prompt": {"type": "string"},
        "multiple": {"type": "boolean"},
        "choices": {
            "type": "array",
            "items": obj({"id": {"type": "string"}, "text": {"type": "string"}}),
        },
    },
    ["id", "prompt", "multiple", "choices"],
)
QUIZ_STATE = obj(
    {
        "used": {"type": "integer", "minimum": 0},
        "max": {"type": ["integer", "null"], "description": "null: no maximum"},
        "left": {"type": ["integer", "null"]},
        "passed": {"type": "boolean"},
        "retry_after_seconds": {
            "type": "integer",
            "minimum": 0,
            "description": "Seconds until the cool-down allows the next attempt",
        },
        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
        "answers_revealed": {
            "type": "boolean",
            "description": "Whether attempts show the correct choices and explanations",
        },
    },
    ["used", "max", "left", "passed", "retry_after_seconds", "answers_revealed"],
)
LESSON = obj(
    {
        **LESSON_OUTLINE["properties"],
        "body_html": {"type": "string"},
        "media": obj(
            {
                "status": {"type": "string"},
                "url": {"type": ["string", "null"]},
                "hls_url": {"type": ["string", "null"]},
                "filename": {"type": ["string", "null"]},
                "content_type": {"type": ["string", "null"]},
            }
        ),
        "quiz": obj(
            {
                "pass_mark": {"type": "integer"},
                "reveal": {"enum": list(REVEAL_MODES)},
                "cooldown_minutes": {"type": "integer", "minimum": 0},
                "shuffle": {"type": "boolean"},
                "questions": {"type": "array", "items": QUESTION_PUBLIC},
                "attempts": QUIZ_STATE,
            },
            ["pass_mark", "reveal", "questions"],
        ),
    },
    ["id", "title", "kind", "body_html"],
)
LESSON_ENVELOPE = obj({"lesson": LESSON}, ["lesson"])
PROGRESS_UPDATE = obj(
    {
        "completed": {"type": "boolean"},
        "position_seconds": {"type": "integer", "minimum": 0, "maximum": POSITION_MAX},
    },
)
PROGRESS = obj(
    {
        "lesson_id": {"type": "string"},
        "completed": {"type": "boolean"},
        "position_seconds": {"type": "integer"},
        "completed_at": {"type": ["string", "null"]},
        "last_visited_at": {"type": ["string", "null"]},
    },
    ["lesson_id", "completed", "position_seconds"],
)
PROGRESS_ENVELOPE = obj({"progress": PROGRESS}, ["progress"])
QUIZ_ATTEMPT_CREATE = obj(
    {
        "answers": {
            "type": "object",
            "maxProperties": MAX_QUESTIONS,
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "maxLength": 64},
                    {
                        "type": "array",
                        "maxItems": MAX_CHOICES,
                        "items": {"type": "string", "maxLength": 64},
                    },
                ]
            },
        }
    },
    ["answers"],
)
ATTEMPT = obj(
    {
        "id": {"type": "string"},
        "lesson_id": {"type": "string"},
        "score": {"type": "integer"},
        "passed": {"type": "boolean"},
        "created_at": TIMESTAMP,
        "answers_revealed": {
            "type": "boolean",
            "description": "True once the learner has passed (or if the quiz shows answers "
            "after each attempt): only then do questions carry correct, correct_choices "
            "and explanation",
        },
        "questions": {
            "type": "array",
            "items": obj(
                {
                    "id": {"type": "string"},
                    "picked": {"type": "array", "items": {"type": "string"}},
                    "correct": {"type": "boolean"},
                    "correct_choices": {"type": "array", "items": {"type": "string"}},
                    "explanation": {"type": "string"},
                },
                ["id", "picked"],
            ),
        },
        "attempts": QUIZ_STATE,
    },
    ["id", "score", "passed", "answers_revealed", "questions", "attempts"],
)
ATTEMPT_ENVELOPE = obj({"attempt": ATTEMPT}, ["attempt"])
