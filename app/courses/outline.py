"""A course's outline: finding its sections and lessons, and saving a change to it."""

from __future__ import annotations

from typing import Any

from app.courses.catalog import refresh_facets
from app.courses.documents import Course, Lesson, Section
from app.errors import NotFound
from app.timeutil import utcnow


def save_outline(course: Course) -> None:
    """Save a changed course, and keep what depends on its outline in step: the counters
    and search keywords, learners' progress (a lesson added, removed or made optional
    changes their percentages, and may complete the course and issue certificates),
    and the catalog's facets when the course is published."""
    from app.courses.learning import counted_lessons, refresh_course_progress

    stored = Course.objects(id=course.id).only("sections").first() if course.id else None
    course.recount()
    course.updated_at = utcnow()
    course.save()
    if stored is not None and counted_lessons(stored) != counted_lessons(course):
        refresh_course_progress(course)
    if course.status == "published":
        refresh_facets()


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
        if Course.objects(**query).update_one(
            **{f"set__{path}__{k}": v for k, v in values.items()}
        ):
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
