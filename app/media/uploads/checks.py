"""The end of every upload: the complete file checked by content, then recorded on
its lesson (`uploaded`, with a `media.uploaded` event) or refused with the reason."""

from __future__ import annotations

import logging
from typing import Any

from app.courses.documents import Course, Lesson, Media
from app.courses.outbox import record_course_event
from app.courses.outline import set_lesson_fields
from app.courses.policies import EDIT_ONLY
from app.errors import Conflict
from app.media import rules
from app.media.documents import MediaUpload
from app.media.files import IMAGE_MAX_BYTES, Sniffed, sniff
from app.media.storage import storage
from app.media.uploads.cleanup import discard_keys
from app.policies import require
from app.text import format_bytes
from app.timeutil import utcnow

log = logging.getLogger(__name__)


def content_type(extension: str) -> str:
    from app.media.files import CONTENT_TYPES

    return CONTENT_TYPES.get(extension, "application/octet-stream")


def content_matches(upload: MediaUpload, head: bytes) -> bool:
    """Whether the content is what its name promised; fails the upload if not. A file
    whose name promised nothing in particular (a file lesson's `.exe`, say) is kept as
    what its content is, so an image among them is re-encoded like any other."""
    found: Sniffed = sniff(head)
    if upload.extension == rules.ANY_FILE:
        upload.extension = found.extension
    if found.extension == upload.extension:
        if upload.extension in rules.IMAGE_TYPES and upload.size > IMAGE_MAX_BYTES:
            fail(upload, f"An image may be at most {format_bytes(IMAGE_MAX_BYTES)}.")
            return False
        return True
    fail(
        upload,
        f"The file's content is not what its name says: it looks like {found.kind} "
        f"({found.extension}), not {upload.extension}.",
    )
    return False


def clean_image(upload: MediaUpload, data: bytes) -> bytes | None:
    from app.media.images import ImageRejected, clean_image

    try:
        encoded, _ = clean_image(data)
    except ImageRejected as exc:
        fail(upload, str(exc))
        return None
    return encoded


def complete(upload: MediaUpload, size: int) -> None:
    """The file is stored and checked: the lesson's pending media becomes `uploaded`
    and the media worker hears of it. If the lesson went meanwhile (deleted, or another
    upload replaced this one), the file is discarded instead."""
    now = utcnow()
    media = Media(
        key=upload.key,
        filename=upload.filename,
        content_type=content_type(upload.extension),
        size=size,
        status="uploaded",
        upload_id=upload.id,
        uploaded_at=now,
    )
    claimed = MediaUpload.objects(id=upload.id, state="finishing").update_one(
        set__state="complete", set__received=size, set__finished_at=now, set__key=upload.key
    )
    if not claimed:  # the sweep gave up on it meanwhile: what was stored goes too
        storage().delete(upload.key)
        return
    upload.state, upload.received, upload.finished_at = "complete", size, now
    attached = set_lesson_fields(
        upload.course_id, upload.lesson_id, {"pending": media}, where={"upload_id": upload.id}
    )
    if not attached:
        discard_keys(upload.course_id, [upload.key], "upload_aborted")
        log.info("upload finished for a lesson that is gone", extra={"upload": upload.id})
        return
    if not announce(upload, size, media.content_type):  # went in the instant since
        discard_keys(upload.course_id, [upload.key], "upload_aborted")
        return
    log.info("upload complete", extra={"upload": upload.id, "size": size})


def fail(upload: MediaUpload, reason: str) -> None:
    """The upload cannot become a lesson file: say why on the lesson, store nothing."""
    MediaUpload.objects(id=upload.id).update_one(
        set__state="failed", set__error=reason, set__finished_at=utcnow()
    )
    upload.state, upload.error = "failed", reason
    failed = Media(filename=upload.filename, status="failed", error=reason, upload_id=upload.id)
    set_lesson_fields(
        upload.course_id, upload.lesson_id, {"pending": failed}, where={"upload_id": upload.id}
    )
    log.info("upload rejected", extra={"upload": upload.id, "reason": reason})


def announce(upload: MediaUpload, size: int, content_type: str) -> bool:
    """Record `media.uploaded` for a complete upload, with what the media side needs
    without reading course documents. False if its lesson is gone."""
    found = Course.objects(id=upload.course_id).only("title", "slug", "instructor", "sections")
    course = found.first()
    lesson = course.find_lesson(upload.lesson_id) if course is not None else None
    if course is None or lesson is None:
        return False
    record_course_event(
        "media.uploaded",
        {
            "upload_id": upload.id,
            "course_id": upload.course_id,
            "lesson_id": upload.lesson_id,
            "key": upload.key,
            "size": size,
            "content_type": content_type,
            "kind": lesson[1].kind,
            "filename": upload.filename,
            "owner_id": str(course.instructor.id),
            "course_slug": course.slug,
            "course_title": course.title,
            "lesson_title": lesson[1].title,
        },
        key=upload.course_id,
    )
    return True


def retry(actor: Any, course: Course, lesson: Lesson) -> None:
    """Hand a file the media side failed on (for a reason of its own, so it kept the
    file) to it once more: the lesson's pending file is `uploaded` again."""
    require(actor, "course.edit", course, EDIT_ONLY)
    pending = lesson.pending
    if not (pending and pending.status == "failed" and pending.key and pending.upload_id):
        raise Conflict("There is nothing to try again: upload the file again.")
    upload = MediaUpload.objects(id=pending.upload_id, state="complete").first()
    if upload is None:
        raise Conflict("That upload is gone: upload the file again.")
    pending.status, pending.error = "uploaded", ""
    moved = set_lesson_fields(
        course.id,
        lesson.id,
        {"pending": pending},
        where={"upload_id": upload.id, "status": "failed"},
    )
    if not moved or not announce(upload, pending.size, pending.content_type):
        raise Conflict("The lesson changed meanwhile; reload the page.")
    log.info("processing tried again", extra={"upload": upload.id})
