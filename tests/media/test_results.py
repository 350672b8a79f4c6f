"""What the media side says of an upload (`media.ready`, `media.failed`) reaches the
lesson and the instructor, once, and never undoes a newer upload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from app.media.documents import MediaUpload
from tests.conftest import Outbox
from tests.media.conftest import course_events, mp4


def _stored_keys(app) -> set[str]:
    with app.app_context():
        from app.media.storage import storage

        return {item.key for item in storage().list("lessons/")}


def test_an_upload_becomes_ready_and_its_instructor_is_told_once(studio, app):
    data = mp4(40_000)
    studio.upload(data)
    outbox = Outbox(app)
    mails = [m for m in outbox.messages() if m["Subject"].startswith("Ready:")]
    assert len(mails) == 1 and studio.course.owner.email in mails[0]["To"]
    body = mails[0].get_body(("plain",)).get_content()
    assert studio.video.title in body and studio.course.title in body
    assert f"/studio/{studio.course.slug}/lessons/{studio.video.id}" in body
    lesson = studio.lesson(studio.video)
    assert lesson.media.status == "ready" and lesson.pending is None

    with app.app_context():  # a redelivery of every event changes nothing, sends nothing
        from app.events.bus import deliver

        for event in course_events("media.uploaded"):
            deliver(event.envelope())
    assert len([m for m in outbox.messages() if m["Subject"].startswith("Ready:")]) == 1


def test_a_file_that_storage_lost_fails_with_a_reason_and_the_old_file_stays(studio, app):
    first = mp4(20_000)
    studio.upload(first)
    Outbox(app).deliver()
    kept = studio.lesson(studio.video).media.key

    location, _ = studio.upload(mp4(30_000))
    upload = MediaUpload.objects.get(id=location.rsplit("/", 1)[1])
    with app.app_context():
        from app.media.storage import storage

        storage().delete(upload.key)  # lost between the upload and its processing

    messages = Outbox(app).messages()
    lesson = studio.lesson(studio.video)
    assert lesson.media.key == kept and lesson.media.status == "ready"
    assert lesson.pending.status == "failed"
    assert "gone from storage" in lesson.pending.error
    failed = [m for m in messages if m["Subject"].startswith("Could not use")]
    assert len(failed) == 1 and "gone from storage" in failed[0].get_body(("plain",)).get_content()
    page = studio.client.get(f"/studio/{studio.course.slug}/lessons/{studio.video.id}")
    assert "gone from storage" in page.get_data(as_text=True)


def test_a_report_about_a_replaced_upload_changes_nothing_and_frees_its_file(studio, app):
    older, _ = studio.upload(mp4(20_000))  # complete, not yet prepared
    older_key = MediaUpload.objects.get(id=older.rsplit("/", 1)[1]).key
    newer = studio.create(50_000).headers["Location"]  # the instructor starts another
    Outbox(app).deliver()

    lesson = studio.lesson(studio.video)
    assert not lesson.media.key  # the older upload never became the lesson's file
    assert lesson.pending.status == "uploading"
    assert lesson.pending.upload_id == newer.rsplit("/", 1)[1]
    assert older_key not in _stored_keys(app)  # nothing refers to it: deleted


def test_an_event_recorded_before_the_upgrade_is_still_handled(studio, app):
    location, _ = studio.upload(mp4(10_000))
    upload = MediaUpload.objects.get(id=location.rsplit("/", 1)[1])
    version_1 = {
        "id": str(uuid.uuid4()),
        "type": "media.uploaded",
        "version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "courses",
        "data": {
            "upload_id": upload.id,
            "course_id": upload.course_id,
            "lesson_id": upload.lesson_id,
            "key": upload.key,
            "size": 10_000,
            "content_type": "video/mp4",
        },
    }
    from app.courses.outbox import DocOutboxEvent

    DocOutboxEvent.objects(type="media.uploaded").delete()  # only the old-style one
    with app.app_context():
        from app.events.bus import deliver

        deliver(version_1)
    messages = Outbox(app).messages()
    assert studio.lesson(studio.video).media.key == upload.key
    assert not [m for m in messages if m["Subject"].startswith("Ready:")]  # nobody named
