"""The transactional outbox and the consumers' idempotency receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.timeutil import utcnow
from app.types import UTCDateTime


class OutboxEvent(db.Model):  # type: ignore[name-defined,misc]
    """An event accepted by the app, stored in the same transaction as the change."""

    __tablename__ = "outbox_events"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(default=1)
    key: Mapped[str] = mapped_column(String(80), index=True)
    source: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending -> dispatched, or dead after MAX_ATTEMPTS failures.
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_outbox_events_status_next", "status", "next_attempt_at"),)

    def envelope(self) -> dict[str, Any]:
        """The SPEC §6 envelope, as it would travel on the wire."""
        return {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "source": self.source,
            "data": self.data,
        }


class EventReceipt(db.Model):  # type: ignore[name-defined,misc]
    """A consumer has finished handling an event: a second delivery changes nothing."""

    __tablename__ = "event_receipts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(60))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("consumer", "event_id", name="uq_event_receipts_consumer"),)


class DeadLetter(db.Model):  # type: ignore[name-defined,misc]
    """A message a consumer gave up on, kept for an admin to read and replay.

    The same record also goes to the source topic's dead-letter topic on Kafka.
    """

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    group: Mapped[str] = mapped_column(String(60))
    topic: Mapped[str] = mapped_column(String(120))
    partition: Mapped[int] = mapped_column()
    offset: Mapped[int] = mapped_column()
    key: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    value: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WorkerHeartbeat(db.Model):  # type: ignore[name-defined,misc]
    """What each worker process last reported: alive, lag, counts."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(120), primary_key=True)  # name@host:pid
    name: Mapped[str] = mapped_column(String(40))
    group: Mapped[str] = mapped_column(String(60))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    dead_lettered: Mapped[int] = mapped_column(default=0)
    lag: Mapped[int | None] = mapped_column(nullable=True)
    stopped: Mapped[bool] = mapped_column(default=False)
