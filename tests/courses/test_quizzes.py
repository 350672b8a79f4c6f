"""Quiz rules that make a certificate mean something (issue 7.3), through the API and pages.

Before: an empty attempt was accepted and answered with every correct choice, and attempts
were unlimited, so anyone passed every quiz.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.courses import quizzes, studio
from app.courses.documents import Certificate, Enrollment, QuizAttempt
from app.errors import Conflict
from tests.conftest import PASSWORD


@pytest.fixture
def course(courses):
    return courses.published(lessons=["quiz"])


@pytest.fixture
def quiz(course):
    return course.sections[0].lessons[0]


def _settings(app, course, quiz, **changes):
    with app.app_context():
        fresh = type(course).objects.get(id=course.id)
        studio.update_lesson(
            course.owner,
            fresh,
            quiz.id,
            {
                "title": quiz.title,
                "pass_mark": quiz.pass_mark,
                "reveal": changes.pop("reveal", quiz.reveal),
                "max_attempts": changes.pop("max_attempts", quiz.max_attempts),
                "cooldown_minutes": changes.pop("cooldown_minutes", quiz.cooldown_minutes),
                "shuffle": changes.pop("shuffle", quiz.shuffle),
                **changes,
            },
        )
    return type(course).objects.get(id=course.id).sections[0].lessons[0]


def _enrolled(api, users, course, name="Quinn Learner"):
    user = users.create(name=name)
    token = api.login(user.email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    return user, token


def _end_cooldown(quiz):
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    Enrollment.objects.update(**{f"set__progress__{quiz.id}__last_attempt_at": an_hour_ago})


def _right(quiz):
    return {q.id: list(q.correct) for q in quiz.questions}


def _wrong(quiz):
    single, multiple = quiz.questions
    wrong = next(c.id for c in single.choices if c.id not in single.correct)
    return {single.id: [wrong], multiple.id: list(multiple.correct)}


def _attempt(api, token, course, quiz, answers):
    return api.call(
        "POST",
        f"/courses/{course.slug}/lessons/{quiz.id}/quiz-attempts",
        token,
        json={"answers": answers},
    )


def _attempts_used(quiz):
    entry = Enrollment.objects.get().progress.get(quiz.id)
    return entry.attempts if entry else 0


# ------------------------------------------------------------------ the API


def test_every_question_must_be_answered(api, users, course, quiz):
    _, token = _enrolled(api, users, course)
    single, multiple = quiz.questions
    for answers in ({}, {single.id: list(single.correct)}, {multiple.id: []}):
        refused = _attempt(api, token, course, quiz, answers)
        assert refused.status_code == 422
        assert refused.json["error"]["message"] == "Answer every question before you submit."
        assert "correct" not in str(refused.json)
    assert refused.json["error"]["fields"] == {
        f"answers.{single.id}": "Answer this question.",
        f"answers.{multiple.id}": "Answer this question.",
    }
    assert QuizAttempt.objects.count() == 0 and _attempts_used(quiz) == 0  # nothing counted


def test_the_answer_key_is_shown_only_once_the_learner_has_passed(api, users, course, quiz):
    _, token = _enrolled(api, users, course)
    failed = _attempt(api, token, course, quiz, _wrong(quiz))
    assert failed.status_code == 201
    attempt = failed.json["attempt"]
    assert (attempt["score"], attempt["passed"], attempt["answers_revealed"]) == (50, False, False)
    text = str(attempt)
    assert "correct_choices" not in text and "explanation" not in text and "'correct'" not in text
    assert [q["picked"] for q in attempt["questions"]] == [sorted(v) for v in _wrong(quiz).values()]
    _end_cooldown(quiz)
    passed = _attempt(api, token, course, quiz, _right(quiz)).json["attempt"]
    assert passed["passed"] and passed["answers_revealed"]
    assert passed["questions"][1]["explanation"] == "2 and 3."
    assert passed["questions"][0]["correct_choices"] == list(quiz.questions[0].correct)
    # Once passed, later attempts show the key too.
    _end_cooldown(quiz)
    again = _attempt(api, token, course, quiz, _wrong(quiz)).json["attempt"]
    assert again["answers_revealed"] and again["questions"][0]["correct"] is False
    assert Certificate.objects.count() == 1


def test_an_instructor_may_show_the_answers_after_each_attempt(app, api, users, course, quiz):
    quiz = _settings(app, course, quiz, reveal="after_each_attempt")
    _, token = _enrolled(api, users, course)
    lesson = api.call("GET", f"/courses/{course.slug}/lessons/{quiz.id}", token).json["lesson"]
    assert lesson["quiz"]["reveal"] == "after_each_attempt"
    assert "correct" not in str(lesson["quiz"]["questions"])  # never before answering
    failed = _attempt(api, token, course, quiz, _wrong(quiz)).json["attempt"]
    assert not failed["passed"] and failed["answers_revealed"]
    assert failed["questions"][0]["correct"] is False and failed["questions"][1]["correct"] is True


def test_a_cool_down_spaces_attempts_out(api, users, course, quiz):
    _, token = _enrolled(api, users, course)
    assert _attempt(api, token, course, quiz, _wrong(quiz)).status_code == 201
    too_soon = _attempt(api, token, course, quiz, _right(quiz))
    assert too_soon.status_code == 429
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 60
    assert too_soon.json["error"]["code"] == "rate_limited"
    assert "try again in" in too_soon.json["error"]["message"]
    assert QuizAttempt.objects.count() == 1 and _attempts_used(quiz) == 1
    state = api.call("GET", f"/courses/{course.slug}/lessons/{quiz.id}", token).json
    attempts = state["lesson"]["quiz"]["attempts"]
    assert attempts["used"] == 1 and attempts["retry_after_seconds"] > 0
    assert attempts["next_attempt_at"] and attempts["max"] is None
    _end_cooldown(quiz)
    assert _attempt(api, token, course, quiz, _right(quiz)).status_code == 201


def test_a_maximum_of_attempts_and_the_instructors_reset(app, api, users, client, course, quiz):
    quiz = _settings(app, course, quiz, max_attempts=2, cooldown_minutes=0)
    learner, token = _enrolled(api, users, course, name="Quinn Learner")
    for n in (1, 2):
        answer = _attempt(api, token, course, quiz, _wrong(quiz))
        assert answer.status_code == 201
        assert answer.json["attempt"]["attempts"]["left"] == 2 - n
    spent = _attempt(api, token, course, quiz, _right(quiz))
    assert spent.status_code == 409
    assert "used all 2 attempts" in spent.json["error"]["message"]
    assert QuizAttempt.objects.count() == 2 and Certificate.objects.count() == 0

    # Another instructor and the learner cannot reset; the course's instructor can.
    url = f"/studio/{course.slug}/lessons/{quiz.id}/attempts"
    stranger = users.create("instructor")
    client.submit("/signin", {"email": stranger.email, "password": PASSWORD})
    assert client.get(url).status_code == 404
    assert client.submit(f"{url}/reset", {"learner_id": str(learner.id)}).status_code == 404
    client.submit("/signout")
    client.submit("/signin", {"email": learner.email, "password": PASSWORD})
    assert client.submit(f"{url}/reset", {"learner_id": str(learner.id)}).status_code == 403
    client.submit("/signout")  # (which ends every session and token of the learner)
    assert _attempts_used(quiz) == 2
    token = api.login(learner.email)["access_token"]

    client.submit("/signin", {"email": course.owner.email, "password": PASSWORD})
    page = client.get(url).get_data(as_text=True)
    assert "Quinn Learner" in page and "2 of 2" in page and "50%" in page
    reset = client.submit(f"{url}/reset", {"learner_id": str(learner.id)})
    assert reset.status_code == 303
    assert "can take the quiz again" in client.get(reset.headers["Location"]).get_data(as_text=True)
    assert _attempt(api, token, course, quiz, _right(quiz)).status_code == 201
    assert Certificate.objects.count() == 1
    assert client.submit(f"{url}/reset", {"learner_id": "nobody"}).status_code == 404


def test_parallel_attempts_cannot_slip_past_the_maximum(app, api, users, course, quiz):
    quiz = _settings(app, course, quiz, max_attempts=1, cooldown_minutes=0)
    _enrolled(api, users, course)
    read_by_both = Enrollment.objects.get()  # two requests read the enrolment at once
    with app.app_context():
        quizzes._claim_attempt(read_by_both, quiz)
        with pytest.raises(Conflict):
            quizzes._claim_attempt(read_by_both, quiz)
    assert _attempts_used(quiz) == 1


def test_choices_come_in_a_new_order_for_each_attempt(app, api, users, course, quiz, courses):
    with app.app_context():
        fresh = type(course).objects.get(id=course.id)
        studio.update_lesson(
            course.owner,
            fresh,
            quiz.id,
            {
                "title": quiz.title,
                "pass_mark": 100,
                "cooldown_minutes": 0,
                "shuffle": True,
                "questions": [
                    {
                        "prompt": "Pick the letter A",
                        "choices": [{"text": x, "correct": x == "A"} for x in "ABCDEFGHIJ"],
                    }
                ],
            },
        )
    quiz = type(course).objects.get(id=course.id).sections[0].lessons[0]
    _, token = _enrolled(api, users, course)
    url = f"/courses/{course.slug}/lessons/{quiz.id}"

    def order():
        lesson = api.call("GET", url, token).json["lesson"]
        return [c["text"] for c in lesson["quiz"]["questions"][0]["choices"]]

    first = order()
    assert sorted(first) == list("ABCDEFGHIJ")
    assert order() == first  # stable while the learner reads it
    _attempt(api, token, course, quiz, {quiz.questions[0].id: [quiz.questions[0].choices[1].id]})
    assert order() != first  # a new order for the next attempt
    right = _attempt(api, token, course, quiz, _right(quiz)).json["attempt"]
    assert right["passed"]  # graded by choice id, whatever the order


# ------------------------------------------------------------------ the lesson page


def _page(client, course, quiz):
    return f"/courses/{course.slug}/lessons/{quiz.id}"


def _form(quiz, answers):
    return {f"q-{qid}": picked for qid, picked in answers.items()}


def test_the_page_follows_the_same_rules(client, auth, course, quiz):
    auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    url = _page(client, course, quiz)
    single, multiple = quiz.questions
    # One question unanswered: with htmx the quiz comes back with the error beside it and
    # the other answer still ticked; without, post/redirect/get with a message.
    partial = {f"q-{multiple.id}": list(multiple.correct)}
    htmx = client.submit(f"{url}/quiz", partial, headers={"HX-Request": "true"})
    body = htmx.get_data(as_text=True)
    assert htmx.status_code == 422 and body.lstrip().startswith('<section id="quiz"')
    assert f'id="error-{single.id}"' in body and "Answer this question." in body
    assert body.count(" checked") == len(multiple.correct)
    plain = client.submit(f"{url}/quiz", partial)
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"{url}#quiz")
    assert "Answer every question" in client.get(plain.headers["Location"]).get_data(as_text=True)
    assert QuizAttempt.objects.count() == 0

    # A failed attempt shows the score, not the key; the result survives a reload (PRG).
    failed = client.submit(f"{url}/quiz", _form(quiz, _wrong(quiz)))
    assert failed.status_code == 303 and "?attempt=" in failed.headers["Location"]
    result = client.get(failed.headers["Location"]).get_data(as_text=True)
    assert "You scored <strong>50%</strong>" in result and "1 of 2 right" in result
    assert ">right answer<" not in result and "2 and 3." not in result
    assert "shown once you pass" in result and "try again in" in result.lower()
    # Too soon: refused, with the wait.
    soon = client.submit(f"{url}/quiz", _form(quiz, _right(quiz)), headers={"HX-Request": "true"})
    assert "try again in" in soon.get_data(as_text=True) and QuizAttempt.objects.count() == 1
    _end_cooldown(quiz)
    passed = client.submit(f"{url}/quiz", _form(quiz, _right(quiz)))
    shown = client.get(passed.headers["Location"]).get_data(as_text=True)
    assert "You scored <strong>100%</strong>" in shown
    assert ">right answer<" in shown and "2 and 3." in shown


def test_another_learners_attempt_is_not_shown(client, auth, api, users, course, quiz):
    _, token = _enrolled(api, users, course, name="Other Learner")
    theirs = _attempt(api, token, course, quiz, _right(quiz)).json["attempt"]["id"]
    auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    page = client.get(f"{_page(client, course, quiz)}?attempt={theirs}").get_data(as_text=True)
    assert "You scored" not in page and ">right answer<" not in page


def test_marking_complete_redirects_and_updates_the_outline(client, auth, courses):
    course = courses.published(lessons=["reading", "reading"])
    one, _ = [lesson for _, lesson in course.lessons()]
    auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    url = f"/courses/{course.slug}/lessons/{one.id}/complete"
    plain = client.submit(url, {"completed": "1"})
    assert plain.status_code == 303  # a reload does not post again
    assert plain.headers["Location"].endswith(f"/lessons/{one.id}")
    htmx = client.submit(url, {"completed": "0"}, headers={"HX-Request": "true"})
    body = htmx.get_data(as_text=True)
    assert '<aside id="lesson-outline"' in body and 'hx-swap-oob="true"' in body
    assert 'aria-label="done"' not in body
    body = client.submit(url, {"completed": "1"}, headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert body.count('aria-label="done"') == 1


def test_the_data_download_keeps_the_answer_key_until_a_pass(
    client, auth, api, users, course, quiz
):
    learner = auth.login()
    client.submit(f"/courses/{course.slug}/enroll")
    url = _page(client, course, quiz)
    client.submit(f"{url}/quiz", _form(quiz, _wrong(quiz)))
    export = client.get("/account/export").json["learning"]["quiz_attempts"]
    assert [a["score"] for a in export] == [50]
    assert "correct" not in export[0]  # which questions were right would give the key away
    _end_cooldown(quiz)
    client.submit(f"{url}/quiz", _form(quiz, _right(quiz)))
    export = client.get("/account/export").json["learning"]["quiz_attempts"]
    assert sorted(a["score"] for a in export) == [50, 100]
    assert all("correct" in a for a in export)  # passed: the key is theirs now
    assert learner.email
