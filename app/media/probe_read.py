"""The probing child: what one local video file holds, read with PyAV that may open
nothing but that file, printed as JSON.

app/media/probe.py runs this file as a script in a process of its own
(`python -I probe_read.py '<json parameters>'`) under a time limit, and the process
limits itself here (memory, CPU, no file writes), so a hostile file can hang or crash
only this process. It imports nothing of Lectern (so it runs the same code as the
caller, never another checkout's) and decides nothing: the caller passes the
allowlists and limits, applies them to the facts and words the refusals. What stops
the reading early is reported as `{"refused": <code>, "detail": <for logs>}`.

How the reading is locked down: the first bytes must be an MP4/QuickTime or
Matroska/WebM start (a playlist, a concat list or text never reaches a demuxer); the
URL is `file:<absolute path>` with `protocol_whitelist=file`, so nothing inside the
file can make FFmpeg open a network address or another protocol; only the allowed
demuxers may open it (`format_whitelist`, checked again by name afterwards); QuickTime
external data references are off; only decoders of allowed codecs may look at the
streams; and the first frame is decoded only when the codec and the picture size are
within the limits.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import sys
from fractions import Fraction
from typing import Any

HEAD_BYTES = 4096
# An MP4 starts with `ftyp`; an old QuickTime file may start with any of these atoms.
_QUICKTIME_ATOMS = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_EBML = b"\x1a\x45\xdf\xa3"  # Matroska and WebM
FIRST_FRAME_PACKETS = 300  # a decoder that shows nothing after this many packets fails
TAIL_SECONDS = 3.0  # the end check reads from this far before the stated end to as far past it
TAIL_PACKETS = 200_000  # the end check reads at most this many packets (none decoded)


class Refused(Exception):
    """The file cannot be read as a video; `code` says why, `detail` is for logs."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail[:300]


def head_problem(head: bytes) -> str | None:
    """Why a file's first bytes rule it out before any demuxer sees it (`empty`,
    `playlist`, `concat`, `text`, `not_video`), or None for an MP4/QuickTime or a
    Matroska/WebM start."""
    if not head:
        return "empty"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"#extm3u", b"#ext-x-", b"<?xml", b"<mpd", b"<smil", b"[playlist]")):
        return "playlist"  # HLS, DASH, SMIL, PLS: lists of other files or addresses
    if text.startswith((b"ffconcat", b"file ", b"file\t")):
        return "concat"  # FFmpeg's concat list names other files
    if head[4:8] in _QUICKTIME_ATOMS or head.startswith(_EBML):
        return None
    if b"\x00" not in head:
        try:
            head.decode("utf-8", errors="strict")
            return "text"
        except UnicodeDecodeError as exc:  # a character cut at the end is still text
            if exc.start >= len(head) - 3:
                return "text"
    return "not_video"


def _limit_resources(params: dict[str, Any]) -> None:
    """This process may use so much memory and CPU time, and write no file."""
    limits = [
        (resource.RLIMIT_AS, int(params["memory"])),
        (resource.RLIMIT_CPU, int(params["cpu_seconds"])),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_CORE, 0),
    ]
    for which, value in limits:
        try:
            _, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value if which != resource.RLIMIT_CPU else hard))
        except (ValueError, OSError):  # a platform without this limit: the timeout remains
            pass


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _decoders(codecs: list[str]) -> str:
    """The names of every decoder of the allowed codecs (`h264`; `libdav1d` and `av1`
    for AV1), for `codec_whitelist`."""
    import av

    names = []
    for name in sorted(av.codecs_available):
        try:
            if av.Codec(name, "r").canonical_name in codecs:
                names.append(name)
        except Exception:  # noqa: S112 - an encoder only, or unavailable
            continue
    return ",".join(names)


def _pick(streams: Any) -> Any:
    """The default stream of a kind (else the first), never cover art."""
    from av.stream import Disposition

    candidates = [s for s in streams if not s.disposition & Disposition.attached_pic]
    for stream in candidates:
        if stream.disposition & Disposition.default:
            return stream
    return candidates[0] if candidates else None


def read(params: dict[str, Any]) -> dict[str, Any]:
    """The facts of the file `params["path"]`; raises Refused."""
    path = params["path"]
    try:
        info = os.stat(path)
    except OSError as exc:
        raise Refused("missing", str(exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise Refused("not_file")
    with open(path, "rb") as f:
        problem = head_problem(f.read(HEAD_BYTES))
    if problem:
        raise Refused(problem)

    import av

    av.logging.set_level(None)  # FFmpeg's own lines would only fill the pipe
    demuxers: dict[str, str] = params["demuxers"]
    options = {
        "protocol_whitelist": "file",
        "format_whitelist": ",".join(name.split(",")[0] for name in demuxers),
        "codec_whitelist": _decoders(params["video_codecs"] + params["audio_codecs"]),
        "enable_drefs": "0",  # QuickTime references to other files: never followed
        "use_absolute_path": "0",
    }
    try:
        container = av.open("file:" + os.path.abspath(path), container_options=options)
    except av.FFmpegError as exc:
        with open(path, "rb") as f:
            mp4 = f.read(8)[4:8] in _QUICKTIME_ATOMS
        raise Refused("damaged" if mp4 else "unreadable", str(exc)) from exc
    with container:
        if container.format.name not in demuxers:
            raise Refused("format", container.format.name)
        return _facts(container, params, info.st_size)


def _facts(container: Any, params: dict[str, Any], size: int) -> dict[str, Any]:
    import av

    video = _pick(container.streams.video)
    if video is None:
        raise Refused("no_video")
    audio = _pick(container.streams.audio)
    context = video.codec_context
    codec = context.codec.canonical_name if context is not None else "unknown"
    pix_fmt = context.pix_fmt if context is not None else None
    duration = container.duration / 1_000_000 if container.duration else None
    rate = video.average_rate or video.guessed_rate
    facts: dict[str, Any] = {
        "format_name": container.format.name,
        "size": size,
        "duration": duration,
        "coded_width": context.width if context is not None else 0,
        "coded_height": context.height if context is not None else 0,
        "fps": float(rate) if rate else None,
        "video_codec": codec,
        "pixel_format": pix_fmt,
        "profile": video.profile,
        "bit_depth": av.VideoFormat(pix_fmt).components[0].bits if pix_fmt else None,
        "video_stream": video.index,
        "audio_stream": audio.index if audio is not None else None,
        "audio_codec": audio.codec_context.codec.canonical_name if audio is not None else None,
        "audio_channels": audio.codec_context.channels if audio is not None else None,
        "audio_sample_rate": audio.codec_context.sample_rate if audio is not None else None,
        "decoded": None,  # not tried: the codec or the size is refused anyway
        "rotation": None,
        "keyframe_gap": None,
        "index_end": None,
        "end_time": None,
    }
    width, height = facts["coded_width"], facts["coded_height"]
    if (
        codec not in params["video_codecs"]
        or not 0 < width <= params["max_side"]
        or not 0 < height <= params["max_side"]
        or width * height > params["max_pixels"]
    ):
        return facts
    for stream in container.streams:
        if stream is not video:
            stream.discard = av.stream.Discard.all
    first = _first_frame(container, video)
    facts["decoded"] = first is not None
    if first is None:
        return facts
    facts["rotation"] = first.rotation
    mov = container.format.name.startswith("mov,")
    if mov:
        facts["index_end"] = _index_end(container)
    gap = _index_gap(video, params["scan_seconds"]) if mov else None
    if gap is None:
        gap = _scanned_gap(container, video, params["scan_seconds"])
    facts["keyframe_gap"] = gap
    facts["end_time"] = _end_time(container, duration)
    if duration is None:  # a live recording (a browser's MediaRecorder) states none
        facts["duration"] = facts["end_time"]
    return facts


def _first_frame(container: Any, video: Any) -> Any:
    """The first picture the video's decoder gives, or None."""
    import av

    video.codec_context.thread_count = 1  # one thread: the memory limit stays meaningful
    for count, packet in enumerate(container.demux(video)):
        if count >= FIRST_FRAME_PACKETS:
            return None
        try:
            frames = video.decode(packet)
        except av.FFmpegError:
            continue  # a broken packet: the decoder may recover at the next keyframe
        if frames:
            return frames[0]
    return None


def _index_end(container: Any) -> int:
    """Where, by the index, the last sample of any stream ends (bytes)."""
    end = 0
    for stream in container.streams:
        entries = stream.index_entries
        for entry in entries[max(0, len(entries) - 64) :]:
            end = max(end, entry.pos + entry.size)
    return end


def _gap(keys: list[float], start: float, end: float) -> float | None:
    if not keys:
        return None
    marks = [start, *sorted(keys), end]
    return round(max(b - a for a, b in zip(marks, marks[1:], strict=False)), 3)


def _index_gap(video: Any, window: float) -> float | None:
    """The longest wait for a keyframe in the first `window` seconds, from the index
    (an MP4 lists every sample there; nothing is read). None when the index does not
    cover the window (a fragmented MP4), so the packets are scanned instead."""
    entries = video.index_entries
    time_base = video.time_base
    if not len(entries) or time_base is None:
        return None
    limit = int(window / time_base)
    last = entries.search_timestamp(limit, backward=True, any_frame=True)
    chosen = entries[: (last if last >= 0 else len(entries) - 1) + 1]
    start = float(chosen[0].timestamp * time_base)
    stop = float(chosen[-1].timestamp * time_base)
    frame = 1 / float(video.average_rate) if video.average_rate else 0.0
    video_end = _seconds(video.duration, time_base)
    covered = min(window, video_end) if video_end else window
    if stop + frame + 1.0 < covered:
        return None
    keys = [float(e.timestamp * time_base) for e in chosen if e.is_keyframe]
    return _gap(keys, start, min(stop + frame, window))


def _scanned_gap(container: Any, video: Any, window: float) -> float | None:
    """The longest wait for a keyframe in the first `window` seconds, from the packets'
    keyframe flags (nothing is decoded)."""
    container.seek(0)
    keys: list[float] = []
    start: float | None = None
    stop = 0.0
    for packet in container.demux(video):
        at = _seconds(packet.pts if packet.pts is not None else packet.dts, packet.time_base)
        if at is None:
            continue
        start = at if start is None else min(start, at)
        if at > window:
            stop = window
            break
        stop = max(stop, at + (_seconds(packet.duration, packet.time_base) or 0.0))
        if packet.is_keyframe:
            keys.append(at)
    return _gap(keys, start or 0.0, stop) if start is not None else None


def _end_time(container: Any, duration: float | None) -> float | None:
    """Where the file's last packet that can be read ends (seconds, any stream), found
    by seeking near the stated end; None if nothing can be read there. Reading stops a
    little past the stated end: a file longer than it says is caught by that."""
    import av

    for stream in container.streams:
        stream.discard = av.stream.Discard.default
    try:
        if duration is not None and duration > TAIL_SECONDS:
            container.seek(int((duration - TAIL_SECONDS) * 1_000_000))
        else:
            container.seek(0)
    except av.FFmpegError:
        return None
    end: float | None = None
    try:
        for count, packet in enumerate(container.demux()):
            at = _seconds(packet.pts if packet.pts is not None else packet.dts, packet.time_base)
            if at is None:
                continue
            end = max(end or 0.0, at + (_seconds(packet.duration, packet.time_base) or 0.0))
            if duration is not None and (end > duration + TAIL_SECONDS or count > TAIL_PACKETS):
                break
    except av.FFmpegError:
        pass  # a packet past the end of a cut file: what was read counts
    return end


def main(argv: list[str]) -> int:
    params = json.loads(argv[1])
    _limit_resources(params)
    try:
        facts = read(params)
    except Refused as exc:
        facts = {"refused": exc.code, "detail": exc.detail}
    except MemoryError:
        facts = {"refused": "unreadable", "detail": "out of memory"}
    except Exception as exc:  # any other failure on a hostile file is a refusal too
        facts = {"refused": "unreadable", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    sys.stdout.write(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
