"""Progress, completion and quiz rules found by review; each failed before its fix."""

from __future__ import annotations

import pytest

from app.courses import learning, studio
from app.courses.documents import Certificate, Enrollment
from tests.conftest import PASSWORD


def _enrolled(app, api, users, course):
    user = users.create(name="Pat Learner")
    token = api.login(user.email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    return user, token


def test_a_quiz_is_completed_by_passing_it_not_by_asking(app, api, users, courses):
    course = courses.published(lessons=["quiz"])
    quiz = course.sections[0].lessons[0]
    _, token = _enrolled(app, api, users, course)
    asked = api.call(
        "PUT", f"/courses/{course.slug}/lessons/{quiz.id}/progress", token, json={"completed": True}
    )
    assert asked.status_code == 409
    assert Enrollment.objects.get().percent == 0 and Certificate.objects.count() == 0
    api.call(
        "POST",
        f"/courses/{course.slug}/lessons/{quiz.id}/quiz-attempts",
        token,
        json={"answers": {q.id: q.correct for q in quiz.questions}},
    )
    assert Enrollment.objects.get().percent == 100 and Certificate.objects.count() == 1


def test_optional_only_courses_count_every_lesson(app, api, users, courses):
    course = courses.published(lessons=["reading", "reading"])
    with app.app_context():
        for _, lesson in course.lessons():
            studio.update_lesson(
                course.owner, course, lesson.id, {"title": lesson.title, "required": False}
            )
    first = course.sections[0].lessons[0]
    _, token = _enrolled(app, api, users, course)
    api.call(
        "PUT",
        f"/courses/{course.slug}/lessons/{first.id}/progress",
        token,
        json={"position_seconds": 5},
    )
    assert Enrollment.objects.get().percent == 0 and Certificate.objects.count() == 0
    api.call(
        "PUT",
        f"/courses/{course.slug}/lessons/{first.id}/progress",
        token,
        json={"completed": True},
    )
    assert Enrollment.objects.get().percent == 50 and Certificate.objects.count() == 0


def test_progress_follows_the_outline_when_lessons_change(app, api, users, courses, client):
    course = courses.published(lessons=["reading", "reading"])
    one, two = [lesson for _, lesson in course.lessons()]
    user, token = _enrolled(app, api, users, course)
    api.call(
        "PUT", f"/courses/{course.slug}/lessons/{one.id}/progress", token, json={"completed": True}
    )
    assert Enrollment.objects.get().percent == 50
    with app.app_context():  # the unfinished lesson goes: now everything left is done
        studio.delete_lesson(course.owner, course, two.id)
    assert Enrollment.objects.get().percent == 100
    # The change that completed the course issued the certificate, in the learner's name.
    certificate = Certificate.objects.get()
    assert certificate.user_name == "Pat Learner"
    assert Enrollment.objects.get().certificate_code == certificate.code
    with app.app_context():  # a new required lesson: the course is no longer finished
        studio.add_lesson(
            course.owner, course, course.sections[0].id, {"title": "New", "kind": "reading"}
        )
    enrollment = Enrollment.objects.get()
    assert enrollment.percent == 50 and enrollment.completed_at is None
    assert Certificate.objects.count() == 1  # an earned certificate stays


def test_opening_pages_never_issues_a_certificate(app, api, users, courses, client):
    course = courses.published(lessons=["reading"])
    (lesson,) = [lesson for _, lesson in course.lessons()]
    user, token = _enrolled(app, api, users, course)
    # A completed enrolment without its certificate (as data from before this rule may be).
    Enrollment.objects.update(set__percent=100, set__user_name="")
    api.call("GET", f"/courses/{course.slug}/lessons/{lesson.id}", token)
    client.submit("/signin", {"email": user.email, "password": PASSWORD})
    for url in (
        f"/courses/{course.slug}/lessons/{lesson.id}",
        f"/courses/{course.slug}",
        f"/courses/{course.slug}/certificate",
        "/learn",
    ):
        client.get(url)
    assert Certificate.objects.count() == 0
    # The learner's next change does.
    api.call(
        "PUT",
        f"/courses/{course.slug}/lessons/{lesson.id}/progress",
        token,
        json={"completed": True},
    )
    assert Certificate.objects.get().user_name == "Pat Learner"


def test_a_stale_progress_write_is_refused_and_retried(app, api, users, courses):
    course = courses.published(lessons=["reading", "reading"])
    one, two = [lesson for _, lesson in course.lessons()]
    user, token = _enrolled(app, api, users, course)
    stale = Enrollment.objects.get()  # read before another request changes it
    api.call(
        "PUT", f"/courses/{course.slug}/lessons/{one.id}/progress", token, json={"completed": True}
    )
    stale.progress[two.id] = learning.LessonProgress(completed=True)
    assert learning._save_versioned(stale) is False  # would have lost lesson one
    api.call(
        "PUT", f"/courses/{course.slug}/lessons/{two.id}/progress", token, json={"completed": True}
    )
    enrollment = Enrollment.objects.get()
    assert enrollment.progress[one.id].completed and enrollment.progress[two.id].completed
    assert enrollment.percent == 100


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "nan", "abc", "-5"])
def test_odd_video_positions_are_422(client, auth, courses, value):
    course = courses.published(lessons=["video"])
    auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    video = course.sections[0].lessons[0]
    response = client.submit(
        f"/courses/{course.slug}/lessons/{video.id}/position", {"position_seconds": value}
    )
    assert response.status_code == 422


def test_editing_a_quiz_keeps_the_ids_of_unchanged_questions(app, client, courses):
    course = courses.draft(lessons=["quiz"])
    quiz = course.sections[0].lessons[0]
    before = {q.prompt: (q.id, [c.id for c in q.choices]) for q in quiz.questions}
    client.submit("/signin", {"email": course.owner.email, "password": PASSWORD})
    page = client.get(f"/studio/{course.slug}/lessons/{quiz.id}").get_data(as_text=True)
    text = page.split('name="questions"')[1].split(">", 1)[1].split("</textarea>")[0]
    import html

    response = client.submit(
        f"/studio/{course.slug}/lessons/{quiz.id}",
        {
            "title": "Renamed quiz",
            "kind": "quiz",
            "pass_mark": "100",
            "required": "y",
            "questions": html.unescape(text).strip() + "\n\n? A new one\n* yes\n- no",
        },
    )
    assert response.status_code == 303
    updated = type(course).objects.get(id=course.id).sections[0].lessons[0]
    after = {q.prompt: (q.id, [c.id for c in q.choices]) for q in updated.questions}
    for prompt, ids in before.items():
        assert after[prompt] == ids
    assert len(after) == 3
