"""A course's outline: finding its sections and lessons, and saving a change to it."""

from __future__ import annotations

from typing import Any

from mongoengine.errors import SaveConditionError

from app.courses.catalog import refresh_facets
from app.courses.documents import Course, Lesson, Section
from app.errors import Conflict, NotFound
from app.timeutil import utcnow


def save_outline(course: Course) -> None:
    """Save a changed course, and keep what depends on its outline in step: the counters
    and search keywords, learners' progress (a lesson added, removed or made optional
    changes their percentages, and may complete the course and issue certificates),
    and the catalog's facets when the course is published.

    The save only goes through if nobody wrote the course since it was read (its
    `version`). A lesson's files (`media`, `pending`) belong to the media side, which
    sets them meanwhile (an upload completing: set_lesson_fields): they are taken from
    the stored course, never from the caller's copy, so a studio change made on a
    stale read can neither undo nor lose them. On a clash the change is made again on
    fresh data, a few times, then Conflict."""
    from app.courses.learning import counted_lessons, refresh_course_progress

    if course.id is None:
        raise ValueError("save_outline saves courses that exist")
    for _ in range(SAVE_ATTEMPTS):
        stored = _stored(course.id)
        if stored is None:
            raise NotFound("No such course.")
        _keep_files(course, stored)
        course.recount()
        course.updated_at = utcnow()
        course.version = stored.version + 1
        try:
            course.save(save_condition={"version": stored.version})
        except SaveConditionError:
            continue  # written meanwhile: take its files again, and retry
        break
    else:
        raise Conflict("This course changed while you were editing it. Reload and try again.")
    if counted_lessons(stored) != counted_lessons(course):
        refresh_course_progress(course)
    if course.status == "published":
        refresh_facets()


SAVE_ATTEMPTS = 5


def _stored(course_id: Any) -> Course | None:
    Course.objects(id=course_id, version__exists=False).update_one(set__version=0)  # older docs
    return Course.objects(id=course_id).only("sections", "trash", "version").first()


def _keep_files(course: Course, stored: Course) -> None:
    """Give each lesson of `course` (outline and trash) the files the stored course has
    for it, so that only the media side ever changes them."""
    files = {lesson.id: (lesson.media, lesson.pending) for lesson in stored.all_lessons()}
    for lesson in course.all_lessons():
        if lesson.id in files:
            media, pending = files[lesson.id]
            if lesson.media != media:
                lesson.media = media
            if lesson.pending != pending:
                lesson.pending = pending


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


def set_lesson_fields(
    course_id: Any, lesson_id: str, values: dict[str, Any], *, where: dict[str, Any] | None = None
) -> bool:
    """Set fields of one lesson with one atomic update of just those fields, so a studio
    edit saved meanwhile is neither overwritten nor overwrites them; for changes made
    outside the studio's request (an upload completing, a worker's result).

    `where` holds conditions on the lesson's `pending` media (its upload id, say): no
    change unless they hold. False if the lesson is not in the outline any more (or
    the conditions failed)."""
    for _ in range(3):  # the outline may be reordered between the read and the write
        course = Course.objects(id=course_id).only("sections").first()
        position = _locate(course, lesson_id) if course is not None else None
        if position is None:
            return False
        path = f"sections__{position[0]}__lessons__{position[1]}"
        query = {"id": course_id, f"{path}__id": lesson_id}
        query.update({f"{path}__pending__{k}": v for k, v in (where or {}).items()})
        updates = {f"set__{path}__{k}": v for k, v in values.items()}
        updates["inc__version"] = 1  # a studio save read before this one is redone
        if Course.objects(**query).update_one(**updates):
            return True
        if where:
            unchanged = Course.objects(id=course_id, **{f"{path}__id": lesson_id}).count()
            if unchanged:
                return False  # the lesson is there; the condition is what failed
    return False


def _locate(course: Course, lesson_id: str) -> tuple[int, int] | None:
    for i, section in enumerate(course.sections):
        for j, lesson in enumerate(section.lessons):
            if lesson.id == lesson_id:
                return i, j
    return None
