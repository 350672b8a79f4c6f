"""Reviews: enrolled learners only, one each, editable; reports and moderation."""

from __future__ import annotations

import pytest

from app.courses.documents import Course, Review
from tests.conftest import PASSWORD


@pytest.fixture
def course(courses):
    return courses.published()


def _learner(app, users, course, name="Lea"):
    client = app.test_client()
    user = users.create(name=name)
    client.submit("/signin", {"email": user.email, "password": PASSWORD})
    client.submit(f"/courses/{course.slug}/enroll")
    return client, user


def _rating(course):
    c = Course.objects.get(id=course.id)
    return c.rating_count, c.rating_avg


def test_only_enrolled_learners_review(client, auth, course):
    auth.login()
    response = client.submit(f"/courses/{course.slug}/review", {"rating": "5"})
    assert response.status_code == 403
    assert Review.objects.count() == 0


def test_one_review_each_editable_and_counted(app, users, course):
    ann, _ = _learner(app, users, course, "Ann")
    bob, _ = _learner(app, users, course, "Bob")
    ann.submit(f"/courses/{course.slug}/review", {"rating": "5", "body": "Great"})
    bob.submit(f"/courses/{course.slug}/review", {"rating": "2", "body": "Slow"})
    assert _rating(course) == (2, 3.5)
    ann.submit(f"/courses/{course.slug}/review", {"rating": "4", "body": "Good, on reflection"})
    assert Review.objects.count() == 2 and _rating(course) == (2, 3.0)
    page = app.test_client().get(f"/courses/{course.slug}").get_data(as_text=True)
    assert "Good, on reflection" in page and "Great" not in page
    bob.submit(f"/courses/{course.slug}/review/delete")
    assert _rating(course) == (1, 4.0)


@pytest.mark.parametrize(
    "data",
    [{"rating": "0"}, {"rating": "6"}, {"rating": "x"}, {"rating": "5", "body": "b" * 5001}, {}],
)
def test_bad_reviews_change_nothing(app, users, course, data):
    learner, _ = _learner(app, users, course)
    learner.submit(f"/courses/{course.slug}/review", data)
    assert Review.objects.count() == 0 and _rating(course) == (0, 0.0)


def test_review_text_is_escaped(app, users, course):
    learner, _ = _learner(app, users, course)
    learner.submit(
        f"/courses/{course.slug}/review", {"rating": "3", "body": "<script>alert(1)</script>"}
    )
    page = app.test_client().get(f"/courses/{course.slug}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_report_then_moderator_hides_and_counters_follow(app, users, course):
    author, _ = _learner(app, users, course, "Author")
    author.submit(f"/courses/{course.slug}/review", {"rating": "1", "body": "Spam spam"})
    review = Review.objects.get()
    # One's own review cannot be reported; others can, once each.
    author.submit(f"/reviews/{review.id}/report")
    reporter, _ = _learner(app, users, course, "Reporter")
    for _ in range(2):
        reporter.submit(f"/reviews/{review.id}/report")
    assert Review.objects.get().report_count == 1
    moderator = app.test_client()
    mod = users.create("moderator")
    moderator.submit("/signin", {"email": mod.email, "password": PASSWORD})
    assert "Spam spam" in moderator.get("/moderation/").get_data(as_text=True)
    assert (
        reporter.submit(f"/moderation/reviews/{review.id}", {"action": "hide"}).status_code == 403
    )
    moderator.submit(f"/moderation/reviews/{review.id}", {"action": "hide"})
    assert Review.objects.get().hidden and _rating(course) == (0, 0.0)
    assert "Spam spam" not in app.test_client().get(f"/courses/{course.slug}").get_data(
        as_text=True
    )
    assert "Spam spam" not in moderator.get("/moderation/").get_data(as_text=True)
    moderator.submit(f"/moderation/reviews/{review.id}", {"action": "keep"})
    assert not Review.objects.get().hidden and _rating(course) == (1, 1.0)


def test_report_unknown_review_is_404(client, auth):
    auth.login()
    for review_id in ["0" * 24, "not-an-id", "{'$ne': 1}"]:
        assert client.submit(f"/reviews/{review_id}/report").status_code == 404
