"""Bytes that reach the app (the local store): tus chunks appended to a staging
file under DATA_DIR/uploads, and plain forms streamed there; then finished."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO, Any

from app.courses.documents import Course
from app.courses.policies import EDIT_ONLY
from app.errors import Conflict, NotFound, TooLarge, ValidationFailed
from app.media import rules
from app.media.documents import MediaUpload
from app.media.storage import CHUNK, LocalStorage, Readable, new_key, storage
from app.media.uploads.checks import clean_image, complete, content_matches, content_type
from app.media.uploads.core import (
    HEAD_BYTES,
    check_writable,
    finishing,
    locked,
    new_staging_file,
    staging_path,
    touch,
)
from app.media.uploads.starting import start
from app.policies import require
from app.text import format_bytes


def append(upload: MediaUpload, offset: Any, stream: Readable, length: int | None) -> int:
    """Write a chunk at `offset` (which must be where the file ends now), streamed in
    small pieces. A chunk cut off halfway keeps what arrived, so the client resumes
    from there; one that would pass the declared size is refused whole. Completes the
    upload with its last byte. Returns the new offset."""
    check_writable(upload)
    if upload.transport != "tus":
        raise Conflict("This upload does not take chunks.")
    if not isinstance(offset, int) or offset < 0:
        raise ValidationFailed("Upload-Offset must be a whole number of bytes.")
    if length is not None and offset + length > upload.size:
        raise TooLarge(f"This chunk goes past the file's declared size ({upload.size} bytes).")
    path = staging_path(upload.id)
    with locked(path) as fd:
        if fd is None:  # never: locked creates the file
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
            touch(upload, offset + written)
        if offset + written == upload.size:
            finishing(upload, lambda: finish_staged(upload, path))
    return offset + written


def finish_if_whole(upload: MediaUpload) -> None:
    """Finish a tus upload whose every byte is staged but which is still `uploading`: its
    last chunk arrived, and finishing failed (the store was away, say). A client that
    asks where to resume (HEAD) learns it has nothing left to send, so it never sends
    the chunk that would finish it: this does, and raises if finishing fails again."""
    if upload.transport != "tus" or upload.state != "uploading":
        return
    path = staging_path(upload.id)
    with locked(path, create=False) as fd:
        if fd is None or os.fstat(fd).st_size != upload.size:
            return
        if MediaUpload.objects(id=upload.id, state="uploading").count():
            finishing(upload, lambda: finish_staged(upload, path))


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
        finishing(upload, lambda: finish_staged(upload, staged))
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


def finish_staged(upload: MediaUpload, path: Path) -> None:
    """The staging file holds every byte: check it by content, store it under its key."""
    with path.open("rb") as source:
        head = source.read(HEAD_BYTES)
    if not content_matches(upload, head):
        path.unlink(missing_ok=True)
        return
    store = storage()
    if not upload.key.endswith(f".{upload.extension}"):
        upload.key = new_key("lessons", upload.extension)  # nothing stored there yet
    if upload.extension in rules.IMAGE_TYPES:
        data = clean_image(upload, path.read_bytes())
        path.unlink(missing_ok=True)
        if data is None:
            return
        store.put(upload.key, data, content_type(upload.extension))
        size = len(data)
    elif isinstance(store, LocalStorage):
        size = store.adopt(path, upload.key)
    else:
        with path.open("rb") as source:
            size = store.put_stream(upload.key, source, content_type(upload.extension))
        path.unlink(missing_ok=True)
    complete(upload, size)
