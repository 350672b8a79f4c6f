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


# ---------------------------------------------------------------- the HLS ladder

# app/media/ladder.py. Rungs are named by their short side ("720p"), so a portrait
# phone video gets the same rungs as a landscape one. The default ladder is a setting
# (MEDIA_LADDER); these are its bounds and the encoder's fixed choices.
LADDER_DEFAULT = (360, 720)
LADDER_HEIGHT_MIN = 144
LADDER_HEIGHT_MAX = 2160
LADDER_RUNGS_MAX = 5
# A source between two rungs (a 480p file with the 360p+720p ladder) loses the rung above
# it; when it is at least this much taller than the highest rung it keeps, it also gets
# a rung at its own size, so its own detail is not thrown away. Below that (a 400p
# source) the extra rung would cost a whole encode for a barely visible difference.
LADDER_OWN_RUNG_RATIO = 1.25
# Capped CRF: x264 spends what the picture needs (CRF 23, its default quality) up to a
# ceiling per rung (VBV maxrate, bits/s; the buffer is twice that, about 2 s), so slides
# cost a fraction of the cap while camera noise never outgrows the link a viewer of that
# rung has: 0.8 Mbit/s for 360p fits a poor mobile link, 2.5 Mbit/s for 720p plus audio
# fits a 3 Mbit/s one. Heights between these get a rate interpolated linearly.
LADDER_CRF = 23
LADDER_MAXRATE = {
    144: 200_000,
    240: 400_000,
    360: 800_000,
    480: 1_200_000,
    540: 1_600_000,
    720: 2_500_000,
    1080: 5_000_000,
    1440: 9_000_000,
    2160: 16_000_000,
}
LADDER_BUFSIZE_SECONDS = 2
# veryfast: the default ladder of 1080p30 camera video costs about 44 CPU-seconds per
# minute of video on 2 cores (docs/performance.md), just inside SPEC §8's 45; any slower
# preset would not fit.
LADDER_PRESET = "veryfast"
LADDER_MAX_FPS = 60  # a faster source is halved until it is at most this
SEGMENT_SECONDS = 6  # HLS segment and GOP length (Apple's HLS authoring spec: 6 s)
AUDIO_BITRATE = 128_000  # the one AAC-LC stereo rendition every rung shares
AUDIO_CHANNELS = 2
# The ffmpeg demuxer forced on an upload, from the canonical type its content was found
# to be (VIDEO_TYPES' values), so ffmpeg never guesses the format of a hostile file.
DEMUXERS = {"mp4": "mov", "webm": "matroska"}
# ffmpeg runs at this niceness (on top of the worker's own), so a transcode yields the
# cores to the web process.
FFMPEG_NICENESS = 10
# Wall-clock limits, seconds = BASE + FACTOR x the video's duration; past it ffmpeg is
# killed. A transcode takes about 0.5x its duration on an idle 2-core machine: 4x leaves
# room for a busy one. A remux only copies bytes (seconds for 1 GB).
TRANSCODE_TIME_BASE = 60.0
TRANSCODE_TIME_FACTOR = 4.0
REMUX_TIME_BASE = 60.0
REMUX_TIME_FACTOR = 0.25
