"""How large a file may be and how much an instructor may store: limits per lesson
kind, the quota, and the lock that checks it for one start at a time."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from mongoengine.errors import NotUniqueError

from app.courses.documents import Course, Lesson
from app.errors import ValidationFailed
from app.media import rules
from app.media.documents import MediaUpload, QuotaLock
from app.media.uploads.core import Busy
from app.text import format_bytes
from app.timeutil import utcnow


def max_bytes(kind: str) -> int:
    """The largest file a lesson of this kind takes (a setting per kind)."""
    return int(current_app.config[f"UPLOAD_MAX_BYTES_{kind.upper()}"])


def largest_upload() -> int:
    """The largest file any lesson kind takes (what tus announces as Tus-Max-Size)."""
    return max(max_bytes(kind) for kind in rules.UPLOAD_KINDS)


def quota_for(owner_id: str) -> int:
    """The instructor's storage quota: their own if an admin set one, else the default."""
    from app.accounts.lookup import get_user

    user = get_user(owner_id)
    own = getattr(user, "storage_quota_bytes", None)
    return int(own if own is not None else current_app.config["STORAGE_QUOTA_BYTES"])


def usage(owner_id: str) -> int:
    """Every stored byte of the instructor's: the files of their courses' lessons (the
    trash too, until purged; renditions included) and the uploads still arriving
    (counted at their declared size)."""
    from app.courses.documents import media_of

    total = 0
    for course in Course.objects(instructor__id=owner_id).only("sections", "trash"):
        lessons = course.all_lessons()
        total += sum(m.stored_bytes for m in media_of(lessons))
    arriving = MediaUpload.objects(owner_id=owner_id, state="uploading").only("size")
    return total + sum(u.size for u in arriving)


def form_limit(course: Course, lesson: Lesson) -> tuple[int, str]:
    """The largest file a plain form may bring into this lesson, and why: its kind's
    limit, or less if the quota has less room (the request is cut off with a 413)."""
    arriving = MediaUpload.objects(
        course_id=str(course.id), lesson_id=lesson.id, state="uploading"
    ).only("size")
    freed = sum(u.size for u in arriving)  # a new file replaces what is on its way
    left = max(0, quota_for(course.instructor.id) - usage(course.instructor.id) + freed)
    limit = max_bytes(lesson.kind)
    if left < limit:
        return left, "what is left of the storage quota"
    return limit, f"the most a {lesson.kind} lesson takes"


def check_quota(owner_id: str, size: int, replacing: int = 0) -> None:
    left = quota_for(owner_id) - usage(owner_id) + replacing
    if size > left:
        raise ValidationFailed(
            fields={
                "file": f"This file needs {format_bytes(size)} but only "
                f"{format_bytes(max(0, left))} of the storage quota is left. "
                "Delete files you no longer need (and empty the trash), or ask an admin."
            }
        )


@contextmanager
def quota_lock(owner_id: str) -> Iterator[None]:
    """One upload starts at a time per instructor, across every process: the quota is
    checked and the upload that takes the room recorded before the next one looks.
    A lock left by a crashed process expires after QUOTA_LOCK_SECONDS."""
    token = secrets.token_hex(8)
    deadline = time.monotonic() + QUOTA_LOCK_WAIT
    while True:
        now = utcnow()
        lease = now + timedelta(seconds=QUOTA_LOCK_SECONDS)
        try:
            QuotaLock(id=owner_id, token=token, held_until=lease).save(force_insert=True)
            break
        except NotUniqueError:
            taken = QuotaLock.objects(id=owner_id, held_until__lt=now).update_one(
                set__token=token, set__held_until=lease
            )
            if taken:
                break
        if time.monotonic() > deadline:
            raise Busy("Another upload of yours is starting; try again in a moment.")
        time.sleep(0.02)
    try:
        yield
    finally:
        QuotaLock.objects(id=owner_id, token=token).delete()


QUOTA_LOCK_SECONDS = 30

QUOTA_LOCK_WAIT = 5.0
