"""What the media side says of a lesson's new file, applied to the lesson: `media.ready`
makes it the file learners get (and the one it replaces is discarded), `media.failed`
shows the reason on the lesson, which keeps its previous file. Consumer `courses-media`
(the `courses` worker, or the embedded bus)."""

from __future__ import annotations

import logging
from typing import Any

from app.courses.documents import Course, Lesson
from app.courses.outline import set_lesson_fields
from app.events import subscribe

CONSUMER = "courses-media"
# A pending file the media side may still report on (a later report about an upload
# that was replaced or cancelled meanwhile changes nothing).
IN_HAND = ("uploaded", "processing")
log = logging.getLogger(__name__)


def _lesson(data: dict[str, Any]) -> Lesson | None:
    course = Course.objects(id=data["course_id"]).only("sections").first()
    found = course.find_lesson(data["lesson_id"]) if course is not None else None
    return found[1] if found else None


def _pending(lesson: Lesson | None, upload_id: str) -> Any:
    pending = lesson.pending if lesson is not None else None
    if pending and pending.upload_id == upload_id and pending.status in IN_HAND:
        return pending
    return None


@subscribe("media.processing", CONSUMER)
def on_media_processing(event: dict[str, Any]) -> None:
    """The studio's status line follows the media worker: checking, then preparing, and
    how far. Events of one course arrive in order, so the last one is the latest."""
    data = event["data"]
    pending = _pending(_lesson(data), data["upload_id"])
    if pending is None:
        return
    was = pending.status
    pending.status, pending.step, pending.percent = "processing", data["step"], data["percent"]
    set_lesson_fields(
        data["course_id"],
        data["lesson_id"],
        {"pending": pending},
        where={"upload_id": data["upload_id"], "status": was},
    )


@subscribe("media.ready", CONSUMER)
def on_media_ready(event: dict[str, Any]) -> None:
    """The new file becomes the lesson's, and the previous one is discarded. Idempotent:
    only a pending file of this upload, still in hand, is promoted."""
    from app.media.uploads import discard_keys

    data = event["data"]
    lesson = _lesson(data)
    pending = _pending(lesson, data["upload_id"])
    if lesson is None or pending is None:
        # the lesson went, or another upload replaced this one meanwhile: the file is
        # not needed (the media side keeps it if anything refers to it after all)
        if lesson is None or not (lesson.media and lesson.media.key == data["key"]):
            discard_keys(data["course_id"], [data["key"]], "replaced")
        return
    old = lesson.media.key if lesson.media else None
    was = pending.status
    pending.status, pending.step, pending.percent = "ready", None, None
    pending.renditions_bytes = data["renditions_bytes"]
    pending.hls_master = data.get("hls_master")
    if data.get("duration_seconds"):
        pending.duration_seconds = data["duration_seconds"]
    promoted = set_lesson_fields(
        data["course_id"],
        data["lesson_id"],
        {"media": pending, "pending": None},
        where={"upload_id": data["upload_id"], "status": was},
    )
    if promoted and old and old != pending.key:
        discard_keys(data["course_id"], [old], "replaced")


@subscribe("media.failed", CONSUMER)
def on_media_failed(event: dict[str, Any]) -> None:
    """The lesson shows why its new file cannot be used; learners keep the previous one.
    A file refused for what it is, is discarded (the pending entry keeps its name, not
    its key, so nothing refers to it and it no longer counts against the quota), and so
    is one another upload replaced meanwhile. A failure of ours (`retryable`) keeps the
    file, so the instructor can try again without uploading it again."""
    from app.media.uploads import discard_keys

    data = event["data"]
    pending = _pending(_lesson(data), data["upload_id"])
    if pending is not None:
        was = pending.status
        pending.status, pending.error = "failed", data["reason"]
        pending.step = pending.percent = None
        if not data["retryable"]:
            pending.key = None  # refused for what it is: deleted below
        set_lesson_fields(
            data["course_id"],
            data["lesson_id"],
            {"pending": pending},
            where={"upload_id": data["upload_id"], "status": was},
        )
        log.info("lesson file refused", extra={"upload": data["upload_id"]})
    if data["retryable"]:
        return  # kept, for the instructor's Try again
    discard_keys(data["course_id"], [data["key"]], "rejected")
