"""Who may do what with courses. Deny by default; pages, API and handlers all ask here.

The course side knows a user only as an object with `id`, `role` and `name`.
"""

from __future__ import annotations

from typing import Any

STAFF = frozenset({"admin", "moderator"})
AUTHORS = frozenset({"instructor", "admin"})


def uid(actor: Any) -> str | None:
    """The actor's id as the course side stores it, or None for guests."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return str(actor.id)


def role(actor: Any) -> str:
    return str(actor.role) if uid(actor) else "guest"


def is_staff(actor: Any) -> bool:
    return role(actor) in STAFF


def can_author(actor: Any) -> bool:
    """May create courses (instructors and admins)."""
    return role(actor) in AUTHORS


def owns(actor: Any, course: Any) -> bool:
    return uid(actor) is not None and course.instructor.id == uid(actor)


def can_edit(actor: Any, course: Any) -> bool:
    """May change the course's content: its instructor, or an admin."""
    return owns(actor, course) or role(actor) == "admin"


def require_edit(actor: Any, course: Any) -> None:
    """Refuse a change to the course from anyone but its instructor or an admin."""
    if not can_edit(actor, course):
        from app.errors import Forbidden

        raise Forbidden("Only the course's instructor can change it.")


def can_see(actor: Any, course: Any) -> bool:
    """May see the course page at all: published, or its instructor, or staff."""
    return course.status == "published" or owns(actor, course) or is_staff(actor)


def can_moderate(actor: Any) -> bool:
    return is_staff(actor)


def can_open_lesson(actor: Any, course: Any, lesson: Any, enrolled: bool) -> bool:
    """Lesson content: free previews for anyone who can see the course, else enrolled
    learners of a published course, the course's instructor and staff."""
    if owns(actor, course) or is_staff(actor):
        return True
    if course.status != "published":
        return False
    return bool(lesson.preview) or enrolled
