"""The course side's outbox: events stored as documents, published later.

An event is written right after the change it describes. MongoDB (on a replica
set) could wrap both writes in one transaction; the embedded and test stores
cannot, so a crash between the two writes can lose that one event (see
docs/decisions). Once written, an event is never lost while the broker or a
worker is down: the relay or the embedded bus delivers it later. Dispatchers
take a lease on an event before delivering it, so several can run at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from mongoengine import DateTimeField, DictField, Document, IntField, StringField

from app.events import current_version, validate_event
from app.timeutil import utcnow

LEASE = timedelta(minutes=10)  # see app/events/bus.py LEASE
SOURCE = "courses"


class DocOutboxEvent(Document):
    event_id = StringField(required=True, unique=True)
    type = StringField(required=True)
    version = IntField(default=1)
    key = StringField(required=True)
    source = StringField(default=SOURCE)
    occurred_at = DateTimeField(default=utcnow)
    data = DictField()
    status = StringField(default="pending")  # pending -> dispatched | dead
    attempts = IntField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)
    dispatched_at = DateTimeField()
    last_error = StringField()

    meta = {
        "collection": "outbox_events",
        "indexes": [("status", "next_attempt_at"), ("status", "dispatched_at"), "key"],
    }

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "source": self.source,
            "data": self.data,
        }


def record_course_event(event_type: str, data: dict[str, Any], *, key: str) -> DocOutboxEvent:
    """Validate and store an event of the course side."""
    version = current_version(event_type)
    validate_event(event_type, version, data)
    event = DocOutboxEvent(
        event_id=str(uuid.uuid4()), type=event_type, version=version, key=key, data=data
    )
    event.save(force_insert=True)
    return event


def claim_due(limit: int) -> list[DocOutboxEvent]:
    """Due events in order, each leased to this caller (others skip them meanwhile).

    An event whose key has an older event still pending (failed and waiting, or held
    by another dispatcher) waits too: events of one key go out in order.
    """
    now = utcnow()
    claimed: list[DocOutboxEvent] = []
    mine: set[Any] = set()
    blocked: set[str] = set()
    due = (
        DocOutboxEvent.objects(status="pending", next_attempt_at__lte=now)
        .order_by("id")
        .only("id", "key", "next_attempt_at")
        .limit(limit)
    )
    for event in due:
        if event.key in blocked:
            continue
        older = (
            DocOutboxEvent.objects(
                key=event.key, status="pending", id__lt=event.id, id__nin=list(mine)
            )
            .only("id")
            .first()
        )
        if older is not None:
            blocked.add(event.key)  # an earlier event of this key must go first
            continue
        taken = DocOutboxEvent.objects(
            id=event.id, status="pending", next_attempt_at=event.next_attempt_at
        ).update_one(set__next_attempt_at=now + LEASE)
        if taken:
            mine.add(event.id)
            claimed.append(DocOutboxEvent.objects.get(id=event.id))
        else:
            blocked.add(event.key)
    return claimed


def mark_published(event: DocOutboxEvent) -> None:
    DocOutboxEvent.objects(id=event.id).update_one(
        set__status="dispatched", set__dispatched_at=utcnow(), unset__last_error=True
    )


def mark_failed(event: DocOutboxEvent, error: str, max_attempts: int | None = None) -> None:
    attempts = event.attempts + 1
    dead = max_attempts is not None and attempts >= max_attempts
    DocOutboxEvent.objects(id=event.id).update_one(
        set__attempts=attempts,
        set__last_error=error[:2000],
        set__status="dead" if dead else "pending",
        set__next_attempt_at=utcnow() + timedelta(seconds=min(300, 2 ** (attempts - 1))),
    )


def backlog() -> dict[str, Any]:
    """Pending and dead counts, and the age of the oldest pending event."""
    oldest = (
        DocOutboxEvent.objects(status="pending").order_by("occurred_at").only("occurred_at").first()
    )
    return {
        "pending": DocOutboxEvent.objects(status="pending").count(),
        "dead": DocOutboxEvent.objects(status="dead").count(),
        "oldest_pending_at": oldest.occurred_at.isoformat() if oldest else None,
    }


def prune_delivered(before: datetime) -> int:
    """Forget events delivered before `before` (their retention has passed)."""
    return int(DocOutboxEvent.objects(status="dispatched", dispatched_at__lt=before).delete())


def forget_events_of(user_id: str) -> int:
    """Forget the delivered events about a deleted user (their key is the user's id)."""
    return int(DocOutboxEvent.objects(key=user_id, status__ne="pending").delete())
