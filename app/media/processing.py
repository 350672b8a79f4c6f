"""What the media worker does with one job, and the loop that runs jobs.

For now a job validates the uploaded video by content (app/media/probe.py): a file
that is not a video we can read, is cut short, too long or too large is refused with a
reason the instructor can act on (`media.failed`); any other is ready to serve as it
was uploaded (`media.ready`). The HLS ladder (app/media/ladder.py) slots in here once
learners can be served its playlists.

The loop (`flask --app wsgi media work`, and a thread of `worker media`) claims a job,
runs it, and records its outcome in the same transaction that ends it. It never reads
or writes course documents: everything it needs is in the job's facts.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from app.events import record_event
from app.extensions import db
from app.media import jobs, rules
from app.media.handlers import ABOUT, IDENTITY
from app.media.probe import MediaRefused, probe_video
from app.media.storage import LocalStorage, storage

log = logging.getLogger(__name__)

# A probe that timed out or crashed may say more about a busy machine than the file.
TRANSIENT = ("timeout", "crashed")


def outcome(event_type: str, facts: dict[str, Any], **extra: Any) -> None:
    """Record `media.ready` or `media.failed` for the job's upload (caller commits)."""
    data = {name: facts[name] for name in (*IDENTITY, *ABOUT)} | extra
    record_event(event_type, data, key=facts["course_id"], source="media")


@contextmanager
def source_file(key: str, job: jobs.MediaJob) -> Iterator[Path]:
    """The upload as a local file: itself in the local store, or a temporary copy of
    the bucket's object (the lease renewed as the bytes arrive)."""
    store = storage()
    if isinstance(store, LocalStorage):
        path = store.path_for(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="lectern-media-"))
    try:
        path = folder / "source"
        received = 0
        with path.open("wb") as out:
            for piece in store.read(key):
                out.write(piece)
                received += len(piece)
                if received // rules.JOB_RENEW_BYTES != (received - len(piece)) // (
                    rules.JOB_RENEW_BYTES
                ) and not jobs.renew(job):
                    raise LeaseLost()
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class LeaseLost(RuntimeError):
    """Another worker took the job over: this one stops without an outcome."""


def run_job(job: jobs.MediaJob) -> None:
    """Validate one uploaded video and record what became of it."""
    facts = job.facts
    try:
        with source_file(facts["key"], job) as path:
            if path.stat().st_size != facts["size"]:
                raise FileNotFoundError(facts["key"])
            info = probe_video(path)
    except FileNotFoundError:
        outcome("media.failed", facts, reason=rules.REASON_GONE)
        jobs.finish(job, "source gone")
        return
    except MediaRefused as exc:
        if exc.code in TRANSIENT and job.attempts < rules.JOB_MAX_ATTEMPTS:
            raise  # the loop puts it back in the queue for another try
        outcome("media.failed", facts, reason=str(exc))
        jobs.finish(job, f"refused: {exc.code}")
        log.info("video refused", extra={"upload": job.upload_id, "code": exc.code})
        return
    outcome("media.ready", facts, renditions_bytes=0)
    jobs.finish(job)
    log.info(
        "video ready",
        extra={
            "upload": job.upload_id,
            "seconds": round(info.duration, 1),
            "size": f"{info.width}x{info.height}",
            "browser_safe": info.browser_safe,
        },
    )


def run_next() -> bool:
    """Claim and run one job; False if there was none. A job that fails for a reason
    of ours (not the file's) goes back to the queue, up to JOB_MAX_ATTEMPTS tries."""
    job = jobs.claim()
    if job is None:
        return False
    try:
        run_job(job)
    except LeaseLost:
        db.session.rollback()
        log.warning("media job taken over by another worker", extra={"upload": job.upload_id})
    except Exception as exc:
        db.session.rollback()
        log.exception("media job failed", extra={"upload": job.upload_id})
        job = db.session.get(jobs.MediaJob, job.upload_id, populate_existing=True) or job
        if job.attempts >= rules.JOB_MAX_ATTEMPTS:
            outcome("media.failed", job.facts, reason=rules.REASON_OURS)
            jobs.finish(job, f"{type(exc).__name__}: {exc}"[:2000])
        else:
            jobs.release(job, f"{type(exc).__name__}: {exc}"[:2000])
    return True


def work(app: Flask, stop: threading.Event, interval: float = 1.0) -> None:
    """Run jobs until `stop` is set (a signal, or the end of a test)."""
    log.info("media jobs: started", extra={"worker": jobs.worker_name()})
    while not stop.is_set():
        try:
            with app.app_context():
                while not stop.is_set() and run_next():
                    pass
        except Exception:
            log.exception("media job loop failed; retrying")
        stop.wait(interval)
    log.info("media jobs: stopped")
