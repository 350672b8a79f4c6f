"""A studio change saved from a read made before an upload completed (or before its
file became the lesson's) neither loses nor undoes the lesson's files: the media side
owns them, and save_outline takes them from the stored course (app/courses/outline.py).
Found by probing: each of these left orphans, stuck lessons or a dangling file before."""

from __future__ import annotations

from app.courses import studio as studio_service
from app.courses.documents import Course
from tests.conftest import Courses, Outbox
from tests.media.conftest import mp4


def _stored(app, key):
    from app.media.storage import storage

    with app.app_context():
        return storage().exists(key)


def _stale_read_then_complete(studio, data):
    """Read the course as a studio request would, then finish an upload."""
    location = studio.create(len(data)).headers["Location"]
    assert studio.patch(location, 0, data[:-10]).status_code == 204
    stale = Course.objects.get(id=studio.course.id)
    assert studio.patch(location, len(data) - 10, data[-10:]).status_code == 204
    return stale


def test_deleting_a_lesson_from_a_stale_read_keeps_its_new_file(studio, app):
    stale = _stale_read_then_complete(studio, mp4(300_000))
    key = studio.lesson(studio.video).pending.key
    with app.test_request_context():
        studio_service.delete_lesson(Courses.actor(studio.course.owner), stale, studio.video.id)
    trashed = Course.objects.get(id=studio.course.id).trash[0].lesson
    assert trashed.pending.key == key and trashed.pending.status == "uploaded"
    with app.app_context():
        from app.media.references import in_use
        from app.media.uploads import usage

        assert in_use(key) and usage(studio.course.instructor.id) == 300_000
    assert _stored(app, key)


def test_moving_a_sibling_from_a_stale_read_keeps_the_upload_complete(studio, app):
    stale = _stale_read_then_complete(studio, mp4(300_000))
    with app.test_request_context():
        studio_service.move_lesson(Courses.actor(studio.course.owner), stale, studio.sheet.id, "up")
    Outbox(app).deliver()
    lesson = studio.lesson(studio.video)
    assert lesson.pending is None and lesson.media.status == "ready"
    assert Course.objects.get(id=studio.course.id).sections[0].lessons[0].id == studio.sheet.id


def test_a_stale_save_after_the_file_is_replaced_never_points_at_the_old_one(studio, app):
    studio.upload(mp4(200_000))
    Outbox(app).deliver()
    old = studio.lesson(studio.video).media.key
    studio.upload(mp4(300_000))
    new = studio.lesson(studio.video).pending.key
    stale = Course.objects.get(id=studio.course.id)
    Outbox(app).deliver()  # the new file becomes the lesson's; the old one is discarded
    assert not _stored(app, old)
    with app.test_request_context():
        studio_service.move_lesson(Courses.actor(studio.course.owner), stale, studio.sheet.id, "up")
    lesson = studio.lesson(studio.video)
    assert lesson.media.key == new and _stored(app, new) and lesson.pending is None


def test_every_outline_write_moves_the_version_on(studio, app):
    before = Course.objects.get(id=studio.course.id).version
    studio.upload(mp4(10_000))  # pending set twice: uploading, then uploaded
    after = Course.objects.get(id=studio.course.id).version
    assert after >= before + 2
