"""Publishing: draft -> in_review -> published (-> unpublished), by the instructor and the
moderators, and an operator handing a course to another instructor."""

from __future__ import annotations

from typing import Any

from app.courses import policies
from app.courses.catalog import refresh_facets
from app.courses.documents import Course, Instructor
from app.courses.outbox import record_course_event
from app.courses.outline import save_outline
from app.courses.rules import NOTE_MAX
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.policies import can, require
from app.roles import AUTHORS
from app.timeutil import utcnow
from app.validation import clean_text


def _transition(course: Course, allowed_from: tuple[str, ...], to: str, **changes: Any) -> None:
    """Change status only if it is still what we read (two moderators at once: one wins),
    then recount the catalog's facets, which count published courses only."""
    if course.status not in allowed_from:
        raise Conflict(f"A course that is {course.status.replace('_', ' ')} cannot be {to}.")
    updated = Course.objects(id=course.id, status=course.status).update_one(
        set__status=to, set__updated_at=utcnow(), **{f"set__{k}": v for k, v in changes.items()}
    )
    if updated != 1:
        raise Conflict("Someone else changed this course's status just now; reload.")
    course.reload()
    refresh_facets()


def submit_for_review(actor: Any, course: Course) -> None:
    """The instructor asks moderators to publish the course."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    if course.lesson_count == 0:
        message = "Add at least one lesson before submitting the course."
        raise ValidationFailed(message, fields={"status": message})
    _transition(
        course, ("draft", "unpublished"), "in_review", submitted_at=utcnow(), review_note=""
    )


def withdraw(actor: Any, course: Course) -> None:
    """The instructor takes a submission back to edit it."""
    require(actor, "course.edit", course, policies.EDIT_ONLY)
    _transition(course, ("in_review",), "draft")


def approve(actor: Any, course: Course) -> None:
    """A moderator publishes a course that is in review."""
    if not can(actor, "course.moderate"):
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
    if not can(actor, "course.moderate"):
        raise Forbidden()
    _transition(
        course,
        ("in_review",),
        "draft",
        review_note=clean_text(note, "note", NOTE_MAX, required=True),
    )


def unpublish(actor: Any, course: Course, note: Any = "") -> None:
    """Take a published course out of the catalog (its instructor or a moderator)."""
    if not can(actor, "course.unpublish", course):
        raise Forbidden()
    note = clean_text(note, "note", NOTE_MAX)
    if not note and not policies.owns(actor, course):
        note = "Unpublished by a moderator."  # the instructor always learns why it went
    _transition(course, ("published",), "unpublished", review_note=note)


def delete_course(actor: Any, course: Course) -> int:
    """Delete a course for good: its outline and trash, its learners' enrolments, quiz
    attempts and reviews (certificates stay: they record what was earned). Uploads on
    their way stop, and the media side deletes its files by event (media.discarded).
    Returns how many stored files go."""
    from app.courses.documents import Enrollment, QuizAttempt, Review, media_of
    from app.media import uploads

    require(actor, "course.delete", course, DELETE_RULE)
    uploads.cancel_course_uploads(course)
    course.reload()
    lessons = course.all_lessons()
    keys = [m.key for m in media_of(lessons)] + ([course.cover_key] if course.cover_key else [])
    course_id = str(course.id)
    Enrollment.objects(course_id=course_id).delete()
    QuizAttempt.objects(course_id=course_id).delete()
    Review.objects(course_id=course_id).delete()
    was_published = course.status == "published"
    course.delete()
    # After the delete: a file is never discarded while its course still names it (a
    # crash in between leaves orphans, which `flask media orphans` finds).
    uploads.discard_keys(course_id, keys, "course_deleted")
    if was_published:
        refresh_facets()
    return len(set(keys))


DELETE_RULE = "Only an admin, or the instructor while no learner is enrolled, can delete it."


def review_queue(actor: Any) -> list[Course]:
    """Courses waiting for a moderator, oldest submission first."""
    if not can(actor, "course.moderate"):
        raise Forbidden()
    return list(
        Course.objects(status="in_review")
        .exclude("sections", "trash", "description", "keywords")
        .order_by("submitted_at")
    )


def reassign(slug: Any, instructor_id: str, name: str, role: str) -> Course:
    """Operator action: hand a course to another instructor (it stays unpublished until
    they submit it again)."""
    if not isinstance(slug, str):
        raise NotFound("No such course.")
    course = Course.objects(slug=slug).first()
    if course is None:
        raise NotFound(f"No course with the address {slug}.")
    if role not in AUTHORS:
        raise ValidationFailed(fields={"email": "That account is not an instructor."})
    course.instructor = Instructor(id=instructor_id, name=name)
    save_outline(course)
    return course
