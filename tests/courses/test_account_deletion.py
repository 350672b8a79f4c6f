"""Account deletion reaches the course side through the user.deleted event."""

from __future__ import annotations

from app.courses.documents import Certificate, Course, Enrollment, QuizAttempt, Review
from tests.conftest import PASSWORD


def test_a_learners_course_data_goes_with_their_account(app, users, courses, outbox, api):
    course = courses.published(lessons=["quiz"])
    quiz = course.sections[0].lessons[0]
    leaver = users.create(name="Leaver")
    stayer = users.create(name="Stayer")
    for user in (leaver, stayer):
        token = api.login(user.email)["access_token"]
        api.call("POST", f"/courses/{course.slug}/enrollment", token)
        api.call(
            "POST",
            f"/courses/{course.slug}/lessons/{quiz.id}/quiz-attempts",
            token,
            json={"answers": {q.id: q.correct for q in quiz.questions}},
        )
        client = app.test_client()
        client.submit("/signin", {"email": user.email, "password": PASSWORD})
        client.submit(f"/courses/{course.slug}/review", {"rating": "1" if user is leaver else "5"})
    assert Course.objects.get(id=course.id).rating_avg == 3.0
    token = api.login(leaver.email)["access_token"]
    assert (
        api.call("DELETE", "/users/account", token, json={"password": PASSWORD}).status_code == 204
    )
    outbox.deliver()
    leaver_id = str(leaver.id)
    for model in (Enrollment, QuizAttempt, Review, Certificate):
        assert model.objects(user_id=leaver_id).count() == 0, model
        assert model.objects(user_id=str(stayer.id)).count() == 1, model
    after = Course.objects.get(id=course.id)
    assert (after.enrollment_count, after.rating_count, after.rating_avg) == (1, 1, 5.0)


def test_redelivery_changes_nothing(app, users, courses, api):
    from app.courses.handlers import on_user_deleted

    course = courses.published()
    learner = users.create()
    token = api.login(learner.email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    other = api.login(users.create().email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", other)
    event = {
        "type": "user.deleted",
        "data": {"user_id": str(learner.id), "email": "x@y.z", "role": "learner"},
    }
    with app.app_context():
        on_user_deleted(event)
        on_user_deleted(event)
    assert Course.objects.get(id=course.id).enrollment_count == 1


def test_an_instructors_courses_are_unpublished_and_flagged(app, users, courses, api, outbox):
    course = courses.published()
    draft = courses.draft(instructor=course.owner)
    token = api.login(course.owner.email)["access_token"]
    api.call("DELETE", "/users/account", token, json={"password": PASSWORD})
    outbox.deliver()
    for c in (course, draft):
        after = Course.objects.get(id=c.id)
        assert after.instructor.deleted is True
        assert after.status in ("unpublished", "draft")
    assert Course.objects.get(id=course.id).status == "unpublished"
    assert app.test_client().get(f"/courses/{course.slug}").status_code == 404


def test_an_admin_reassigns_an_orphaned_course(app, users, courses, api, outbox, runner):
    course = courses.published()
    token = api.login(course.owner.email)["access_token"]
    api.call("DELETE", "/users/account", token, json={"password": PASSWORD})
    outbox.deliver()
    heir = users.create("instructor", email="heir@example.com", name="Heir Apparent")
    learner = users.create(email="learner@example.com")
    refused = runner.invoke(args=["courses", "reassign", course.slug, learner.email])
    assert refused.exit_code != 0 and "not an instructor" in refused.output
    result = runner.invoke(args=["courses", "reassign", course.slug, heir.email])
    assert result.exit_code == 0, result.output
    after = Course.objects.get(id=course.id)
    assert after.instructor.id == str(heir.id) and not after.instructor.deleted
    assert after.status == "unpublished"
    client = app.test_client()
    client.submit("/signin", {"email": heir.email, "password": PASSWORD})
    assert client.get(f"/studio/{course.slug}").status_code == 200


def test_a_rename_reaches_courses_and_reviews(app, users, courses, api, outbox):
    course = courses.published()
    learner = users.create(name="Old Name")
    token = api.login(learner.email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    client = app.test_client()
    client.submit("/signin", {"email": learner.email, "password": PASSWORD})
    client.submit(f"/courses/{course.slug}/review", {"rating": "4"})
    api.call("PUT", "/users/profile", token, json={"name": "New Name"})
    teacher = api.login(course.owner.email)["access_token"]
    api.call("PUT", "/users/profile", teacher, json={"name": "Renamed Teacher"})
    outbox.deliver()
    assert Review.objects.get().user_name == "New Name"
    after = Course.objects.get(id=course.id)
    assert after.instructor.name == "Renamed Teacher" and "renamed" in after.keywords
    assert "Renamed Teacher" in client.get(f"/courses/{course.slug}").get_data(as_text=True)


def test_download_my_data_includes_learning(app, users, courses, api):
    import json

    course = courses.published(lessons=["quiz"])
    quiz = course.sections[0].lessons[0]
    learner = users.create()
    token = api.login(learner.email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    api.call(
        "POST",
        f"/courses/{course.slug}/lessons/{quiz.id}/quiz-attempts",
        token,
        json={"answers": {q.id: q.correct for q in quiz.questions}},
    )
    client = app.test_client()
    client.submit("/signin", {"email": learner.email, "password": PASSWORD})
    data = json.loads(client.get("/account/export").get_data())
    learning = data["learning"]
    assert [e["course_slug"] for e in learning["enrollments"]] == [course.slug]
    assert learning["enrollments"][0]["progress"][quiz.id]["completed"] is True
    assert [a["score"] for a in learning["quiz_attempts"]] == [100]
    assert len(learning["certificates"]) == 1
    assert learning["reviews"] == []


def test_download_my_data_does_not_reveal_who_reported_my_review(app, users, courses):
    import json

    course = courses.published()
    clients = {}
    for name in ("author", "reporter"):
        client = app.test_client()
        user = users.create(email=f"{name}@example.com")
        client.submit("/signin", {"email": user.email, "password": PASSWORD})
        client.submit(f"/courses/{course.slug}/enroll")
        clients[name] = (client, user)
    author, _ = clients["author"]
    reporter_client, reporter = clients["reporter"]
    author.submit(f"/courses/{course.slug}/review", {"rating": "2", "body": "Meh"})
    reporter_client.submit(f"/reviews/{Review.objects.get().id}/report")
    exported = author.get("/account/export").get_data(as_text=True)
    assert str(reporter.id) not in exported
    assert json.loads(exported)["learning"]["reviews"][0]["body"] == "Meh"


def test_the_studio_trash_forgets_a_deleted_account_and_follows_a_rename(app, users, courses):
    from app.courses import studio
    from app.courses.handlers import on_user_deleted, on_user_renamed

    admin = users.create("admin", name="Ada Admin")
    course = courses.published(lessons=["reading", "reading"])
    first, second = [lesson.id for _, lesson in course.lessons()]
    with app.app_context():
        studio.delete_lesson(courses.actor(admin), course, first)
        studio.delete_lesson(courses.actor(course.owner), course, second)
        on_user_renamed(
            {"type": "user.renamed", "data": {"user_id": str(admin.id), "name": "Ada K"}}
        )
    names = {
        t.lesson.title: (t.deleted_by_id, t.deleted_by_name)
        for t in Course.objects.get(id=course.id).trash
    }
    assert names["Lesson 1"] == (str(admin.id), "Ada K")
    with app.app_context():
        event = {
            "type": "user.deleted",
            "data": {"user_id": str(admin.id), "email": "a@b.c", "role": "admin"},
        }
        on_user_deleted(event)
        on_user_deleted(event)
    names = {
        t.lesson.title: (t.deleted_by_id, t.deleted_by_name)
        for t in Course.objects.get(id=course.id).trash
    }
    assert names["Lesson 1"] == ("", "")
    assert names["Lesson 2"] == (str(course.owner.id), "Ina Structor")
