"""The local store's resumable uploads: tus 1.0 (core, creation, termination,
expiration) through HTTP, with the bad requests a hostile client would send."""

from __future__ import annotations

import fcntl
import hashlib
import io
from datetime import timedelta

import pytest

from app.media.documents import MediaUpload
from tests.conftest import Outbox
from tests.media.conftest import course_events, metadata, mp4


def test_options_says_what_the_server_speaks(studio):
    answer = studio.client.options("/uploads/tus")
    assert answer.status_code == 204
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert set(answer.headers["Tus-Extension"].split(",")) == {
        "creation",
        "termination",
        "expiration",
    }
    assert int(answer.headers["Tus-Max-Size"]) == 20 * 1024**3


def test_an_upload_in_chunks_becomes_the_lesson_file(studio, app):
    data = mp4(300_000)
    location, last = studio.upload(data, chunk=100_000)
    assert last.status_code == 204 and last.headers["Upload-Offset"] == str(len(data))
    assert "Upload-Expires" in last.headers
    pending = studio.lesson(studio.video).pending
    assert pending.status == "uploaded" and pending.size == len(data)
    assert pending.filename == "talk.mp4" and pending.content_type == "video/mp4"
    (event,) = course_events("media.uploaded")
    assert event.data["key"] == pending.key and event.data["size"] == len(data)
    head = studio.client.head(location, headers=studio.headers())
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(data))

    Outbox(app).deliver()  # the media side makes it the lesson's file
    lesson = studio.lesson(studio.video)
    assert lesson.pending is None and lesson.media.status == "ready"
    with app.app_context():
        from app.media.storage import storage

        stored = b"".join(storage().read(lesson.media.key))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


def test_head_tells_where_to_resume(studio):
    data = mp4(50_000)
    created = studio.create(len(data))
    location = created.headers["Location"]
    assert studio.patch(location, 0, data[:20_000]).headers["Upload-Offset"] == "20000"
    head = studio.client.head(location, headers=studio.headers())
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "20000"
    assert head.headers["Upload-Length"] == "50000" and head.headers["Cache-Control"] == "no-store"
    pending = studio.lesson(studio.video).pending
    assert pending.status == "uploading"
    page = studio.client.get(
        f"/studio/{studio.course.slug}/lessons/{studio.video.id}/media/status",
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "19.5 KB of 48.8 KB received" in page and 'hx-trigger="every 2s"' in page
    finished = studio.patch(location, 20_000, data[20_000:])
    assert finished.status_code == 204
    page = studio.client.get(
        f"/studio/{studio.course.slug}/lessons/{studio.video.id}/media/status",
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "uploaded" in page


def test_a_chunk_at_the_wrong_offset_is_a_conflict(studio):
    location = studio.create(1000).headers["Location"]
    studio.patch(location, 0, mp4(400))
    answer = studio.patch(location, 100, b"x" * 100)
    assert answer.status_code == 409
    assert "at byte 400" in answer.get_json()["error"]["message"]
    assert studio.client.head(location, headers=studio.headers()).headers["Upload-Offset"] == "400"


def test_a_chunk_past_the_declared_size_is_refused_whole(studio, app):
    location = studio.create(1000).headers["Location"]
    studio.patch(location, 0, mp4(600))
    assert studio.patch(location, 600, b"x" * 500).status_code == 413  # says so up front
    assert studio.client.head(location, headers=studio.headers()).headers["Upload-Offset"] == "600"


def test_a_chunk_that_lies_about_its_length_changes_nothing(studio, app):
    """Sent without a length (chunked), past the size: refused once it gets there."""
    location = studio.create(1000).headers["Location"]
    studio.patch(location, 0, mp4(600))

    answer = studio.client.patch(
        location,
        input_stream=io.BytesIO(b"y" * 600),
        headers=studio.headers(
            **{"Upload-Offset": "600", "Content-Type": "application/offset+octet-stream"}
        ),
        environ_overrides={"wsgi.input_terminated": True},  # as a server does for chunked
    )
    assert answer.status_code == 413
    assert studio.client.head(location, headers=studio.headers()).headers["Upload-Offset"] == "600"


def test_the_protocol_is_checked(studio):
    location = studio.create(1000).headers["Location"]
    no_version = studio.client.head(location, headers={"X-CSRFToken": studio.token})
    assert no_version.status_code == 412
    wrong_type = studio.patch(location, 0, b"x", **{"Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    no_offset = studio.patch(location, 0, b"x", **{"Upload-Offset": "-1"})
    assert no_offset.status_code == 400
    deferred = studio.client.post(
        "/uploads/tus", headers=studio.headers(**{"Upload-Defer-Length": "1"})
    )
    assert deferred.status_code == 400
    bad_meta = studio.client.post(
        "/uploads/tus",
        headers=studio.headers(**{"Upload-Length": "10", "Upload-Metadata": "course %%%"}),
    )
    assert bad_meta.status_code == 400


def test_creation_checks_the_type_the_size_and_the_lesson(studio, app):
    too_big = studio.create(20 * 1024**3 + 1)
    assert too_big.status_code == 413
    assert "at most 20 GB" in too_big.get_json()["error"]["message"]
    pdf_into_video = studio.create(1000, "notes.pdf")
    assert pdf_into_video.status_code == 422
    assert "A video lesson takes" in str(pdf_into_video.get_json())
    empty = studio.create(0)
    assert empty.status_code == 422
    image = studio.create(21 * 1024**2, "photo.jpg", lesson=studio.sheet)
    assert image.status_code == 413  # images are re-encoded in memory: 20 MB at most
    nowhere = studio.client.post(
        "/uploads/tus",
        headers=studio.headers(
            **{
                "Upload-Length": "10",
                "Upload-Metadata": metadata(course=studio.course.slug, lesson="nope"),
            }
        ),
    )
    assert nowhere.status_code == 404
    assert MediaUpload.objects.count() == 0


def test_content_that_is_not_its_claimed_type_is_refused_at_the_end(studio, app):
    data = b"%PDF-1.7\n" + b"x" * 5000  # a PDF called .mp4
    location, last = studio.upload(data, "talk.mp4")
    assert last.status_code == 422
    assert "not what its name says" in last.get_json()["error"]["message"]
    lesson = studio.lesson(studio.video)
    assert lesson.pending.status == "failed" and "looks like pdf" in lesson.pending.error
    assert lesson.media.status == "none"
    assert course_events("media.uploaded") == []
    assert studio.client.head(location, headers=studio.headers()).status_code == 404
    with app.app_context():
        from app.media.storage import storage

        assert list(storage().list("lessons/")) == []


def test_termination_removes_what_arrived(studio, app):
    location = studio.create(1000).headers["Location"]
    studio.patch(location, 0, mp4(500))
    assert studio.client.delete(location, headers=studio.headers()).status_code == 204
    assert studio.client.head(location, headers=studio.headers()).status_code == 404
    assert studio.patch(location, 500, b"x" * 500).status_code == 404
    assert studio.lesson(studio.video).pending is None
    with app.app_context():
        from app.media.uploads import staging_path

        assert not staging_path(location.rsplit("/", 1)[1]).exists()


def test_a_second_writer_waits_its_turn(studio, app):
    location = studio.create(1000).headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    with app.app_context():
        from app.media.uploads import staging_path

        path = staging_path(upload_id)
    with path.open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a request still writing an earlier chunk
        answer = studio.patch(location, 0, mp4(100))
    assert answer.status_code == 423
    assert studio.patch(location, 0, mp4(100)).status_code == 204


def test_a_new_upload_replaces_one_on_its_way(studio, app):
    first = studio.create(1000).headers["Location"]
    studio.patch(first, 0, mp4(100))
    second = studio.create(2000, "better.mp4").headers["Location"]
    assert studio.client.head(first, headers=studio.headers()).status_code == 404
    assert studio.lesson(studio.video).pending.filename == "better.mp4"
    assert studio.client.head(second, headers=studio.headers()).status_code == 200


def test_an_abandoned_upload_is_swept(studio, app):
    location = studio.create(1000).headers["Location"]
    studio.patch(location, 0, mp4(100))
    upload_id = location.rsplit("/", 1)[1]
    with app.app_context():
        from app.media.uploads import staging_path, sweep_abandoned
        from app.timeutil import utcnow

        assert sweep_abandoned() == 0  # still fresh
        assert sweep_abandoned(utcnow() + timedelta(hours=25)) == 1
        assert not staging_path(upload_id).exists()
    assert MediaUpload.objects.get(id=upload_id).state == "aborted"
    assert studio.lesson(studio.video).pending is None
    assert studio.client.head(location, headers=studio.headers()).status_code == 404


@pytest.mark.parametrize("who", ["stranger", "learner", "guest"])
def test_nobody_else_can_touch_an_upload(studio, app, users, who):
    from tests.conftest import PASSWORD

    location = studio.create(1000).headers["Location"]
    other = app.test_client()
    if who != "guest":
        user = users.create("instructor" if who == "stranger" else "learner")
        other.submit("/signin", {"email": user.email, "password": PASSWORD})
    token = other.csrf_token()
    headers = {"X-CSRFToken": token, "Tus-Resumable": "1.0.0"}
    head = other.head(location, headers=headers)
    patch = other.patch(
        location,
        data=b"x",
        headers=headers | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    delete = other.delete(location, headers=headers)
    expected = {"stranger": 404, "learner": 403, "guest": 401}[who]
    assert [head.status_code, patch.status_code, delete.status_code] == [expected] * 3
    # and nothing changed
    assert studio.client.head(location, headers=studio.headers()).headers["Upload-Offset"] == "0"


def test_an_upload_into_someone_elses_lesson_is_refused(studio, app, courses):
    theirs = courses.draft(lessons=["video"])
    lesson = theirs.sections[0].lessons[0]
    answer = studio.client.post(
        "/uploads/tus",
        headers=studio.headers(
            **{
                "Upload-Length": "100",
                "Upload-Metadata": metadata(course=theirs.slug, lesson=lesson.id, filename="a.mp4"),
            }
        ),
    )
    assert answer.status_code == 404
    assert MediaUpload.objects.count() == 0


def test_a_guessed_upload_id_finds_nothing(studio):
    for guess in ("0" * 32, "../../etc/passwd", "x" * 200):
        assert studio.client.head(
            f"/uploads/tus/{guess}", headers=studio.headers()
        ).status_code in (404,)


def test_without_the_csrf_token_nothing_starts(studio):
    meta = metadata(course=studio.course.slug, lesson=studio.video.id, filename="a.mp4")
    answer = studio.client.post(
        "/uploads/tus",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": meta},
    )
    assert answer.status_code == 400
    assert MediaUpload.objects.count() == 0


def test_the_quota_counts_every_stored_byte(studio, app, users):
    app.config["STORAGE_QUOTA_BYTES"] = 250_000
    studio.upload(mp4(100_000))
    Outbox(app).deliver()
    on_its_way = studio.create(100_000, lesson=studio.sheet, filename="a.zip")
    assert on_its_way.status_code == 201  # 200 000 of 250 000 with this one
    over = studio.create(100_000, "b.mp4")
    assert over.status_code == 422
    assert "storage quota" in over.get_json()["error"]["fields"]["file"]


def test_a_refused_new_upload_leaves_the_one_on_its_way_alone(studio, app):
    app.config["STORAGE_QUOTA_BYTES"] = 100_000
    first = studio.create(60_000).headers["Location"]
    studio.patch(first, 0, mp4(1000))
    assert studio.create(90_000, "other.mp4").status_code == 201  # replaces it: room enough
    assert studio.client.head(first, headers=studio.headers()).status_code == 404
    second = MediaUpload.objects(state="uploading").first()
    too_big = studio.create(150_000, "huge.mp4")
    assert too_big.status_code == 422
    assert MediaUpload.objects.get(id=second.id).state == "uploading"
    assert studio.lesson(studio.video).pending.upload_id == second.id


def test_digits_that_are_not_ascii_are_refused(studio):
    for value in ("²", "1¹", "٣"):  # str.isdigit() says yes to all of these
        answer = studio.client.post(
            "/uploads/tus",
            headers=studio.headers(**{"Upload-Length": value}),
        )
        assert answer.status_code == 400


def test_a_finishing_upload_cannot_be_cancelled(studio, app):
    location = studio.create(1000).headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    MediaUpload.objects(id=upload_id).update_one(set__state="finishing")
    answer = studio.client.delete(location, headers=studio.headers())
    assert answer.status_code == 409 and "being checked" in answer.get_json()["error"]["message"]
    assert MediaUpload.objects.get(id=upload_id).state == "finishing"


def test_cancelling_while_a_chunk_arrives_waits_its_turn(studio, app):
    location = studio.create(1000).headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    studio.patch(location, 0, mp4(100))
    with app.app_context():
        from app.media.uploads import staging_path

        path = staging_path(upload_id)
    with path.open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a chunk being written
        assert studio.client.delete(location, headers=studio.headers()).status_code == 423
    assert path.exists() and MediaUpload.objects.get(id=upload_id).state == "uploading"
    assert studio.client.delete(location, headers=studio.headers()).status_code == 204


def test_starts_at_once_cannot_overrun_the_quota(studio, app, monkeypatch):
    """One start at a time per instructor: another waits for the lock, or gets 423."""
    from app.media.documents import QuotaLock
    from app.media.uploads import limits
    from app.timeutil import utcnow

    monkeypatch.setattr(limits, "QUOTA_LOCK_WAIT", 0.2)
    owner = studio.course.instructor.id
    held = QuotaLock(id=owner, token="other", held_until=utcnow() + timedelta(seconds=30))
    held.save(force_insert=True)
    busy = studio.create(1000)
    assert busy.status_code == 423 and MediaUpload.objects.count() == 0
    QuotaLock.objects(id=owner).update_one(set__held_until=utcnow() - timedelta(seconds=1))
    assert studio.create(1000).status_code == 201  # a crashed holder's lock expires
    assert QuotaLock.objects.count() == 0  # and the start let go of it


def test_an_upload_whose_finishing_failed_is_finished_when_the_client_asks_again(
    studio, app, monkeypatch
):
    from app.media.uploads import local

    data = mp4(30_000)
    location = studio.create(len(data)).headers["Location"]
    real = local.finish_staged
    calls = []

    def store_away(upload, path):
        calls.append(upload.id)
        if len(calls) == 1:
            raise OSError("the store is away")
        return real(upload, path)

    monkeypatch.setattr(local, "finish_staged", store_away)
    assert studio.patch(location, 0, data).status_code == 500
    upload = MediaUpload.objects.get(id=location.rsplit("/", 1)[1])
    assert upload.state == "uploading"  # every byte staged, nothing finished

    # tus-js-client resumes with HEAD; offset == length means "done" to it, so the HEAD
    # itself finishes the upload rather than leave it staged until the sweep
    head = studio.client.head(location, headers=studio.headers())
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(len(data))
    assert MediaUpload.objects.get(id=upload.id).state == "complete"
    assert studio.lesson(studio.video).pending.status == "uploaded"
    assert len(calls) == 2
    again = studio.client.head(location, headers=studio.headers())  # and only once
    assert again.status_code == 200 and len(calls) == 2


def test_the_scripts_fingerprint_comes_back_on_the_page_for_resuming(studio):
    meta = metadata(
        course=studio.course.slug,
        lesson=studio.video.id,
        filename="Week 3, part 2.mp4",
        fingerprint="Week 3, part 2.mp4:5000:1700000000000",
    )
    created = studio.client.post(
        "/uploads/tus", headers=studio.headers(**{"Upload-Length": "5000", "Upload-Metadata": meta})
    )
    assert created.status_code == 201
    page = studio.client.get(f"/studio/{studio.course.slug}/lessons/{studio.video.id}")
    html = page.get_data(as_text=True)
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    assert f'data-resume-id="{upload_id}"' in html
    assert 'data-resume-fingerprint="Week 3, part 2.mp4:5000:1700000000000"' in html

    hostile = metadata(
        course=studio.course.slug, lesson=studio.video.id, filename="a.mp4", fingerprint="x" * 601
    )
    refused = studio.client.post(
        "/uploads/tus",
        headers=studio.headers(**{"Upload-Length": "5000", "Upload-Metadata": hostile}),
    )
    assert refused.status_code == 400 and "fingerprint" in refused.json["error"]["message"]
    assert MediaUpload.objects(state="uploading").count() == 1  # the first one, untouched
