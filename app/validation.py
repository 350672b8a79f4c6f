"""Field cleaning shared by both contexts: plain text in, clean text or a field error out.

Every function refuses anything that is not a string, so a JSON object such as
{"$ne": ""} can never reach a query as an operator.
"""

from __future__ import annotations

import re
from typing import Any

from app.errors import ValidationFailed

# The patterns below are the rules themselves: the cleaners here apply them, and the API's
# JSON Schemas publish them. They are written for both Python's `re` and ECMA-262 (the
# dialect of JSON Schema's `pattern`), so they use only character classes and \x/\u escapes.
# Python's `$` also matches before a final newline, so the cleaners use fullmatch.

NAME_MAX = 100
# A name's characters: no control characters (C0, DEL, C1), no < or >.
_NAME_CHAR = r"[^\x00-\x1f\x7f-\x9f<>]"
# The spaces among them (what str.split() folds; the other spaces are control characters).
_NAME_SPACE = r"[\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# The rest, of which a name needs one.
_NAME_VISIBLE = r"[^\x00-\x20\x7f-\xa0<>\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# Leading spaces, then a visible character, then anything allowed: one way to match, so a
# long input of spaces costs linear time.
NAME_PATTERN = rf"^{_NAME_SPACE}*{_NAME_VISIBLE}{_NAME_CHAR}*$"
NAME_RULE = "No < or > and no control characters; spaces are folded to one."

# Multi-line text: newlines and tabs are fine, other control characters are not.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

SLUG_MAX = 120
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

_NAME = re.compile(NAME_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)
_SLUG = re.compile(SLUG_PATTERN)


def clean_name(raw: Any, field: str = "name", max_length: int = NAME_MAX) -> str:
    """A one-line name: required, whitespace folded, no markup or control characters."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed(fields={field: "This field is required."})
    if not _NAME.fullmatch(raw):
        raise ValidationFailed(fields={field: "Names cannot contain < or > or control characters."})
    value = " ".join(raw.split())
    if len(value) > max_length:
        raise ValidationFailed(fields={field: f"Use at most {max_length} characters."})
    return value


def clean_text(raw: Any, field: str, max_length: int, *, required: bool = False) -> str:
    """Multi-line text (shown escaped, or rendered as sanitised Markdown)."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ValidationFailed(fields={field: "Must be text."})
    value = raw.replace("\r\n", "\n").strip()
    if required and not value:
        raise ValidationFailed(fields={field: "This field is required."})
    if len(value) > max_length:
        raise ValidationFailed(fields={field: f"Use at most {max_length} characters."})
    if not _TEXT.fullmatch(value):
        raise ValidationFailed(fields={field: "Remove control characters."})
    return value


def clean_slug(raw: Any, field: str = "slug", max_length: int = SLUG_MAX) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > max_length or not _SLUG.fullmatch(raw):
        raise ValidationFailed(fields={field: "Use lower-case letters, digits and single dashes."})
    return raw


def clean_choice(raw: Any, field: str, choices: tuple[str, ...] | frozenset[str]) -> str:
    if not isinstance(raw, str) or raw not in choices:
        raise ValidationFailed(fields={field: f"Choose one of: {', '.join(sorted(choices))}."})
    return raw


def clean_int(raw: Any, field: str, lo: int, hi: int, default: int | None = None) -> int:
    """A whole number from `lo` to `hi`: an int, text of digits, or a float with nothing
    after the point (4.0, as JSON may write 4); never a truncated 4.7."""
    if raw in (None, "") and default is not None:
        return default
    value: int | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        value = int(raw.strip())
    if value is None or not lo <= value <= hi:
        raise ValidationFailed(fields={field: f"Use a whole number from {lo} to {hi}."})
    return value


def collect(*checks: tuple[str, Any]) -> dict[str, Any]:
    """Run several cleaning callables, gathering every field error before raising."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, fn in checks:
        try:
            out[name] = fn()
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed(fields=errors)
    return out
