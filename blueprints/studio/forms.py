"""Studio forms. The quiz editor is a plain-text format, so it works without JavaScript."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.courses.rules import (
    BODY_MAX,
    CATEGORY_MAX,
    COOLDOWN_MAX_MINUTES,
    DEFAULT_COOLDOWN_MINUTES,
    DESCRIPTION_MAX,
    DURATION_MAX_MINUTES,
    KINDS,
    LANGUAGE_MAX,
    LEVELS,
    MAX_ATTEMPTS_LIMIT,
    PASS_MARK_DEFAULT,
    QUIZ_TEXT_MAX,
    REVEAL_LABELS,
    SUBTITLE_MAX,
    TAGS_TEXT_MAX,
    TITLE_MAX,
)


class CourseForm(FlaskForm):
    title = StringField("Title", validators=[InputRequired(), Length(max=TITLE_MAX)])
    subtitle = StringField("Subtitle", validators=[Optional(), Length(max=SUBTITLE_MAX)])
    description = TextAreaField(
        "Description",
        validators=[Optional(), Length(max=DESCRIPTION_MAX)],
        description="Markdown: **bold**, lists, links, headings.",
    )
    category = StringField(
        "Category",
        validators=[Optional(), Length(max=CATEGORY_MAX)],
        description="One word or two, e.g. Programming.",
    )
    tags = StringField(
        "Tags",
        validators=[Optional(), Length(max=TAGS_TEXT_MAX)],
        description="Comma separated, e.g. python, beginners.",
    )
    level = SelectField("Level", choices=[SelectChoice(v, v.title()) for v in LEVELS])
    language = StringField(
        "Language code", default="en", validators=[InputRequired(), Length(max=LANGUAGE_MAX)]
    )


class SectionForm(FlaskForm):
    title = StringField("Section title", validators=[InputRequired(), Length(max=TITLE_MAX)])


class LessonForm(FlaskForm):
    title = StringField("Lesson title", validators=[InputRequired(), Length(max=TITLE_MAX)])
    kind = SelectField("Kind", choices=[SelectChoice(k, k.title()) for k in KINDS])
    preview = BooleanField("Free preview (anyone can open it)")
    required = BooleanField("Required for completion", default=True)
    duration_minutes = IntegerField(
        "Duration in minutes",
        default=0,
        validators=[Optional(), NumberRange(0, DURATION_MAX_MINUTES)],
    )
    body = TextAreaField(
        "Text",
        validators=[Optional(), Length(max=BODY_MAX)],
        description="Markdown. The reading itself, or notes under a video or file.",
    )
    pass_mark = IntegerField(
        "Pass mark (%)", default=PASS_MARK_DEFAULT, validators=[Optional(), NumberRange(0, 100)]
    )
    reveal = SelectField(
        "Show the right answers",
        choices=[SelectChoice(k, v) for k, v in REVEAL_LABELS.items()],
        default="after_pass",
        description="Until then a learner sees only their score.",
    )
    max_attempts = IntegerField(
        "Most attempts per learner",
        default=0,
        validators=[Optional(), NumberRange(0, MAX_ATTEMPTS_LIMIT)],
        description="0 for no maximum. You can give a learner more from the quiz's attempts page.",
    )
    cooldown_minutes = IntegerField(
        "Minutes between attempts",
        default=DEFAULT_COOLDOWN_MINUTES,
        validators=[Optional(), NumberRange(0, COOLDOWN_MAX_MINUTES)],
        description="Time to look over the lesson before trying again.",
    )
    shuffle = BooleanField("Show the choices in a new order for each attempt")
    questions = TextAreaField(
        "Questions",
        validators=[Optional(), Length(max=QUIZ_TEXT_MAX)],
        description="One block per question: '? question' (or '?? question' for several "
        "right answers), then '* right choice' / '- wrong choice' lines, "
        "then an optional '> explanation'. Blank line between questions.",
    )


class MediaForm(FlaskForm):
    file = FileField("File", description="Video (MP4, WebM), PDF, or any file to download.")


def parse_quiz_text(text: str) -> list[dict[str, Any]]:
    """'? prompt' / '* right' / '- wrong' / '> explanation' blocks into question dicts."""
    questions: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for raw in (text or "").replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("?"):
            multiple = line.startswith("??")
            current = {
                "prompt": line.lstrip("?").strip(),
                "multiple": multiple,
                "choices": [],
                "explanation": "",
            }
            questions.append(current)
        elif current is None:
            current = {"prompt": line, "multiple": False, "choices": [], "explanation": ""}
            questions.append(current)
        elif line[0] in "*-":
            current["choices"].append({"text": line[1:].strip(), "correct": line[0] == "*"})
        elif line.startswith(">"):
            current["explanation"] = (current["explanation"] + " " + line[1:].strip()).strip()
        else:
            current["prompt"] = f"{current['prompt']} {line}"
    return questions


def quiz_text(questions: Any) -> str:
    """The plain-text form of stored questions, for editing."""
    blocks = []
    for q in questions:
        lines = [("?? " if q.multiple else "? ") + q.prompt]
        lines += [("* " if c.id in q.correct else "- ") + c.text for c in q.choices]
        if q.explanation:
            lines.append("> " + q.explanation)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
