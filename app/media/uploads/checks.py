"""The end of every upload: the complete file checked by content, then recorded on
its lesson (`uploaded`, with a `media.uploaded` event) or refused with the reason."""

from __future__ import annotations

import logging

from app.courses.documents import Course, Media
from app.courses.outbox import record_course_event
from app.courses.outline import set_lesson_fields
from app.media import rules
from app.media.documents import MediaUpload
from app.media.files import IMAGE_MAX_BYTES, Sniffed, sniff
from app.media.storage import storage
from app.media.uploads.cleanup import discard_keys
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
    course = Course.objects(id=upload.course_id).only("title", "slug", "instructor", "sections")
    found = course.first()
    lesson = found.find_lesson(upload.lesson_id) if found is not None else None
    if found is None or lesson is None:  # went in the instant since it was attached
        discard_keys(upload.course_id, [upload.key], "upload_aborted")
        return
    record_course_event(
        "media.uploaded",
        {
            "upload_id": upload.id,
            "course_id": upload.course_id,
            "lesson_id": upload.lesson_id,
            "key": upload.key,
            "size": size,
            "content_type": media.content_type,
            # what the media side needs without reading course documents
            "kind": lesson[1].kind,
            "filename": upload.filename,
            "owner_id": str(found.instructor.id),
            "course_slug": found.slug,
            "course_title": found.title,
            "lesson_title": lesson[1].title,
        },
        key=upload.course_id,
    )
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
