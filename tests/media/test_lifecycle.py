"""Stored files from upload to deletion: quota, plain form uploads, deleting a course or
an account (by event, idempotent), orphans, the sweep on a clock."""

from __future__ import annotations

import io
from datetime import timedelta

from app.courses.documents import Course, Enrollment
from app.media.documents import MediaUpload
from tests.conftest import PASSWORD, Outbox, events_of
from tests.media.conftest import course_events, mp4


def _stored(app) -> list[str]:
    from app.media.storage import storage

    with app.app_context():
        return sorted(o.key for o in storage().list(""))


def _form_upload(studio, lesson, data: bytes, name: str):
    return studio.client.submit(
        f"/studio/{studio.course.slug}/lessons/{lesson.id}/media",
        {"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def test_a_plain_form_upload_is_streamed_checked_and_stored(studio, app):
    page = _form_upload(studio, studio.video, mp4(70_000), "clip.mov")
    assert "File uploaded" in page.get_data(as_text=True)
    pending = studio.lesson(studio.video).pending
    assert pending.status == "uploaded" and pending.filename == "clip.mov"
    assert pending.key.endswith(".mp4") and pending.size == 70_000
    (upload,) = MediaUpload.objects
    assert upload.transport == "form" and upload.state == "complete"
    assert not list((app.config["DATA_DIR"] / "uploads").glob("*")), "no staging file left"


def test_a_plain_form_upload_over_the_kind_limit_is_cut_off(studio, app):
    app.config["UPLOAD_MAX_BYTES_FILE"] = 50_000
    answer = studio.client.submit(
        f"/studio/{studio.course.slug}/lessons/{studio.sheet.id}/media",
        {"file": (io.BytesIO(b"%PDF-1.4\n" + b"x" * 200_000), "big.pdf")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 413
    assert "larger than 48.8 KB, the most a file lesson takes" in answer.get_data(as_text=True)
    assert studio.lesson(studio.sheet).pending is None
    assert not list((app.config["DATA_DIR"] / "uploads").glob("*")), "no staging file left"


def test_replacing_a_file_keeps_the_old_one_until_the_new_is_ready(studio, app):
    _form_upload(studio, studio.sheet, b"%PDF-1.4 first", "one.pdf")
    Outbox(app).deliver()
    first = studio.lesson(studio.sheet).media.key
    _form_upload(studio, studio.sheet, b"%PDF-1.4 second", "two.pdf")
    lesson = studio.lesson(studio.sheet)
    assert lesson.media.key == first and lesson.pending.status == "uploaded"
    Outbox(app).deliver()
    lesson = studio.lesson(studio.sheet)
    assert lesson.media.filename == "two.pdf" and lesson.pending is None
    assert first not in _stored(app) and lesson.media.key in _stored(app)
    (discarded,) = course_events("media.discarded")
    assert discarded.data == {"keys": [first], "reason": "replaced"}


def test_the_quota_counts_the_trash_until_it_is_purged(studio, app, runner):
    from app.media.uploads import usage

    _form_upload(studio, studio.sheet, b"%PDF-1.4 " + b"x" * 10_000, "a.pdf")
    Outbox(app).deliver()
    owner = studio.course.instructor.id
    with app.app_context():
        assert usage(owner) == 10_009
    studio.client.submit(f"/studio/{studio.course.slug}/lessons/{studio.sheet.id}/delete")
    with app.app_context():
        assert usage(owner) == 10_009  # in the trash: still stored
    Course.objects(id=studio.course.id).update_one(
        set__trash__0__deleted_at=Course.objects.get(id=studio.course.id).trash[0].deleted_at
        - timedelta(days=31)
    )
    runner.invoke(args=["courses", "purge-trash"])
    Outbox(app).deliver()
    with app.app_context():
        assert usage(owner) == 0
    assert _stored(app) == []


def test_an_admin_sets_an_instructors_quota(app, users, studio, client):
    admin = users.create("admin", name="Ada Admin")
    other = app.test_client()
    other.submit("/signin", {"email": admin.email, "password": PASSWORD})
    owner = studio.course.instructor.id
    page = other.get(f"/admin/users/{owner}/storage")
    assert page.status_code == 200 and "of 50 GB used" in page.get_data(as_text=True)
    bad = other.submit(f"/admin/users/{owner}/storage", {"quota": "-3"})
    assert bad.status_code == 422
    assert other.submit(f"/admin/users/{owner}/storage", {"quota": "2"}).status_code == 303
    assert users.get(owner).storage_quota_bytes == 2 * 1024**3
    with app.app_context():
        from app.media.uploads import quota_for

        assert quota_for(owner) == 2 * 1024**3
    assert other.submit(f"/admin/users/{owner}/storage", {"quota": ""}).status_code == 303
    assert users.get(owner).storage_quota_bytes is None
    # an instructor cannot set their own
    assert (
        studio.client.submit(f"/admin/users/{owner}/storage", {"quota": "999"}).status_code == 403
    )


def test_deleting_a_course_removes_its_files_by_event(studio, app, users):
    _form_upload(studio, studio.video, mp4(30_000), "a.mp4")
    _form_upload(studio, studio.sheet, b"%PDF-1.4 sheet", "b.pdf")
    Outbox(app).deliver()
    unfinished = studio.create(100_000, "c.mp4").headers["Location"]
    studio.patch(unfinished, 0, mp4(1000))
    originals = [k for k in _stored(app) if k.startswith("lessons/")]
    assert len(originals) == 2
    assert any(k.startswith("renditions/") for k in _stored(app))  # the video's HLS
    confirm = studio.client.get(f"/studio/{studio.course.slug}/delete")
    assert "deleted for good" in confirm.get_data(as_text=True)
    done = studio.client.submit(f"/studio/{studio.course.slug}/delete", follow_redirects=True)
    assert "is deleted, and its 2 files with it" in done.get_data(as_text=True)
    assert Course.objects(id=studio.course.id).count() == 0
    assert MediaUpload.objects(state="uploading").count() == 0  # the unfinished one stopped
    assert [k for k in _stored(app) if k.startswith("lessons/")] == originals  # until the
    # media side hears of it; then the files go, and what was made from them
    Outbox(app).deliver()
    assert _stored(app) == []
    (event,) = course_events("media.discarded")
    assert event.data["reason"] == "course_deleted"
    with app.app_context():  # a redelivery changes nothing
        from app.media.handlers import on_media_discarded

        on_media_discarded({"data": event.data})


def test_a_course_with_learners_is_only_deleted_by_an_admin(studio, app, users, courses):
    from app.courses import workflow

    with app.app_context():
        workflow.submit_for_review(courses.actor(studio.course.owner), studio.course)
        mod = users.create("moderator")
        workflow.approve(courses.actor(mod), studio.course)
    Enrollment(user_id="someone", course_id=str(studio.course.id), course_slug="x").save()
    Course.objects(id=studio.course.id).update_one(set__enrollment_count=1)
    page = studio.client.get(f"/studio/{studio.course.slug}/delete").get_data(as_text=True)
    assert "only an admin can delete it" in page and "Delete for good" not in page
    refused = studio.client.submit(f"/studio/{studio.course.slug}/delete")
    assert refused.status_code == 403 and Course.objects(id=studio.course.id).count() == 1
    admin = users.create("admin")
    other = app.test_client()
    other.submit("/signin", {"email": admin.email, "password": PASSWORD})
    assert other.submit(f"/studio/{studio.course.slug}/delete").status_code == 303
    assert Course.objects(id=studio.course.id).count() == 0
    assert Enrollment.objects(course_id=str(studio.course.id)).count() == 0


def test_a_file_still_in_use_is_kept(studio, app):
    _form_upload(studio, studio.sheet, b"%PDF-1.4 keep", "k.pdf")
    Outbox(app).deliver()
    key = studio.lesson(studio.sheet).media.key
    with app.app_context():
        from app.media.handlers import on_media_discarded

        on_media_discarded({"data": {"keys": [key], "reason": "purged"}})
    assert key in _stored(app)


def test_deleting_an_account_removes_its_avatar_by_event(client, auth, users, app):
    from tests.test_account_pages import png_bytes

    user = auth.login()
    client.submit(
        "/account/avatar",
        {"avatar": (io.BytesIO(png_bytes()), "me.png")},
        content_type="multipart/form-data",
    )
    key = users.get(user.id).avatar_key
    assert key in _stored(app)
    client.submit("/account/delete", {"password": PASSWORD})
    (event,) = events_of(app, "media.discarded")
    assert event.data == {"keys": [key], "reason": "account_deleted"} and event.key == str(user.id)
    Outbox(app).deliver()
    assert key not in _stored(app)


def test_orphans_are_listed_then_deleted(studio, app, runner):
    from app.media.storage import storage

    _form_upload(studio, studio.sheet, b"%PDF-1.4 mine", "m.pdf")
    Outbox(app).deliver()
    with app.app_context():
        storage().put("lessons/" + "a" * 32 + ".pdf", b"%PDF-1.4 lost", "application/pdf")
        storage().put("renditions/" + "a" * 32 + "/720p.m3u8", b"#EXTM3U", "text/plain")
    young = runner.invoke(args=["media", "orphans"])
    assert "Found 0 orphaned" in young.output  # younger than the grace period
    import os
    import time

    old = time.time() - 2 * 86400
    for path in (app.config["DATA_DIR"] / "media").rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))
    listed = runner.invoke(args=["media", "orphans"])
    assert "Found 2 orphaned" in listed.output and "a" * 32 in listed.output
    assert studio.lesson(studio.sheet).media.key not in listed.output
    deleted = runner.invoke(args=["media", "orphans", "--delete"])
    assert "Deleted 2 orphaned" in deleted.output
    assert _stored(app) == [studio.lesson(studio.sheet).media.key]


def test_the_sweep_runs_on_a_clock(studio, app):
    from app.chores import Schedule

    location = studio.create(1000).headers["Location"]
    studio.patch(location, 0, mp4(10))
    MediaUpload.objects.update(
        set__active_at=MediaUpload.objects.first().active_at - timedelta(days=2)
    )
    now = [1000.0]
    schedule = Schedule("media", clock=lambda: now[0])
    with app.app_context():
        assert schedule.run_due() == len(schedule.chores)  # the first turn runs them all
        now[0] += 60
        assert schedule.run_due() == 0  # not due again yet
    assert MediaUpload.objects.first().state == "aborted"
    assert Schedule("email").chores == []  # other workers leave it alone


def test_the_studio_shows_what_is_used(studio, app):
    _form_upload(studio, studio.sheet, b"%PDF-1.4 " + b"x" * 2_000_000, "a.pdf")
    Outbox(app).deliver()
    page = studio.client.get("/studio/").get_data(as_text=True)
    assert "Storage: 1.9 MB of 50 GB used" in page
    lesson_page = studio.client.get(
        f"/studio/{studio.course.slug}/lessons/{studio.video.id}"
    ).get_data(as_text=True)
    assert "1.9 MB of your 50 GB storage is used" in lesson_page


def test_lessons_that_take_no_file_have_no_file_routes(studio, app, courses):
    course = courses.draft(instructor=studio.course.owner, lessons=["reading", "quiz"])
    for lesson in course.sections[0].lessons:
        base = f"/studio/{course.slug}/lessons/{lesson.id}/media"
        assert (
            studio.client.get(f"{base}/status", headers={"HX-Request": "true"}).status_code == 404
        )
        assert studio.client.submit(base, {}).status_code == 404
        assert studio.client.submit(f"{base}/cancel").status_code == 404


def test_a_form_may_use_the_room_of_the_upload_it_replaces(studio, app):
    app.config["STORAGE_QUOTA_BYTES"] = 100_000
    location = studio.create(90_000, lesson=studio.sheet, filename="a.pdf").headers["Location"]
    studio.patch(location, 0, b"%PDF-1.4 " + b"x" * 100)
    page = _form_upload(studio, studio.sheet, b"%PDF-1.4 " + b"y" * 50_000, "b.pdf")
    assert "File uploaded" in page.get_data(as_text=True)
    assert studio.lesson(studio.sheet).pending.filename == "b.pdf"


def test_a_course_deleted_while_an_upload_completes_leaves_no_file(studio, app, monkeypatch):
    from app.courses import workflow
    from app.media import uploads
    from app.media.uploads import local
    from tests.conftest import Courses

    data = mp4(5000)
    location = studio.create(len(data)).headers["Location"]
    studio.patch(location, 0, data[:-10])
    upload = MediaUpload.objects.get(id=location.rsplit("/", 1)[1])
    original = local.finish_staged

    def delete_course_first(upload_, path):
        workflow.delete_course(Courses.actor(studio.course.owner), studio.course)
        original(upload_, path)

    monkeypatch.setattr(local, "finish_staged", delete_course_first)
    with app.test_request_context():
        uploads.append(upload, len(data) - 10, io.BytesIO(data[-10:]), 10)
    Outbox(app).deliver()
    assert _stored(app) == [] and MediaUpload.objects.get(id=upload.id).state == "complete"
