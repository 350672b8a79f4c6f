"""What the media worker does with one job, and the loop that runs jobs.

A job validates the uploaded video by content (app/media/probe.py): a file that is not
a video we can read, is cut short, too long or too large is refused with a reason the
instructor can act on (`media.failed`). Any other becomes HLS in storage, under the
video's derived prefix: remuxed as it is when browsers can play it (seconds), else
transcoded into the ladder in one ffmpeg pass (app/media/ladder.py), its files stored
as ffmpeg completes them. Then `media.ready` names the master playlist.

The loop (`flask --app wsgi media work`, and a thread of `worker media`) claims a job,
runs it, and records its outcome in the same transaction that ends it. It never reads
or writes course documents: everything it needs is in the job's facts.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.events import record_event
from app.extensions import db
from app.media import jobs, ladder, rules
from app.media.handlers import ABOUT, IDENTITY
from app.media.probe import MediaRefused, VideoInfo, probe_video
from app.media.storage import LocalStorage, derived_prefix, storage

log = logging.getLogger(__name__)

# A probe that timed out or crashed may say more about a busy machine than the file.
TRANSIENT = ("timeout", "crashed")


def outcome(event_type: str, facts: dict[str, Any], **extra: Any) -> None:
    """Record `media.ready` or `media.failed` for the job's upload (caller commits)."""
    data = {name: facts[name] for name in (*IDENTITY, *ABOUT)} | extra
    record_event(event_type, data, key=facts["course_id"], source="media")


def report(facts: dict[str, Any], step: str, percent: float) -> None:
    """Tell the studio how far the job is (`media.processing`), committed at once."""
    data = {name: facts[name] for name in IDENTITY} | {
        "step": step,
        "percent": max(0, min(100, int(percent))),
    }
    record_event("media.processing", data, key=facts["course_id"], source="media")
    db.session.commit()


@contextmanager
def source_file(key: str) -> Iterator[Path]:
    """The upload as a local file: itself in the local store, or a temporary copy of
    the bucket's object. FileNotFoundError if storage has no such object."""
    store = storage()
    if isinstance(store, LocalStorage):
        path = store.path_for(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path
        return
    if store.size(key) is None:
        raise FileNotFoundError(key)
    folder = work_dir()
    try:
        path = folder / "source"
        with path.open("wb") as out:
            for piece in store.read(key):
                out.write(piece)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class LeaseLost(RuntimeError):
    """Another worker took the job over: this one stops without an outcome."""


class Stopping(RuntimeError):
    """The worker is asked to stop: the job goes back to the queue, ffmpeg is killed."""


def work_dir() -> Path:
    """A folder of this worker's own under DATA_DIR/media-work (on the data disk, not a
    RAM-backed /tmp; named for the host and process, so a later worker can tell the
    leftovers of a dead one)."""
    root = Path(current_app.config["DATA_DIR"]) / "media-work"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{jobs.worker_name().replace(':', '-')}-", dir=root))


def clear_leftovers() -> int:
    """Remove the work folders of workers on this host that are gone (killed mid-job)."""
    root = Path(current_app.config["DATA_DIR"]) / "media-work"
    host = jobs.worker_name().rsplit(":", 1)[0]
    removed = 0
    for folder in root.glob(f"{host}-*-*") if root.is_dir() else ():
        pid = folder.name[len(host) + 1 :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed


@contextmanager
def leased(job: jobs.MediaJob) -> Iterator[threading.Event]:
    """Renew the job's lease on a clock while the caller works (a heartbeat thread);
    the event it yields is set if another worker took the job over meanwhile."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    lost, done = threading.Event(), threading.Event()

    def beat() -> None:
        while not done.wait(rules.JOB_LEASE_SECONDS / 4):
            try:
                with app.app_context():
                    if not jobs.renew(job):
                        lost.set()
                        return
            except Exception:  # the database away for a moment: try at the next beat
                log.warning("renewing a media job's lease failed", exc_info=True)

    thread = threading.Thread(target=beat, name="media-lease", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        done.set()
        thread.join(timeout=5)


def run_job(job: jobs.MediaJob, stop: threading.Event | None = None) -> None:
    """Validate one uploaded video, make its HLS, and record what became of it."""
    facts = job.facts
    report(facts, "validating", 0)
    with leased(job) as lost:
        try:
            with source_file(facts["key"]) as path:
                if path.stat().st_size != facts["size"]:
                    raise FileNotFoundError(facts["key"])
                try:
                    info = probe_video(path)
                except MediaRefused as exc:
                    if exc.code in TRANSIENT and job.attempts < rules.JOB_MAX_ATTEMPTS:
                        raise  # the loop puts it back in the queue for another try
                    outcome("media.failed", facts, reason=str(exc), retryable=False)
                    jobs.finish(job, f"refused: {exc.code}")
                    log.info("video refused", extra={"upload": job.upload_id, "code": exc.code})
                    return
                stored = make_hls(job, path, info, lost, stop)
        except FileNotFoundError as exc:
            if exc.filename is not None:  # a program, not the upload, is missing
                raise
            outcome("media.failed", facts, reason=rules.REASON_GONE, retryable=False)
            jobs.finish(job, "source gone")
            return
        if lost.is_set():
            raise LeaseLost()
    outcome(
        "media.ready",
        facts,
        renditions_bytes=stored,
        hls_master=hls_prefix(facts["key"]) + ladder.MASTER,
        duration_seconds=max(1, round(info.duration)),
    )
    jobs.finish(job)
    log.info(
        "video ready",
        extra={
            "upload": job.upload_id,
            "seconds": round(info.duration, 1),
            "size": f"{info.width}x{info.height}",
            "remuxed": info.browser_safe,
            "renditions_bytes": stored,
        },
    )


def hls_prefix(key: str) -> str:
    """Where a lesson video's HLS files live: under its derived prefix, so they go
    when it goes (app/media/handlers.py `on_media_discarded`)."""
    prefix = derived_prefix(key)
    if prefix is None:
        raise ValueError(f"not a lesson file: {key}")
    return prefix + "hls/"


def make_hls(
    job: jobs.MediaJob,
    path: Path,
    info: VideoInfo,
    lost: threading.Event,
    stop: threading.Event | None = None,
) -> int:
    """The video as HLS in storage: remuxed when the browser can play it as it is,
    else transcoded into the ladder in one pass. Files are stored as ffmpeg completes
    them (and a segment, once stored, leaves the work folder); it stops, killing
    ffmpeg, if another worker took the job over or this one is asked to stop. Returns
    the bytes stored."""
    store = storage()
    prefix = hls_prefix(job.facts["key"])
    stored = 0
    told = {"percent": -100.0, "at": 0.0}

    def tell(percent: float) -> None:  # at most every 10 % or 10 s
        now = time.monotonic()
        if percent - told["percent"] >= 10 or now - told["at"] >= 10:
            report(job.facts, "processing", percent)
            told.update(percent=percent, at=now)

    def publish() -> None:
        nonlocal stored
        if lost.is_set():
            raise LeaseLost()
        if stop is not None and stop.is_set():
            raise Stopping()
        for item in publisher.new_files():
            data = item.data if item.data is not None else item.path.read_bytes()
            store.put(prefix + item.name, data, content_type=hls_type(item.name))
            stored += len(data)
            if item.data is None:  # a segment: never read again (playlists are)
                item.path.unlink(missing_ok=True)

    folder = work_dir()
    try:
        out = folder / "hls"
        publisher = ladder.Publisher(out)
        demuxer = rules.DEMUXERS[info.container]
        audio = info.audio_codec is not None

        def progress(percent: float) -> None:
            publish()
            if percent < 100:
                tell(percent)

        if info.browser_safe:
            ladder.remux(path, out, info.duration, progress, audio=audio, demuxer=demuxer)
        else:
            rungs = ladder.plan_rungs(info.width, info.height, current_app.config["MEDIA_LADDER"])
            ladder.transcode(
                path,
                out,
                info.duration,
                rungs,
                progress,
                fps=info.fps or rules.FALLBACK_FPS,
                audio=audio,
                demuxer=demuxer,
            )
        publish()
        check_complete(out, publisher)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return stored


def check_complete(out: Path, publisher: ladder.Publisher) -> None:
    """Every playlist ended (#EXT-X-ENDLIST) and stored, the master last: else the
    ladder is not whole, which is our failure, not the file's (the job is retried)."""
    if ladder.MASTER not in publisher.versions:
        raise RuntimeError("the master playlist was never stored")
    for playlist in out.glob(f"*/{ladder.PLAYLIST}"):
        name = f"{playlist.parent.name}/{ladder.PLAYLIST}"
        if name not in publisher.versions or b"#EXT-X-ENDLIST" not in playlist.read_bytes():
            raise RuntimeError(f"{name} did not end")


def hls_type(name: str) -> str:
    """The Content-Type an HLS file is stored and served with."""
    return rules.HLS_TYPES[name.rsplit(".", 1)[-1]]


def run_next(stop: threading.Event | None = None) -> bool:
    """Claim and run one job; False if there was none. A job that fails for a reason
    of ours (not the file's) goes back to the queue, up to JOB_MAX_ATTEMPTS tries; so
    does one whose worker died, which is then given up."""
    job = jobs.claim()
    if job is None:
        return False
    try:
        if job.attempts > rules.JOB_MAX_ATTEMPTS:  # its workers kept dying on it
            outcome("media.failed", job.facts, reason=rules.REASON_OURS, retryable=True)
            jobs.finish(job, "gave up: its workers stopped mid-job")
            return True
        run_job(job, stop)
    except Stopping:
        db.session.rollback()
        try:  # back to the queue at once, not after its lease: another worker redoes it
            jobs.release(job, "stopped with its worker")
        except jobs.NotOurs:
            db.session.rollback()
    except (LeaseLost, jobs.NotOurs):
        db.session.rollback()
        log.warning("media job taken over by another worker", extra={"upload": job.upload_id})
    except Exception as exc:
        db.session.rollback()
        log.exception("media job failed", extra={"upload": job.upload_id})
        error = f"{type(exc).__name__}: {exc}"[:2000]
        try:
            if job.attempts >= rules.JOB_MAX_ATTEMPTS:
                outcome("media.failed", job.facts, reason=rules.REASON_OURS, retryable=True)
                jobs.finish(job, error)
            else:
                jobs.release(job, error)
        except jobs.NotOurs:
            db.session.rollback()
    return True


def work(app: Flask, stop: threading.Event, interval: float = 1.0) -> None:
    """Run jobs until `stop` is set (a signal, or the end of a test)."""
    log.info("media jobs: started", extra={"worker": jobs.worker_name()})
    with app.app_context():
        clear_leftovers()
    while not stop.is_set():
        try:
            with app.app_context():
                while not stop.is_set() and run_next(stop):
                    pass
        except Exception:
            log.exception("media job loop failed; retrying")
        stop.wait(interval)
    log.info("media jobs: stopped")
