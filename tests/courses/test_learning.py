"""Enrolment, lessons, progress, quizzes and certificates, through pages and the API."""

from __future__ import annotations

import re

import pytest

from app.courses.documents import Certificate, Enrollment, QuizAttempt


@pytest.fixture
def course(courses):
    return courses.published(lessons=["reading", "reading", "quiz"])


def _lessons(course):
    return [lesson for _, lesson in course.lessons()]


def test_enrol_through_the_page_then_continue(client, auth, course):
    auth.login()
    page = client.get(f"/courses/{course.slug}").get_data(as_text=True)
    assert "Enrol for free" in page
    response = client.submit(f"/courses/{course.slug}/enroll")
    assert response.status_code == 303
    first = _lessons(course)[0]
    assert client.get(response.headers["Location"]).headers["Location"].endswith(first.id)
    again = client.submit(f"/courses/{course.slug}/enroll", follow_redirects=True)
    assert "already enrolled" in again.get_data(as_text=True)
    assert Enrollment.objects.count() == 1
    assert type(course).objects.get(id=course.id).enrollment_count == 1


def test_enrolment_through_the_api(api, users, course):
    token = api.login(users.create().email)["access_token"]
    first = api.call("POST", f"/courses/{course.slug}/enrollment", token)
    second = api.call("POST", f"/courses/{course.slug}/enrollment", token)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json["enrollment"]["progress_percent"] == 0
    items = api.call("GET", "/me/enrollments", token).json["items"]
    assert [i["course"]["slug"] for i in items] == [course.slug]


def test_only_published_courses_take_enrolments(api, users, courses):
    draft = courses.draft()
    token = api.login(users.create().email)["access_token"]
    assert api.call("POST", f"/courses/{draft.slug}/enrollment", token).status_code == 404
    assert Enrollment.objects.count() == 0


def test_lessons_need_enrolment_except_previews(api, users, courses, client):
    course = courses.published(lessons=["reading", "reading"])
    from app.courses import studio

    preview, locked = _lessons(course)
    with client.application.app_context():
        studio.update_lesson(course.owner, course, preview.id, {"title": "Free", "preview": True})
    token = api.login(users.create().email)["access_token"]
    assert api.call("GET", f"/courses/{course.slug}/lessons/{locked.id}", token).status_code == 403
    assert api.call("GET", f"/courses/{course.slug}/lessons/{preview.id}", token).status_code == 200
    assert client.get(f"/courses/{course.slug}/lessons/{preview.id}").status_code == 200
    assert client.get(f"/courses/{course.slug}/lessons/{locked.id}").status_code == 401
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    lesson = api.call("GET", f"/courses/{course.slug}/lessons/{locked.id}", token).json
    assert "Body of lesson 2" in lesson["lesson"]["body_html"]
    # The instructor and staff may open any lesson without enrolling.
    own = api.login(course.owner.email)["access_token"]
    assert api.call("GET", f"/courses/{course.slug}/lessons/{locked.id}", own).status_code == 200
    mod = api.login(users.create("moderator").email)["access_token"]
    assert api.call("GET", f"/courses/{course.slug}/lessons/{locked.id}", mod).status_code == 200


def test_progress_percent_and_certificate(client, auth, course, app):
    auth.login(name="Ada Finisher")
    client.submit(f"/courses/{course.slug}/enroll")
    one, two, quiz = _lessons(course)
    status = client.submit(
        f"/courses/{course.slug}/lessons/{one.id}/complete",
        {"completed": "1"},
        headers={"HX-Request": "true"},
    )
    body = status.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="lesson-status"') and "33%" in body
    client.submit(f"/courses/{course.slug}/lessons/{two.id}/complete", {"completed": "1"})
    client.submit(f"/courses/{course.slug}/lessons/{two.id}/complete", {"completed": "0"})
    enrollment = Enrollment.objects.get()
    assert enrollment.percent == 33 and enrollment.certificate_code is None
    client.submit(f"/courses/{course.slug}/lessons/{two.id}/complete", {"completed": "1"})
    answers = {f"q-{q.id}": q.correct for q in quiz.questions}
    graded = client.submit(
        f"/courses/{course.slug}/lessons/{quiz.id}/quiz", answers, follow_redirects=True
    )
    assert "You scored <strong>100%</strong>" in graded.get_data(as_text=True)
    enrollment = Enrollment.objects.get()
    assert enrollment.percent == 100 and enrollment.certificate_code
    certificate = app.test_client().get(f"/certificates/{enrollment.certificate_code}")
    text = certificate.get_data(as_text=True)
    assert certificate.status_code == 200 and "Ada Finisher" in text and course.title in text
    # Completing again does not issue a second certificate.
    client.submit(f"/courses/{course.slug}/lessons/{one.id}/complete", {"completed": "1"})
    assert Certificate.objects.count() == 1
    dashboard = client.get("/learn").get_data(as_text=True)
    assert "100% complete" in dashboard and "View certificate" in dashboard
    assert app.test_client().get("/certificates/NOPE0000").status_code == 404


def test_resume_where_left_off(client, auth, course):
    auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    one, two, _ = _lessons(course)
    client.get(f"/courses/{course.slug}/lessons/{two.id}")
    resume = client.get(f"/courses/{course.slug}/continue")
    assert resume.headers["Location"].endswith(two.id)
    client.submit(f"/courses/{course.slug}/lessons/{two.id}/complete", {"completed": "1"})
    # The last lesson is done: continue at the first unfinished one.
    assert client.get(f"/courses/{course.slug}/continue").headers["Location"].endswith(one.id)
    assert f"/lessons/{one.id}" in client.get("/learn").get_data(as_text=True)


def test_quiz_answers_are_never_sent_before_an_attempt(client, auth, api, course):
    user = auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    quiz = _lessons(course)[2]
    correct_ids = {c for q in quiz.questions for c in q.correct}
    html = client.get(f"/courses/{course.slug}/lessons/{quiz.id}").get_data(as_text=True)
    assert "right answer" not in html and "2 and 3." not in html  # no explanation either
    token = api.login(user.email)["access_token"]
    lesson = api.call("GET", f"/courses/{course.slug}/lessons/{quiz.id}", token).json
    text = str(lesson)
    assert "correct" not in text and "explanation" not in text
    shown = {c["id"] for q in lesson["lesson"]["quiz"]["questions"] for c in q["choices"]}
    assert correct_ids <= shown  # the ids are there, not which are right


def test_quiz_grading_through_the_api(api, users, course):
    token = api.login(users.create().email)["access_token"]
    quiz = _lessons(course)[2]
    url = f"/courses/{course.slug}/lessons/{quiz.id}/quiz-attempts"
    single, multiple = quiz.questions
    every = {single.id: list(single.correct), multiple.id: list(multiple.correct)}
    assert api.call("POST", url, token, json={"answers": every}).status_code == 403  # not enrolled
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    wrong_choice = next(c.id for c in single.choices if c.id not in single.correct)
    for bad in [
        {"nope": "x"},
        {single.id: "not-a-choice", multiple.id: list(multiple.correct)},
        {single.id: list(single.correct) + [wrong_choice], multiple.id: list(multiple.correct)},
    ]:
        assert api.call("POST", url, token, json={"answers": bad}).status_code == 422
    # A partial multiple choice is not right.
    partial = api.call(
        "POST",
        url,
        token,
        json={"answers": {single.id: wrong_choice, multiple.id: multiple.correct[0]}},
    )
    assert partial.status_code == 201 and partial.json["attempt"]["score"] == 0
    assert QuizAttempt.objects.count() == 1


def test_progress_api(api, users, course):
    token = api.login(users.create().email)["access_token"]
    one = _lessons(course)[0]
    url = f"/courses/{course.slug}/lessons/{one.id}/progress"
    assert api.call("PUT", url, token, json={"completed": True}).status_code == 403
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    response = api.call("PUT", url, token, json={"completed": True, "position_seconds": 42})
    assert response.status_code == 200
    assert response.json["progress"]["completed"] is True
    assert response.json["progress"]["position_seconds"] == 42
    items = api.call("GET", "/me/enrollments", token).json["items"]
    assert items[0]["progress_percent"] == 33
    assert (
        api.call(
            "PUT", f"/courses/{course.slug}/lessons/nope/progress", token, json={"completed": True}
        ).status_code
        == 404
    )


def test_video_position_is_saved_from_the_page(client, auth, courses):
    course = courses.published(lessons=["video"])
    auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    video = _lessons(course)[0]
    url = f"/courses/{course.slug}/lessons/{video.id}/position"
    assert client.submit(url, {"position_seconds": "95.7"}).status_code == 204
    assert client.submit(url, {"position_seconds": "a lot"}).status_code == 422
    assert Enrollment.objects.get().progress[video.id].position_seconds == 95


def test_dashboard_lists_courses_with_progress(client, auth, courses):
    auth.login()
    first, second = courses.published(title="First"), courses.published(title="Second")
    for c in (first, second):
        client.submit(f"/courses/{c.slug}/enroll")
    html = client.get("/learn").get_data(as_text=True)
    assert "First" in html and "Second" in html
    assert len(re.findall(r"<progress", html)) == 2


def test_passing_the_last_quiz_updates_the_status_region_too(client, auth, courses):
    course = courses.published(lessons=["quiz"])
    auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    quiz = course.sections[0].lessons[0]
    answers = {f"q-{q.id}": q.correct for q in quiz.questions}
    body = client.submit(
        f"/courses/{course.slug}/lessons/{quiz.id}/quiz", answers, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert body.lstrip().startswith('<section id="quiz"')
    assert 'id="lesson-status"' in body and 'hx-swap-oob="true"' in body
    assert "Course complete!" in body and "100%" in body
    assert '<aside id="lesson-outline"' in body and body.count('aria-label="done"') == 1
