"""Ending uploads that will not finish (cancelled, replaced, abandoned, their course
deleted) and asking for stored files to be deleted (`media.discarded`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app

from app.courses.documents import Course
from app.courses.outbox import record_course_event
from app.courses.outline import set_lesson_fields
from app.errors import Conflict
from app.media import rules
from app.media.documents import MediaUpload
from app.media.storage import storage
from app.media.uploads.core import Busy, bucket_store, locked, staging_path
from app.timeutil import utcnow

log = logging.getLogger(__name__)


def cancel(upload: MediaUpload) -> None:
    """The uploader gave up (tus termination, the studio's Cancel): remove what arrived."""
    if upload.state == "finishing":
        raise Conflict("The file is being checked right now; it can no longer be cancelled.")
    if upload.state != "uploading":
        return
    discard_upload(upload, "aborted", "Cancelled.")


def cancel_course_uploads(course: Course) -> None:
    """Stop every upload on its way into the course (it is being deleted)."""
    for upload in MediaUpload.objects(course_id=str(course.id), state="uploading"):
        try:
            discard_upload(upload, "aborted", "The course was deleted.")
        except Busy:
            pass  # a chunk is arriving: once complete, it finds no lesson and is discarded


def discard_upload(upload: MediaUpload, state: str, reason: str) -> None:
    """Stop an upload still arriving: Busy while a chunk of it is being written (the
    caller may retry), nothing if it is already finishing or finished."""
    path = staging_path(upload.id)
    with locked(path, create=False):  # waits for no chunk: Busy if one is arriving
        claimed = MediaUpload.objects(id=upload.id, state="uploading").update_one(
            set__state=state, set__error=reason, set__finished_at=utcnow()
        )
        if not claimed:
            return
        upload.state, upload.error = state, reason
        path.unlink(missing_ok=True)
    if upload.transport == "s3-multipart" and upload.s3_upload_id:
        bucket_store().abort_multipart(upload.key, upload.s3_upload_id)
    clear_pending(upload)


def abort_finishing(upload: MediaUpload, reason: str) -> None:
    """Give up on an upload that was being completed (the bucket lost it, or its
    process died): what was stored of it goes."""
    if not MediaUpload.objects(id=upload.id, state="finishing").update_one(
        set__state="aborted", set__error=reason, set__finished_at=utcnow()
    ):
        return
    upload.state, upload.error = "aborted", reason
    staging_path(upload.id).unlink(missing_ok=True)
    storage().delete(upload.key)
    if upload.source_key:
        storage().delete(upload.source_key)
    if upload.transport == "s3-multipart" and upload.s3_upload_id:
        bucket_store().abort_multipart(upload.key, upload.s3_upload_id)
    clear_pending(upload)


def clear_pending(upload: MediaUpload) -> None:
    set_lesson_fields(
        upload.course_id,
        upload.lesson_id,
        {"pending": None},
        where={"upload_id": upload.id},
    )


def sweep_abandoned(now: Any = None) -> int:
    """Remove uploads nobody has sent a byte to for UPLOAD_ABANDON_HOURS: their records,
    staging files and the bucket's unfinished multipart uploads (also those the app
    lost track of). Returns how many went."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=current_app.config["UPLOAD_ABANDON_HOURS"])
    swept = 0
    for upload in MediaUpload.objects(state="uploading", active_at__lt=cutoff):
        try:
            discard_upload(upload, "aborted", "Nothing arrived for too long; start again.")
        except Busy:
            continue
        swept += 1
    for upload in MediaUpload.objects(state="finishing", active_at__lt=cutoff):
        abort_finishing(upload, "Completing it was interrupted; upload it again.")
        swept += 1
    MediaUpload.objects(  # the records of finished uploads are not needed for long
        state__in=["complete", "failed", "aborted"],
        finished_at__lt=now - timedelta(days=rules.UPLOAD_RECORD_DAYS),
    ).delete()
    folder = Path(current_app.config["DATA_DIR"]) / "uploads"
    for stray in folder.glob("*.part") if folder.is_dir() else ():
        upload_id = stray.stem
        if MediaUpload.objects(id=upload_id, state="uploading").count():
            continue
        if stray.stat().st_mtime < cutoff.timestamp():
            stray.unlink(missing_ok=True)  # a form cut off, or a record gone
            swept += 1
    if storage().engine == "s3":
        store = bucket_store()
        for key, s3_upload_id, _ in store.incomplete_uploads("lessons/", cutoff):
            if not MediaUpload.objects(s3_upload_id=s3_upload_id, state="uploading").count():
                store.abort_multipart(key, s3_upload_id)
                swept += 1
        for item in store.list("incoming/"):  # plain forms whose browser never came back
            if item.modified < cutoff and not MediaUpload.objects(key=item.key).count():
                store.delete(item.key)
                swept += 1
    if swept:
        log.info("abandoned uploads removed", extra={"count": swept})
    return swept


def discard_keys(scope_id: str, keys: Iterable[str], reason: str) -> None:
    """Ask the media side to delete stored files (a `media.discarded` event): it checks
    that nothing uses them any more, and deletes them and what was made from them."""
    wanted = sorted({k for k in keys if k})
    if not wanted:
        return
    for start_at in range(0, len(wanted), 500):
        record_course_event(
            "media.discarded",
            {"keys": wanted[start_at : start_at + 500], "reason": reason},
            key=scope_id,
        )
