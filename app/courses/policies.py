"""Who may do what with courses; asked through app.policies.can(). Deny by default.

The course side knows a user only as an object with `id`, `role` and `name`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.roles import AUTHORS, STAFF, Role, role_of

EDIT_ONLY = "Only the course's instructor can change it."


def uid(actor: Any) -> str | None:
    """The actor's id as the course side stores it, or None for guests."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return str(actor.id)


def is_staff(actor: Any, _obj: Any = None) -> bool:
    return role_of(actor) in STAFF


def can_author(actor: Any, _obj: Any = None) -> bool:
    """May create courses (instructors and admins)."""
    return role_of(actor) in AUTHORS


def owns(actor: Any, course: Any) -> bool:
    return uid(actor) is not None and course.instructor.id == uid(actor)


def can_edit(actor: Any, course: Any) -> bool:
    """May change the course's content: its instructor, or an admin."""
    return owns(actor, course) or role_of(actor) == Role.ADMIN


def can_delete(actor: Any, course: Any) -> bool:
    """Delete a course for good: an admin, or its instructor while no learner is enrolled
    (a course with learners is unpublished instead, so their progress stays)."""
    if role_of(actor) == Role.ADMIN:
        return True
    return owns(actor, course) and not course.enrollment_count


def can_see(actor: Any, course: Any) -> bool:
    """May see the course page at all: published, or its instructor, or staff."""
    return course.status == "published" or owns(actor, course) or is_staff(actor)


def can_unpublish(actor: Any, course: Any) -> bool:
    """Its instructor (or an admin), or a moderator."""
    return can_edit(actor, course) or is_staff(actor)


def can_open_lesson(actor: Any, opening: tuple[Any, Any, bool]) -> bool:
    """Lesson content: free previews for anyone who can see the course, else enrolled
    learners of a published course, the course's instructor and staff. `opening` is
    (course, lesson, whether the actor is enrolled)."""
    course, lesson, enrolled = opening
    if owns(actor, course) or is_staff(actor):
        return True
    if course.status != "published":
        return False
    return bool(lesson.preview) or enrolled


# action -> rule(actor, obj). Anything not listed is denied.
RULES: dict[str, Callable[[Any, Any], bool]] = {
    "studio.use": can_author,
    "course.create": can_author,
    "course.see": can_see,
    "course.edit": can_edit,
    "course.unpublish": can_unpublish,
    "course.delete": can_delete,
    "course.moderate": is_staff,  # approve, reject, hide reviews, see reports
    "moderation.use": is_staff,
    "lesson.open": can_open_lesson,  # obj: (course, lesson, enrolled)
}
