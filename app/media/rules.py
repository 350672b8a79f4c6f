"""The media side's vocabularies and limits, each defined once.

The upload services, the tus endpoint, the S3 transports, the studio's templates, the
upload script's data attributes and the video probe all read them from here. The limits that differ
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


# ---------------------------------------------------------------- video probe

# Every uploaded video is read first by app/media/probe.py, in a child process
# (app/media/probe_read.py) that may read only the uploaded file, within these limits.
PROBE_SECONDS = 30.0  # wall clock for the whole probe; past it the child is killed
PROBE_MEMORY = 2 * GiB  # the child's address space: decoding one 8K frame fits easily
KEYFRAME_SCAN_SECONDS = 60  # keyframe spacing is measured over the first minute only

# FFmpeg's demuxers that may open an upload (its names, as `container.format.name`
# gives them), with the family each stands for. MP4/MOV is what cameras, phones and
# editors write; Matroska/WebM is what browsers' MediaRecorder, OBS and screen
# recorders write. Everything else is refused before it is parsed: HLS and DASH
# playlists, concat lists and image sequences point at other files or addresses, and
# the long tail of old demuxers (AVI, FLV, MPEG-TS, ...) is attack surface no lesson
# needs.
VIDEO_DEMUXERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "matroska"}

# The video codecs we take (FFmpeg's names), with the name a person knows them by.
# Together they cover what cameras, phones, browsers, screen recorders and editors
# produce today: H.264 (almost everything), HEVC (iPhones and recent Android phones by
# default), VP8/VP9 (browser recordings, WebM), AV1 (recent phones, OBS, exports),
# MPEG-4 Part 2 (older cameras, DivX/Xvid), ProRes and DNxHD/HR (editors' masters) and
# Motion JPEG (older compact cameras and webcams). Left out on purpose: raw and
# uncompressed video (gigabytes a minute), image codecs (PNG, GIF, TIFF: a picture or an
# animation, not a lesson), and legacy codecs (H.263, WMV, Theora, Cinepak, ...) whose
# decoders see little use and much fuzzing, and that nothing current records.
VIDEO_CODECS = {
    "h264": "H.264",
    "hevc": "HEVC (H.265)",
    "vp8": "VP8",
    "vp9": "VP9",
    "av1": "AV1",
    "mpeg4": "MPEG-4 Part 2",
    "prores": "Apple ProRes",
    "dnxhd": "Avid DNxHD",
    "mjpeg": "Motion JPEG",
}
# Sound tracks: the same reasoning (cameras and phones: AAC, PCM; browsers: Opus;
# exports: MP3, FLAC, ALAC, AC-3). A track in another format refuses the upload
# rather than being dropped in silence.
AUDIO_CODECS = {
    "aac": "AAC",
    "mp3": "MP3",
    "opus": "Opus",
    "vorbis": "Vorbis",
    "flac": "FLAC",
    "alac": "Apple Lossless",
    "ac3": "Dolby Digital (AC-3)",
    "eac3": "Dolby Digital Plus (E-AC-3)",
    **{
        f"pcm_{kind}": "PCM"
        for kind in ("s16le", "s16be", "s24le", "s24be", "s32le", "s32be", "f32le", "f32be")
    },
}

# Limits on what a lesson video may be. Four hours holds the longest lecture or
# workshop recording; longer is almost always a mistake (a screen recorder left on),
# and it would hold a worker for hours. 7680 pixels a side and 8K's pixel count are
# the largest that cameras and phones record.
VIDEO_MAX_SECONDS = 4 * 3600
VIDEO_MAX_SIDE = 7680
VIDEO_MAX_PIXELS = 7680 * 4320
# How far a video's last packets may end from the length its header states: ending
# sooner, it is cut short; going on longer, its header lies.
VIDEO_LENGTH_SLACK_SECONDS = 2.0

# A browser-safe upload is remuxed into HLS as it is (seconds, almost no CPU) instead of
# transcoded: what every current browser and hls.js play from fMP4 segments.
SAFE_CONTAINERS = ("mp4",)  # a VIDEO_DEMUXERS family: MP4/MOV copies into fMP4 cleanly
SAFE_VIDEO_CODEC = "h264"
# 8-bit 4:2:0 (the `j` one is full range, as some phones write it; browsers play it).
SAFE_PIXEL_FORMATS = ("yuv420p", "yuvj420p")
SAFE_H264_PROFILES = ("Constrained Baseline", "Baseline", "Main", "High")
SAFE_AUDIO_CODECS = ("aac",)  # or no sound at all
SAFE_LONG_SIDE, SAFE_SHORT_SIDE = 1920, 1080  # 1080p, landscape or portrait
SAFE_MAX_FPS = 60.0  # 120 and 240 fps phone slow motion is too heavy to play as it is
SAFE_KEYFRAME_SECONDS = 10.0  # HLS segments start at keyframes: at most this far apart
SAFE_MAX_BYTES = 1 * GiB  # larger files are bitrate-heavy: a ladder serves them better
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
# The ffmpeg demuxer forced on an upload, from the family the probe found it to be
# (VIDEO_DEMUXERS' values), so ffmpeg never guesses the format of a hostile file.
DEMUXERS = {"mp4": "mov", "matroska": "matroska"}
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

# ---------------------------------------------------------------- the media worker's jobs

# One job per uploaded video (app/media/jobs.py): queued, running (leased to one
# worker), done (its outcome went out as an event).
JOB_LEASE_SECONDS = 120  # renewed every 30 s while a job runs; a dead worker's is free after
JOB_MAX_ATTEMPTS = 3  # tries of a job that fails for a reason of ours, not the file's
WORKER_NICENESS = 10  # the embedded media process yields the cores to the web process
REASON_GONE = "The uploaded file is gone from storage; please upload it again."
REASON_OURS = (
    "We could not process this file because of a problem on our side. Please upload "
    "it again; if it keeps failing, tell the site's administrators."
)
FALLBACK_FPS = 30  # the ladder's frame rate when a video states none (variable rate)
# HLS files as they are stored and served (RFC 8216; fMP4 segments per ISO BMFF).
HLS_TYPES = {
    "m3u8": "application/vnd.apple.mpegurl",
    "m4s": "video/iso.segment",
    "mp4": "video/mp4",
}
