"""Authoring: instructors create and edit courses, sections and lessons, and move a
course through draft -> in_review -> published (-> unpublished)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from mongoengine.errors import NotUniqueError

from app.courses import policies
from app.courses.catalog import refresh_facets
from app.courses.documents import (
    KINDS,
    LEVELS,
    REVEAL_MODES,
    Choice,
    Course,
    Instructor,
    Lesson,
    Media,
    Question,
    Section,
    TrashItem,
)
from app.courses.outbox import record_course_event
from app.courses.quizzes import COOLDOWN_MAX_MINUTES, DEFAULT_COOLDOWN_MINUTES, MAX_ATTEMPTS_LIMIT
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.timeutil import as_utc, utcnow
from app.validation import clean_choice, clean_int, clean_name, clean_slug, clean_text, collect

TITLE_MAX = 200
NOTE_MAX = 2000  # a moderator's note to the instructor
DESCRIPTION_MAX = 20_000
BODY_MAX = 100_000
MAX_SECTIONS = 200
MAX_LESSONS = 2_000
MAX_QUESTIONS = 100
MAX_CHOICES = 10
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:80].strip("-") or "course"


def _clean_tags(raw: Any) -> list[str]:
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
            if len(tag) > 40 or "<" in tag or ">" in tag:
                raise ValidationFailed(fields={"tags": "Tags are short words without < or >."})
            tags.setdefault(tag, None)
    if len(tags) > 12:
        raise ValidationFailed(fields={"tags": "Use at most 12 tags."})
    return list(tags)


def _clean_language(raw: Any) -> str:
    if not isinstance(raw, str) or not _LANG.match(raw.strip()):
        raise ValidationFailed(fields={"language": "Use a language code such as en or pt-BR."})
    return raw.strip()


def clean_course_fields(data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validated course metadata; with `partial`, only the keys present."""
    checks = {
        "title": lambda: clean_name(data.get("title"), "title", TITLE_MAX),
        "subtitle": lambda: clean_text(data.get("subtitle"), "subtitle", 300),
        "description": lambda: clean_text(data.get("description"), "description", DESCRIPTION_MAX),
        "category": lambda: clean_text(data.get("category"), "category", 60),
        "tags": lambda: _clean_tags(data.get("tags")),
        "level": lambda: clean_choice(data.get("level") or "beginner", "level", LEVELS),
        "language": lambda: _clean_language(data.get("language") or "en"),
    }
    keys = [k for k in checks if k in data] if partial else list(checks)
    out = collect(*[(k, checks[k]) for k in keys])
    for key in ("category", "subtitle"):
        if key in out and ("<" in out[key] or ">" in out[key]):
            raise ValidationFailed(fields={key: "Remove < and >."})
    return out


# ---------------------------------------------------------------- access


def access_editable(actor: Any, slug: Any) -> Course:
    """A course the actor may edit; anyone else's is NotFound (not even its existence)."""
    if not isinstance(slug, str):
        raise NotFound("No such course.")
    course = Course.objects(slug=slug).first()
    if course is None or not policies.can_edit(actor, course):
        if course is not None and policies.is_staff(actor):
            raise Forbidden("Only the course's instructor can edit it.")
        raise NotFound("No such course.")
    return course


def instructor_courses(actor: Any) -> list[Course]:
    """The actor's own courses, most recently changed first."""
    if not policies.can_author(actor):
        raise Forbidden("Only instructors can create courses.")
    return list(
        Course.objects(instructor__id=policies.uid(actor))
        .exclude("sections", "trash", "description", "keywords")
        .order_by("-updated_at")
    )


# ---------------------------------------------------------------- courses


def create_course(actor: Any, data: dict[str, Any]) -> Course:
    """A new draft course owned by the actor, with a unique slug from its title."""
    if not policies.can_author(actor):
        raise Forbidden("Only instructors can create courses.")
    fields = clean_course_fields(data)
    wanted = data.get("slug")
    base = clean_slug(wanted) if wanted else slugify(fields["title"])
    instructor = Instructor(id=policies.uid(actor), name=actor.name)
    for attempt in range(20):
        slug = base if attempt == 0 else f"{base}-{attempt + 1}"
        course = Course(slug=slug, instructor=instructor, **fields)
        course.recount()
        try:
            course.save(force_insert=True)
            return course
        except NotUniqueError:
            if wanted:
                raise Conflict(
                    "That address is taken.", fields={"slug": "That address is taken."}
                ) from None
    raise Conflict("Could not find a free address for this course; choose one.")


def update_course(course: Course, data: dict[str, Any]) -> Course:
    """Change the course's metadata (only the fields given)."""
    for key, value in clean_course_fields(data, partial=True).items():
        setattr(course, key, value)
    _save(course)
    return course


def _save(course: Course) -> None:
    from app.courses.learning import counted_lessons, refresh_course_progress

    stored = Course.objects(id=course.id).only("sections").first() if course.id else None
    course.recount()
    course.updated_at = utcnow()
    course.save()
    if stored is not None and counted_lessons(stored) != counted_lessons(course):
        refresh_course_progress(course)  # learners' percentages follow the new outline
    if course.status == "published":
        refresh_facets()


# ---------------------------------------------------------------- sections


def find_section(course: Course, section_id: Any) -> Section:
    for section in course.sections:
        if section.id == section_id:
            return section
    raise NotFound("No such section.")


def find_lesson(course: Course, lesson_id: Any) -> tuple[Section, Lesson]:
    found = course.find_lesson(lesson_id) if isinstance(lesson_id, str) else None
    if found is None:
        raise NotFound("No such lesson.")
    return found


def add_section(course: Course, title: Any) -> Section:
    if len(course.sections) >= MAX_SECTIONS:
        raise ValidationFailed(fields={"title": f"A course has at most {MAX_SECTIONS} sections."})
    section = Section(title=clean_name(title, "title", TITLE_MAX))
    course.sections.append(section)
    _save(course)
    return section


def rename_section(course: Course, section_id: Any, title: Any) -> Section:
    section = find_section(course, section_id)
    section.title = clean_name(title, "title", TITLE_MAX)
    _save(course)
    return section


def delete_section(course: Course, section_id: Any, actor: Any = None) -> TrashItem:
    """Move a section, with its lessons and their files, to the course's trash."""
    section = find_section(course, section_id)
    position = list(course.sections).index(section)
    course.sections = [s for s in course.sections if s.id != section.id]
    item = TrashItem(kind="section", section=section, section_id=section.id, position=position)
    _to_trash(course, item, actor)
    return item


def _move(items: list[Any], index: int, direction: Any) -> None:
    if direction not in ("up", "down"):
        raise ValidationFailed(fields={"direction": "Choose up or down."})
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]


def move_section(course: Course, section_id: Any, direction: Any) -> None:
    section = find_section(course, section_id)
    items = list(course.sections)
    _move(items, items.index(section), direction)
    course.sections = items
    _save(course)


# ---------------------------------------------------------------- lessons


def _clean_questions(raw: Any, previous: Any = ()) -> list[Question]:
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
        prompt = clean_text(item.get("prompt"), where, 2000, required=True)
        old = old_by_prompt.pop(prompt, None)
        old_choices = {c.text: c.id for c in old.choices} if old else {}
        explanation = clean_text(item.get("explanation"), where, 2000)
        raw_choices = item.get("choices")
        if not isinstance(raw_choices, list) or not 2 <= len(raw_choices) <= MAX_CHOICES:
            raise ValidationFailed(fields={where: f"Give 2 to {MAX_CHOICES} choices."})
        choices, correct = [], []
        for choice in raw_choices:
            if not isinstance(choice, dict):
                raise ValidationFailed(fields={where: "Each choice is an object."})
            text = clean_text(choice.get("text"), where, 500, required=True)
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


def _flag(raw: Any, *, default: bool) -> bool:
    """A checkbox or JSON boolean; absent means `default`."""
    if raw is None:
        return default
    return raw in (True, "y", "on", "true", "1")


def clean_lesson_fields(
    data: dict[str, Any], *, kind: str | None = None, previous: Any = ()
) -> dict[str, Any]:
    kind = kind or clean_choice(data.get("kind"), "kind", KINDS)
    checks: list[tuple[str, Any]] = [
        ("title", lambda: clean_name(data.get("title"), "title", TITLE_MAX)),
        ("preview", lambda: _flag(data.get("preview"), default=False)),
        ("required", lambda: _flag(data.get("required"), default=True)),
        (
            "duration_minutes",
            lambda: clean_int(data.get("duration_minutes"), "duration_minutes", 0, 1440, default=0),
        ),
        ("body", lambda: clean_text(data.get("body"), "body", BODY_MAX)),
    ]
    if kind == "quiz":
        checks += [
            (
                "pass_mark",
                lambda: clean_int(data.get("pass_mark"), "pass_mark", 0, 100, default=70),
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
            ("shuffle", lambda: _flag(data.get("shuffle"), default=False)),
        ]
        if "questions" in data:
            checks.append(("questions", lambda: _clean_questions(data.get("questions"), previous)))
    out = collect(*checks)
    out["kind"] = kind
    return out


def add_lesson(course: Course, section_id: Any, data: dict[str, Any]) -> Lesson:
    section = find_section(course, section_id)
    if course.lesson_count >= MAX_LESSONS:
        raise ValidationFailed(fields={"title": f"A course has at most {MAX_LESSONS} lessons."})
    lesson = Lesson(**clean_lesson_fields(data))
    section.lessons.append(lesson)
    _save(course)
    return lesson


def update_lesson(course: Course, lesson_id: Any, data: dict[str, Any]) -> Lesson:
    _, lesson = find_lesson(course, lesson_id)
    fields = clean_lesson_fields(data, kind=lesson.kind, previous=lesson.questions)
    for key, value in fields.items():
        setattr(lesson, key, value)
    _save(course)
    return lesson


def delete_lesson(course: Course, lesson_id: Any, actor: Any = None) -> TrashItem:
    """Move a lesson, with its file, to the course's trash."""
    section, lesson = find_lesson(course, lesson_id)
    position = list(section.lessons).index(lesson)
    section.lessons = [item for item in section.lessons if item.id != lesson.id]
    item = TrashItem(
        kind="lesson",
        lesson=lesson,
        section_id=section.id,
        section_title=section.title,
        position=position,
    )
    _to_trash(course, item, actor)
    return item


def move_lesson(course: Course, lesson_id: Any, direction: Any) -> None:
    """Move a lesson up or down; past the end of its section it moves to the next one."""
    section, lesson = find_lesson(course, lesson_id)
    lessons = list(section.lessons)
    index = lessons.index(lesson)
    sections = list(course.sections)
    s_index = sections.index(section)
    if direction == "up" and index == 0 and s_index > 0:
        section.lessons = lessons[1:]
        sections[s_index - 1].lessons.append(lesson)
    elif direction == "down" and index == len(lessons) - 1 and s_index < len(sections) - 1:
        section.lessons = lessons[:-1]
        sections[s_index + 1].lessons.insert(0, lesson)
    else:
        _move(lessons, index, direction)
        section.lessons = lessons
    _save(course)


# ---------------------------------------------------------------- trash


def trash_retention() -> timedelta:
    return timedelta(days=int(current_app.config.get("TRASH_RETENTION_DAYS", 30)))


@dataclass(frozen=True)
class TrashEntry:
    """A trash item as the studio shows it."""

    item: TrashItem
    kept_until: datetime
    lessons: int
    files: int
    section_gone: bool  # a lesson whose section is no longer in the outline


def trash_entries(course: Course) -> list[TrashEntry]:
    """What the course's trash holds, most recently deleted first."""
    retention = trash_retention()
    here = {s.id for s in course.sections}
    return [
        TrashEntry(
            item,
            as_utc(item.deleted_at) + retention,
            len(item.lessons()),
            len(item.media_keys()),
            item.kind == "lesson" and item.section_id not in here,
        )
        for item in sorted(course.trash, key=lambda t: t.deleted_at, reverse=True)
    ]


def _to_trash(course: Course, item: TrashItem, actor: Any) -> None:
    if policies.uid(actor):
        item.deleted_by_id = policies.uid(actor)
        item.deleted_by_name = actor.name
    item.deleted_at = utcnow()
    expired = _take_expired(course)
    course.trash.append(item)
    _save(course)  # the outline and the trash change in one document write
    _delete_files(expired)


def _take_expired(course: Course) -> list[TrashItem]:
    """Drop the course's trash items past the retention (a lazy purge); the caller deletes
    their files once the course is saved without them."""
    cutoff = utcnow() - trash_retention()
    expired = [t for t in course.trash if as_utc(t.deleted_at) < cutoff]
    if expired:
        course.trash = [t for t in course.trash if as_utc(t.deleted_at) >= cutoff]
    return expired


def _delete_files(items: list[TrashItem]) -> int:
    """Delete the stored files of purged trash items that no lesson uses any more."""
    from app.media.storage import storage

    deleted = 0
    for key in {key for item in items for key in item.media_keys()}:
        if Course.objects(sections__lessons__media__key=key).count():
            continue  # still in an outline (a restored copy): keep it
        if Course.objects(trash__lesson__media__key=key).count():
            continue
        if Course.objects(trash__section__lessons__media__key=key).count():
            continue
        storage().delete(key)
        deleted += 1
    return deleted


def restore_from_trash(course: Course, item_id: Any, section_id: Any = None) -> TrashItem:
    """Put a trash item back: a section at its old place, a lesson into its old section at
    its old place, or, if that section is gone, into `section_id` or the first section."""
    item = next((t for t in course.trash if isinstance(item_id, str) and t.id == item_id), None)
    if item is None:
        raise NotFound("That is no longer in the trash.")
    if item.kind == "section":
        _restore_section(course, item)
    else:
        _restore_lesson(course, item, section_id)
    course.trash = [t for t in course.trash if t.id != item.id]
    expired = _take_expired(course)
    _save(course)
    _delete_files(expired)
    return item


def _restore_section(course: Course, item: TrashItem) -> None:
    section = item.section
    if any(s.id == section.id for s in course.sections):
        raise Conflict("That section is already in the course.")
    if len(course.sections) >= MAX_SECTIONS:
        raise ValidationFailed(fields={"trash": f"A course has at most {MAX_SECTIONS} sections."})
    if course.lesson_count + len(section.lessons) > MAX_LESSONS:
        raise ValidationFailed(fields={"trash": f"A course has at most {MAX_LESSONS} lessons."})
    sections = list(course.sections)
    sections.insert(min(item.position, len(sections)), section)
    course.sections = sections


def _restore_lesson(course: Course, item: TrashItem, section_id: Any) -> None:
    lesson = item.lesson
    if course.find_lesson(lesson.id) is not None:
        raise Conflict("That lesson is already in the course.")
    if course.lesson_count >= MAX_LESSONS:
        raise ValidationFailed(fields={"trash": f"A course has at most {MAX_LESSONS} lessons."})
    home = next((s for s in course.sections if s.id == item.section_id), None)
    if home is not None:
        target, position = home, item.position
    elif section_id:
        target = find_section(course, section_id)
        position = len(target.lessons)
    elif course.sections:
        target = course.sections[0]
        position = len(target.lessons)
    else:  # no section left at all: bring back one with the old title
        target = Section(title=item.section_title or "Restored lessons")
        course.sections.append(target)
        position = 0
    lessons = list(target.lessons)
    lessons.insert(min(position, len(lessons)), lesson)
    target.lessons = lessons


@dataclass(frozen=True)
class Purged:
    items: int
    files: int


def purge_trash() -> Purged:
    """Delete every trash item past the retention, from every course, and then its files.

    Each item leaves its course by one atomic update, and its files are deleted only if
    that update removed it, so a restore at the same moment wins and keeps its files.
    """
    cutoff = utcnow() - trash_retention()
    removed: list[TrashItem] = []
    for course in Course.objects(trash__deleted_at__lt=cutoff).only("id", "trash"):
        for item in course.trash:
            if as_utc(item.deleted_at) >= cutoff:
                continue
            pulled = Course.objects(id=course.id).update_one(
                __raw__={"$pull": {"trash": {"id": item.id}}}
            )
            if pulled:
                removed.append(item)
    return Purged(len(removed), _delete_files(removed))


# ---------------------------------------------------------------- workflow


def _transition(course: Course, allowed_from: tuple[str, ...], to: str, **changes: Any) -> None:
    """Change status only if it is still what we read (two moderators at once: one wins)."""
    if course.status not in allowed_from:
        raise Conflict(f"A course that is {course.status.replace('_', ' ')} cannot be {to}.")
    updated = Course.objects(id=course.id, status=course.status).update_one(
        set__status=to, set__updated_at=utcnow(), **{f"set__{k}": v for k, v in changes.items()}
    )
    if updated != 1:
        raise Conflict("Someone else changed this course's status just now; reload.")
    course.reload()
    refresh_facets()


def submit_for_review(course: Course) -> None:
    """The instructor asks moderators to publish the course."""
    if course.lesson_count == 0:
        message = "Add at least one lesson before submitting the course."
        raise ValidationFailed(message, fields={"status": message})
    _transition(
        course, ("draft", "unpublished"), "in_review", submitted_at=utcnow(), review_note=""
    )


def withdraw(course: Course) -> None:
    """The instructor takes a submission back to edit it."""
    _transition(course, ("in_review",), "draft")


def approve(actor: Any, course: Course) -> None:
    """A moderator publishes a course that is in review."""
    if not policies.can_moderate(actor):
        raise Forbidden()
    _transition(
        course,
        ("in_review",),
        "published",
        published_at=course.published_at or utcnow(),
        review_note="",
    )
    record_course_event(
        "course.published",
        {
            "course_id": str(course.id),
            "slug": course.slug,
            "title": course.title,
            "instructor_id": course.instructor.id,
        },
        key=str(course.id),
    )


def reject(actor: Any, course: Course, note: Any) -> None:
    """A moderator sends a course back to its instructor with a note."""
    if not policies.can_moderate(actor):
        raise Forbidden()
    _transition(
        course,
        ("in_review",),
        "draft",
        review_note=clean_text(note, "note", NOTE_MAX, required=True),
    )


def unpublish(actor: Any, course: Course, note: Any = "") -> None:
    """Take a published course out of the catalog (its instructor or a moderator)."""
    if not (policies.can_edit(actor, course) or policies.can_moderate(actor)):
        raise Forbidden()
    note = clean_text(note, "note", NOTE_MAX)
    if not note and not policies.owns(actor, course):
        note = "Unpublished by a moderator."  # the instructor always learns why it went
    _transition(course, ("published",), "unpublished", review_note=note)


def review_queue(actor: Any) -> list[Course]:
    """Courses waiting for a moderator, oldest submission first."""
    if not policies.can_moderate(actor):
        raise Forbidden()
    return list(
        Course.objects(status="in_review")
        .exclude("sections", "trash", "description", "keywords")
        .order_by("submitted_at")
    )


# ---------------------------------------------------------------- media

LESSON_FILE_KINDS = {
    "video": {"video"},
    "file": {"pdf", "archive", "text", "image", "audio", "binary"},
}


def attach_media(
    course: Course, lesson_id: Any, stream: Any, filename: str, max_bytes: int
) -> Lesson:
    """Store a lesson's video or file from an upload stream and make it ready.

    The type is decided by content. Transcoding and previews come with the media
    pipeline; until then a stored file is served as it is.
    """
    from app.media.files import FileRejected, store_upload
    from app.media.storage import storage

    _, lesson = find_lesson(course, lesson_id)
    allowed = LESSON_FILE_KINDS.get(lesson.kind)
    if not allowed:
        raise ValidationFailed(fields={"file": "Only video and file lessons take a file."})
    try:
        key, sniffed, size = store_upload(stream, max_bytes, allowed)
    except FileRejected as exc:
        raise ValidationFailed(fields={"file": str(exc)}) from exc
    old = lesson.media.key if lesson.media else None
    safe_name = re.sub(r"[^\w.() -]", "_", filename or "")[:120] or f"lesson.{sniffed.extension}"
    lesson.media = Media(
        key=key, filename=safe_name, content_type=sniffed.content_type, size=size, status="ready"
    )
    _save(course)
    if old and old != key:
        storage().delete(old)
    return lesson


def set_cover(course: Course, data: bytes) -> None:
    """Re-encode an uploaded image as the course's 16:9 cover."""
    from app.media.images import make_cover, replace_image

    course.cover_key = replace_image(data, make_cover, "covers", course.cover_key, "cover")
    _save(course)


def reassign(slug: Any, instructor_id: str, name: str, role: str) -> Course:
    """Operator action: hand a course to another instructor (it stays unpublished until
    they submit it again)."""
    if not isinstance(slug, str):
        raise NotFound("No such course.")
    course = Course.objects(slug=slug).first()
    if course is None:
        raise NotFound(f"No course with the address {slug}.")
    if role not in policies.AUTHORS:
        raise ValidationFailed(fields={"email": "That account is not an instructor."})
    course.instructor = Instructor(id=instructor_id, name=name)
    _save(course)
    return course
