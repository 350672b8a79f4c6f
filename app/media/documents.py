"""The media side's documents (mongoengine, in the course store)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from mongoengine import DateTimeField, Document, IntField, StringField

from app.media.rules import FILENAME_MAX, FINGERPRINT_MAX, TRANSPORTS, UPLOAD_STATES
from app.timeutil import as_utc, utcnow


def new_upload_id() -> str:
    """128 random bits: the id is in the upload's URL, so it must not be guessable
    (the owner is checked too)."""
    return secrets.token_hex(16)


class MediaUpload(Document):
    """One file on its way into storage, from the first byte until it is complete,
    failed or abandoned. The lesson's `pending` media points here by `upload_id`."""

    id = StringField(primary_key=True, default=new_upload_id)
    owner_id = StringField(required=True)  # whose quota it counts against: the instructor
    started_by = StringField(required=True)  # who uploads it (the instructor or an admin)
    course_id = StringField(required=True)
    lesson_id = StringField(required=True)
    transport = StringField(required=True, choices=TRANSPORTS)
    filename = StringField(default="", max_length=FILENAME_MAX)
    # what the upload script recognises its file by when it resumes (opaque to the app)
    fingerprint = StringField(default="", max_length=FINGERPRINT_MAX)
    extension = StringField(required=True)  # the canonical type it must turn out to be
    size = IntField(required=True, min_value=1)  # declared when it started
    key = StringField(required=True)  # where the complete file goes
    s3_upload_id = StringField()  # the bucket's multipart upload
    source_key = StringField()  # a plain form's object in the bucket, before it is checked
    part_size = IntField()
    received = IntField(default=0)  # bytes stored so far (last seen, for the studio)
    state = StringField(choices=UPLOAD_STATES, default="uploading")
    error = StringField(default="")
    created_at = DateTimeField(default=utcnow)
    active_at = DateTimeField(default=utcnow)  # the last byte or signature
    finished_at = DateTimeField()

    meta = {
        "collection": "media_uploads",
        "indexes": [
            ("course_id", "lesson_id"),
            ("owner_id", "state"),
            ("state", "active_at"),
            "source_key",
        ],
    }

    @property
    def percent(self) -> int:
        return min(100, int(100 * (self.received or 0) / self.size)) if self.size else 0

    def expires_at(self, abandon_after: timedelta) -> datetime:
        """When the sweep removes it if no more bytes come."""
        return as_utc(self.active_at) + abandon_after


class QuotaLock(Document):
    """Held by the request starting an upload for an instructor (app/media/uploads/limits.py
    `quota_lock`), so two starts at once cannot both take the last of the quota."""

    id = StringField(primary_key=True)  # the instructor's id
    token = StringField(required=True)
    held_until = DateTimeField(required=True)

    meta = {"collection": "media_quota_locks"}
