"""The HLS ladder (app/media/ladder.py), by real processing of small generated videos:
the playlists are parsed, the segments opened and decoded with PyAV."""

from __future__ import annotations

import io
import os
import subprocess
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import pytest

from app.media import ffmpeg, ladder, rules
from app.media.ffmpeg import FfmpegError, FfmpegTimeout, ffmpeg_exe
from app.media.ladder import NewFile, Publisher, plan_rungs

SECONDS = 20  # segments of 6, 6, 6 and 2 s
TEST_LADDER = (240, 360)  # two rungs of a 640x360 source, cheaply


def make_video(path: Path, size: str, seconds: float, audio: bool = True) -> Path:
    """A test-pattern H.264 (keyframe every 2 s) MP4, with a 440 Hz AAC tone."""
    args = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y"]
    args += ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=30:d={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=f=440:d={seconds}", "-c:a", "aac"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p"]
    subprocess.run([*args, str(path)], check=True, timeout=60)
    return path


# ---------------------------------------------------------------- playlists


@dataclass
class Media:
    """A media playlist, parsed."""

    tags: list[str] = field(default_factory=list)
    init: str = ""
    segments: list[tuple[float, str]] = field(default_factory=list)


def attributes(line: str) -> dict[str, str]:
    """`#TAG:A=1,B="x,y"` -> {"A": "1", "B": "x,y"}."""
    out, rest = {}, line.split(":", 1)[1]
    while rest:
        key, rest = rest.split("=", 1)
        if rest.startswith('"'):
            value, rest = rest[1:].split('"', 1)
        else:
            value, _, rest = rest.partition(",")
        out[key] = value
        rest = rest.removeprefix(",")
    return out


def parse_master(text: str) -> tuple[list[tuple[dict[str, str], str]], list[dict[str, str]]]:
    """(variants as (STREAM-INF attributes, uri), EXT-X-MEDIA renditions)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "#EXTM3U"
    variants = [
        (attributes(line), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]
    media = [attributes(line) for line in lines if line.startswith("#EXT-X-MEDIA:")]
    return variants, media


def parse_media(text: str) -> Media:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "#EXTM3U"
    parsed, duration = Media(), None
    for line in lines[1:]:
        if line.startswith("#EXT-X-MAP:"):
            parsed.init = attributes(line)["URI"]
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",")[0])
        elif line.startswith("#"):
            parsed.tags.append(line)
        else:
            assert duration is not None, f"{line} has no #EXTINF"
            parsed.segments.append((duration, line))
            duration = None
    return parsed


def open_segment(folder: Path, media: Media, index: int) -> av.container.InputContainer:
    """A segment as a player gets it: its init segment followed by the segment."""
    data = (folder / media.init).read_bytes() + (folder / media.segments[index][1]).read_bytes()
    return av.open(io.BytesIO(data), format="mp4")


def named_by(playlist: NewFile) -> list[str]:
    """The files a published playlist names, relative to the output folder."""
    assert playlist.data is not None
    text = playlist.data.decode()
    if playlist.name == ladder.MASTER:
        variants, media = parse_master(text)
        return [uri for _, uri in variants] + [m["URI"] for m in media]
    folder = playlist.name.rsplit("/", 1)[0]
    parsed = parse_media(text)
    return [f"{folder}/{uri}" for uri in [parsed.init] + [u for _, u in parsed.segments]]


# ---------------------------------------------------------------- one ladder, looked at


@dataclass
class Run:
    out: Path
    rungs: list[ladder.Rung]
    progress: list[float]
    published: list[NewFile]
    snapshots: dict[str, bytes]  # each segment's bytes when it was handed out
    output: ladder.HlsOutput


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    return {
        "av": make_video(folder / "talk.mp4", "640x360", SECONDS),
        "silent": make_video(folder / "silent.mp4", "320x240", 8, audio=False),
    }


@pytest.fixture(scope="module")
def run(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The 640x360 source through a 240p+360p ladder, published while it runs."""
    out = tmp_path_factory.mktemp("ladder")
    rungs = plan_rungs(640, 360, TEST_LADDER)
    publisher, progress, published, snapshots = Publisher(out), [], [], {}

    def publish() -> None:  # what the worker does: store what is ready, as it was
        for new in publisher.new_files():
            published.append(new)
            snapshots[new.name] = new.data if new.data is not None else new.path.read_bytes()

    def on_progress(percent: float) -> None:
        progress.append(percent)
        publish()

    mp = pytest.MonkeyPatch()
    mp.setattr(ffmpeg, "POLL_SECONDS", 0.05)  # poll often, to see playlists lengthen
    try:
        output = ladder.transcode(sources["av"], out, SECONDS, rungs, on_progress, fps=30)
    finally:
        mp.undo()
    publish()  # the last look, after ffmpeg ended
    return Run(out, rungs, progress, published, snapshots, output)


def test_plan_never_upscales_and_keeps_the_aspect_ratio() -> None:
    sizes = {
        (1920, 1080): [(640, 360), (1280, 720)],
        (1280, 720): [(640, 360), (1280, 720)],
        (854, 480): [(640, 360), (854, 480)],  # its own rung: 480 >= 1.25 x 360
        (710, 400): [(640, 360)],  # too close to 360p for a rung of its own
        (320, 240): [(320, 240)],  # smaller than every rung: one, at its own size
        (1080, 1920): [(360, 640), (720, 1280)],  # portrait: the short side counts
        (1917, 1079): [(640, 360), (1280, 720)],
        (641, 481): [(480, 360), (640, 480)],  # odd: rounded down to even
    }
    for (w, h), expected in sizes.items():
        rungs = plan_rungs(w, h)
        assert [(r.width, r.height) for r in rungs] == expected, (w, h)
        assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in rungs)
    assert [r.name for r in plan_rungs(320, 240)] == ["240p"]
    assert not any(r.name == "720p" for r in plan_rungs(320, 240))
    p360, p720 = plan_rungs(1920, 1080)
    assert (p360.maxrate, p360.bufsize, p720.maxrate) == (800_000, 1_600_000, 2_500_000)
    assert p360.crf == p720.crf == rules.LADDER_CRF
    assert plan_rungs(854, 480)[1].maxrate == 1_200_000
    assert [r.name for r in plan_rungs(3840, 2160, (360, 720, 1080))] == ["360p", "720p", "1080p"]


def test_master_playlist_lists_every_rung_with_codecs_and_the_audio_group(run: Run) -> None:
    variants, media = parse_master((run.out / ladder.MASTER).read_text())
    assert [uri for _, uri in variants] == ["240p/index.m3u8", "360p/index.m3u8"]
    assert [a["RESOLUTION"] for a, _ in variants] == ["426x240", "640x360"]
    (audio,) = media
    assert audio["TYPE"] == "AUDIO" and audio["URI"] == "audio/index.m3u8"
    for attrs, _ in variants:
        video, sound = attrs["CODECS"].split(",")
        assert video.startswith("avc1.64")  # H.264 High profile
        assert sound == "mp4a.40.2"  # AAC-LC
        assert attrs["AUDIO"] == audio["GROUP-ID"]
        assert int(attrs["BANDWIDTH"]) > 0
    assert run.output.variants == ("240p", "360p") and run.output.audio


def test_media_playlists_have_six_second_segments_an_init_segment_and_an_end(run: Run) -> None:
    for name in ("240p", "360p", "audio"):
        media = parse_media((run.out / name / ladder.PLAYLIST).read_text())
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in media.tags
        assert media.tags[-1] == "#EXT-X-ENDLIST"
        assert media.init == f"init_{name}.mp4" and (run.out / name / media.init).is_file()
        durations = [d for d, _ in media.segments]
        assert len(durations) == 4
        assert all(abs(d - 6) < 0.1 for d in durations[:-1]), durations
        assert durations[-1] < 6 and abs(sum(durations) - SECONDS) < 0.1


def test_every_rung_starts_each_segment_with_a_keyframe_at_the_same_time(run: Run) -> None:
    starts = {}
    for rung in run.rungs:
        folder = run.out / rung.name
        media = parse_media((folder / ladder.PLAYLIST).read_text())
        starts[rung.name] = []
        for index in range(len(media.segments)):
            with open_segment(folder, media, index) as container:
                first = next(p for p in container.demux(video=0) if p.size)
                assert first.is_keyframe, (rung.name, index)
                starts[rung.name].append(float(first.pts * first.time_base))
    assert starts["240p"] == starts["360p"]
    assert [round(s) for s in starts["240p"]] == [0, 6, 12, 18]


def test_a_segment_decodes_on_its_own(run: Run) -> None:
    folder = run.out / "360p"
    media = parse_media((folder / ladder.PLAYLIST).read_text())
    with open_segment(folder, media, 1) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 6 * 30
    assert (frames[0].width, frames[0].height) == (640, 360)
    audio_folder = run.out / "audio"  # the audio rendition plays alone
    media = parse_media((audio_folder / ladder.PLAYLIST).read_text())
    with open_segment(audio_folder, media, 0) as container:
        assert not container.streams.video
        samples = sum(f.samples for f in container.decode(audio=0))
    assert 5.5 * 44100 < samples < 6.5 * 44100


def test_progress_rises_to_100(run: Run) -> None:
    assert len(run.progress) >= 3
    assert run.progress == sorted(set(run.progress))
    assert run.progress[-1] == 100.0 and all(0 <= p < 100 for p in run.progress[:-1])


def test_files_are_published_while_encoding_complete_and_in_order(run: Run) -> None:
    names = [f.name for f in run.published]
    for i, new in enumerate(run.published):
        if new.data is None:  # a segment: whole when handed out, never rewritten
            assert run.snapshots[new.name] == new.path.read_bytes(), new.name
        else:  # a playlist: everything it names was handed out before it
            assert all(name in names[:i] for name in named_by(new)), new.name
    on_disk = {str(p.relative_to(run.out)) for p in run.out.rglob("*") if p.is_file()}
    assert set(names) == on_disk
    # The 360p playlist was handed out while it was shorter, without its end...
    versions = [parse_media(f.data.decode()) for f in run.published if f.name == "360p/index.m3u8"]
    assert len(versions) >= 2
    assert "#EXT-X-ENDLIST" not in versions[0].tags and len(versions[0].segments) < 4
    # ...and last as it is on disk.
    assert run.snapshots["360p/index.m3u8"] == (run.out / "360p/index.m3u8").read_bytes()
    assert run.snapshots[ladder.MASTER] == (run.out / ladder.MASTER).read_bytes()


# ---------------------------------------------------------------- other paths


def test_a_small_silent_source_gets_one_rung_and_no_audio(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    rungs = plan_rungs(320, 240)  # the default ladder: no 360p or 720p from 240 lines
    assert [(r.name, r.width, r.height) for r in rungs] == [("240p", 320, 240)]
    output = ladder.transcode(
        sources["silent"], tmp_path, 8, rungs, fps=Fraction(30000, 1001), audio=False
    )
    assert output.variants == ("240p",) and not output.audio
    variants, media = parse_master(output.master.read_text())
    assert media == [] and not (tmp_path / "audio").exists()
    ((attrs, uri),) = variants
    assert attrs["CODECS"].startswith("avc1.") and "mp4a" not in attrs["CODECS"]
    assert "AUDIO" not in attrs and attrs["RESOLUTION"] == "320x240"
    playlist = parse_media((tmp_path / uri).read_text())
    assert [round(d) for d, _ in playlist.segments] == [6, 2]
    with open_segment(tmp_path / "240p", playlist, 0) as container:
        assert next(container.decode(video=0)).width == 320


def test_remux_copies_the_streams_into_the_same_layout_quickly(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    progress: list[float] = []
    started = time.monotonic()
    output = ladder.remux(sources["av"], tmp_path, SECONDS, progress.append)
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed  # bytes copied, nothing encoded
    assert progress[-1] == 100.0 and progress == sorted(set(progress))
    ((attrs, uri),) = parse_master(output.master.read_text())[0]
    assert uri == "source/index.m3u8" and attrs["RESOLUTION"] == "640x360"
    assert attrs["CODECS"].split(",")[1] == "mp4a.40.2"
    playlist = parse_media((tmp_path / uri).read_text())
    assert playlist.tags[-1] == "#EXT-X-ENDLIST"
    assert [round(d) for d, _ in playlist.segments] == [6, 6, 6, 2]  # source keyframes: 2 s
    with av.open(str(sources["av"])) as original:
        stream = original.streams.video[0]
        before = [p.size for p in original.demux(stream) if p.size][:60]
        profile = stream.codec_context.profile
    with open_segment(tmp_path / "source", playlist, 0) as copied:
        stream = copied.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.profile == profile
        after = [p.size for p in copied.demux(stream) if p.size][:60]
    assert after == before  # the very same compressed frames


def test_past_its_time_limit_ffmpeg_is_killed(
    sources: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules, "TRANSCODE_TIME_BASE", 0.2)
    monkeypatch.setattr(rules, "TRANSCODE_TIME_FACTOR", 0.0)
    rungs = plan_rungs(640, 360, TEST_LADDER)
    with pytest.raises(FfmpegTimeout, match="longer than 0.2 s"):
        ladder.transcode(sources["av"], tmp_path, SECONDS, rungs, fps=30)
    assert children() == []


def test_a_failing_callback_file_or_folder_stops_with_the_reason(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    def cancel(percent: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ladder.remux(sources["av"], tmp_path / "a", SECONDS, cancel)
    assert children() == []
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 200)
    with pytest.raises(FfmpegError, match="exit status"):
        ladder.remux(broken, tmp_path / "b", SECONDS)
    with pytest.raises(ValueError, match="demuxer"):
        ladder.remux(sources["av"], tmp_path / "c", SECONDS, demuxer="hls")
    with pytest.raises(ValueError, match="not empty"):  # a previous attempt's files
        ladder.remux(sources["av"], tmp_path, SECONDS)


def children() -> list[int]:
    """This process's ffmpeg child processes still alive (or unreaped); the session's
    other children (a test broker, a moto server) are none of this test's business."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat.split("(", 1)[1].rsplit(")", 1)[0]
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and "ffmpeg" in name:
                found.append(int(entry.name))
    return found
