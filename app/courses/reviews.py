"""Reviews: one per enrolled learner per course, editable, reportable, hideable by staff.

The course's rating counters are recomputed from the visible reviews after
every change, so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.courses import policies
from app.courses.documents import Course, Enrollment, Review, object_id
from app.courses.rules import RATING_MAX, RATING_MIN, REVIEW_MAX
from app.errors import Forbidden, NotFound, Unauthenticated
from app.policies import can
from app.timeutil import utcnow
from app.validation import clean_int, clean_text


def refresh_rating(course_id: Any) -> None:
    """Recount a course's rating from its visible reviews (one aggregation)."""
    rows = list(
        Review.objects(course_id=str(course_id), hidden=False).aggregate(
            [{"$group": {"_id": None, "n": {"$sum": 1}, "total": {"$sum": "$rating"}}}]
        )
    )
    count, total = (rows[0]["n"], rows[0]["total"]) if rows else (0, 0)
    Course.objects(id=course_id).update_one(
        set__rating_count=count,
        set__rating_avg=round(total / count, 2) if count else 0.0,
    )


def my_review(actor: Any, course: Course) -> Review | None:
    user_id = policies.uid(actor)
    return Review.objects(course_id=str(course.id), user_id=user_id).first() if user_id else None


def check_review(actor: Any, course: Course, rating: Any, body: Any) -> Review:
    """Write or edit the actor's review; only enrolled learners may review."""
    user_id = policies.uid(actor)
    if user_id is None:
        raise Unauthenticated("Sign in to review.")
    if course.status != "published":
        raise NotFound("No such course.")
    if not Enrollment.objects(user_id=user_id, course_id=str(course.id)).first():
        raise Forbidden("Only learners enrolled in this course can review it.")
    clean_rating = clean_int(rating, "rating", RATING_MIN, RATING_MAX)
    clean_body = clean_text(body, "body", REVIEW_MAX)
    review = Review.objects(course_id=str(course.id), user_id=user_id).modify(
        upsert=True,
        new=True,
        set__rating=clean_rating,
        set__body=clean_body,
        set__user_name=actor.name,
        set__updated_at=utcnow(),
        # An upsert skips the document's defaults, so set them on insert.
        set_on_insert__created_at=utcnow(),
        set_on_insert__hidden=False,
        set_on_insert__report_count=0,
        set_on_insert__reported_by=[],
    )
    refresh_rating(course.id)
    return review  # type: ignore[no-any-return]


def access_my_review(actor: Any, course: Course) -> Review:
    """The actor's own review of the course; NotFound if there is none."""
    review = my_review(actor, course)
    if review is None:
        raise NotFound("You have not reviewed this course.")
    return review


def delete_my_review(actor: Any, course: Course) -> None:
    review = access_my_review(actor, course)
    review.delete()
    refresh_rating(course.id)


@dataclass
class ReviewPage:
    items: list[Review]
    total: int


def course_reviews(course: Course, limit: int = 20) -> ReviewPage:
    visible = Review.objects(course_id=str(course.id), hidden=False)
    return ReviewPage(list(visible.order_by("-created_at").limit(limit)), course.rating_count)


def _review(review_id: Any) -> Review:
    oid = object_id(review_id)
    review = Review.objects(id=oid).first() if oid else None
    if review is None:
        raise NotFound("No such review.")
    return review


def report_review(actor: Any, review_id: Any) -> Review:
    """Flag a review for moderators; once per person, never one's own."""
    user_id = policies.uid(actor)
    if user_id is None:
        raise Unauthenticated("Sign in to report a review.")
    review = _review(review_id)
    if review.user_id == user_id:
        raise Forbidden("You cannot report your own review.")
    Review.objects(id=review.id, reported_by__ne=user_id).update_one(
        push__reported_by=user_id, inc__report_count=1
    )
    review.reload()
    return review


def set_hidden(actor: Any, review_id: Any, hidden: bool) -> Review:
    """A moderator hides (or shows again) a review; reports are cleared."""
    if not can(actor, "course.moderate"):
        raise Forbidden()
    review = _review(review_id)
    Review.objects(id=review.id).update_one(
        set__hidden=hidden, set__reported_by=[], set__report_count=0
    )
    refresh_rating(review.course_id)
    review.reload()
    return review


def reported_reviews(actor: Any, limit: int = 50) -> list[Review]:
    if not can(actor, "course.moderate"):
        raise Forbidden()
    return list(
        Review.objects(hidden=False, report_count__gt=0)
        .order_by("-report_count", "-updated_at")
        .limit(limit)
    )
