"""Nobody reaches another user's learning data or an unpublished course (IDOR)."""

from __future__ import annotations

from app.courses.documents import Enrollment, QuizAttempt, Review
from tests.conftest import PASSWORD


def test_progress_and_attempts_are_each_users_own(api, users, courses):
    course = courses.published(lessons=["reading", "quiz"])
    reading, quiz = [lesson for _, lesson in course.lessons()]
    alice = api.login(users.create(email="alice@example.com").email)["access_token"]
    mallory = api.login(users.create(email="mallory@example.com").email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", alice)
    api.call(
        "PUT",
        f"/courses/{course.slug}/lessons/{reading.id}/progress",
        alice,
        json={"completed": True},
    )
    # Mallory is not enrolled: she can neither read nor write Alice's progress.
    assert (
        api.call(
            "PUT",
            f"/courses/{course.slug}/lessons/{reading.id}/progress",
            mallory,
            json={"completed": False},
        ).status_code
        == 403
    )
    assert (
        api.call(
            "POST",
            f"/courses/{course.slug}/lessons/{quiz.id}/quiz-attempts",
            mallory,
            json={"answers": {}},
        ).status_code
        == 403
    )
    assert api.call("GET", "/me/enrollments", mallory).json["items"] == []
    # Enrolled, she still only changes her own record.
    api.call("POST", f"/courses/{course.slug}/enrollment", mallory)
    api.call(
        "PUT",
        f"/courses/{course.slug}/lessons/{reading.id}/progress",
        mallory,
        json={"completed": False},
    )
    alice_row = Enrollment.objects.get(user_id=str(users.get_by_email("alice@example.com").id))
    assert alice_row.progress[reading.id].completed is True
    mine = api.call("GET", "/me/enrollments", mallory).json["items"]
    assert [i["progress_percent"] for i in mine] == [0]
    assert QuizAttempt.objects.count() == 0


def test_another_users_review_cannot_be_edited_or_deleted(app, users, courses):
    course = courses.published()
    clients = {}
    for name in ("owner", "other"):
        client = app.test_client()
        user = users.create(email=f"{name}@example.com")
        client.submit("/signin", {"email": user.email, "password": PASSWORD})
        client.submit(f"/courses/{course.slug}/enroll")
        clients[name] = client
    clients["owner"].submit(f"/courses/{course.slug}/review", {"rating": "5", "body": "Mine"})
    # "other" writing a review creates their own; deleting removes only their own (none).
    assert clients["other"].submit(f"/courses/{course.slug}/review/delete").status_code == 404
    clients["other"].submit(f"/courses/{course.slug}/review", {"rating": "1", "body": "Theirs"})
    owner_review = Review.objects.get(body="Mine")
    assert owner_review.rating == 5
    assert Review.objects.count() == 2


def test_unpublished_and_draft_courses_are_invisible(app, users, courses, api, client):
    draft = courses.draft()
    published = courses.published()
    from app.courses import studio

    with app.app_context():
        studio.unpublish(courses.actor(published.owner), published)
    learner = users.create()
    token = api.login(learner.email)["access_token"]
    for course in (draft, published):
        lesson = course.sections[0].lessons[0]
        assert client.get(f"/courses/{course.slug}").status_code == 404
        assert api.call("GET", f"/courses/{course.slug}", token).status_code == 404
        assert api.call("POST", f"/courses/{course.slug}/enrollment", token).status_code == 404
        assert (
            api.call("GET", f"/courses/{course.slug}/lessons/{lesson.id}", token).status_code == 404
        )
        assert client.get(f"/courses/{course.slug}/lessons/{lesson.id}").status_code == 404


def test_an_enrolled_learner_loses_access_when_a_course_is_unpublished(app, api, users, courses):
    course = courses.published()
    lesson = course.sections[0].lessons[0]
    token = api.login(users.create().email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    assert api.call("GET", f"/courses/{course.slug}/lessons/{lesson.id}", token).status_code == 200
    from app.courses import studio

    with app.app_context():
        studio.unpublish(courses.actor(course.owner), course)
    assert api.call("GET", f"/courses/{course.slug}/lessons/{lesson.id}", token).status_code == 404


def test_lesson_ids_of_another_course_are_not_found(api, users, courses):
    first, second = courses.published(), courses.published()
    token = api.login(users.create().email)["access_token"]
    api.call("POST", f"/courses/{first.slug}/enrollment", token)
    foreign = second.sections[0].lessons[0].id
    assert api.call("GET", f"/courses/{first.slug}/lessons/{foreign}", token).status_code == 404
    assert (
        api.call(
            "PUT",
            f"/courses/{first.slug}/lessons/{foreign}/progress",
            token,
            json={"completed": True},
        ).status_code
        == 404
    )
