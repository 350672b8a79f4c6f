"""The video probe (app/media/probe.py) on real files made here with PyAV: what it
reports, what it calls browser-safe and why not, and the hostile files it refuses
(playlists that name network addresses, concat lists, cut files, impostors, files that
stall the reader) without a traceback and without contacting anything."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.media import probe_read, rules
from app.media.probe import MediaRefused, VideoInfo, probe_video, reader_params
from tests.support.videos import cut_in_half, make_sound_only, make_video, restate_webm_length

# ---------------------------------------------------------------- the files

VP9 = {"codec": "libvpx-vp9", "container": "webm", "audio": "libopus"}
RECIPES: dict[str, Callable[[Path], Path]] = {
    "safe.mp4": lambda p: make_video(p),
    "silent.mp4": lambda p: make_video(p, audio=None),
    # a phone held upright: the picture is stored landscape, shown turned 90° clockwise
    "rotated.mp4": lambda p: make_video(p, rotate=-90),
    "yuv444.mp4": lambda p: make_video(p, pix_fmt="yuv444p"),
    "10bit.mp4": lambda p: make_video(p, pix_fmt="yuv420p10le"),
    "4k.mp4": lambda p: make_video(p, size=(3840, 2160), seconds=3 / 24, audio=None),
    "vp9.webm": lambda p: make_video(p, **VP9),
    # a browser's MediaRecorder writes WebM with no duration and no index
    "live.webm": lambda p: make_video(p, **VP9, options={"live": "1"}),
    "hevc.mp4": lambda p: make_video(p, codec="libx265"),
    "mpeg4.mp4": lambda p: make_video(p, codec="mpeg4"),
    "sparse_keys.mp4": lambda p: make_video(
        p, size=(64, 64), seconds=25, keyint=12 * 24, audio=None
    ),
    "ffv1.mkv": lambda p: make_video(p, codec="ffv1", container="matroska", audio=None),
    "sound_only.mp4": make_sound_only,
    "faststart.mp4": lambda p: make_video(p, seconds=4, options={"movflags": "+faststart"}),
    "long.webm": lambda p: make_video(p, seconds=8, **VP9),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`media(name)`: the file RECIPES[name] makes, made once for the module."""
    folder = tmp_path_factory.mktemp("probe")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = RECIPES[name](folder / name)
        return made[name]

    return get


def refused(path: Path) -> MediaRefused:
    with pytest.raises(MediaRefused) as caught:
        probe_video(path)
    return caught.value


# ---------------------------------------------------------------- what it reports


def test_h264_aac_mp4_is_browser_safe(media: Callable[[str], Path]) -> None:
    path = media("safe.mp4")
    info = probe_video(path)
    assert isinstance(info, VideoInfo)
    assert (info.container, info.video_codec, info.audio_codec) == ("mp4", "h264", "aac")
    assert (info.width, info.height, info.rotation) == (320, 180, 0)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.fps == pytest.approx(24)
    assert (info.pixel_format, info.bit_depth) == ("yuv420p", 8)
    assert info.profile in rules.SAFE_H264_PROFILES
    assert info.keyframe_gap == pytest.approx(1.0, abs=0.05)  # keyint 24 at 24 fps
    assert (info.audio_channels, info.audio_sample_rate) == (2, 48000)
    assert (info.video_stream, info.audio_stream) == (0, 1)
    assert info.size == path.stat().st_size
    assert info.browser_safe and info.why_not_browser_safe == []


def test_no_sound_is_still_browser_safe(media: Callable[[str], Path]) -> None:
    info = probe_video(media("silent.mp4"))
    assert info.audio_codec is None and info.audio_stream is None
    assert info.browser_safe


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        ("rotated.mp4", ["rotated 90°"]),
        ("yuv444.mp4", ["H.264 profile High 4:4:4 Predictive", "pixel format yuv444p, not 4:2:0"]),
        (
            "10bit.mp4",
            [
                "H.264 profile High 10",
                "10-bit colour, not 8-bit",
                "pixel format yuv420p10le, not 4:2:0",
            ],
        ),
        ("4k.mp4", ["3840×2160, larger than 1080p"]),
        (
            "vp9.webm",
            ["matroska container, not MP4", "VP9 video, not H.264", "Opus sound, not AAC"],
        ),
        ("hevc.mp4", ["HEVC (H.265) video, not H.264"]),
        ("mpeg4.mp4", ["MPEG-4 Part 2 video, not H.264"]),
        ("sparse_keys.mp4", ["keyframes 12 s apart, more than 10 s"]),
    ],
)
def test_not_browser_safe_with_the_reasons(
    media: Callable[[str], Path], name: str, reasons: list[str]
) -> None:
    info = probe_video(media(name))
    assert not info.browser_safe
    assert info.why_not_browser_safe == reasons


def test_rotation_is_reported_and_sizes_are_as_shown(media: Callable[[str], Path]) -> None:
    info = probe_video(media("rotated.mp4"))
    assert (info.rotation, info.width, info.height) == (90, 180, 320)


def test_larger_than_the_remux_limit_is_transcoded(
    media: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "SAFE_MAX_BYTES", 1024)
    info = probe_video(media("safe.mp4"))
    assert len(info.why_not_browser_safe) == 1
    assert info.why_not_browser_safe[0].endswith("more than 1 KB")


def test_a_browser_recording_without_a_stated_duration_is_measured(
    media: Callable[[str], Path],
) -> None:
    info = probe_video(media("live.webm"))
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.container == "matroska"


# ---------------------------------------------------------------- limits


def test_longer_than_the_limit(
    media: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "VIDEO_MAX_SECONDS", 1)
    problem = refused(media("safe.mp4"))
    assert problem.code == "too_long"
    assert str(problem).startswith("This video is 2 s long; the longest we take is 1 s.")


def test_larger_than_the_limit(
    media: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "VIDEO_MAX_SIDE", 1920)
    problem = refused(media("4k.mp4"))
    assert problem.code == "too_large"
    assert "3840×2160" in str(problem)


def test_a_codec_off_the_allowlist(media: Callable[[str], Path]) -> None:
    problem = refused(media("ffv1.mkv"))
    assert problem.code == "video_codec"
    assert "ffv1" in str(problem)


def test_sound_without_a_picture(media: Callable[[str], Path]) -> None:
    problem = refused(media("sound_only.mp4"))
    assert problem.code == "no_video"
    assert "no picture" in str(problem)


# ---------------------------------------------------------------- hostile files


@pytest.fixture
def listener() -> Iterator[tuple[int, Callable[[], bool]]]:
    """A listening socket on 127.0.0.1: (its port, whether anyone has connected)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)

    def contacted() -> bool:
        try:
            server.accept()[0].close()
        except BlockingIOError:
            return False
        return True

    yield server.getsockname()[1], contacted
    server.close()


def beside(path: Path, source: Path) -> str:
    """A copy of `source` next to `path`, by the relative name a list would use."""
    (path.parent / "neighbour.mp4").write_bytes(source.read_bytes())
    return "neighbour.mp4"


def hls_playlist(path: Path, local: Path, port: int) -> Path:
    path.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
        f"#EXTINF:2.0,\nhttp://127.0.0.1:{port}/x.ts\n#EXTINF:2.0,\n{beside(path, local)}\n"
        "#EXT-X-ENDLIST\n"
    )
    return path


def concat_list(path: Path, local: Path) -> Path:
    path.write_text(f"ffconcat version 1.0\nfile '{beside(path, local)}'\n")
    return path


def test_an_hls_playlist_named_mp4_is_refused_and_nothing_is_contacted(
    media: Callable[[str], Path], tmp_path: Path, listener: tuple[int, Callable[[], bool]]
) -> None:
    port, contacted = listener
    problem = refused(hls_playlist(tmp_path / "lesson.mp4", media("safe.mp4"), port))
    assert problem.code == "playlist"
    assert "not a video we can read (it looks like a playlist)" in str(problem)
    assert not contacted()


@pytest.mark.parametrize("name", ["lesson.mp4", "lesson.m3u8"])
def test_past_the_first_bytes_check_the_demuxer_allowlist_still_refuses_a_playlist(
    media: Callable[[str], Path],
    tmp_path: Path,
    listener: tuple[int, Callable[[], bool]],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    port, contacted = listener
    playlist = hls_playlist(tmp_path / name, media("safe.mp4"), port)
    monkeypatch.setattr(probe_read, "head_problem", lambda head: None)
    with pytest.raises(probe_read.Refused) as caught:
        probe_read.read(reader_params(playlist))
    assert caught.value.code == "unreadable"  # no demuxer on the allowlist would open it
    assert not contacted()


def test_an_ffconcat_list_is_refused(media: Callable[[str], Path], tmp_path: Path) -> None:
    problem = refused(concat_list(tmp_path / "lesson.mp4", media("safe.mp4")))
    assert problem.code == "concat"
    assert "a list of other files" in str(problem)


def test_past_the_first_bytes_check_an_ffconcat_list_is_still_refused(
    media: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FFmpeg recognises this list by its content and would read the file it names.
    listing = concat_list(tmp_path / "lesson.mp4", media("safe.mp4"))
    monkeypatch.setattr(probe_read, "head_problem", lambda head: None)
    with pytest.raises(probe_read.Refused) as caught:
        probe_read.read(reader_params(listing))
    assert caught.value.code == "unreadable"


def test_an_mp4_cut_in_half_without_its_index(media: Callable[[str], Path], tmp_path: Path) -> None:
    problem = refused(cut_in_half(media("safe.mp4"), tmp_path / "cut.mp4"))
    assert problem.code == "damaged"
    assert "cut short" in str(problem)


def test_an_mp4_cut_in_half_whose_index_promises_more(
    media: Callable[[str], Path], tmp_path: Path
) -> None:
    # faststart: the index comes first and survives, but describes data that is gone
    problem = refused(cut_in_half(media("faststart.mp4"), tmp_path / "cut.mp4"))
    assert problem.code == "cut_short"
    assert str(problem).startswith("The video is cut short: the file holds")


def test_an_mp4_whose_index_is_whole_but_whose_pictures_are_noise(
    media: Callable[[str], Path], tmp_path: Path
) -> None:
    data = bytearray(media("faststart.mp4").read_bytes())
    start = data.index(b"mdat") + 4  # faststart: every byte after this is media data
    data[start:] = random.Random(10).randbytes(len(data) - start)
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(data)
    problem = refused(noise)
    assert problem.code == "undecodable"
    assert str(problem).startswith("The video cannot be decoded")


def test_a_webm_cut_in_half(media: Callable[[str], Path], tmp_path: Path) -> None:
    problem = refused(cut_in_half(media("long.webm"), tmp_path / "cut.webm"))
    assert problem.code == "cut_short"
    assert "but it says it lasts 8 s" in str(problem)


def test_a_webm_that_goes_on_longer_than_it_says(
    media: Callable[[str], Path], tmp_path: Path
) -> None:
    problem = refused(restate_webm_length(media("long.webm"), tmp_path / "lying.webm", 2.0))
    assert problem.code == "length_mismatch"
    assert str(problem).startswith("The video is damaged: it says it lasts 2 s but goes on")


def test_a_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert refused(empty).code == "empty"


def test_a_png_named_mp4(tmp_path: Path) -> None:
    from PIL import Image

    picture = tmp_path / "picture.mp4"
    Image.new("RGB", (32, 32), "red").save(picture, format="PNG")
    problem = refused(picture)
    assert problem.code == "not_video"
    assert "(it is an image)" in str(problem)


def test_a_text_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("These are my notes for the lesson. Ünïcode too.\n")
    problem = refused(notes)
    assert problem.code == "text"
    assert "(it is text)" in str(problem)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    assert refused(pipe).code == "not_file"


def test_a_missing_file_is_not_a_refusal(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe_video(tmp_path / "gone.mp4")


def test_a_reader_that_takes_too_long_is_killed(
    media: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[subprocess.Popen[Any]] = []
    real_popen = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        child = real_popen(*args, **kwargs)
        started.append(child)
        return child

    monkeypatch.setattr(subprocess, "Popen", spy)
    monkeypatch.setattr(rules, "PROBE_SECONDS", 0.05)
    problem = refused(media("safe.mp4"))
    assert problem.code == "timeout"
    assert str(problem).startswith("Reading this video took too long")
    [child] = started
    assert child.returncode == -signal.SIGKILL  # killed, and reaped
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)


def test_a_reader_that_dies_is_a_refusal_not_a_traceback(
    media: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dying = tmp_path / "dying.py"
    # half a line of JSON, then gone: as if the reader crashed while writing
    dying.write_text(
        "import os, sys\nsys.stdout.write('{\"size\": ')\nsys.stdout.flush()\nos._exit(1)\n"
    )
    monkeypatch.setattr("app.media.probe.READER", dying)
    problem = refused(media("safe.mp4"))
    assert problem.code == "crashed"
    assert str(problem).startswith("This file is not a video we can read")
