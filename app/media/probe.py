"""Validating an uploaded video by its content, before anything else touches it.

`probe_video(path)` reads the file in a child process (app/media/probe_read.py) under
the time limit of app/media/rules.py, applies that module's allowlists and limits, and
returns a `VideoInfo`, or raises `MediaRefused` with a reason a person can act on.
`VideoInfo.browser_safe` decides between remuxing the upload into HLS as it is and
transcoding it; `why_not_browser_safe` says why not, for logs and the studio.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.media import rules
from app.media.probe_read import HEAD_BYTES, head_problem
from app.text import format_bytes, format_duration

log = logging.getLogger(__name__)

READER = Path(__file__).with_name("probe_read.py")
_TAKE = "Upload an MP4, MOV, WebM or MKV video."
_NOT_A_VIDEO = "This file is not a video we can read"
# What each refusal of the reader means to the person who uploaded the file.
_READER_REASONS = {
    "empty": "This file is empty. Upload the video again.",
    "playlist": f"{_NOT_A_VIDEO} (it looks like a playlist). Upload the video file itself.",
    "concat": f"{_NOT_A_VIDEO} (it looks like a list of other files). Upload the video "
    "file itself.",
    "text": f"{_NOT_A_VIDEO} (it is text). {_TAKE}",
    "not_video": f"{_NOT_A_VIDEO}. {_TAKE}",
    "not_file": f"{_NOT_A_VIDEO} (it is not a regular file). {_TAKE}",
    "unreadable": f"{_NOT_A_VIDEO}. {_TAKE}",
    "format": f"{_NOT_A_VIDEO}. {_TAKE}",
    "damaged": "The video is damaged or cut short: its index cannot be read. Upload the "
    "complete file (or export it again).",
    "no_video": "This file has no picture in it, only sound or data. Upload a video.",
    "crashed": f"{_NOT_A_VIDEO} (reading it failed). {_TAKE}",
}
_WHAT_IT_IS = {
    "image": "an image",
    "pdf": "a PDF document",
    "audio": "a sound file",
    "archive": "a ZIP archive",
}


class MediaRefused(ValueError):
    """The upload cannot be used; the message says why and what to do, for the person
    who uploaded it, and `code` names the reason for logs and metrics."""

    def __init__(self, reason: str, code: str = "refused") -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


@dataclass(frozen=True)
class VideoInfo:
    """What an accepted video holds. Sizes are as displayed (after rotation)."""

    format_name: str  # FFmpeg's demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    size: int  # bytes
    duration: float  # seconds
    width: int
    height: int
    rotation: int  # degrees clockwise to show it upright: 0, 90, 180 or 270
    fps: float | None
    video_codec: str  # FFmpeg's name: h264, hevc, vp9 ...
    pixel_format: str | None  # yuv420p ...
    profile: str | None  # High, Main 10 ...
    bit_depth: int | None
    keyframe_gap: float | None  # longest wait for a keyframe in the first minute (s)
    audio_codec: str | None  # None: no sound
    audio_channels: int | None
    audio_sample_rate: int | None
    video_stream: int  # the streams the later steps should use
    audio_stream: int | None

    @property
    def container(self) -> str:
        """The family of the container: `mp4` (MP4 and MOV) or `matroska` (MKV, WebM)."""
        return rules.VIDEO_DEMUXERS[self.format_name]

    @property
    def keyframes_regular(self) -> bool:
        """Whether keyframes come at most every SAFE_KEYFRAME_SECONDS."""
        gap = self.keyframe_gap
        return gap is not None and gap <= rules.SAFE_KEYFRAME_SECONDS

    @property
    def why_not_browser_safe(self) -> list[str]:
        """Why the video has to be transcoded, in short phrases; empty if browser-safe."""
        reasons = []
        if self.container not in rules.SAFE_CONTAINERS:
            reasons.append(f"{self.container} container, not MP4")
        if self.video_codec != rules.SAFE_VIDEO_CODEC:
            label = rules.VIDEO_CODECS.get(self.video_codec, self.video_codec)
            reasons.append(f"{label} video, not H.264")
        elif self.profile not in rules.SAFE_H264_PROFILES:
            reasons.append(f"H.264 profile {self.profile or 'unknown'}")
        if self.bit_depth != 8:
            reasons.append(f"{self.bit_depth or 'unknown'}-bit colour, not 8-bit")
        if self.pixel_format not in rules.SAFE_PIXEL_FORMATS:
            reasons.append(f"pixel format {self.pixel_format or 'unknown'}, not 4:2:0")
        long_side, short_side = max(self.width, self.height), min(self.width, self.height)
        if long_side > rules.SAFE_LONG_SIDE or short_side > rules.SAFE_SHORT_SIDE:
            reasons.append(f"{self.width}×{self.height}, larger than 1080p")
        if self.rotation:
            reasons.append(f"rotated {self.rotation}°")
        if self.fps is not None and self.fps > rules.SAFE_MAX_FPS + 0.01:
            reasons.append(f"{self.fps:g} frames a second, more than {rules.SAFE_MAX_FPS:g}")
        if self.keyframe_gap is None:
            reasons.append("keyframe spacing unknown")
        elif not self.keyframes_regular:
            reasons.append(
                f"keyframes {self.keyframe_gap:g} s apart, more than "
                f"{rules.SAFE_KEYFRAME_SECONDS:g} s"
            )
        if self.audio_codec is not None and self.audio_codec not in rules.SAFE_AUDIO_CODECS:
            label = rules.AUDIO_CODECS.get(self.audio_codec, self.audio_codec)
            reasons.append(f"{label} sound, not AAC")
        if self.size > rules.SAFE_MAX_BYTES:
            reasons.append(
                f"{format_bytes(self.size)}, more than {format_bytes(rules.SAFE_MAX_BYTES)}"
            )
        return reasons

    @property
    def browser_safe(self) -> bool:
        """Whether the upload can be remuxed into HLS as it is, instead of transcoded."""
        return not self.why_not_browser_safe


def probe_video(path: Path) -> VideoInfo:
    """What the video at `path` (a local file) holds, once it has passed every check;
    raises MediaRefused with the reason otherwise, and FileNotFoundError if there is no
    file at all (nothing was refused: the caller lost it)."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise MediaRefused(_READER_REASONS["not_file"], "not_file")
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    problem = head_problem(head)
    if problem:
        raise MediaRefused(_head_reason(problem, head), problem)
    return _accepted(_read(path.resolve()))


def _head_reason(problem: str, head: bytes) -> str:
    if problem == "not_video":
        from app.media.files import sniff

        what = _WHAT_IT_IS.get(sniff(head).kind)
        if what:
            return f"{_NOT_A_VIDEO} (it is {what}). {_TAKE}"
    return _READER_REASONS[problem]


def reader_params(path: Path) -> dict[str, Any]:
    """What the reader is told: the file, and the allowlists and limits of rules."""
    return {
        "path": str(path),
        "memory": rules.PROBE_MEMORY,
        "cpu_seconds": int(rules.PROBE_SECONDS) + 1,
        "demuxers": rules.VIDEO_DEMUXERS,
        "video_codecs": list(rules.VIDEO_CODECS),
        "audio_codecs": list(rules.AUDIO_CODECS),
        "max_side": rules.VIDEO_MAX_SIDE,
        "max_pixels": rules.VIDEO_MAX_PIXELS,
        "scan_seconds": rules.KEYFRAME_SCAN_SECONDS,
    }


def _read(path: Path) -> dict[str, Any]:
    """The reader's facts about `path`, from a child process that is killed when it
    runs out of time."""
    params = reader_params(path)
    # -I: no environment variables, user site or current directory decide what runs.
    command = [sys.executable, "-I", str(READER), json.dumps(params)]
    child = subprocess.Popen(  # noqa: S603 - our own script, arguments as a list
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, killed whole
    )
    try:
        out, err = child.communicate(timeout=rules.PROBE_SECONDS)
    except subprocess.TimeoutExpired:
        _kill(child)
        log.warning("video probe timed out", extra={"path": str(path)})
        raise MediaRefused(
            f"Reading this video took too long (more than "
            f"{format_duration(rules.PROBE_SECONDS)}): the file may be damaged or built "
            f"to stall us. Export it again as MP4 and upload that.",
            "timeout",
        ) from None
    try:
        facts = json.loads(out) if child.returncode == 0 else None
    except ValueError:
        facts = None
    if not isinstance(facts, dict):
        log.warning(
            "video probe failed",
            extra={"returncode": child.returncode, "stderr": err[-500:].decode(errors="replace")},
        )
        raise MediaRefused(_READER_REASONS["crashed"], "crashed")
    if "refused" in facts:
        code = str(facts["refused"])
        log.info("video refused", extra={"code": code, "detail": facts.get("detail")})
        raise MediaRefused(_READER_REASONS.get(code, _READER_REASONS["unreadable"]), code)
    return facts


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group and reap it."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended by itself meanwhile
    child.communicate()


def _accepted(facts: dict[str, Any]) -> VideoInfo:
    """The facts as a VideoInfo, once they are within every limit."""
    codec = facts["video_codec"]
    if codec not in rules.VIDEO_CODECS:
        raise MediaRefused(
            f"This video is encoded as {codec}, which we don't take. Export it as H.264 "
            f"(MP4) and upload it again.",
            "video_codec",
        )
    audio = facts["audio_codec"]
    if audio is not None and audio not in rules.AUDIO_CODECS:
        raise MediaRefused(
            f"This video's sound is encoded as {audio}, which we don't take. Export it "
            f"with AAC sound (or without sound) and upload it again.",
            "audio_codec",
        )
    width, height = facts["coded_width"], facts["coded_height"]
    if width <= 0 or height <= 0:
        raise MediaRefused(
            "We cannot tell this video's picture size: the file may be "
            "damaged. Export it again and upload that.",
            "no_size",
        )
    if max(width, height) > rules.VIDEO_MAX_SIDE or width * height > rules.VIDEO_MAX_PIXELS:
        raise MediaRefused(
            f"This video is {width}×{height} pixels; the largest we take is "
            f"{rules.VIDEO_MAX_SIDE} pixels on a side and 8K's "
            f"{rules.VIDEO_MAX_PIXELS / 1e6:.0f} million pixels. Export it smaller.",
            "too_large",
        )
    if not facts["decoded"]:
        raise MediaRefused(
            "The video cannot be decoded: not one picture could be read from it. The file "
            "may be damaged; export it again and upload that.",
            "undecodable",
        )
    length = _length(facts)
    rotation = round(-(facts["rotation"] or 0)) % 360
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        format_name=facts["format_name"],
        size=facts["size"],
        duration=length,
        width=width,
        height=height,
        rotation=rotation,
        fps=facts["fps"],
        video_codec=codec,
        pixel_format=facts["pixel_format"],
        profile=facts["profile"],
        bit_depth=facts["bit_depth"],
        keyframe_gap=facts["keyframe_gap"],
        audio_codec=audio,
        audio_channels=facts["audio_channels"],
        audio_sample_rate=facts["audio_sample_rate"],
        video_stream=facts["video_stream"],
        audio_stream=facts["audio_stream"],
    )


def _length(facts: dict[str, Any]) -> float:
    """The video's length in seconds (where its packets end), once the file is known to
    be whole, to say what it holds, and to be within the limit."""
    stated, end, size = facts["duration"], facts["end_time"], facts["size"]
    index_end = facts["index_end"]
    if index_end is not None and index_end > size:
        raise MediaRefused(
            f"The video is cut short: the file holds {format_bytes(size)} of the "
            f"{format_bytes(index_end)} its index describes. Upload the complete file.",
            "cut_short",
        )
    length = end if end is not None else stated
    if length is None or length <= 0:
        raise MediaRefused(
            "We cannot tell how long this video is: the file may be damaged. Export it "
            "again and upload that.",
            "no_duration",
        )
    if length > rules.VIDEO_MAX_SECONDS:
        raise MediaRefused(
            f"This video is {format_duration(length)} long; the longest we take is "
            f"{format_duration(rules.VIDEO_MAX_SECONDS)}. Split it into shorter lessons.",
            "too_long",
        )
    slack = rules.VIDEO_LENGTH_SLACK_SECONDS
    if stated is not None and end is not None and end > stated + slack:
        raise MediaRefused(
            f"The video is damaged: it says it lasts {format_duration(stated)} but goes on "
            f"past {format_duration(end)}. Export it again and upload that.",
            "length_mismatch",
        )
    # An MP4's index was checked against the file above, and it is what the packets
    # come from; its stated length (`mvhd`) is only a header field.
    if rules.VIDEO_DEMUXERS[facts["format_name"]] != "mp4":
        if end is None or end < stated - slack:
            stops = f"it stops at {format_duration(end)}" if end else "its end is missing"
            raise MediaRefused(
                f"The video is cut short: {stops}, but it says it lasts "
                f"{format_duration(stated)}. Upload the complete file.",
                "cut_short",
            )
    return length
