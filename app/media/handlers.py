"""The media side's event consumers (`media-pipeline`: the `media` worker, or the
embedded bus)."""

from __future__ import annotations

import logging
from typing import Any

from app.events import record_event, subscribe
from app.media.jobs import enqueue
from app.media.references import in_use
from app.media.rules import REASON_GONE
from app.media.storage import derived_prefix, storage

CONSUMER = "media-pipeline"
log = logging.getLogger(__name__)


IDENTITY = ("upload_id", "course_id", "lesson_id", "key")
ABOUT = ("kind", "filename", "owner_id", "course_slug", "course_title", "lesson_title")


def upload_facts(event: dict[str, Any]) -> dict[str, Any]:
    """What the media side knows of an upload from its `media.uploaded` event. Version 1
    (recorded before an upgrade) did not name the lesson kind, the file or whom to tell:
    the kind follows from the content type, the rest is left empty (no email then)."""
    data = event["data"]
    facts = {name: data[name] for name in IDENTITY}
    if event.get("version", 1) >= 2:
        return facts | {name: data[name] for name in ABOUT}
    kind = "video" if str(data["content_type"]).startswith("video/") else "file"
    return facts | dict.fromkeys(ABOUT, "") | {"kind": kind}


@subscribe("media.uploaded", CONSUMER)
def on_media_uploaded(event: dict[str, Any]) -> None:
    """Prepare a lesson's new file for learners, and say so with `media.ready` (or
    `media.failed`); the course side makes it the lesson's file. The media side never
    writes course documents.

    A video becomes a job for the media worker (app/media/jobs.py), which validates it
    by content and reports the outcome; another file (its type was checked by content
    when the upload completed) is ready as it is. Either way the next step is recorded
    in the same transaction as this handler's receipt, so a redelivery adds nothing."""
    facts = upload_facts(event)
    stored = storage().size(facts["key"])  # StorageUnavailable: retried, then dead-lettered
    if stored != event["data"]["size"]:
        log.warning("uploaded file not as recorded", extra={"key": facts["key"], "size": stored})
        record_event(
            "media.failed",
            facts | {"reason": REASON_GONE, "retryable": False},
            key=facts["course_id"],
            source="media",
        )
        return
    if facts["kind"] == "video":  # the media worker's job (app/media/processing.py)
        enqueue(facts | {"size": stored})
        return
    record_event(
        "media.ready",
        facts | {"renditions_bytes": 0},
        key=facts["course_id"],
        source="media",
    )


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
