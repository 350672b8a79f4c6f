"""Nothing is deleted on one click: every destructive button asks first (a confirm page
without JavaScript, hx-confirm with it), and a deleted section or lesson waits in the
course's trash, restorable, until it is purged after TRASH_RETENTION_DAYS; only then are
its files deleted."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest

from app.courses.documents import Course, Enrollment, Review
from app.demo_media import demo_pdf
from app.media.storage import storage
from app.timeutil import utcnow
from tests.conftest import PASSWORD, Outbox

PDF = demo_pdf("Sheet", ["line"])


def _course(slug):
    return Course.objects.get(slug=slug)


def _titles(course):
    return [[s.title, [lesson.title for lesson in s.lessons]] for s in course.sections]


def _text(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def _signed_in(app, user):
    client = app.test_client()
    assert client.submit("/signin", {"email": user.email, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def instructor(users):
    return users.create("instructor", name="Ina Structor")


@pytest.fixture
def studio_client(app, instructor):
    return _signed_in(app, instructor)


@pytest.fixture
def course(app, courses, instructor, studio_client):
    """Published: "Part one" [Lesson 1 (reading), Lesson 2 (file, with a PDF)] and
    "Part two" [Extra (reading)]."""
    course = courses.published(instructor=instructor, lessons=("reading", "file"))
    slug = course.slug
    _, file_lesson = course.lessons()[1]
    uploaded = studio_client.submit(
        f"/studio/{slug}/lessons/{file_lesson.id}/media",
        {"file": (io.BytesIO(PDF), "Cheat sheet.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "File uploaded" in uploaded.get_data(as_text=True)
    Outbox(app).deliver()  # the media worker makes it ready
    studio_client.submit(f"/studio/{slug}/sections", {"section-title": "Part two"})
    two = _course(slug).sections[1].id
    studio_client.submit(
        f"/studio/{slug}/sections/{two}/lessons/new",
        {"title": "Extra", "kind": "reading", "required": "y"},
    )
    return _course(slug)


def _file_key(course):
    return course.sections[0].lessons[1].media.key


def _stored(app, key):
    with app.app_context():
        return storage().exists(key)


# ------------------------------------------------------------------ asking first


def test_the_studio_has_no_one_click_deletes(studio_client, course):
    page = studio_client.get(f"/studio/{course.slug}").get_data(as_text=True)
    assert 'value="delete"' not in page and 'value="unpublish"' not in page
    section = course.sections[0]
    # Each destructive button is a GET form to its confirm page that htmx posts after asking.
    delete = re.search(
        rf'<form method="get" action="/studio/{course.slug}/sections/{section.id}/delete"'
        rf'[^>]*hx-post="/studio/{course.slug}/sections/{section.id}/delete"[^>]*'
        r'hx-confirm="([^"]+)"',
        page,
    )
    assert delete, "no confirming delete button for the section"
    assert "Part one" in delete.group(1) and "2 lessons and 1 file" in delete.group(1)
    assert f'action="/studio/{course.slug}/unpublish"' in page


def test_deleting_a_section_asks_then_moves_it_to_the_trash(app, studio_client, course):
    slug, section = course.slug, course.sections[0]
    key = _file_key(course)
    url = f"/studio/{slug}/sections/{section.id}/delete"

    asked = studio_client.get(url)
    assert asked.status_code == 200
    text = _text(asked)
    assert "Delete the section “Part one”?" in text
    assert "2 lessons" in text and "1 file" in text
    assert "Lesson 1" in text and "Cheat sheet.pdf" in text
    assert "restore it from the studio for 30 days" in text
    assert _titles(_course(slug))[0] == ["Part one", ["Lesson 1", "Lesson 2"]]  # GET: nothing

    refused = studio_client.post(url)  # no CSRF token
    assert refused.status_code == 400
    assert len(_course(slug).sections) == 2

    done = studio_client.submit(url)
    assert done.status_code == 303 and done.headers["Location"].endswith("#trash")
    after = _course(slug)
    assert _titles(after) == [["Part two", ["Extra"]]]
    assert after.lesson_count == 1
    assert _stored(app, key)  # files go only when the trash is purged

    page = _text(studio_client.get(f"/studio/{slug}"))
    assert "Section “Part one” moved to the trash" in page
    trash = page[page.index('id="trash"') :]
    assert "Section “Part one”" in trash and "2 lessons · 1 file" in trash
    assert "by Ina Structor" in trash and "Restore" in trash
    item = after.trash[0]
    assert item.deleted_by_name == "Ina Structor" and item.section.title == "Part one"


def test_htmx_confirms_in_the_browser_and_posts_the_same_url(studio_client, course):
    slug = course.slug
    first, second = course.sections[0].lessons
    token = studio_client.csrf_token()

    def delete(lesson, page):
        return studio_client.post(
            f"/studio/{slug}/lessons/{lesson.id}/delete",
            headers={
                "HX-Request": "true",
                "X-CSRFToken": token,
                "HX-Current-URL": f"http://localhost{page}",
            },
        )

    # From the lesson's own page: to the studio's trash.
    response = delete(first, f"/studio/{slug}/lessons/{first.id}")
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/studio/{slug}#trash"
    assert _titles(_course(slug))[0] == ["Part one", ["Lesson 2"]]
    # From the studio page itself: `location.href` to the same page plus #trash would only
    # scroll, so htmx is sent to the page without the fragment, which loads it again.
    response = delete(second, f"/studio/{slug}#outline")
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/studio/{slug}"
    assert _titles(_course(slug))[0] == ["Part one", []]


def test_deleting_a_lesson_asks_then_moves_it_to_the_trash(app, studio_client, course):
    slug, lesson = course.slug, course.sections[0].lessons[1]
    url = f"/studio/{slug}/lessons/{lesson.id}/delete"
    text = _text(studio_client.get(url))
    assert "Delete the lesson “Lesson 2”?" in text and "Cheat sheet.pdf" in text
    assert len(_course(slug).sections[0].lessons) == 2
    # The lesson's own page has the button too.
    assert f'action="{url}"' in studio_client.get(f"/studio/{slug}/lessons/{lesson.id}").get_data(
        as_text=True
    )
    studio_client.submit(url)
    after = _course(slug)
    assert _titles(after)[0] == ["Part one", ["Lesson 1"]]
    assert after.trash[0].kind == "lesson" and after.trash[0].section_title == "Part one"
    assert _stored(app, lesson.media.key)
    trash = _text(studio_client.get(f"/studio/{slug}")).split('id="trash"')[1]
    assert "Lesson “Lesson 2”" in trash and "file from “Part one”" in trash


# ------------------------------------------------------------------ restoring


def test_restore_puts_a_section_back_in_its_place(studio_client, course):
    slug, section = course.slug, course.sections[0]
    studio_client.submit(f"/studio/{slug}/sections/{section.id}/delete")
    item = _course(slug).trash[0]
    response = studio_client.submit(f"/studio/{slug}/trash/{item.id}/restore")
    assert response.status_code == 303
    after = _course(slug)
    assert _titles(after) == [
        ["Part one", ["Lesson 1", "Lesson 2"]],
        ["Part two", ["Extra"]],
    ]
    assert after.trash == [] and after.lesson_count == 3
    assert after.sections[0].lessons[1].media.key == _file_key(course)
    again = studio_client.submit(f"/studio/{slug}/trash/{item.id}/restore", follow_redirects=True)
    assert "no longer in the trash" in again.get_data(as_text=True)
    assert len(_course(slug).sections) == 2


def test_restore_puts_a_lesson_back_into_its_section(studio_client, course):
    slug = course.slug
    first = course.sections[0].lessons[0]
    studio_client.submit(f"/studio/{slug}/lessons/{first.id}/delete")
    item = _course(slug).trash[0]
    studio_client.submit(f"/studio/{slug}/trash/{item.id}/restore")
    assert _titles(_course(slug))[0] == ["Part one", ["Lesson 1", "Lesson 2"]]


def test_a_lesson_whose_section_is_gone_goes_where_the_instructor_says(studio_client, course):
    slug = course.slug
    extra = course.sections[1].lessons[0]
    studio_client.submit(f"/studio/{slug}/lessons/{extra.id}/delete")
    studio_client.submit(f"/studio/{slug}/sections/{course.sections[1].id}/delete")
    lesson_item = next(t for t in _course(slug).trash if t.kind == "lesson")
    page = _text(studio_client.get(f"/studio/{slug}"))
    assert "Its section is gone; restore into" in page
    studio_client.submit(f"/studio/{slug}/sections", {"section-title": "Part three"})
    three = _course(slug).sections[1].id
    studio_client.submit(f"/studio/{slug}/trash/{lesson_item.id}/restore", {"section": three})
    assert _titles(_course(slug))[1] == ["Part three", ["Extra"]]


def test_a_lesson_goes_to_the_first_section_or_a_new_one(studio_client, course):
    slug = course.slug
    extra = course.sections[1].lessons[0]
    studio_client.submit(f"/studio/{slug}/lessons/{extra.id}/delete")
    studio_client.submit(f"/studio/{slug}/sections/{course.sections[1].id}/delete")
    item = next(t for t in _course(slug).trash if t.kind == "lesson")
    studio_client.submit(f"/studio/{slug}/trash/{item.id}/restore")  # no section chosen
    assert _titles(_course(slug)) == [["Part one", ["Lesson 1", "Lesson 2", "Extra"]]]

    lone = _course(slug).sections[0].lessons[2]
    studio_client.submit(f"/studio/{slug}/lessons/{lone.id}/delete")
    studio_client.submit(f"/studio/{slug}/sections/{course.sections[0].id}/delete")
    item = next(t for t in _course(slug).trash if t.kind == "lesson" and t.title == "Extra")
    studio_client.submit(f"/studio/{slug}/trash/{item.id}/restore")
    assert _titles(_course(slug)) == [["Part one", ["Extra"]]]  # a section with the old title


def test_progress_follows_deletes_and_restores(app, api, users, studio_client, course):
    slug = course.slug
    learner = users.create(name="Pat Learner")
    token = api.login(learner.email)["access_token"]
    api.call("POST", f"/courses/{slug}/enrollment", token)
    first = course.sections[0].lessons[0]
    api.call("PUT", f"/courses/{slug}/lessons/{first.id}/progress", token, json={"completed": True})
    assert Enrollment.objects.get().percent == 33  # 1 of 3

    studio_client.submit(f"/studio/{slug}/sections/{course.sections[1].id}/delete")
    assert Enrollment.objects.get().percent == 50  # 1 of 2
    studio_client.submit(f"/studio/{slug}/lessons/{first.id}/delete")
    assert Enrollment.objects.get().percent == 0  # 0 of 1
    for item in list(_course(slug).trash):
        studio_client.submit(f"/studio/{slug}/trash/{item.id}/restore")
    enrollment = Enrollment.objects.get()
    assert enrollment.percent == 33 and enrollment.completed_count == 1  # it counts again
    # Trashed lessons cannot be opened meanwhile.
    studio_client.submit(f"/studio/{slug}/lessons/{first.id}/delete")
    assert api.call("GET", f"/courses/{slug}/lessons/{first.id}", token).status_code == 404


# ------------------------------------------------------------------ purging


def _age(slug, days):
    """Make every trash item of the course `days` old."""
    course = _course(slug)
    for item in course.trash:
        item.deleted_at = utcnow() - timedelta(days=days)
    Course.objects(id=course.id).update_one(set__trash=course.trash)


def test_purge_deletes_old_items_and_only_then_their_files(app, runner, studio_client, course):
    slug = course.slug
    key = _file_key(course)
    studio_client.submit(f"/studio/{slug}/sections/{course.sections[0].id}/delete")
    _age(slug, 29)
    result = runner.invoke(args=["courses", "purge-trash"])
    assert result.exit_code == 0, result.output
    assert "Purged 0 trash items older than 30 days and 0 files." in result.output
    assert len(_course(slug).trash) == 1 and _stored(app, key)

    studio_client.submit(f"/studio/{slug}/lessons/{course.sections[1].lessons[0].id}/delete")
    _age(slug, 31)
    fresh = _course(slug)
    fresh.trash[1].deleted_at = utcnow()  # the lesson was deleted just now
    Course.objects(id=fresh.id).update_one(set__trash=fresh.trash)

    result = runner.invoke(args=["courses", "purge-trash"])
    assert "Purged 1 trash item older than 30 days and 1 file." in result.output
    after = _course(slug)
    assert [t.title for t in after.trash] == ["Extra"]
    assert _stored(app, key)  # until the media side hears of it
    Outbox(app).deliver()
    assert not _stored(app, key)
    page = _text(studio_client.get(f"/studio/{slug}"))
    assert "Section “Part one”" not in page


def test_the_retention_is_a_setting(app, runner, course, studio_client):
    app.config["TRASH_RETENTION_DAYS"] = 7
    studio_client.submit(f"/studio/{course.slug}/sections/{course.sections[1].id}/delete")
    _age(course.slug, 8)
    result = runner.invoke(args=["courses", "purge-trash"])
    assert "Purged 1 trash item older than 7 days" in result.output
    assert _course(course.slug).trash == []


def test_old_items_also_go_when_the_trash_next_changes(app, studio_client, course):
    slug, key = course.slug, _file_key(course)
    studio_client.submit(f"/studio/{slug}/sections/{course.sections[0].id}/delete")
    _age(slug, 31)
    studio_client.submit(f"/studio/{slug}/lessons/{course.sections[1].lessons[0].id}/delete")
    assert [t.title for t in _course(slug).trash] == ["Extra"]
    Outbox(app).deliver()
    assert not _stored(app, key)


def test_the_retention_setting_must_be_positive():
    from app.config import ConfigError, Settings

    assert Settings.from_env({}).trash_retention_days == 30
    assert (
        Settings.from_env({"TRASH_RETENTION_DAYS": "90"}).to_flask()["TRASH_RETENTION_DAYS"] == 90
    )
    with pytest.raises(ConfigError):
        Settings.from_env({"TRASH_RETENTION_DAYS": "0"})


# ------------------------------------------------------------------ nobody else's trash


def test_nobody_else_sees_or_restores_a_courses_trash(app, users, courses, studio_client, course):
    slug = course.slug
    studio_client.submit(f"/studio/{slug}/sections/{course.sections[0].id}/delete")
    item = _course(slug).trash[0]
    urls = {
        "page": f"/studio/{slug}",
        "restore": f"/studio/{slug}/trash/{item.id}/restore",
        "delete section": f"/studio/{slug}/sections/{course.sections[1].id}/delete",
        "delete lesson": f"/studio/{slug}/lessons/{course.sections[1].lessons[0].id}/delete",
        "unpublish": f"/studio/{slug}/unpublish",
    }
    rival = _signed_in(app, users.create("instructor", name="Rival"))
    learner = _signed_in(app, users.create("learner"))
    guest = app.test_client()
    for name, url in urls.items():
        assert rival.get(url).status_code in (404, 405), name
        assert rival.submit(url).status_code == 404, name
        assert learner.submit(url).status_code == 403, name
        assert guest.post(url).status_code in (302, 400), name
    # The rival's own course cannot reach this item either.
    neighbour = users.create("instructor")
    own = courses.draft(instructor=neighbour)
    other = _signed_in(app, neighbour)
    answer = other.submit(f"/studio/{own.slug}/trash/{item.id}/restore", follow_redirects=True)
    assert "no longer in the trash" in answer.get_data(as_text=True)
    assert _course(own.slug).lesson_count == 1
    after = _course(slug)
    assert len(after.trash) == 1 and len(after.sections) == 1 and after.status == "published"
    assert "Part one" not in guest.get(f"/courses/{slug}").get_data(as_text=True)


# ------------------------------------------------------------------ unpublishing


def test_an_instructor_confirms_before_unpublishing(studio_client, course):
    slug = course.slug
    text = _text(studio_client.get(f"/studio/{slug}/unpublish"))
    assert "Unpublish “" in text and "leaves the catalog" in text
    assert _course(slug).status == "published"
    old = studio_client.submit(f"/studio/{slug}/status", {"action": "unpublish"})
    assert old.status_code == 404 and _course(slug).status == "published"  # no one-click path
    studio_client.submit(f"/studio/{slug}/unpublish")
    assert _course(slug).status == "unpublished"


def test_a_moderator_confirms_before_unpublishing(app, users, course):
    slug = course.slug
    moderator = _signed_in(app, users.create("moderator", name="Mo"))
    page = moderator.get(f"/courses/{slug}").get_data(as_text=True)
    assert f'action="/moderation/courses/{slug}/unpublish"' in page and "hx-confirm" in page
    text = _text(moderator.get(f"/moderation/courses/{slug}/unpublish"))
    assert "Unpublish “" in text and "Note to the instructor" in text
    assert _course(slug).status == "published"
    old = moderator.submit(f"/moderation/courses/{slug}", {"action": "unpublish"})
    assert old.status_code == 400 and _course(slug).status == "published"
    done = moderator.submit(f"/moderation/courses/{slug}/unpublish")
    assert done.status_code == 303
    after = _course(slug)
    assert after.status == "unpublished" and after.review_note == "Unpublished by a moderator."
    learner = _signed_in(app, users.create("learner"))
    assert learner.get(f"/moderation/courses/{slug}/unpublish").status_code == 403


# ------------------------------------------------------------------ reviews


def test_deleting_a_review_asks_first(app, users, courses):
    course = courses.published()
    client = _signed_in(app, users.create(name="Lea"))
    client.submit(f"/courses/{course.slug}/enroll")
    client.submit(f"/courses/{course.slug}/review", {"rating": "4", "body": "Clear and kind"})
    page = client.get(f"/courses/{course.slug}").get_data(as_text=True)
    assert f'<form method="get" action="/courses/{course.slug}/review/delete"' in page
    text = _text(client.get(f"/courses/{course.slug}/review/delete"))
    assert "Delete your review?" in text and "Clear and kind" in text
    assert Review.objects.count() == 1
    client.submit(f"/courses/{course.slug}/review/delete")
    assert Review.objects.count() == 0
    assert client.get(f"/courses/{course.slug}/review/delete").status_code == 404
