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
