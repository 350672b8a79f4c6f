"""The course side's event consumers."""

from __future__ import annotations

from typing import Any

from app.courses.catalog import refresh_facets
from app.courses.documents import Certificate, Course, Enrollment, QuizAttempt, Review
from app.courses.outbox import DocumentOutbox
from app.courses.reviews import refresh_rating
from app.events import subscribe
from app.events.outbox import outbox_named, register_outbox

CONSUMER = "courses-accounts"

# The course side records its events in a document collection; the bus and the relay
# deliver from it through the event layer's Outbox interface.
register_outbox(DocumentOutbox())


@subscribe("user.renamed", CONSUMER)
def on_user_renamed(event: dict[str, Any]) -> None:
    """Copy a new display name onto the user's courses, reviews and enrolments
    (certificates keep the name they were issued to). Setting a value is idempotent."""
    user_id, name = event["data"]["user_id"], event["data"]["name"]
    Course.objects(instructor__id=user_id).update(set__instructor__name=name)
    Review.objects(user_id=user_id).update(set__user_name=name)
    Enrollment.objects(user_id=user_id).update(set__user_name=name)
    for course in Course.objects(instructor__id=user_id):
        course.recount()  # the instructor's name is a search keyword
        Course.objects(id=course.id).update_one(set__keywords=course.keywords)
    _rename_in_trash(user_id, name)
    refresh_facets()


def _rename_in_trash(user_id: str, name: str) -> None:
    """Studio trash items say who deleted them: follow a rename, or forget a deleted
    account (the id goes too). Setting a value is idempotent."""
    for course in Course.objects(trash__deleted_by_id=user_id).only("id", "trash"):
        for n, item in enumerate(course.trash):
            if item.deleted_by_id == user_id:
                Course.objects(id=course.id, **{f"trash__{n}__id": item.id}).update_one(
                    **{
                        f"set__trash__{n}__deleted_by_name": name,
                        f"set__trash__{n}__deleted_by_id": user_id if name else "",
                    }
                )


@subscribe("user.deleted", CONSUMER)
def on_user_deleted(event: dict[str, Any]) -> None:
    """Remove a deleted user's learning data; unpublish and flag their courses.

    Idempotent: each enrolment's counter is decremented only by the call that
    actually deleted it, so a redelivery changes nothing.
    """
    user_id = event["data"]["user_id"]
    outbox_named("courses").forget_keys({user_id})  # the events about them it still holds
    for enrollment in Enrollment.objects(user_id=user_id).only("id", "course_id"):
        if Enrollment.objects(id=enrollment.id).delete():
            Course.objects(id=enrollment.course_id).update_one(dec__enrollment_count=1)
    QuizAttempt.objects(user_id=user_id).delete()
    Certificate.objects(user_id=user_id).delete()
    reviewed = Review.objects(user_id=user_id).distinct("course_id")
    Review.objects(user_id=user_id).delete()
    for course_id in reviewed:
        refresh_rating(course_id)
    taught = Course.objects(instructor__id=user_id)
    changed = taught.filter(status__in=["published", "in_review"]).update(
        set__status="unpublished",
        set__review_note="The instructor's account was deleted; an admin can reassign it.",
    )
    taught.update(set__instructor__deleted=True)
    _rename_in_trash(user_id, "")
    if changed or reviewed:
        refresh_facets()
