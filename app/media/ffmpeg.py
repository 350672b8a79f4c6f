"""Running the bundled ffmpeg on an upload: confined, at low priority, time-limited,
with its progress reported.

The binary is the static build in the `imageio-ffmpeg` wheel (libx264, the HLS muxer),
so every machine runs the same ffmpeg; `IMAGEIO_FFMPEG_EXE` points elsewhere if a site
must. Every run reads only the one file it is given: the demuxer is forced (never
guessed from the content), only the `file` and `pipe` protocols are allowed, and the
MP4 demuxer's external data references are off, so a hostile file cannot make ffmpeg
open another file or a network address.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from app.media import rules

Progress = Callable[[float], None]  # percent done, 0-100
POLL_SECONDS = 0.5  # how often the caller's thread hears about progress
_OUT_TIME = re.compile(rb"^out_time_us=(\d+)\s*$")


class FfmpegError(RuntimeError):
    """ffmpeg failed; the message holds its last error lines."""


class FfmpegTimeout(FfmpegError):
    """ffmpeg ran past its wall-clock limit and was killed."""


@functools.cache
def ffmpeg_exe() -> str:
    """The path of the static ffmpeg binary (from the imageio-ffmpeg wheel)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def input_args(src: Path, demuxer: str) -> list[str]:
    """`-f <demuxer> -i file:<src>`: the format forced, the path never read as a URL."""
    if demuxer not in rules.DEMUXERS.values():
        raise ValueError(f"not a demuxer Lectern reads: {demuxer!r}")
    args = ["-f", demuxer]
    if demuxer == "mov":
        # Off by default; said out loud because a reference to another file is how a
        # crafted MP4 would make ffmpeg read one.
        args += ["-enable_drefs", "0", "-use_absolute_path", "0"]
    return [*args, "-i", f"file:{Path(src).resolve()}"]


class _ProgressReader(threading.Thread):
    """Drains ffmpeg's `-progress pipe:1` output and keeps the latest position, so a
    slow caller never blocks ffmpeg on a full pipe."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.seconds = 0.0

    def run(self) -> None:
        for line in self.stream:
            match = _OUT_TIME.match(line)
            if match:
                self.seconds = max(self.seconds, int(match.group(1)) / 1_000_000)


def _lower_priority(pid: int) -> None:
    """Lower ffmpeg's priority from the parent, just after it started (a preexec_fn
    would be unsafe: the media worker has threads, such as its lease's heartbeat)."""
    try:
        now = os.getpriority(os.PRIO_PROCESS, pid)
        os.setpriority(os.PRIO_PROCESS, pid, min(19, now + rules.FFMPEG_NICENESS))
    except (ProcessLookupError, PermissionError):
        pass  # gone already, or not ours to change: it runs at the worker's priority


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ffmpeg (it leads its own process group) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run(
    args: Sequence[str],
    *,
    duration: float,
    time_limit: float,
    on_progress: Progress | None = None,
) -> None:
    """Run ffmpeg with `args` (inputs, filters, outputs) and wait for it.

    `on_progress(percent)` is called in the caller's thread about twice a second while
    the output grows (out_time against `duration`), with ever larger values below 100,
    then once with 100.0 when ffmpeg has succeeded; it is a good place to publish what
    is ready. If it raises, ffmpeg is killed and the exception propagates. Past
    `time_limit` seconds of wall-clock time ffmpeg is killed and FfmpegTimeout raised;
    a failure raises FfmpegError with ffmpeg's last error lines. No process outlives
    the call."""
    command = [
        ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        "-protocol_whitelist",
        "file,pipe",
        "-y",
        *args,
    ]
    deadline = time.monotonic() + time_limit
    with tempfile.TemporaryFile() as errors:
        # The arguments are a list built by this module and its callers, never a shell
        # string; the only outside value in them is a path behind `file:`.
        proc = subprocess.Popen(  # noqa: S603
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,  # its own process group, so the kill reaches it all
        )
        _lower_priority(proc.pid)
        stdout = proc.stdout
        if stdout is None:  # never: stdout=PIPE above; narrows the type
            _kill(proc)
            raise FfmpegError("ffmpeg started without its progress pipe")
        reader = _ProgressReader(stdout)
        reader.start()
        reported = -1.0
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FfmpegTimeout(
                        f"ffmpeg took longer than {time_limit:g} s, the limit for a "
                        f"{duration:g} s video, and was stopped"
                    )
                try:
                    code: int | None = proc.wait(timeout=min(POLL_SECONDS, left))
                except subprocess.TimeoutExpired:
                    code = None
                if code is not None:
                    break
                percent = _percent(reader.seconds, duration)
                if on_progress is not None and percent > reported:
                    reported = percent
                    on_progress(percent)
        except BaseException:
            _kill(proc)
            raise
        finally:
            reader.join(timeout=5)
            stdout.close()
        if code != 0:
            errors.seek(0)
            tail = errors.read()[-2000:].decode("utf-8", "replace").strip()
            raise FfmpegError(f"ffmpeg failed (exit status {code}): {tail or 'no message'}")
    if on_progress is not None:
        on_progress(100.0)


def _percent(seconds: float, duration: float) -> float:
    """Percent of `duration` written, one decimal, below 100 until ffmpeg has finished."""
    if duration <= 0:
        return 0.0
    return min(99.9, round(100 * seconds / duration, 1))


def time_limit(duration: float, base: float, factor: float) -> float:
    """A wall-clock limit in seconds for processing `duration` seconds of video."""
    return base + factor * max(duration, 0.0)
