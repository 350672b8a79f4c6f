"""The parts every upload shares: finding one, whether it still takes bytes, its
staging file, the bucket, and the one finisher (`finishing`) that completes it."""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import current_app

from app.courses.documents import Course, Lesson
from app.errors import Conflict, NotFound
from app.media.documents import MediaUpload
from app.media.storage import storage
from app.policies import can
from app.timeutil import utcnow

log = logging.getLogger(__name__)


class Busy(Conflict):
    """Another request is writing this upload right now (a retry racing the original)."""

    status = 423
    code = "locked"
    message = "This upload is receiving another chunk; try again in a moment."


HEAD_BYTES = 512  # what `sniff` reads to decide a file's type


def get(actor: Any, upload_id: Any) -> MediaUpload:
    """An upload the actor may write to: one they started, on a course they may still
    edit. Anyone else's is NotFound (not even its existence)."""
    if not isinstance(upload_id, str) or not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise NotFound("No such upload.")
    upload = MediaUpload.objects(id=upload_id).first()
    if upload is None or upload.started_by != str(getattr(actor, "id", "")):
        raise NotFound("No such upload.")
    course = Course.objects(id=upload.course_id).only("instructor").first()
    if course is None or not can(actor, "course.edit", course):
        raise NotFound("No such upload.")
    return upload


def lesson_upload(course: Course, lesson: Lesson) -> MediaUpload | None:
    """The upload on its way into this lesson, if any."""
    pending = lesson.pending
    if not (pending and pending.upload_id and pending.status == "uploading"):
        return None
    upload = MediaUpload.objects(id=pending.upload_id, course_id=str(course.id)).first()
    if upload is not None and upload.state == "uploading" and upload.transport == "s3-multipart":
        refresh_received(upload)
    return upload


def check_writable(upload: MediaUpload) -> None:
    if upload.state == "complete":
        raise Conflict("This upload is already complete.")
    if upload.state == "finishing":
        raise Conflict("The file is being checked right now.")
    if upload.state != "uploading":
        raise Conflict(upload.error or "This upload was cancelled; start it again.")


def touch(upload: MediaUpload, received: int) -> None:
    upload.received = received
    upload.active_at = utcnow()
    MediaUpload.objects(id=upload.id, state="uploading").update_one(
        set__received=received, set__active_at=upload.active_at
    )


def finishing(upload: MediaUpload, finish: Callable[[], None]) -> None:
    """Run `finish` (check the complete file, store it, tell the lesson) as the one
    finisher: the upload turns `finishing`, which a cancel or a course deletion leaves
    alone, so they cannot race it. If `finish` fails (the store is down, say), the
    upload is `uploading` again and the client may retry."""
    claimed = MediaUpload.objects(id=upload.id, state="uploading").update_one(
        set__state="finishing", set__active_at=utcnow()
    )
    if not claimed:
        raise Conflict("This upload was cancelled or is already being completed.")
    upload.state = "finishing"
    try:
        finish()
    except Exception:
        if MediaUpload.objects(id=upload.id, state="finishing").update_one(set__state="uploading"):
            upload.state = "uploading"
        raise


def staging_path(upload_id: str) -> Path:
    folder = Path(current_app.config["DATA_DIR"]) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{upload_id}.part"


@contextmanager
def locked(path: Path, create: bool = True) -> Iterator[int | None]:
    """The staging file, opened for writing and locked against a second writer (Busy
    if one holds it). Without `create`, None when there is no such file."""
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Busy() from exc
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def new_staging_file() -> Path:
    """A fresh file name under DATA_DIR/uploads for a form's upload to stream into."""
    from app.media.documents import new_upload_id

    return staging_path(f"form-{new_upload_id()}")


def received_bytes(upload: MediaUpload) -> int:
    """Bytes stored so far: the staging file's size is the truth for tus (a request cut
    off halfway keeps what arrived)."""
    if upload.state in ("complete", "finishing"):
        return upload.size
    if upload.transport in ("tus", "form"):
        path = staging_path(upload.id)
        return path.stat().st_size if path.exists() else 0
    return upload.received or 0


def bucket_store() -> Any:
    store = storage()
    if store.engine != "s3":
        raise Conflict("Uploads straight to the bucket need S3 storage (S3_BUCKET).")
    return store


def refresh_received(upload: MediaUpload) -> None:
    try:
        parts = bucket_store().list_parts(upload.key, upload.s3_upload_id)
    except Exception:  # the status line is a courtesy; the bucket may be briefly away
        log.warning("listing an upload's parts failed", exc_info=True)
        return
    upload.received = sum(p.size for p in parts)


def lesson_file_status(upload: MediaUpload) -> str | None:
    """The status of the lesson's pending file this upload brings (`uploading`,
    `uploaded`, ...), or None once it is not this upload's any more."""
    course = Course.objects(id=upload.course_id).only("sections").first()
    found = course.find_lesson(upload.lesson_id) if course is not None else None
    pending = found[1].pending if found else None
    return pending.status if pending is not None and pending.upload_id == upload.id else None
