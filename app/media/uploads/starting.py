"""Starting an upload: who, what (by name), how big, how much quota is left; the
record, the lesson's pending file, and any earlier upload to the lesson replaced."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import current_app

from app.courses.documents import Course, Media
from app.courses.outline import find_lesson, set_lesson_fields
from app.courses.policies import EDIT_ONLY
from app.errors import Malformed, TooLarge, ValidationFailed
from app.media import rules
from app.media.documents import MediaUpload
from app.media.files import IMAGE_MAX_BYTES
from app.media.storage import new_key
from app.media.uploads.checks import content_type
from app.media.uploads.cleanup import discard_upload
from app.media.uploads.core import Busy, bucket_store
from app.media.uploads.limits import check_quota, max_bytes, quota_lock
from app.policies import require
from app.ratelimits import consume_account_limit
from app.text import format_bytes

log = logging.getLogger(__name__)


def expected_type(kind: str, filename: str) -> str:
    """The canonical type a file of this name must turn out to be in a lesson of this
    kind; ValidationFailed if the lesson does not take it."""
    types = rules.UPLOAD_TYPES.get(kind)
    if types is None:
        raise ValidationFailed(fields={"file": "Only video and file lessons take a file."})
    _, dot, ext = filename.rpartition(".")
    ext = ext.lower() if dot else ""
    if ext in types:
        return types[ext]
    if kind == "file":
        return rules.ANY_FILE
    allowed = ", ".join(sorted(types))
    raise ValidationFailed(fields={"file": f"A video lesson takes {allowed} files."})


def clean_filename(filename: Any, fallback_ext: str) -> str:
    name = filename if isinstance(filename, str) else ""
    name = re.split(r"[/\\]", name)[-1]
    name = re.sub(r"[^\w.() -]", "_", name)[: rules.FILENAME_MAX].strip(" .")
    return name or f"lesson.{fallback_ext}"


def start(
    actor: Any,
    course: Course,
    lesson_id: Any,
    *,
    filename: Any,
    size: Any,
    transport: str,
    fingerprint: Any = "",
) -> MediaUpload:
    """Begin an upload into a lesson: checks who, what, how big and how much quota is
    left, then records it (and any earlier upload to the lesson still on its way is
    cancelled: a lesson receives one file at a time). `fingerprint` is the upload
    script's own word for the file (name, size, modification time), given back on the
    studio page so that choosing the same file again resumes it."""
    if not isinstance(fingerprint, str) or len(fingerprint) > rules.FINGERPRINT_MAX:
        raise Malformed(f"fingerprint: text of at most {rules.FINGERPRINT_MAX} characters.")
    require(actor, "course.edit", course, EDIT_ONLY)
    _, lesson = find_lesson(course, lesson_id)
    if transport not in rules.TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValidationFailed(fields={"file": "The file is empty."})
    name = clean_filename(filename, "bin")
    ext = expected_type(lesson.kind, name)
    limit = max_bytes(lesson.kind)
    if ext in rules.IMAGE_TYPES:
        limit = min(limit, IMAGE_MAX_BYTES)
    if transport == "s3-form":
        limit = min(limit, rules.S3_FORM_MAX)
    if size > limit:
        raise TooLarge(
            f"This file is {format_bytes(size)}; a {lesson.kind} lesson takes at most "
            f"{format_bytes(limit)}."
        )
    consume_account_limit("upload-start", "RATELIMIT_UPLOAD_START", str(actor.id))
    owner = course.instructor.id
    upload = MediaUpload(
        owner_id=owner,
        started_by=str(actor.id),
        course_id=str(course.id),
        lesson_id=lesson.id,
        transport=transport,
        filename=name,
        fingerprint=fingerprint,
        extension=ext,
        size=size,
        key=new_key("lessons", ext if ext != rules.ANY_FILE else "bin"),
    )
    with quota_lock(owner):  # the check and the record that uses the room, together
        earlier = list(
            MediaUpload.objects(course_id=str(course.id), lesson_id=lesson.id, state="uploading")
        )
        check_quota(owner, size, replacing=sum(u.size for u in earlier))  # theirs is freed
        if transport == "s3-multipart":
            store = bucket_store()
            upload.part_size = rules.part_size(size, current_app.config["UPLOAD_CHUNK_BYTES"])
            upload.s3_upload_id = store.create_multipart(upload.key, content_type(ext))
        upload.save(force_insert=True)
    for upload_before in earlier:  # only now: a refused start leaves them alone
        try:
            discard_upload(upload_before, "aborted", "Replaced by a newer upload.")
        except Busy:
            pass  # finishing a chunk right now: it is swept once abandoned
    pending = Media(
        filename=name, size=size, status="uploading", upload_id=upload.id, content_type=""
    )
    set_lesson_fields(course.id, lesson.id, {"pending": pending})
    log.info(
        "upload started",
        extra={"upload": upload.id, "course": str(course.id), "size": size, "via": transport},
    )
    return upload
