"""What an instructor types, cleaned: course and lesson fields, tags, language, quiz questions.

Every limit comes from app/courses/rules.py, which the studio's forms and the API
read too.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from app.courses.documents import Choice, Question
from app.courses.rules import (
    BODY_MAX,
    CATEGORY_MAX,
    CHOICE_MAX,
    COOLDOWN_MAX_MINUTES,
    DEFAULT_COOLDOWN_MINUTES,
    DESCRIPTION_MAX,
    DURATION_MAX_MINUTES,
    EXPLANATION_MAX,
    KINDS,
    LANGUAGE_PATTERN,
    LEVELS,
    MAX_ATTEMPTS_LIMIT,
    MAX_CHOICES,
    MAX_QUESTIONS,
    PASS_MARK_DEFAULT,
    PROMPT_MAX,
    REVEAL_MODES,
    SUBTITLE_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
)
from app.errors import ValidationFailed
from app.validation import clean_choice, clean_int, clean_name, clean_text, collect

_LANG = re.compile(LANGUAGE_PATTERN)


def slugify(title: str) -> str:
    """An address for a course from its title: lower-case ASCII words and dashes."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:80].strip("-") or "course"


def clean_tags(raw: Any) -> list[str]:
    """Tags from a list or comma-separated text: lower-case, unique, short."""
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise ValidationFailed(fields={"tags": "Give tags as a list of words."})
    tags: dict[str, None] = {}
    for tag in raw:
        tag = " ".join(tag.lower().split())
        if tag:
            if len(tag) > TAG_MAX or "<" in tag or ">" in tag:
                raise ValidationFailed(fields={"tags": "Tags are short words without < or >."})
            tags.setdefault(tag, None)
    if len(tags) > TAGS_MAX:
        raise ValidationFailed(fields={"tags": f"Use at most {TAGS_MAX} tags."})
    return list(tags)


def clean_language(raw: Any) -> str:
    """A language code such as en or pt-BR."""
    if not isinstance(raw, str) or not _LANG.match(raw.strip()):
        raise ValidationFailed(fields={"language": "Use a language code such as en or pt-BR."})
    return raw.strip()


def clean_course_fields(data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validated course metadata; with `partial`, only the keys present."""
    checks = {
        "title": lambda: clean_name(data.get("title"), "title", TITLE_MAX),
        "subtitle": lambda: clean_text(data.get("subtitle"), "subtitle", SUBTITLE_MAX),
        "description": lambda: clean_text(data.get("description"), "description", DESCRIPTION_MAX),
        "category": lambda: clean_text(data.get("category"), "category", CATEGORY_MAX),
        "tags": lambda: clean_tags(data.get("tags")),
        "level": lambda: clean_choice(data.get("level") or "beginner", "level", LEVELS),
        "language": lambda: clean_language(data.get("language") or "en"),
    }
    keys = [k for k in checks if k in data] if partial else list(checks)
    out = collect(*[(k, checks[k]) for k in keys])
    for key in ("category", "subtitle"):
        if key in out and ("<" in out[key] or ">" in out[key]):
            raise ValidationFailed(fields={key: "Remove < and >."})
    return out


def clean_questions(raw: Any, previous: Any = ()) -> list[Question]:
    """Quiz questions from a list of {prompt, multiple, choices: [{text, correct}], explanation}.

    A question whose prompt is unchanged keeps its id, and so do its unchanged choices,
    so editing a typo elsewhere does not break open quiz pages or past attempts.
    """
    old_by_prompt = {q.prompt: q for q in previous}
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or len(raw) > MAX_QUESTIONS:
        raise ValidationFailed(fields={"questions": f"Give at most {MAX_QUESTIONS} questions."})
    questions = []
    for n, item in enumerate(raw, start=1):
        where = f"questions.{n}"
        if not isinstance(item, dict):
            raise ValidationFailed(fields={where: "Each question is an object."})
        prompt = clean_text(item.get("prompt"), where, PROMPT_MAX, required=True)
        old = old_by_prompt.pop(prompt, None)
        old_choices = {c.text: c.id for c in old.choices} if old else {}
        explanation = clean_text(item.get("explanation"), where, EXPLANATION_MAX)
        raw_choices = item.get("choices")
        if not isinstance(raw_choices, list) or not 2 <= len(raw_choices) <= MAX_CHOICES:
            raise ValidationFailed(fields={where: f"Give 2 to {MAX_CHOICES} choices."})
        choices, correct = [], []
        for choice in raw_choices:
            if not isinstance(choice, dict):
                raise ValidationFailed(fields={where: "Each choice is an object."})
            text = clean_text(choice.get("text"), where, CHOICE_MAX, required=True)
            c = Choice(text=text, **({"id": old_choices.pop(text)} if text in old_choices else {}))
            choices.append(c)
            if choice.get("correct") is True:
                correct.append(c.id)
        multiple = item.get("multiple") is True
        if not correct or (not multiple and len(correct) != 1):
            raise ValidationFailed(
                fields={
                    where: "Mark exactly one correct choice (or at least one for multiple choice)."
                }
            )
        questions.append(
            Question(
                **({"id": old.id} if old else {}),
                prompt=prompt,
                multiple=multiple,
                choices=choices,
                correct=correct,
                explanation=explanation,
            )
        )
    return questions


def flag(raw: Any, *, default: bool) -> bool:
    """A checkbox or JSON boolean; absent means `default`."""
    if raw is None:
        return default
    return raw in (True, "y", "on", "true", "1")


def clean_lesson_fields(
    data: dict[str, Any], *, kind: str | None = None, previous: Any = ()
) -> dict[str, Any]:
    """A lesson's fields; a quiz's settings and questions too (questions only if given,
    keeping the ids of unchanged ones from `previous`)."""
    kind = kind or clean_choice(data.get("kind"), "kind", KINDS)
    checks: list[tuple[str, Any]] = [
        ("title", lambda: clean_name(data.get("title"), "title", TITLE_MAX)),
        ("preview", lambda: flag(data.get("preview"), default=False)),
        ("required", lambda: flag(data.get("required"), default=True)),
        (
            "duration_minutes",
            lambda: clean_int(
                data.get("duration_minutes"), "duration_minutes", 0, DURATION_MAX_MINUTES, default=0
            ),
        ),
        ("body", lambda: clean_text(data.get("body"), "body", BODY_MAX)),
    ]
    if kind == "quiz":
        checks += [
            (
                "pass_mark",
                lambda: clean_int(
                    data.get("pass_mark"), "pass_mark", 0, 100, default=PASS_MARK_DEFAULT
                ),
            ),
            (
                "reveal",
                lambda: clean_choice(data.get("reveal") or "after_pass", "reveal", REVEAL_MODES),
            ),
            (
                "max_attempts",
                lambda: clean_int(
                    data.get("max_attempts"), "max_attempts", 0, MAX_ATTEMPTS_LIMIT, default=0
                ),
            ),
            (
                "cooldown_minutes",
                lambda: clean_int(
                    data.get("cooldown_minutes"),
                    "cooldown_minutes",
                    0,
                    COOLDOWN_MAX_MINUTES,
                    default=DEFAULT_COOLDOWN_MINUTES,
                ),
            ),
            ("shuffle", lambda: flag(data.get("shuffle"), default=False)),
        ]
        if "questions" in data:
            checks.append(("questions", lambda: clean_questions(data.get("questions"), previous)))
    out = collect(*checks)
    out["kind"] = kind
    return out
