"""Real video files for tests, made on the spot with PyAV (nothing binary is committed):
`make_video` in any codec, container, pixel format and size, with or without sound and
a rotation; a file with sound only; files damaged on purpose."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any


def make_video(
    path: Path,
    *,
    codec: str = "libx264",
    container: str = "mp4",
    pix_fmt: str = "yuv420p",
    size: tuple[int, int] = (320, 180),
    seconds: float = 2.0,
    rate: int = 24,
    audio: str | None = "aac",
    rotate: int | None = None,
    keyint: int | None = 24,
    options: dict[str, str] | None = None,
) -> Path:
    """A real video: flat frames whose shade changes, and silence if `audio`."""
    import av

    width, height = size
    frames = max(1, round(seconds * rate))
    with av.open(str(path), "w", format=container, container_options=options or {}) as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if codec == "libx264" and keyint:
            params = f"keyint={keyint}:min-keyint={keyint}:scenecut=0"
            video.options = {"preset": "ultrafast", "x264-params": params}
        elif codec == "libx265":
            video.options = {"preset": "ultrafast", "x265-params": "log-level=none"}
        elif codec == "libvpx-vp9":
            video.options = {"deadline": "realtime", "cpu-used": "8"}
        if rotate is not None:
            video.set_display_rotation(rotate)
        sound = out.add_stream(audio, rate=48000) if audio else None
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([16 + i * 5 % 200]) * plane.buffer_size)
            if pix_fmt != "yuv420p":
                frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _silence(out, sound, int(frames / rate * 48000 / 1024))
    return path


def _silence(out: Any, sound: Any, chunks: int) -> None:
    """`chunks` frames of 1024 silent stereo samples at 48 kHz, muxed into `out`."""
    import av

    for k in range(chunks):
        chunk = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in chunk.planes:
            plane.update(bytes(plane.buffer_size))
        chunk.sample_rate, chunk.pts = 48000, k * 1024
        out.mux(sound.encode(chunk))
    out.mux(sound.encode(None))


def make_sound_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        _silence(out, out.add_stream("aac", rate=48000), 20)
    return path


def cut_in_half(source: Path, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def restate_webm_length(source: Path, path: Path, seconds: float) -> Path:
    """A copy of a WebM (as PyAV writes it) whose header states another length."""
    data = bytearray(source.read_bytes())
    at = data.index(b"\x44\x89\x88") + 3  # the Duration element: an 8-byte float, in ms
    data[at : at + 8] = struct.pack(">d", seconds * 1000)
    path.write_bytes(data)
    return path


def padded_mp4(path: Path, size: int) -> Path:
    """A real MP4 (the demo clip) followed by a `free` box of random bytes up to `size`:
    any size of upload that the content checks read as the video it is."""
    import os
    import struct

    from app.demo_media import demo_video

    head = demo_video(seconds=1)
    pad = size - len(head) - 8
    with path.open("wb") as out:
        out.write(head)
        out.write(struct.pack(">I", pad + 8) + b"free")
        block = os.urandom(8 * 1024 * 1024)
        while pad:
            piece = block[: min(pad, len(block))]
            out.write(piece)
            pad -= len(piece)
    return path
