"""Bytes that go straight to the bucket (S3): presigned multipart parts that the app
signs and completes, and the presigned POST form; then finished."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.courses.documents import Course, Lesson
from app.courses.outline import find_lesson
from app.courses.policies import EDIT_ONLY
from app.errors import Conflict, NotFound, ValidationFailed
from app.media import rules
from app.media.documents import MediaUpload
from app.media.files import sniff
from app.media.storage import new_key, storage
from app.media.uploads.checks import clean_image, complete, content_matches, content_type, fail
from app.media.uploads.cleanup import abort_finishing, discard_upload
from app.media.uploads.core import HEAD_BYTES, bucket_store, check_writable, finishing, touch
from app.media.uploads.limits import max_bytes, quota_for, usage
from app.media.uploads.starting import expected_type, start
from app.policies import require


def part_count(upload: MediaUpload) -> int:
    return -(-upload.size // upload.part_size) if upload.part_size else 0


def _part_bytes(upload: MediaUpload, number: int) -> int:
    """The size of part `number`: the part size, the last one what is left."""
    return min(upload.part_size, upload.size - (number - 1) * upload.part_size)


def _bucket_parts(upload: MediaUpload) -> list[Any]:
    """The parts the bucket holds; Conflict if the bucket has no such upload any more."""
    from app.media.s3 import UploadNotFound

    try:
        return list(bucket_store().list_parts(upload.key, upload.s3_upload_id))
    except UploadNotFound as exc:
        discard_upload(upload, "aborted", "The bucket no longer has this upload.")
        raise Conflict("This upload is gone from storage; start it again.") from exc


def sign_parts(upload: MediaUpload, numbers: Any) -> dict[int, str]:
    """Presigned URLs for the browser to PUT these parts straight to the bucket."""
    check_writable(upload)
    if upload.transport != "s3-multipart":
        raise Conflict("This upload does not take parts.")
    if not isinstance(numbers, list) or not 1 <= len(numbers) <= rules.SIGN_PARTS_MAX:
        raise ValidationFailed(f"Ask for 1 to {rules.SIGN_PARTS_MAX} parts at a time.")
    last = part_count(upload)
    for n in numbers:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= last:
            raise ValidationFailed(f"Part numbers run from 1 to {last}.")
    store = bucket_store()
    seconds = int(current_app.config["UPLOAD_ABANDON_HOURS"]) * 3600
    # Each URL is signed for its part's exact size: the bucket refuses any other body.
    urls = {
        n: store.sign_part(
            upload.key, upload.s3_upload_id, n, seconds=seconds, size=_part_bytes(upload, n)
        )
        for n in numbers
    }
    touch(upload, upload.received or 0)
    return urls


def uploaded_parts(upload: MediaUpload) -> list[dict[str, Any]]:
    """The parts the bucket holds, so a resumed upload sends only the others."""
    check_writable(upload)
    parts = _bucket_parts(upload)
    touch(upload, sum(p.size for p in parts))
    return [{"number": p.number, "size": p.size, "etag": p.etag} for p in parts]


def complete_parts(upload: MediaUpload) -> MediaUpload:
    """The browser sent every part: check them against what the bucket holds, have the
    bucket join them, then check the whole by content."""
    check_writable(upload)
    if upload.transport != "s3-multipart":
        raise Conflict("This upload does not take parts.")
    store = bucket_store()
    held = {p.number: p for p in _bucket_parts(upload)}
    expected = range(1, part_count(upload) + 1)
    missing = [n for n in expected if n not in held]
    if missing:
        raise Conflict(f"Part {missing[0]} has not arrived yet; send it, then complete.")
    if sum(held[n].size for n in expected) != upload.size:
        raise Conflict("The parts do not add up to the file's declared size.")
    # The bucket's own list is the truth (the client's ETags could be anything).
    from app.media.s3 import PartsRejected, UploadNotFound

    def finish() -> None:
        try:
            store.complete_multipart(
                upload.key, upload.s3_upload_id, [(n, held[n].etag) for n in expected]
            )
        except PartsRejected as exc:
            raise Conflict(f"The bucket refused to join the parts: {exc}") from exc
        except UploadNotFound as exc:
            abort_finishing(upload, "The bucket no longer has this upload.")
            raise Conflict("This upload is gone from storage; start it again.") from exc
        finish_stored(upload)

    finishing(upload, finish)
    return upload


def form_fields(
    actor: Any, course: Course, lesson: Lesson, redirect_for: Callable[[str], str]
) -> dict[str, Any]:
    """A presigned POST for a plain form straight to the bucket: {"url", "fields"}.
    Nothing is recorded until the bucket sends the browser back (`form_returned`) to
    `redirect_for(token)`; the token signs the fresh key for this actor and lesson."""
    require(actor, "course.edit", course, EDIT_ONLY)
    limit = min(max_bytes(lesson.kind), rules.S3_FORM_MAX)
    left = quota_for(course.instructor.id) - usage(course.instructor.id)
    key = new_key("incoming", "")
    token = _form_tokens().dumps([str(actor.id), str(course.id), lesson.id, key])
    hours = int(current_app.config["UPLOAD_ABANDON_HOURS"])
    post: dict[str, Any] = bucket_store().presigned_post(
        key,
        max_bytes=max(1, min(limit, left)),
        success_redirect=redirect_for(token),
        seconds=hours * 3600,
    )
    return post


def _form_tokens() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="media.s3-form")


def form_key(actor: Any, course: Course, lesson_id: Any, token: Any) -> str:
    """The key a form's token was signed for, if it was for this actor and lesson and is
    not older than UPLOAD_ABANDON_HOURS; else NotFound."""
    hours = int(current_app.config["UPLOAD_ABANDON_HOURS"])
    try:
        user, course_id, lesson, key = _form_tokens().loads(str(token), max_age=hours * 3600)
    except (BadSignature, ValueError, TypeError) as exc:
        raise NotFound("This upload link is not valid any more; upload the file again.") from exc
    if (user, course_id, lesson) != (str(actor.id), str(course.id), lesson_id):
        raise NotFound("This upload link is not valid any more; upload the file again.")
    return str(key)


def form_returned(actor: Any, course: Course, lesson_id: Any, key: Any) -> MediaUpload:
    """The bucket took a form's file under `key` (signed into the redirect, so it is
    one this app handed out) and sent the browser back: record it and check it. Safe
    to repeat: the second time finds the upload already complete."""
    require(actor, "course.edit", course, EDIT_ONLY)
    if not isinstance(key, str) or not key.startswith("incoming/"):
        raise NotFound("No such upload.")
    done = MediaUpload.objects(course_id=str(course.id), source_key=key).first()
    if done is not None:
        return done
    store = bucket_store()
    size = store.size(key)
    if not size:
        raise NotFound("The file did not reach storage; upload it again.")
    try:
        _, lesson = find_lesson(course, lesson_id)
        found = sniff(b"".join(store.read(key, 0, HEAD_BYTES)))
        name = f"lesson.{found.extension}"
        expected_type(lesson.kind, name)  # a video lesson refuses a PDF here already
        upload = start(actor, course, lesson_id, filename=name, size=size, transport="s3-form")
    except Exception:
        store.delete(key)  # refused: nothing of it stays in the bucket
        raise
    upload.key = upload.source_key = key  # moved to a `lessons/` key by finish_stored
    upload.save()
    finishing(upload, lambda: finish_stored(upload))
    return upload


def finish_stored(upload: MediaUpload) -> None:
    """Every byte is in the bucket: check the size and the type by content."""
    store = storage()
    size = store.size(upload.key) or 0
    if size != upload.size:
        store.delete(upload.key)
        fail(upload, "The file arrived incomplete; upload it again.")
        return
    head = b"".join(store.read(upload.key, 0, HEAD_BYTES))
    if not content_matches(upload, head):
        store.delete(upload.key)
        return
    if upload.extension in rules.IMAGE_TYPES:
        data = clean_image(upload, b"".join(store.read(upload.key)))
        store.delete(upload.key)
        if data is None:
            return
        upload.key = new_key("lessons", upload.extension)
        store.put(upload.key, data, content_type(upload.extension))
        size = len(data)
    elif not (upload.key.startswith("lessons/") and upload.key.endswith(f".{upload.extension}")):
        # a form's key (no extension), or a file whose content named its type
        final = new_key("lessons", upload.extension)
        store.copy(upload.key, final)
        store.delete(upload.key)
        upload.key = final
    complete(upload, size)
