"""The media side's event consumers (`media-pipeline`: the `media` worker, or the
embedded bus)."""

from __future__ import annotations

import logging
from typing import Any

from app.courses.documents import Course
from app.courses.outline import set_lesson_fields
from app.events import subscribe
from app.media.references import in_use
from app.media.storage import derived_prefix, storage
from app.media.uploads import discard_keys

CONSUMER = "media-pipeline"
log = logging.getLogger(__name__)


@subscribe("media.uploaded", CONSUMER)
def on_media_uploaded(event: dict[str, Any]) -> None:
    """Make an uploaded file the lesson's file, as it is, and discard the one it replaces.

    Learners get the original file (type checked by content when it completed) until the
    processing worker exists to transcode it. Idempotent: only a pending file still in
    state `uploaded`, from this upload, is promoted."""
    data = event["data"]
    course = Course.objects(id=data["course_id"]).only("sections").first()
    found = course.find_lesson(data["lesson_id"]) if course is not None else None
    if found is None:
        return  # the lesson went; its file is discarded with it
    lesson = found[1]
    pending = lesson.pending
    if not (pending and pending.upload_id == data["upload_id"] and pending.status == "uploaded"):
        return
    old = lesson.media.key if lesson.media else None
    pending.status = "ready"
    promoted = set_lesson_fields(
        data["course_id"],
        data["lesson_id"],
        {"media": pending, "pending": None},
        where={"upload_id": data["upload_id"], "status": "uploaded"},
    )
    if promoted and old and old != pending.key:
        discard_keys(data["course_id"], [old], "replaced")


@subscribe("media.discarded", CONSUMER)
def on_media_discarded(event: dict[str, Any]) -> None:
    """Delete stored files and everything made from them, unless something still uses
    them (a lesson restored from the trash meanwhile, say). Deleting what is already gone
    changes nothing, so a redelivery is harmless."""
    store = storage()
    for key in event["data"]["keys"]:
        if in_use(key):
            log.info("discarded file still in use; kept", extra={"key": key})
            continue
        prefix = derived_prefix(key)
        if prefix:
            for item in store.list(prefix):
                store.delete(item.key)
        store.delete(key)
