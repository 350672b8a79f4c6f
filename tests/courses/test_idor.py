"""Nobody reaches another user's learning data or an unpublished course (IDOR)."""

from __future__ import annotations

import pytest

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
    from app.courses import workflow

    with app.app_context():
        workflow.unpublish(courses.actor(published.owner), published)
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
    from app.courses import workflow

    with app.app_context():
        workflow.unpublish(courses.actor(course.owner), course)
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


def test_every_change_to_a_course_checks_the_actor_itself(app, users, courses):
    """A service refuses a stranger whoever calls it (a view, the API, a script), not only
    behind access_editable()."""
    import io

    from app.courses import studio, trash, workflow
    from app.courses.documents import Course
    from app.errors import Forbidden
    from app.media import uploads

    course = courses.draft(lessons=["reading", "file"])
    section, (reading, file_lesson) = course.sections[0], course.sections[0].lessons
    stranger = courses.actor(users.create("instructor", name="Not The Owner"))
    learner = courses.actor(users.create("learner", name="A Learner"))
    changes = {
        "update_course": lambda a, c: studio.update_course(a, c, {"title": "Hijacked"}),
        "add_section": lambda a, c: studio.add_section(a, c, "Hijacked"),
        "rename_section": lambda a, c: studio.rename_section(a, c, section.id, "Hijacked"),
        "move_section": lambda a, c: studio.move_section(a, c, section.id, "down"),
        "delete_section": lambda a, c: studio.delete_section(a, c, section.id),
        "add_lesson": lambda a, c: studio.add_lesson(
            a, c, section.id, {"title": "Hijacked", "kind": "reading"}
        ),
        "update_lesson": lambda a, c: studio.update_lesson(a, c, reading.id, {"title": "Hijacked"}),
        "move_lesson": lambda a, c: studio.move_lesson(a, c, reading.id, "down"),
        "delete_lesson": lambda a, c: studio.delete_lesson(a, c, reading.id),
        "start_upload": lambda a, c: uploads.start(
            a, c, file_lesson.id, filename="notes.pdf", size=10, transport="tus"
        ),
        "receive_stream": lambda a, c: uploads.receive_stream(
            a, c, file_lesson.id, io.BytesIO(b"hello"), "x.txt", 1000
        ),
        "set_cover": lambda a, c: studio.set_cover(a, c, b"not even an image"),
        "restore_from_trash": lambda a, c: trash.restore_from_trash(a, c, "nothing"),
        "submit_for_review": lambda a, c: workflow.submit_for_review(a, c),
        "withdraw": lambda a, c: workflow.withdraw(a, c),
    }
    before = Course.objects.get(id=course.id).to_mongo().to_dict()
    with app.app_context():
        for name, change in changes.items():
            for actor in (stranger, learner, None):
                fresh = Course.objects.get(id=course.id)
                with pytest.raises(Forbidden):
                    change(actor, fresh)
                assert Course.objects.get(id=course.id).to_mongo().to_dict() == before, name
