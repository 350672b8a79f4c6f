"""The media worker's queue: one job per uploaded video, in the SQL database.

The `media.uploaded` handler (consumer `media-pipeline`, run by the embedded bus or the
Kafka `media` worker) only enqueues: the work itself can take as long as the video,
far longer than a consumer may hold a message. A job is leased to one worker at a time
and its lease renewed while it runs; a worker killed mid-job lets the lease run out,
and the next claim takes the job again (its outputs have fixed names, so a second run
overwrites rather than duplicates). Outcomes go out as events (`media.ready`,
`media.failed`) recorded in the SQL outbox in the same transaction that ends the job,
so the media side never writes course documents and the two never share a store.

In the embedded default the jobs run in a process of their own (`flask --app wsgi
media work`, which gunicorn starts beside its worker at a lower CPU priority); SQLite in
WAL mode lets the two processes share the database.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Index, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.media import rules
from app.timeutil import utcnow
from app.types import UTCDateTime


class MediaJob(db.Model):  # type: ignore[name-defined,misc]
    """An uploaded video the media worker has to prepare."""

    __tablename__ = "media_jobs"

    upload_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(40))
    # the `media.uploaded` facts (app/media/handlers.py `upload_facts`), size included
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12), default="queued")  # queued, running, done
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_media_jobs_state_created", "state", "created_at"),)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


def enqueue(facts: dict[str, Any]) -> None:
    """Queue a job for this upload in the caller's transaction. A job queued or running
    stays as it is; a finished one is queued again (the instructor's Retry announces the
    upload anew: the bus never hands the same event to a consumer twice)."""
    job = db.session.get(MediaJob, facts["upload_id"])
    if job is not None:
        if job.state == "done":
            job.state, job.attempts, job.facts = "queued", 0, facts
            job.lease_until = job.worker = job.finished_at = None
        return
    db.session.add(
        MediaJob(upload_id=facts["upload_id"], course_id=facts["course_id"], facts=facts)
    )


def claim(now: datetime | None = None) -> MediaJob | None:
    """Lease the oldest job that is queued, or whose worker stopped renewing its lease;
    committed, so no other worker takes it meanwhile. None if there is none."""
    now = now or utcnow()
    due = (MediaJob.state == "queued") | (
        (MediaJob.state == "running") & (MediaJob.lease_until < now)
    )
    candidates = list(
        db.session.scalars(
            select(MediaJob.upload_id).where(due).order_by(MediaJob.created_at).limit(5)
        )
    )
    for candidate in candidates:
        taken = db.session.execute(
            update(MediaJob)
            .where(MediaJob.upload_id == candidate, due)
            .values(
                state="running",
                attempts=MediaJob.attempts + 1,
                lease_until=now + timedelta(seconds=rules.JOB_LEASE_SECONDS),
                worker=worker_name(),
            )
        )
        db.session.commit()
        if getattr(taken, "rowcount", 0) == 1:
            job = db.session.get(MediaJob, candidate, populate_existing=True)
            db.session.commit()  # no transaction left open for the length of the job
            return job
    return None


def renew(job: MediaJob) -> bool:
    """Extend the lease while the job runs; False if another worker took it over (this
    one was presumed dead): the caller should stop."""
    renewed = db.session.execute(
        update(MediaJob)
        .where(MediaJob.upload_id == job.upload_id, MediaJob.worker == worker_name())
        .values(lease_until=utcnow() + timedelta(seconds=rules.JOB_LEASE_SECONDS))
    )
    db.session.commit()
    return getattr(renewed, "rowcount", 0) == 1


class NotOurs(RuntimeError):
    """The job's lease ran out and another worker took it: this one's outcome is void."""


def _end(job: MediaJob, **values: Any) -> None:
    """Change the job only if this worker still holds it, in the caller's transaction
    (with its outcome event); otherwise roll both back and raise NotOurs."""
    ended = db.session.execute(
        update(MediaJob)
        .where(
            MediaJob.upload_id == job.upload_id,
            MediaJob.worker == worker_name(),
            MediaJob.state == "running",
        )
        .values(**values)
    )
    if getattr(ended, "rowcount", 0) != 1:
        db.session.rollback()
        raise NotOurs(job.upload_id)
    db.session.commit()


def finish(job: MediaJob, error: str | None = None) -> None:
    """The job is over: commit that with its outcome event (already added), if this
    worker still holds it."""
    _end(job, state="done", finished_at=utcnow(), lease_until=None, last_error=error)


def release(job: MediaJob, error: str) -> None:
    """Put the job back in the queue after a failure of ours, for another try."""
    _end(job, state="queued", lease_until=None, worker=None, last_error=error)


def prune(now: datetime | None = None) -> int:
    """Forget finished jobs after UPLOAD_RECORD_DAYS."""
    cutoff = (now or utcnow()) - timedelta(days=rules.UPLOAD_RECORD_DAYS)
    gone = db.session.execute(
        db.delete(MediaJob).where(MediaJob.state == "done", MediaJob.finished_at < cutoff)
    )
    db.session.commit()
    return int(getattr(gone, "rowcount", 0) or 0)
