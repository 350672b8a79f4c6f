"""The media side's vocabularies and limits, each defined once.

The upload services, the tus endpoint, the S3 transports, the studio's templates and
the upload script's data attributes all read them from here. The limits that differ
between sites (largest upload per kind, quota, chunk size, how long an idle upload
lives) are settings (app/config.py); the ones fixed by protocols are constants.
"""

from __future__ import annotations

MiB = 1024 * 1024
GiB = 1024 * MiB

# ---------------------------------------------------------------- types

# What a lesson of each kind accepts, by the extension of the uploaded name, mapped to
# the canonical type the content must turn out to be (app/media/files.py `sniff`):
# checked by name when an upload starts, by content when it completes.
VIDEO_TYPES = {"mp4": "mp4", "m4v": "mp4", "mov": "mp4", "webm": "webm", "mkv": "webm"}
DOCUMENT_TYPES = {
    "pdf": "pdf",
    "zip": "zip",
    "docx": "zip",
    "xlsx": "zip",
    "pptx": "zip",
    "odt": "zip",
    "ods": "zip",
    "odp": "zip",
    "epub": "zip",
    "txt": "txt",
    "md": "txt",
    "csv": "txt",
    "mp3": "mp3",
    "ogg": "ogg",
    "oga": "ogg",
    "png": "png",
    "jpg": "jpg",
    "jpeg": "jpg",
}
ANY_FILE = "bin"  # another extension in a file lesson: stored as is, offered as a download
UPLOAD_TYPES = {"video": VIDEO_TYPES, "file": DOCUMENT_TYPES}
# An uploaded name's extension -> the stored type it names (avatars and covers: webp).
NAMED_TYPES = VIDEO_TYPES | DOCUMENT_TYPES | {"webp": "webp"}
UPLOAD_KINDS = tuple(UPLOAD_TYPES)  # the lesson kinds that take a file
IMAGE_TYPES = ("png", "jpg")  # re-encoded when they complete, so held in memory once

# ---------------------------------------------------------------- states

# An upload in progress, then what became of it.
UPLOAD_STATES = ("uploading", "finishing", "complete", "failed", "aborted")
UPLOAD_RECORD_DAYS = 30  # how long a finished upload's record is kept
# How the bytes travel: tus to the app (local store), presigned multipart parts straight
# to the bucket (S3), or one plain form post (no JavaScript) to either.
TRANSPORTS = ("tus", "s3-multipart", "form", "s3-form")
# Why stored objects are deleted (the `media.discarded` event).
DISCARD_REASONS = (
    "replaced",
    "purged",
    "course_deleted",
    "account_deleted",
    "upload_aborted",
    "rejected",
)

# ---------------------------------------------------------------- protocol limits

# One request body (a tus PATCH, an S3 part) stays under this, so proxies with the
# common 100 MB limit (Cloudflare, many nginx set-ups) never refuse one.
CHUNK_MAX = 90 * MiB
S3_PART_MIN = 5 * MiB  # every part but the last (S3's rule)
S3_PARTS_MAX = 10_000
S3_FORM_MAX = 5 * GiB  # one presigned POST (S3's largest single PUT)
SIGN_PARTS_MAX = 100  # part URLs signed in one request
FILENAME_MAX = 200
FINGERPRINT_MAX = 600  # how the uploader recognises its file: name, size, modified time
PRESIGN_MAX_HOURS = 7 * 24  # the longest a SigV4 presigned URL can live
QUOTA_MAX_GB = 1_000_000  # the largest storage quota an admin may set, in GiB


def part_size(size: int, chunk: int) -> int:
    """The part size for a multipart upload of `size` bytes: the configured chunk, or
    larger if the file would otherwise need more than S3_PARTS_MAX parts."""
    needed = -(-size // S3_PARTS_MAX)
    return max(chunk, S3_PART_MIN, needed)
