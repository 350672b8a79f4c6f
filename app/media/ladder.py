"""The HLS rendition ladder: which rungs a video gets, the one ffmpeg run that writes
them, and which of its files are complete enough to publish while it runs.

Layout of `out_dir` (the same for a transcode and a remux, so a player or the worker
never needs to know which one made it):

    master.m3u8                    every rung, CODECS, RESOLUTION, BANDWIDTH, AUDIO group
    <rung>/index.m3u8              "360p", "720p" (transcode) or "source" (remux)
    <rung>/init_<rung>.mp4         the fMP4 init segment (#EXT-X-MAP)
    <rung>/seg_00000.m4s ...       ~6 s each, every one starting with a keyframe
    audio/index.m3u8, init_audio.mp4, seg_*.m4s   the one AAC rendition all rungs share;
                                   a media playlist of its own, so it also plays alone

Playlists are of the EVENT type: they lengthen while ffmpeg works and end with
#EXT-X-ENDLIST when it is done, so the first minute plays while the rest is encoded.
Names are deterministic: a retried run writes the same keys.

This module only makes files; the worker validates the upload first (probe, limits,
demuxer), then stores what `Publisher.new_files()` hands it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from app.media import ffmpeg, rules
from app.media.ffmpeg import Progress

MASTER = "master.m3u8"
PLAYLIST = "index.m3u8"  # each rung's and the audio's media playlist
AUDIO = "audio"  # the audio rendition's folder and name
SOURCE = "source"  # a remux's one video rung
AUDIO_GROUP = "audio"  # GROUP-ID "group_audio" in the master playlist


@dataclass(frozen=True)
class Rung:
    """One video rendition: its folder name, frame size and rate control."""

    name: str  # "720p": the short side, so portrait video gets the same names
    width: int
    height: int
    crf: int
    maxrate: int  # bits/s (VBV)
    bufsize: int  # bits


@dataclass(frozen=True)
class HlsOutput:
    """What one run wrote under `out_dir`."""

    master: Path
    variants: tuple[str, ...]  # the video rungs' folder names, lowest first
    audio: bool  # an `audio/` rendition exists


def plan_rungs(width: int, height: int, ladder: Sequence[int] = rules.LADDER_DEFAULT) -> list[Rung]:
    """The rungs for a video displayed at `width` x `height`, lowest first.

    Sizes are measured on the short side and a rung is never larger than the source:
    - the ladder's rungs up to the source's size are kept (a 1080p source with the
      default ladder gets 360p and 720p; a 720p source too);
    - a source below the top rung that is at least LADDER_OWN_RUNG_RATIO times taller
      than the highest rung kept also gets a rung at its own size (480p: 360p + 480p;
      400p: 360p only);
    - a source smaller than every rung gets one rung, at its own size.
    Dimensions are even (H.264 4:2:0 needs them so), aspect ratio kept.
    """
    if width < 2 or height < 2:
        raise ValueError(f"not a video size: {width}x{height}")
    short = min(width, height)
    heights = sorted(set(ladder))
    kept = [h for h in heights if h <= short]
    own = short - short % 2
    if not kept or (kept[-1] < heights[-1] and short >= kept[-1] * rules.LADDER_OWN_RUNG_RATIO):
        kept.append(own)
    return [_rung(width, height, side) for side in kept]


def _rung(width: int, height: int, side: int) -> Rung:
    short, long = min(width, height), max(width, height)
    along = long - long % 2 if side >= short - 1 else max(2, 2 * round(long * side / short / 2))
    w, h = (along, side) if width >= height else (side, along)
    maxrate = _maxrate(side)
    return Rung(
        name=f"{side}p",
        width=w,
        height=h,
        crf=rules.LADDER_CRF,
        maxrate=maxrate,
        bufsize=maxrate * rules.LADDER_BUFSIZE_SECONDS,
    )


def _maxrate(side: int) -> int:
    """LADDER_MAXRATE for this height, interpolated linearly between its entries."""
    table = sorted(rules.LADDER_MAXRATE.items())
    if side <= table[0][0]:
        return table[0][1]
    for (h0, r0), (h1, r1) in zip(table, table[1:], strict=False):
        if side <= h1:
            return int(round(r0 + (r1 - r0) * (side - h0) / (h1 - h0), -3))
    return table[-1][1]


def transcode(
    src: Path,
    out_dir: Path,
    duration: float,
    rungs: Sequence[Rung],
    on_progress: Progress | None = None,
    *,
    fps: float | Fraction,
    audio: bool = True,
    demuxer: str = "mov",
    time_limit: float | None = None,
) -> HlsOutput:
    """Encode `src` into every rung and the audio rendition in one ffmpeg run (one
    decode, split and scaled for each rung), as fMP4 HLS under `out_dir`.

    `out_dir` must be empty or missing (a fresh folder per attempt). `duration`
    (seconds), `fps`, `audio` (the source has an audio stream) and `demuxer` ("mov"
    or "matroska", rules.DEMUXERS) are what the probe found. Keyframes fall every
    SEGMENT_SECONDS at the same timestamps in every rung (closed GOPs, no scene-cut
    keyframes), so a player switches rungs at any segment boundary. The time limit
    defaults to TRANSCODE_TIME_BASE + TRANSCODE_TIME_FACTOR x duration."""
    if not rungs:
        raise ValueError("no rungs to encode")
    rate = _output_rate(fps)
    gop = max(1, round(rate * rules.SEGMENT_SECONDS))
    args = [*ffmpeg.input_args(src, demuxer), "-filter_complex", _filter_graph(rungs, rate)]
    for i in range(len(rungs)):
        args += ["-map", f"[v{i}]"]
    args += _audio_map(audio) + _no_extras()
    args += [
        "-c:v",
        "libx264",
        "-preset",
        rules.LADDER_PRESET,
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        "-flags:v",
        "+cgop",  # closed GOPs: every segment decodes on its own
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",  # no extra keyframes at scene cuts, which would differ between rungs
        "-force_key_frames",
        f"expr:gte(t,n_forced*{rules.SEGMENT_SECONDS})",
    ]
    for i, r in enumerate(rungs):
        args += [f"-crf:v:{i}", str(r.crf), f"-maxrate:v:{i}", str(r.maxrate)]
        args += [f"-bufsize:v:{i}", str(r.bufsize)]
    if audio:
        args += ["-c:a", "aac", "-b:a", str(rules.AUDIO_BITRATE)]
        args += ["-ac", str(rules.AUDIO_CHANNELS)]
    names = [r.name for r in rungs]
    args += _hls_args(out_dir, names, audio)
    if time_limit is None:
        time_limit = ffmpeg.time_limit(
            duration, rules.TRANSCODE_TIME_BASE, rules.TRANSCODE_TIME_FACTOR
        )
    ffmpeg.run(args, duration=duration, time_limit=time_limit, on_progress=on_progress)
    return HlsOutput(out_dir / MASTER, tuple(names), audio)


def remux(
    src: Path,
    out_dir: Path,
    duration: float,
    on_progress: Progress | None = None,
    *,
    audio: bool = True,
    demuxer: str = "mov",
    time_limit: float | None = None,
) -> HlsOutput:
    """Copy a browser-safe upload's H.264 video and AAC audio, unchanged, into the
    same fMP4 HLS layout: one video rung (`source`) at its own size, the audio
    rendition, the master playlist. Segments start at the source's own keyframes, so
    the probe must have found them sanely spaced. Seconds for a 1 GB file."""
    args = [*ffmpeg.input_args(src, demuxer), "-map", "0:v:0", *_audio_map(audio)]
    args += [*_no_extras(), "-c", "copy"]
    args += _hls_args(out_dir, [SOURCE], audio)
    if time_limit is None:
        time_limit = ffmpeg.time_limit(duration, rules.REMUX_TIME_BASE, rules.REMUX_TIME_FACTOR)
    ffmpeg.run(args, duration=duration, time_limit=time_limit, on_progress=on_progress)
    return HlsOutput(out_dir / MASTER, (SOURCE,), audio)


def _filter_graph(rungs: Sequence[Rung], rate: Fraction) -> str:
    """Decode once, scale once to the largest rung, split, and scale the smaller rungs
    from that: 1080p to 720p to 360p scales with a quarter less CPU than 1080p to each
    (1.5 CPU-s per minute of video). Output pad `[v<i>]` is rung i."""
    top = max(range(len(rungs)), key=lambda i: rungs[i].width * rungs[i].height)
    big = rungs[top]
    graph = [
        f"[0:v:0]fps={rate.numerator}/{rate.denominator},scale={big.width}:{big.height},"
        f"setsar=1,split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs)))
    ]
    for i, rung in enumerate(rungs):
        scale = "null" if i == top else f"scale={rung.width}:{rung.height},setsar=1"
        graph.append(f"[s{i}]{scale}[v{i}]")
    return ";".join(graph)


def _output_rate(fps: float | Fraction) -> Fraction:
    """The source's frame rate as a fraction, halved until at most LADDER_MAX_FPS."""
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"not a frame rate: {fps!r}")
    while rate > rules.LADDER_MAX_FPS:
        rate /= 2
    return rate


def _audio_map(audio: bool) -> list[str]:
    return ["-map", "0:a:0"] if audio else []


def _no_extras() -> list[str]:
    """Metadata, chapters, subtitles and data streams stay behind (captions come
    separately, as WebVTT)."""
    return ["-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"]


def _hls_args(out_dir: Path, names: Sequence[str], audio: bool) -> list[str]:
    """The HLS muxer's options: fMP4 segments, EVENT playlists, one folder per
    rendition, the master playlist."""
    out_dir = Path(out_dir).resolve()
    if "%" in str(out_dir):
        raise ValueError("the output folder's path cannot hold '%' (ffmpeg patterns)")
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        # A previous attempt's playlists would be published as this one's.
        raise ValueError(f"the output folder is not empty: {out_dir}")
    group = f",agroup:{AUDIO_GROUP}" if audio else ""
    streams = [f"v:{i}{group},name:{name}" for i, name in enumerate(names)]
    if audio:
        streams.append(f"a:0{group},name:{AUDIO},default:yes")
    return [
        "-f",
        "hls",
        "-hls_time",
        str(rules.SEGMENT_SECONDS),
        "-hls_segment_type",
        "fmp4",
        "-hls_playlist_type",
        "event",
        # temp_file: segments and playlists are written aside and renamed when whole
        "-hls_flags",
        "independent_segments+temp_file",
        "-hls_fmp4_init_filename",
        # ffmpeg fills in %v only when there are several variant streams (a remuxed
        # video without sound has one); each variant's init segment sits in its folder
        "init_%v.mp4" if len(streams) > 1 else "init.mp4",
        "-hls_segment_filename",
        str(out_dir / "%v" / "seg_%05d.m4s"),
        "-master_pl_name",
        MASTER,
        "-var_stream_map",
        " ".join(streams),
        str(out_dir / "%v" / PLAYLIST),
    ]


# ---------------------------------------------------------------- publishing while it runs


@dataclass(frozen=True)
class NewFile:
    """A file ready to store: `name` relative to out_dir ("720p/seg_00003.m4s").
    For a playlist, `data` is the exact version whose segments were handed out before
    it; store that, not the file on disk, which may already list later ones."""

    name: str
    path: Path
    data: bytes | None = None


_URI = re.compile(r'URI="([^"]+)"')
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$")


def _safe(name: str) -> bool:
    """A name ffmpeg could have written under out_dir: one or two plain parts."""
    return bool(_SAFE_NAME.match(name)) and not any(part in (".", "..") for part in name.split("/"))


class Publisher:
    """Which files under `out_dir` are complete and not yet handed out, while ffmpeg
    writes them (call `new_files()` from `on_progress`) and once more after it ends.

    A segment or init segment is complete once a playlist lists it (ffmpeg writes it
    aside and renames it before updating the playlist); a playlist comes after every
    file it names, and the master after every media playlist, so a player that
    follows what was stored never meets a missing file. Storage-agnostic: the caller
    uploads what it gets, in order."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.handed: set[str] = set()  # segments and init segments handed out
        self.versions: dict[str, str] = {}  # playlist -> digest of the version handed out

    def new_files(self) -> list[NewFile]:
        """The files that became ready since the last call, in the order to store them."""
        found: list[NewFile] = []
        for playlist in sorted(self.out_dir.glob(f"*/{PLAYLIST}")):
            found += self._playlist(f"{playlist.parent.name}/{PLAYLIST}")
        master = self.out_dir / MASTER
        if master.exists():
            data = master.read_bytes()
            listed = _uris(data)
            if all(name in self.versions for name in listed):
                found += self._changed(MASTER, data)
        return found

    def _playlist(self, name: str) -> list[NewFile]:
        data = (self.out_dir / name).read_bytes()
        folder = name.rsplit("/", 1)[0]
        members = [f"{folder}/{uri}" for uri in _uris(data)]
        found = [NewFile(m, self.out_dir / m) for m in members if m not in self.handed]
        if not all(_safe(f.name) and f.path.is_file() for f in found):
            return []  # not there yet (or not ours): try again next call
        self.handed.update(f.name for f in found)
        return found + self._changed(name, data)

    def _changed(self, name: str, data: bytes) -> list[NewFile]:
        digest = hashlib.sha256(data).hexdigest()
        if self.versions.get(name) == digest:
            return []
        self.versions[name] = digest
        return [NewFile(name, self.out_dir / name, data)]


def _uris(playlist: bytes) -> list[str]:
    """The URIs a playlist names, in order: #EXT-X-MAP and #EXT-X-MEDIA URI attributes
    and the segment (or variant) lines."""
    uris: list[str] = []
    for line in playlist.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith("#"):
            uris += _URI.findall(line)
        elif line:
            uris.append(line)
    return uris
