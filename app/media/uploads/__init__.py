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

The package, one concern per module:

- `starting`: start an upload (checks by name, size and quota; the record);
- `local`: tus chunks and plain forms into staging files (the local store);
- `bucket`: presigned parts and the presigned POST form (S3);
- `checks`: the complete file checked by content and recorded, or refused;
- `cleanup`: cancel, replace, sweep abandoned uploads, discard stored files;
- `limits`: sizes per lesson kind, the quota and its lock;
- `core`: finding an upload, its state, staging file, the bucket, the one finisher.

Callers use the names below (`from app.media import uploads; uploads.start(...)`).
"""

from app.media.uploads.bucket import (
    complete_parts,
    form_fields,
    form_key,
    form_returned,
    part_count,
    sign_parts,
    uploaded_parts,
)
from app.media.uploads.checks import retry
from app.media.uploads.cleanup import cancel, cancel_course_uploads, discard_keys, sweep_abandoned
from app.media.uploads.core import (
    get,
    lesson_file_status,
    lesson_upload,
    new_staging_file,
    received_bytes,
    staging_path,
)
from app.media.uploads.limits import form_limit, largest_upload, max_bytes, quota_for, usage
from app.media.uploads.local import append, finish_if_whole, receive_file, receive_stream
from app.media.uploads.starting import start

__all__ = [
    "append",
    "cancel",
    "cancel_course_uploads",
    "complete_parts",
    "discard_keys",
    "finish_if_whole",
    "form_fields",
    "form_key",
    "form_limit",
    "form_returned",
    "get",
    "lesson_file_status",
    "lesson_upload",
    "largest_upload",
    "max_bytes",
    "new_staging_file",
    "part_count",
    "quota_for",
    "receive_file",
    "receive_stream",
    "received_bytes",
    "retry",
    "sign_parts",
    "staging_path",
    "start",
    "sweep_abandoned",
    "uploaded_parts",
    "usage",
]
