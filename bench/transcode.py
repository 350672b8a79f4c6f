"""What does the HLS ladder cost on this machine? (SPEC §8, issue 10)

It generates two test videos of --seconds (60 by default), 1080p30 H.264 with AAC audio,
as an instructor's uploads would be (their making is not timed):

- camera-like: a continuously zooming Mandelbrot set (every pixel moves, fine detail)
  under temporal sensor-like noise, at a phone camera's 16 Mbit/s with a keyframe a
  second: the hard case for the encoder, and for the decoder feeding it;
- slides-like: a lecture's slides (a title and bullet lines of text, a new slide every
  10 s) with a pointer moving over them: the common case for a course.

Each goes through `app.media.ladder.transcode` with the ladder of MEDIA_LADDER's default
(or --ladder), exactly as the media worker runs it (one ffmpeg, niced, the rungs
published while it runs), and it prints:

- CPU-seconds per minute of video (user + system time of ffmpeg, from the child
  rusage), the target being at most 45 for camera-like video on 2 cores;
- wall time as a fraction of the video's duration (target: at most 0.55 for camera);
- when the first 30 s of every rung (and the audio) had been published, as a fraction
  of the duration;
- the bytes of each rung and the audio;

and then the time `ladder.remux` takes to copy the camera-like file (H.264/AAC, browser
safe) into HLS, with its rate in MB/s. Exit status 1 if camera-like video misses a
target. Run it on an otherwise idle machine (`uptime`): the figures are only as quiet as
the cores.

    .venv/bin/python -m bench.transcode
    .venv/bin/python -m bench.transcode --seconds 20 --keep /tmp/ladder   # a quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from app.config import media_ladder
from app.media import ladder, rules
from app.media.ffmpeg import ffmpeg_exe

CPU_PER_MINUTE_MAX = 45.0
WALL_FRACTION_MAX = 0.55
FIRST_SECONDS = 30  # "the first 30 s play within 0.2x the duration" (SPEC §8)
MB = 1_000_000
WORDS = (
    "gradient descent converges when the learning rate is small enough to keep each "
    "step inside the region where the loss is convex and the curvature is bounded"
).split()


def ffmpeg(*args: str) -> None:
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(command, check=True)  # noqa: S603 - our own arguments


def make_camera(path: Path, seconds: int) -> None:
    video = f"mandelbrot=s=1920x1080:r=30,noise=alls=8:allf=t+u,trim=duration={seconds}"
    audio = f"sine=f=220:d={seconds},aformat=channel_layouts=stereo"
    ffmpeg("-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio, *_camera_codec(), str(path))


def _camera_codec() -> list[str]:
    """What a phone records: H.264 High at 16 Mbit/s, a keyframe a second, AAC."""
    return (
        "-c:v libx264 -preset veryfast -b:v 16M -maxrate 20M -bufsize 32M -g 30 "
        "-pix_fmt yuv420p -c:a aac -b:a 128k -shortest"
    ).split()


def make_slides(path: Path, seconds: int) -> None:
    """A slide a 10 s, drawn with Pillow, and a pointer crossing them."""
    folder = path.parent / "slides"
    folder.mkdir(exist_ok=True)
    title, body = ImageFont.load_default(size=72), ImageFont.load_default(size=44)
    count = -(-seconds // 10)
    for n in range(count):
        image = Image.new("RGB", (1920, 1080), "white")
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, 1920, 150), fill=(32, 64, 128))
        draw.text((90, 35), f"Lecture 3, part {n + 1}: optimisation", font=title, fill="white")
        for line in range(9):
            words = [WORDS[(n * 7 + line * 3 + k) % len(WORDS)] for k in range(8 + line % 4)]
            draw.text((120, 220 + line * 92), "• " + " ".join(words), font=body, fill="black")
        image.save(folder / f"slide_{n:03d}.png")
    pointer = "drawbox=x='200+mod(t*150,1500)':y='400+200*sin(t)':w=18:h=18:color=red:t=fill"
    video = f"fps=30,{pointer},trim=duration={seconds}"
    audio = f"sine=f=180:d={seconds},aformat=channel_layouts=stereo"
    ffmpeg(
        *("-framerate", "1/10", "-i", str(folder / "slide_%03d.png")),
        *("-f", "lavfi", "-i", audio, "-vf", video, *_camera_codec(), str(path)),
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def published_seconds(playlist: bytes) -> float:
    return sum(
        float(line.split(":", 1)[1].split(",")[0])
        for line in playlist.decode().splitlines()
        if line.startswith("#EXTINF:")
    )


def measure(label: str, src: Path, out: Path, seconds: int, heights: tuple[int, ...]) -> bool:
    """Transcode `src` as the worker would; print the figures; True if within targets."""
    rungs = ladder.plan_rungs(1920, 1080, heights)
    shutil.rmtree(out, ignore_errors=True)  # a --keep folder from an earlier run
    publisher = ladder.Publisher(out)
    covered: dict[str, float] = {}
    first: list[float] = []
    started = time.monotonic()

    def on_progress(percent: float) -> None:
        for new in publisher.new_files():
            if new.data is not None and new.name != ladder.MASTER:
                covered[new.name] = published_seconds(new.data)
        expected = len(rungs) + 1  # every rung and the audio
        enough = min(FIRST_SECONDS, seconds) - 0.5
        if not first and len(covered) == expected and min(covered.values()) >= enough:
            first.append(time.monotonic() - started)

    cpu_before = cpu_seconds()
    ladder.transcode(src, out, seconds, rungs, on_progress, fps=30)
    wall = time.monotonic() - started
    cpu = cpu_seconds() - cpu_before
    per_minute = cpu * 60 / seconds
    print(f"\n{label}: {src.stat().st_size / MB:.1f} MB source, {seconds} s of 1080p30")
    print(f"  CPU-seconds per minute of video  {per_minute:6.1f}")
    print(f"  wall time / duration             {wall / seconds:6.2f}   ({wall:.1f} s)")
    if first:
        head = f"first {min(FIRST_SECONDS, seconds)} s published / duration"
        print(f"  {head:<32} {first[0] / seconds:6.2f}   ({first[0]:.1f} s)")
    for folder in [*(r.name for r in rungs), ladder.AUDIO]:
        files = list((out / folder).iterdir())
        size = sum(f.stat().st_size for f in files)
        rate = size * 8 / seconds / 1000
        print(f"  {folder:>6}: {size / MB:7.2f} MB  {rate:7.0f} kbit/s  {len(files)} files")
    return per_minute <= CPU_PER_MINUTE_MAX and wall / seconds <= WALL_FRACTION_MAX


def measure_remux(src: Path, out: Path, seconds: int) -> None:
    shutil.rmtree(out, ignore_errors=True)
    started, cpu_before = time.monotonic(), cpu_seconds()
    ladder.remux(src, out, seconds)
    wall, cpu = time.monotonic() - started, cpu_seconds() - cpu_before
    size = src.stat().st_size
    print(f"\nremux of the camera-like file ({size / MB:.1f} MB H.264/AAC, -c copy):")
    print(f"  {wall:.2f} s wall, {cpu:.2f} CPU-s, {size / MB / wall:.0f} MB/s")
    print(f"  so about {1000 / (size / MB / wall):.1f} s for 1 GB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of each test video")
    default = ",".join(map(str, rules.LADDER_DEFAULT))
    parser.add_argument("--ladder", default=default, help="rung heights (MEDIA_LADDER)")
    parser.add_argument(
        "--keep", type=Path, help="write here and keep the files (the sources are reused)"
    )
    args = parser.parse_args(argv)
    heights = media_ladder(args.ladder)
    with tempfile.TemporaryDirectory(prefix="lectern-bench-") as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        print(f"ffmpeg: {ffmpeg_exe()}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")
        print(f"generating {args.seconds} s test videos (not timed) ...", flush=True)
        camera, slides = (root / f"{kind}-{args.seconds}s.mp4" for kind in ("camera", "slides"))
        if not camera.exists():  # a --keep folder keeps the sources for the next run
            make_camera(camera, args.seconds)
        if not slides.exists():
            make_slides(slides, args.seconds)
        print(f"ladder {heights}, preset {rules.LADDER_PRESET}, CRF {rules.LADDER_CRF}")
        ok = measure("camera-like", camera, root / "camera-hls", args.seconds, heights)
        measure("slides-like", slides, root / "slides-hls", args.seconds, heights)
        measure_remux(camera, root / "remux-hls", args.seconds)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    if not ok:
        print(
            f"\nFAIL: camera-like video above {CPU_PER_MINUTE_MAX:g} CPU-s per minute "
            f"or {WALL_FRACTION_MAX:g}x its duration"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
