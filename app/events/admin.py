"""Event health for admins and /readyz: outbox backlog and age, dead letters, workers;
and replaying a dead letter."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, or_, select

from app.errors import Conflict, NotFound
from app.events.models import DeadLetter, WorkerHeartbeat
from app.events.outbox import Backlog, DeadEvent, outbox_named, outboxes
from app.extensions import db
from app.timeutil import utcnow

STALE_AFTER = timedelta(seconds=60)


@dataclass
class EventHealth:
    bus: str
    outboxes: dict[str, Backlog]  # each registered outbox (accounts, courses)
    dead_letters: list[DeadLetter]
    dead_letter_count: int
    workers: list[dict[str, Any]]
    # Each consumer group's backlog from Kafka (with `groups=True` and Kafka configured).
    groups: list[dict[str, Any]] = field(default_factory=list)
    groups_error: str | None = None

    @property
    def pending(self) -> int:
        return sum(b.pending for b in self.outboxes.values())

    @property
    def dead_events(self) -> int:
        return sum(b.dead for b in self.outboxes.values())

    @property
    def oldest_pending_seconds(self) -> int | None:
        oldest = [b.oldest_pending_at for b in self.outboxes.values() if b.oldest_pending_at]
        return int((utcnow() - min(oldest)).total_seconds()) if oldest else None


def consumer_groups(admin: Any = None, timeout: float = 2.0) -> list[dict[str, Any]]:
    """Each worker kind's consumer group with its backlog, from the group's committed
    offsets and the topics' high watermarks in Kafka, so a group with no live consumer
    shows what waits for it too; and how many of its workers are alive. Raises if Kafka
    does not answer."""
    from app.events.catalogue import WORKERS, topics_for_consumers
    from app.events.cluster import admin_client, group_backlogs

    backlog = group_backlogs(admin or admin_client(current_app), timeout)
    cutoff = utcnow() - STALE_AFTER
    live = Counter(
        db.session.scalars(
            select(WorkerHeartbeat.group).where(
                WorkerHeartbeat.stopped.is_(False), WorkerHeartbeat.last_seen >= cutoff
            )
        )
    )
    return [
        {
            "group": w.group,
            "worker": w.name,
            "topics": topics_for_consumers(w.consumers),
            "lag": backlog.get(w.group),
            "live": live[w.group],
        }
        for w in WORKERS.values()
    ]


def event_health(limit: int = 50, groups: bool = False) -> EventHealth:
    """Everything the admin page and readiness show about events (with `groups`, each
    consumer group's backlog from Kafka too)."""
    now = utcnow()
    workers = []
    for beat in db.session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.name)):
        alive = not beat.stopped and now - beat.last_seen < STALE_AFTER
        workers.append(
            {
                "id": beat.worker_id,
                "name": beat.name,
                "group": beat.group,
                "alive": alive,
                "stopped": beat.stopped,
                "lag": beat.lag,
                "last_seen": beat.last_seen,
                "processed": beat.processed,
                "failed": beat.failed,
                "dead_lettered": beat.dead_lettered,
            }
        )
    letters = list(
        db.session.scalars(
            select(DeadLetter)
            .where(DeadLetter.replayed_at.is_(None))
            .order_by(DeadLetter.id.desc())
            .limit(limit)
        )
    )
    total = (
        db.session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
        )
        or 0
    )
    group_rows: list[dict[str, Any]] = []
    groups_error = None
    if groups and current_app.config.get("KAFKA_BOOTSTRAP_SERVERS"):
        try:
            group_rows = consumer_groups()
        except Exception as exc:  # the page still shows the rest while Kafka is away
            groups_error = f"Kafka did not answer: {type(exc).__name__}: {exc}"[:300]
    return EventHealth(
        bus=current_app.config["EVENT_BUS"],
        outboxes={outbox.name: outbox.backlog() for outbox in outboxes()},
        dead_letters=letters,
        dead_letter_count=total,
        workers=workers,
        groups=group_rows,
        groups_error=groups_error,
    )


def prune_worker_heartbeats(retention: timedelta) -> int:
    """Forget workers not seen for `retention` (stopped, or long gone without a word).
    A live worker beats every few seconds, so it is never one of them. Caller commits."""
    result = db.session.execute(
        delete(WorkerHeartbeat).where(WorkerHeartbeat.last_seen < utcnow() - retention)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def clear_stopped_workers() -> int:
    """Forget every worker that is not alive: stopped, or silent for STALE_AFTER. A silent
    one that is in fact still running writes its row again at its next beat. Caller
    commits."""
    result = db.session.execute(
        delete(WorkerHeartbeat).where(
            or_(
                WorkerHeartbeat.stopped.is_(True),
                WorkerHeartbeat.last_seen < utcnow() - STALE_AFTER,
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def replay_dead_letter(letter_id: int) -> DeadLetter:
    """Publish a dead letter's message to its original topic; its handlers run again
    (those that had finished skip it by their receipts)."""
    from app.events.kafka import Publisher

    letter = db.session.get(DeadLetter, letter_id)
    if letter is None:
        raise NotFound("No such dead letter.")
    if letter.replayed_at is not None:
        raise Conflict("This dead letter was already replayed.")
    if not current_app.config.get("KAFKA_BOOTSTRAP_SERVERS"):
        raise Conflict("Replaying needs Kafka (KAFKA_BOOTSTRAP_SERVERS).")
    from app.events.kafka import Outgoing

    errors = Publisher(current_app).publish(
        [
            Outgoing(
                letter.topic,
                letter.key or "",
                letter.value.encode("utf-8"),
                [("replayed-from-dead-letter", str(letter.id).encode())],
            )
        ]
    )
    if errors[0] is not None:
        raise Conflict(f"The broker did not take the message: {errors[0]}")
    letter.replayed_at = utcnow()
    db.session.commit()
    return letter


def dead_events(limit: int = 50) -> list[DeadEvent]:
    """The dead events of every outbox (the embedded bus gave up on them)."""
    return [event for outbox in outboxes() for event in outbox.dead_events(limit)]


def retry_dead_event(outbox_name: Any, event_id: Any) -> None:
    """Give a dead event another round of attempts."""
    outbox_named(outbox_name).retry(event_id)
