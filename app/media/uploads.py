"""Lesson media on its way into storage: resumable, checked twice, counted in a quota.

An upload is a `MediaUpload` (app/media/documents.py) and, on its lesson, a `pending`
Media in state `uploading`. It travels one of four ways (rules.TRANSPORTS):

- `tus`: the browser sends chunks to the app (the local store), which appends each one
  to a staging file under DATA_DIR/uploads, chunk by chunk, never holding one whole
  (blueprints/uploads/tus.py speaks the protocol);
- `s3-multipart`: the browser sends presigned parts straight to the bucket; the app
  signs the parts and completes the upload, and never holds a byte;
- `form`: one plain form post to the app, streamed to a staging file (no JavaScript);
- `s3-form`: one presigned POST form straight to the bucket (no JavaScript, up to 5 GB).

Size, type (by name) and quota are checked when an upload starts; when the last byte
is in, the content is checked again (type by content) and the lesson's pending media
becomes `uploaded`, with a `media.uploaded` event for the media worker. An upload that
stops for longer than UPLOAD_ABANDON_HOURS is removed by `sweep_abandoned`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from mongoengine.errors import NotUniqueError

from app.courses.documents import Course, Lesson, Media
from app.courses.outbox import record_course_event
from app.courses.outline import find_lesson, set_lesson_fields
from app.courses.policies import EDIT_ONLY
from app.errors import Conflict, Malformed, NotFound, TooLarge, ValidationFailed
from app.media import rules
from app.media.documents import MediaUpload, QuotaLock
from app.media.files import IMAGE_MAX_BYTES, Sniffed, sniff
from app.media.storage import CHUNK, LocalStorage, Readable, new_key, storage
from app.policies import can, require
from app.ratelimits import consume_account_limit
from app.text import format_bytes
from app.timeutil import utcnow

log = logging.getLogger(__name__)

HEAD_BYTES = 512  # what `sniff` reads to decide a file's type


class Busy(Conflict):
    """Another request is writing this upload right now (a retry racing the original)."""

    status = 423
    code = "locked"
    message = "This upload is receiving another chunk; try again in a moment."


# ---------------------------------------------------------------- limits and quota


def max_bytes(kind: str) -> int:
    """The largest file a lesson of this kind takes (a setting per kind)."""
    return int(current_app.config[f"UPLOAD_MAX_BYTES_{kind.upper()}"])


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
        lessons = [lesson for _, lesson in course.lessons()]
        lessons += [lesson for item in course.trash for lesson in item.lessons()]
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


def _check_quota(owner_id: str, size: int, replacing: int = 0) -> None:
    left = quota_for(owner_id) - usage(owner_id) + replacing
    if size > left:
        raise ValidationFailed(
            fields={
                "file": f"This file needs {format_bytes(size)} but only "
                f"{format_bytes(max(0, left))} of the storage quota is left. "
                "Delete files you no longer need (and empty the trash), or ask an admin."
            }
        )


# ---------------------------------------------------------------- starting


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
        _check_quota(owner, size, replacing=sum(u.size for u in earlier))  # theirs is freed
        if transport == "s3-multipart":
            store = _s3()
            upload.part_size = rules.part_size(size, current_app.config["UPLOAD_CHUNK_BYTES"])
            upload.s3_upload_id = store.create_multipart(upload.key, _content_type(ext))
        upload.save(force_insert=True)
    for upload_before in earlier:  # only now: a refused start leaves them alone
        try:
            _discard_upload(upload_before, "aborted", "Replaced by a newer upload.")
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


def cancel_course_uploads(course: Course) -> None:
    """Stop every upload on its way into the course (it is being deleted)."""
    for upload in MediaUpload.objects(course_id=str(course.id), state="uploading"):
        try:
            _discard_upload(upload, "aborted", "The course was deleted.")
        except Busy:
            pass  # a chunk is arriving: once complete, it finds no lesson and is discarded


# ---------------------------------------------------------------- finding


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
        _refresh_received(upload)
    return upload


def _writable(upload: MediaUpload) -> None:
    if upload.state == "complete":
        raise Conflict("This upload is already complete.")
    if upload.state == "finishing":
        raise Conflict("The file is being checked right now.")
    if upload.state != "uploading":
        raise Conflict(upload.error or "This upload was cancelled; start it again.")


# ---------------------------------------------------------------- tus and forms: local


def staging_path(upload_id: str) -> Path:
    folder = Path(current_app.config["DATA_DIR"]) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{upload_id}.part"


@contextmanager
def _locked(path: Path, create: bool = True) -> Iterator[int | None]:
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


def received_bytes(upload: MediaUpload) -> int:
    """Bytes stored so far: the staging file's size is the truth for tus (a request cut
    off halfway keeps what arrived)."""
    if upload.state in ("complete", "finishing"):
        return upload.size
    if upload.transport in ("tus", "form"):
        path = staging_path(upload.id)
        return path.stat().st_size if path.exists() else 0
    return upload.received or 0


def append(upload: MediaUpload, offset: Any, stream: Readable, length: int | None) -> int:
    """Write a chunk at `offset` (which must be where the file ends now), streamed in
    small pieces. A chunk cut off halfway keeps what arrived, so the client resumes
    from there; one that would pass the declared size is refused whole. Completes the
    upload with its last byte. Returns the new offset."""
    _writable(upload)
    if upload.transport != "tus":
        raise Conflict("This upload does not take chunks.")
    if not isinstance(offset, int) or offset < 0:
        raise ValidationFailed("Upload-Offset must be a whole number of bytes.")
    if length is not None and offset + length > upload.size:
        raise TooLarge(f"This chunk goes past the file's declared size ({upload.size} bytes).")
    path = staging_path(upload.id)
    with _locked(path) as fd:
        if fd is None:  # never: _locked creates the file
            raise NotFound("No such upload.")
        if not MediaUpload.objects(id=upload.id, state="uploading").count():
            path.unlink(missing_ok=True)  # cancelled just before this chunk: opened anew
            raise NotFound("This upload was cancelled; start it again.")
        current = os.fstat(fd).st_size
        if offset != current:
            raise Conflict(f"The upload is at byte {current}, not {offset}; resume from there.")
        os.lseek(fd, offset, os.SEEK_SET)
        written = 0
        room = upload.size - offset
        try:
            while True:
                piece = stream.read(min(CHUNK, room - written + 1))
                if not piece:
                    break
                if written + len(piece) > room:
                    os.ftruncate(fd, offset)  # refused whole: the file is as it was
                    written = 0
                    raise TooLarge("This chunk goes past the file's declared size.")
                os.write(fd, piece)
                written += len(piece)
        finally:
            _touch(upload, offset + written)
        if offset + written == upload.size:
            _finishing(upload, lambda: _finish_staged(upload, path))
    return offset + written


def finish_if_whole(upload: MediaUpload) -> None:
    """Finish a tus upload whose every byte is staged but which is still `uploading`: its
    last chunk arrived, and finishing failed (the store was away, say). A client that
    asks where to resume (HEAD) learns it has nothing left to send, so it never sends
    the chunk that would finish it: this does, and raises if finishing fails again."""
    if upload.transport != "tus" or upload.state != "uploading":
        return
    path = staging_path(upload.id)
    with _locked(path, create=False) as fd:
        if fd is None or os.fstat(fd).st_size != upload.size:
            return
        if MediaUpload.objects(id=upload.id, state="uploading").count():
            _finishing(upload, lambda: _finish_staged(upload, path))


def _finishing(upload: MediaUpload, finish: Callable[[], None]) -> None:
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


def _touch(upload: MediaUpload, received: int) -> None:
    upload.received = received
    upload.active_at = utcnow()
    MediaUpload.objects(id=upload.id, state="uploading").update_one(
        set__received=received, set__active_at=upload.active_at
    )


def receive_file(
    actor: Any, course: Course, lesson_id: Any, path: Path, filename: Any
) -> MediaUpload:
    """A whole file already on disk (a plain form's upload, streamed to `path` under
    DATA_DIR/uploads; the demo's files): start, take it, complete. With S3, the file is
    streamed on to the bucket."""
    size = path.stat().st_size
    upload = start(actor, course, lesson_id, filename=filename, size=size, transport="form")
    try:
        staged = staging_path(upload.id)
        shutil.move(path, staged)
        _finishing(upload, lambda: _finish_staged(upload, staged))
    finally:
        path.unlink(missing_ok=True)
    return upload


def receive_stream(
    actor: Any, course: Course, lesson_id: Any, stream: IO[bytes], filename: Any, limit: int
) -> MediaUpload:
    """receive_file for a stream (stored to a staging file first, at most `limit`)."""
    require(actor, "course.edit", course, EDIT_ONLY)
    path = new_staging_file()
    try:
        with path.open("wb") as out:
            size = 0
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"The file is larger than {format_bytes(limit)}.")
                out.write(chunk)
        return receive_file(actor, course, lesson_id, path, filename)
    finally:
        path.unlink(missing_ok=True)


def new_staging_file() -> Path:
    """A fresh file name under DATA_DIR/uploads for a form's upload to stream into."""
    from app.media.documents import new_upload_id

    return staging_path(f"form-{new_upload_id()}")


def _finish_staged(upload: MediaUpload, path: Path) -> None:
    """The staging file holds every byte: check it by content, store it under its key."""
    with path.open("rb") as source:
        head = source.read(HEAD_BYTES)
    if not _content_matches(upload, head):
        path.unlink(missing_ok=True)
        return
    store = storage()
    if not upload.key.endswith(f".{upload.extension}"):
        upload.key = new_key("lessons", upload.extension)  # nothing stored there yet
    if upload.extension in rules.IMAGE_TYPES:
        data = _clean_image(upload, path.read_bytes())
        path.unlink(missing_ok=True)
        if data is None:
            return
        store.put(upload.key, data, _content_type(upload.extension))
        size = len(data)
    elif isinstance(store, LocalStorage):
        size = store.adopt(path, upload.key)
    else:
        with path.open("rb") as source:
            size = store.put_stream(upload.key, source, _content_type(upload.extension))
        path.unlink(missing_ok=True)
    _complete(upload, size)


# ---------------------------------------------------------------- S3: parts and forms


def _s3() -> Any:
    store = storage()
    if store.engine != "s3":
        raise Conflict("Uploads straight to the bucket need S3 storage (S3_BUCKET).")
    return store


def part_count(upload: MediaUpload) -> int:
    return -(-upload.size // upload.part_size) if upload.part_size else 0


def _part_bytes(upload: MediaUpload, number: int) -> int:
    """The size of part `number`: the part size, the last one what is left."""
    return min(upload.part_size, upload.size - (number - 1) * upload.part_size)


def _bucket_parts(upload: MediaUpload) -> list[Any]:
    """The parts the bucket holds; Conflict if the bucket has no such upload any more."""
    from app.media.s3 import UploadNotFound

    try:
        return list(_s3().list_parts(upload.key, upload.s3_upload_id))
    except UploadNotFound as exc:
        _discard_upload(upload, "aborted", "The bucket no longer has this upload.")
        raise Conflict("This upload is gone from storage; start it again.") from exc


def sign_parts(upload: MediaUpload, numbers: Any) -> dict[int, str]:
    """Presigned URLs for the browser to PUT these parts straight to the bucket."""
    _writable(upload)
    if upload.transport != "s3-multipart":
        raise Conflict("This upload does not take parts.")
    if not isinstance(numbers, list) or not 1 <= len(numbers) <= rules.SIGN_PARTS_MAX:
        raise ValidationFailed(f"Ask for 1 to {rules.SIGN_PARTS_MAX} parts at a time.")
    last = part_count(upload)
    for n in numbers:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= last:
            raise ValidationFailed(f"Part numbers run from 1 to {last}.")
    store = _s3()
    seconds = int(current_app.config["UPLOAD_ABANDON_HOURS"]) * 3600
    # Each URL is signed for its part's exact size: the bucket refuses any other body.
    urls = {
        n: store.sign_part(
            upload.key, upload.s3_upload_id, n, seconds=seconds, size=_part_bytes(upload, n)
        )
        for n in numbers
    }
    _touch(upload, upload.received or 0)
    return urls


def uploaded_parts(upload: MediaUpload) -> list[dict[str, Any]]:
    """The parts the bucket holds, so a resumed upload sends only the others."""
    _writable(upload)
    parts = _bucket_parts(upload)
    _touch(upload, sum(p.size for p in parts))
    return [{"number": p.number, "size": p.size, "etag": p.etag} for p in parts]


def _refresh_received(upload: MediaUpload) -> None:
    try:
        parts = _s3().list_parts(upload.key, upload.s3_upload_id)
    except Exception:  # the status line is a courtesy; the bucket may be briefly away
        log.warning("listing an upload's parts failed", exc_info=True)
        return
    upload.received = sum(p.size for p in parts)


def complete_parts(upload: MediaUpload) -> MediaUpload:
    """The browser sent every part: check them against what the bucket holds, have the
    bucket join them, then check the whole by content."""
    _writable(upload)
    if upload.transport != "s3-multipart":
        raise Conflict("This upload does not take parts.")
    store = _s3()
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
            _abort_finishing(upload, "The bucket no longer has this upload.")
            raise Conflict("This upload is gone from storage; start it again.") from exc
        _finish_stored(upload)

    _finishing(upload, finish)
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
    post: dict[str, Any] = _s3().presigned_post(
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
    store = _s3()
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
    upload.key = upload.source_key = key  # moved to a `lessons/` key by _finish_stored
    upload.save()
    _finishing(upload, lambda: _finish_stored(upload))
    return upload


def _finish_stored(upload: MediaUpload) -> None:
    """Every byte is in the bucket: check the size and the type by content."""
    store = storage()
    size = store.size(upload.key) or 0
    if size != upload.size:
        store.delete(upload.key)
        _fail(upload, "The file arrived incomplete; upload it again.")
        return
    head = b"".join(store.read(upload.key, 0, HEAD_BYTES))
    if not _content_matches(upload, head):
        store.delete(upload.key)
        return
    if upload.extension in rules.IMAGE_TYPES:
        data = _clean_image(upload, b"".join(store.read(upload.key)))
        store.delete(upload.key)
        if data is None:
            return
        upload.key = new_key("lessons", upload.extension)
        store.put(upload.key, data, _content_type(upload.extension))
        size = len(data)
    elif not (upload.key.startswith("lessons/") and upload.key.endswith(f".{upload.extension}")):
        # a form's key (no extension), or a file whose content named its type
        final = new_key("lessons", upload.extension)
        store.copy(upload.key, final)
        store.delete(upload.key)
        upload.key = final
    _complete(upload, size)


# ---------------------------------------------------------------- completing


def _content_type(extension: str) -> str:
    from app.media.files import CONTENT_TYPES

    return CONTENT_TYPES.get(extension, "application/octet-stream")


def _content_matches(upload: MediaUpload, head: bytes) -> bool:
    """Whether the content is what its name promised; fails the upload if not. A file
    whose name promised nothing in particular (a file lesson's `.exe`, say) is kept as
    what its content is, so an image among them is re-encoded like any other."""
    found: Sniffed = sniff(head)
    if upload.extension == rules.ANY_FILE:
        upload.extension = found.extension
    if found.extension == upload.extension:
        if upload.extension in rules.IMAGE_TYPES and upload.size > IMAGE_MAX_BYTES:
            _fail(upload, f"An image may be at most {format_bytes(IMAGE_MAX_BYTES)}.")
            return False
        return True
    _fail(
        upload,
        f"The file's content is not what its name says: it looks like {found.kind} "
        f"({found.extension}), not {upload.extension}.",
    )
    return False


def _clean_image(upload: MediaUpload, data: bytes) -> bytes | None:
    from app.media.images import ImageRejected, clean_image

    try:
        encoded, _ = clean_image(data)
    except ImageRejected as exc:
        _fail(upload, str(exc))
        return None
    return encoded


def _complete(upload: MediaUpload, size: int) -> None:
    """The file is stored and checked: the lesson's pending media becomes `uploaded`
    and the media worker hears of it. If the lesson went meanwhile (deleted, or another
    upload replaced this one), the file is discarded instead."""
    now = utcnow()
    media = Media(
        key=upload.key,
        filename=upload.filename,
        content_type=_content_type(upload.extension),
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
    record_course_event(
        "media.uploaded",
        {
            "upload_id": upload.id,
            "course_id": upload.course_id,
            "lesson_id": upload.lesson_id,
            "key": upload.key,
            "size": size,
            "content_type": media.content_type,
        },
        key=upload.course_id,
    )
    log.info("upload complete", extra={"upload": upload.id, "size": size})


def _fail(upload: MediaUpload, reason: str) -> None:
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


# ---------------------------------------------------------------- cancelling and sweeping


def cancel(upload: MediaUpload) -> None:
    """The uploader gave up (tus termination, the studio's Cancel): remove what arrived."""
    if upload.state == "finishing":
        raise Conflict("The file is being checked right now; it can no longer be cancelled.")
    if upload.state != "uploading":
        return
    _discard_upload(upload, "aborted", "Cancelled.")


def _discard_upload(upload: MediaUpload, state: str, reason: str) -> None:
    """Stop an upload still arriving: Busy while a chunk of it is being written (the
    caller may retry), nothing if it is already finishing or finished."""
    path = staging_path(upload.id)
    with _locked(path, create=False):  # waits for no chunk: Busy if one is arriving
        claimed = MediaUpload.objects(id=upload.id, state="uploading").update_one(
            set__state=state, set__error=reason, set__finished_at=utcnow()
        )
        if not claimed:
            return
        upload.state, upload.error = state, reason
        path.unlink(missing_ok=True)
    if upload.transport == "s3-multipart" and upload.s3_upload_id:
        _s3().abort_multipart(upload.key, upload.s3_upload_id)
    _clear_pending(upload)


def _abort_finishing(upload: MediaUpload, reason: str) -> None:
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
        _s3().abort_multipart(upload.key, upload.s3_upload_id)
    _clear_pending(upload)


def _clear_pending(upload: MediaUpload) -> None:
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
            _discard_upload(upload, "aborted", "Nothing arrived for too long; start again.")
        except Busy:
            continue
        swept += 1
    for upload in MediaUpload.objects(state="finishing", active_at__lt=cutoff):
        _abort_finishing(upload, "Completing it was interrupted; upload it again.")
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
        store = _s3()
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


# ---------------------------------------------------------------- discarding stored files


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
