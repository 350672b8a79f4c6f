"""The studio: authoring pages, ordering, media, and the publishing workflow."""

from __future__ import annotations

import io
import re
import time

import pytest

from app.courses.documents import Course
from tests.conftest import PASSWORD, Outbox


@pytest.fixture
def instructor(client, auth):
    return auth.login("instructor", name="Ina Structor")


def _course(slug):
    return Course.objects.get(slug=slug)


def _create(client, **fields):
    data = {"title": "My Course", "level": "beginner", "language": "en", **fields}
    response = client.submit("/studio/new", data)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"].rsplit("/", 1)[-1]


def test_create_course_with_sections_and_lessons(client, instructor):
    slug = _create(client, title="Cooking 101", tags="food, Beginners, food", category="Food")
    assert slug == "cooking-101"
    course = _course(slug)
    assert course.status == "draft" and course.tags == ["food", "beginners"]
    assert course.instructor.id == str(instructor.id)
    client.submit(f"/studio/{slug}/sections", {"section-title": "Knives"})
    client.submit(f"/studio/{slug}/sections", {"section-title": "Heat"})
    first, second = (s.id for s in _course(slug).sections)
    response = client.submit(
        f"/studio/{slug}/sections/{first}/lessons/new",
        {
            "title": "Holding a knife",
            "kind": "reading",
            "body": "Curl your fingers.",
            "required": "y",
        },
    )
    assert response.status_code == 303
    client.submit(
        f"/studio/{slug}/sections/{second}/lessons/new",
        {
            "title": "Heat quiz",
            "kind": "quiz",
            "pass_mark": "50",
            "required": "y",
            "questions": "? Which is hotter?\n- Simmer\n* Boil\n> Boiling is 100 C.\n\n"
            "?? Which are fats?\n* Butter\n* Oil\n- Water",
        },
    )
    course = _course(slug)
    assert course.lesson_count == 2
    quiz = course.sections[1].lessons[0]
    assert [len(q.choices) for q in quiz.questions] == [2, 3]
    assert quiz.questions[1].multiple and len(quiz.questions[1].correct) == 2
    # The editor shows the quiz back in the same text format.
    page = client.get(f"/studio/{slug}/lessons/{quiz.id}").get_data(as_text=True)
    assert "?? Which are fats?" in page and "* Boil" in page


def test_same_title_gets_a_new_slug(client, instructor):
    assert _create(client, title="Same") == "same"
    assert _create(client, title="Same") == "same-2"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "<script>alert(1)</script>"}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"level": "expert"}, "level"),
        ({"language": "english!"}, "language"),
        ({"tags": ",".join(f"t{i}" for i in range(13))}, "tags"),
        ({"tags": "<b>"}, "tags"),
        ({"category": "<i>x</i>"}, "category"),
    ],
)
def test_bad_course_fields_change_nothing(client, instructor, fields, field):
    data = {"title": "Fine", "level": "beginner", "language": "en", **fields}
    response = client.submit("/studio/new", data)
    assert response.status_code == 422, fields
    assert Course.objects.count() == 0


def test_quiz_text_needs_right_answers(client, instructor):
    slug = _create(client)
    client.submit(f"/studio/{slug}/sections", {"section-title": "S"})
    section = _course(slug).sections[0].id
    for text in [
        "? No right answer\n- a\n- b",
        "? Two right in single\n* a\n* b",
        "? One choice\n* a",
    ]:
        response = client.submit(
            f"/studio/{slug}/sections/{section}/lessons/new",
            {"title": "Q", "kind": "quiz", "questions": text},
        )
        assert response.status_code == 422, text
    assert _course(slug).lesson_count == 0


def test_reorder_sections_and_lessons(client, instructor):
    slug = _create(client)
    for title in ("A", "B"):
        client.submit(f"/studio/{slug}/sections", {"section-title": title})
    a, b = (s.id for s in _course(slug).sections)
    for title in ("a1", "a2"):
        client.submit(
            f"/studio/{slug}/sections/{a}/lessons/new", {"title": title, "kind": "reading"}
        )
    client.submit(f"/studio/{slug}/sections/{b}/move", {"direction": "up"})
    assert [s.title for s in _course(slug).sections] == ["B", "A"]
    a1 = _course(slug).sections[1].lessons[0].id
    client.submit(f"/studio/{slug}/lessons/{a1}/move", {"direction": "down"})
    assert [x.title for x in _course(slug).sections[1].lessons] == ["a2", "a1"]
    a2 = _course(slug).sections[1].lessons[0].id
    client.submit(f"/studio/{slug}/lessons/{a2}/move", {"direction": "up"})  # into section B
    course = _course(slug)
    assert [x.title for x in course.sections[0].lessons] == ["a2"]
    assert [x.title for x in course.sections[1].lessons] == ["a1"]
    client.submit(f"/studio/{slug}/sections/{b}/rename", {"title": "Intro"})
    client.submit(f"/studio/{slug}/lessons/{a1}/delete")
    course = _course(slug)
    assert course.sections[0].title == "Intro" and course.lesson_count == 1


def test_workflow_submit_approve_unpublish(app, client, instructor, users):
    slug = _create(client)
    empty = client.submit(f"/studio/{slug}/submit", {}, follow_redirects=True)
    assert "at least one lesson" in empty.get_data(as_text=True)
    assert _course(slug).status == "draft"
    client.submit(f"/studio/{slug}/sections", {"section-title": "S"})
    client.submit(
        f"/studio/{slug}/sections/{_course(slug).sections[0].id}/lessons/new",
        {"title": "L", "kind": "reading"},
    )
    client.submit(f"/studio/{slug}/submit", {})
    assert _course(slug).status == "in_review"
    assert app.test_client().get(f"/courses/{slug}").status_code == 404  # not public yet

    moderator = app.test_client()
    mod = users.create("moderator")
    moderator.submit("/signin", {"email": mod.email, "password": PASSWORD})
    queue = moderator.get("/moderation/").get_data(as_text=True)
    assert "My Course" in queue
    sent_back = moderator.submit(f"/moderation/courses/{slug}", {"action": "reject", "note": ""})
    assert sent_back.status_code == 303 and _course(slug).status == "in_review"  # note needed
    moderator.submit(
        f"/moderation/courses/{slug}", {"action": "reject", "note": "Add a summary please."}
    )
    assert _course(slug).status == "draft"
    assert "Add a summary please." in client.get(f"/studio/{slug}").get_data(as_text=True)
    client.submit(f"/studio/{slug}/submit", {})
    moderator.submit(f"/moderation/courses/{slug}", {"action": "approve"})
    course = _course(slug)
    assert course.status == "published" and course.published_at is not None
    assert app.test_client().get(f"/courses/{slug}").status_code == 200
    again = moderator.submit(
        f"/moderation/courses/{slug}", {"action": "approve"}, follow_redirects=True
    )
    assert "cannot be published" in again.get_data(as_text=True)
    client.submit(f"/studio/{slug}/unpublish")
    assert _course(slug).status == "unpublished"
    assert app.test_client().get(f"/courses/{slug}").status_code == 404


def test_instructors_cannot_touch_each_others_courses(app, client, instructor, users):
    slug = _create(client)
    other = app.test_client()
    rival = users.create("instructor")
    other.submit("/signin", {"email": rival.email, "password": PASSWORD})
    assert other.get(f"/studio/{slug}").status_code == 404
    assert (
        other.submit(
            f"/studio/{slug}", {"title": "Stolen", "level": "beginner", "language": "en"}
        ).status_code
        == 404
    )
    assert other.submit(f"/studio/{slug}/sections", {"section-title": "x"}).status_code == 404
    assert other.submit(f"/studio/{slug}/submit", {}).status_code == 404
    assert other.get(f"/studio/{slug}/dashboard").status_code == 404
    assert slug not in other.get("/studio/").get_data(as_text=True)
    course = _course(slug)
    assert course.title == "My Course" and course.sections == []


def test_moderators_cannot_approve_without_the_role(app, courses, users, client, auth):
    course = courses.draft()
    from app.courses import workflow

    with app.app_context():
        workflow.submit_for_review(course.owner, course)
    auth.login("learner")
    assert (
        client.submit(f"/moderation/courses/{course.slug}", {"action": "approve"}).status_code
        == 403
    )
    assert _course(course.slug).status == "in_review"


def _upload(client, slug, lesson_id, content, name):
    """A plain form's upload, then the events it causes (the file becomes ready)."""
    response = client.submit(
        f"/studio/{slug}/lessons/{lesson_id}/media",
        {"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    Outbox(client.application).deliver()
    return response


def test_lesson_files_are_typed_by_content_and_served_signed(client, instructor, app):
    from app.demo_media import demo_pdf

    slug = _create(client)
    client.submit(f"/studio/{slug}/sections", {"section-title": "S"})
    section = _course(slug).sections[0].id
    client.submit(
        f"/studio/{slug}/sections/{section}/lessons/new", {"title": "Video", "kind": "video"}
    )
    client.submit(
        f"/studio/{slug}/sections/{section}/lessons/new", {"title": "Sheet", "kind": "file"}
    )
    video, sheet = _course(slug).sections[0].lessons
    fake = _upload(client, slug, video.id, b"%PDF-1.4 not a video", "clip.mp4")
    assert "not what its name says" in fake.get_data(as_text=True)
    refused = _course(slug).sections[0].lessons[0]
    assert refused.media.status == "none" and refused.pending.status == "failed"
    assert "looks like pdf" in refused.pending.error
    wrong_kind = _upload(client, slug, video.id, b"%PDF-1.4", "notes.pdf")
    assert "A video lesson takes" in wrong_kind.get_data(as_text=True)
    pdf = demo_pdf("Sheet", ["line"])
    ok = _upload(client, slug, sheet.id, pdf, "../../etc/passwd.exe")
    assert "File uploaded" in ok.get_data(as_text=True)
    media = _course(slug).sections[0].lessons[1].media
    assert media.content_type == "application/pdf" and media.key.endswith(".pdf")
    assert "/" not in media.filename and media.filename.endswith("passwd.exe")
    page = client.get(f"/courses/{slug}/lessons/{sheet.id}").get_data(as_text=True)
    # Named .exe: offered as the download its name promised, never shown in the page.
    url = re.search(r'href="(/media/lessons/[^"]+)" download', page).group(1).replace("&amp;", "&")
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.get_data() == pdf
    served.close()
    _upload(client, slug, sheet.id, pdf, "Sheet.pdf")  # named for what it is: in the page
    page = client.get(f"/courses/{slug}/lessons/{sheet.id}").get_data(as_text=True)
    url = re.search(r'src="(/media/lessons/[^"]+)"', page).group(1).replace("&amp;", "&")
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "application/pdf"
    served.close()
    bare = url.split("?")[0]
    assert client.get(bare).status_code == 403
    assert client.get(url.replace("signature=", "signature=0")).status_code == 403
    expired = url.split("expires=")[0] + f"expires={int(time.time()) - 1}&signature=x"
    assert client.get(expired).status_code == 403


def test_a_moderator_can_unpublish_from_the_course_page(app, courses, users):
    course = courses.published()
    moderator = app.test_client()
    mod = users.create("moderator")
    moderator.submit("/signin", {"email": mod.email, "password": PASSWORD})
    page = moderator.get(f"/courses/{course.slug}").get_data(as_text=True)
    assert "Unpublish (moderator)" in page
    moderator.submit(f"/moderation/courses/{course.slug}/unpublish", {"note": "Off-topic"})
    after = _course(course.slug)
    assert after.status == "unpublished" and after.review_note == "Off-topic"


def test_cover_image_is_reencoded_and_replaced(client, instructor):
    from tests.test_account_pages import png_bytes

    slug = _create(client)
    for name in ("first.png", "second.png"):
        client.submit(
            f"/studio/{slug}/cover",
            {"file": (io.BytesIO(png_bytes((1600, 900))), name)},
            content_type="multipart/form-data",
        )
        if name == "first.png":
            first_key = _course(slug).cover_key
    key = _course(slug).cover_key
    assert key.startswith("covers/") and key.endswith(".webp") and key != first_key
    served = client.get(f"/media/{key}")
    assert served.status_code == 200 and served.mimetype == "image/webp"
    served.close()
    assert client.get(f"/media/{first_key}").status_code == 404  # the old one is gone
    bad = client.submit(
        f"/studio/{slug}/cover",
        {"file": (io.BytesIO(b"<svg/>"), "x.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "not an image" in bad.get_data(as_text=True) and _course(slug).cover_key == key
