"""Field cleaning shared by both contexts: plain text in, clean text or a field error out.

Every function refuses anything that is not a string, so a JSON object such as
{"$ne": ""} can never reach a query as an operator.
"""

from __future__ import annotations

import re
from typing import Any

from app.errors import ValidationFailed

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # newlines and tabs are fine
_MARKUP = re.compile(r"[<>]")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def clean_name(raw: Any, field: str = "name", max_length: int = 100) -> str:
    """A one-line name: required, whitespace folded, no markup or control characters."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed(fields={field: "This field is required."})
    value = " ".join(raw.split())
    if len(value) > max_length:
        raise ValidationFailed(fields={field: f"Use at most {max_length} characters."})
    if _CONTROL.search(value) or _MARKUP.search(value):
        raise ValidationFailed(fields={field: "Names cannot contain < or > or control characters."})
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
    if _CONTROL_IN_TEXT.search(value):
        raise ValidationFailed(fields={field: "Remove control characters."})
    return value


def clean_slug(raw: Any, field: str = "slug", max_length: int = 120) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > max_length or not _SLUG.match(raw):
        raise ValidationFailed(fields={field: "Use lower-case letters, digits and single dashes."})
    return raw


def clean_choice(raw: Any, field: str, choices: tuple[str, ...] | frozenset[str]) -> str:
    if not isinstance(raw, str) or raw not in choices:
        raise ValidationFailed(fields={field: f"Choose one of: {', '.join(sorted(choices))}."})
    return raw


def clean_int(raw: Any, field: str, lo: int, hi: int, default: int | None = None) -> int:
    if raw in (None, "") and default is not None:
        return default
    try:
        value = int(raw) if not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        value = None
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
