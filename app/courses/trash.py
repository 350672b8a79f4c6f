"""The studio's trash: deleted sections and lessons wait here to be restored, and their
files are deleted only when the trash is purged (docs/decisions/0020)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from app.courses import policies
from app.courses.documents import Course, Section, TrashItem
from app.courses.outline import find_section, save_outline
from app.courses.rules import MAX_LESSONS, MAX_SECTIONS
from app.errors import Conflict, NotFound, ValidationFailed
from app.policies import require
from app.timeutil import as_utc, utcnow


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


def trash_entries(actor: Any, course: Course) -> list[TrashEntry]:
    """What the course's trash holds, most recently deleted first (its editors only)."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
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


def move_to_trash(course: Course, item: TrashItem, actor: Any) -> None:
    if policies.uid(actor):
        item.deleted_by_id = policies.uid(actor)
        item.deleted_by_name = actor.name
    item.deleted_at = utcnow()
    expired = take_expired(course)
    course.trash.append(item)
    save_outline(course)  # the outline and the trash change in one document write
    discard_files(course.id, expired)


def take_expired(course: Course) -> list[TrashItem]:
    """Drop the course's trash items past the retention (a lazy purge); the caller deletes
    their files once the course is saved without them."""
    cutoff = utcnow() - trash_retention()
    expired = [t for t in course.trash if as_utc(t.deleted_at) < cutoff]
    if expired:
        course.trash = [t for t in course.trash if as_utc(t.deleted_at) >= cutoff]
    return expired


def discard_files(course_id: Any, items: list[TrashItem]) -> int:
    """Have the media side delete the stored files of purged trash items (by event; it
    keeps any that a lesson still uses). Returns how many files were named."""
    from app.media.uploads import discard_keys

    keys = {key for item in items for key in item.media_keys()}
    discard_keys(str(course_id), keys, "purged")
    return len(keys)


def restore_from_trash(
    actor: Any, course: Course, item_id: Any, section_id: Any = None
) -> TrashItem:
    """Put a trash item back: a section at its old place, a lesson into its old section at
    its old place, or, if that section is gone, into `section_id` or the first section."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    item = next((t for t in course.trash if isinstance(item_id, str) and t.id == item_id), None)
    if item is None:
        raise NotFound("That is no longer in the trash.")
    if item.kind == "section":
        _restore_section(course, item)
    else:
        _restore_lesson(course, item, section_id)
    course.trash = [t for t in course.trash if t.id != item.id]
    expired = take_expired(course)
    save_outline(course)
    discard_files(course.id, expired)
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

    Each item leaves its course by one atomic update, and its files are discarded only
    if that update removed it, so a restore at the same moment wins and keeps its files.
    """
    cutoff = utcnow() - trash_retention()
    items = files = 0
    for course in Course.objects(trash__deleted_at__lt=cutoff).only("id", "trash"):
        removed: list[TrashItem] = []
        for item in course.trash:
            if as_utc(item.deleted_at) >= cutoff:
                continue
            pulled = Course.objects(id=course.id).update_one(
                __raw__={"$pull": {"trash": {"id": item.id}}, "$inc": {"version": 1}}
            )
            if pulled:
                removed.append(item)
        items += len(removed)
        files += discard_files(course.id, removed)
    return Purged(items, files)
