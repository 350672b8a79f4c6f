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

from app.errors import NotFound
from app.events import current_version, validate_event
from app.events.outbox import LEASE, Backlog, Claimed, DeadEvent
from app.timeutil import as_utc, utcnow

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


class DocumentOutbox:
    """The course side's outbox behind the event layer's Outbox interface."""

    name = "courses"

    def claim_due(self, limit: int) -> list[Claimed]:
        """Due events in order, each leased to this caller (others skip them meanwhile).

        An event whose key has an older event still pending (failed and waiting, or held
        by another dispatcher) waits too: events of one key go out in order.
        """
        now = utcnow()
        claimed: list[Claimed] = []
        mine: set[Any] = set()
        # Keys with a pending event that is not due (leased, or backing off) wait; leaving
        # them out before the limit keeps one stuck key from filling every batch.
        blocked: set[str] = set(
            DocOutboxEvent.objects(status="pending", next_attempt_at__gt=now).distinct("key")
        )
        due = (
            DocOutboxEvent.objects(
                status="pending", next_attempt_at__lte=now, key__nin=list(blocked)
            )
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
                doc = DocOutboxEvent.objects.get(id=event.id)
                claimed.append(Claimed(doc.id, doc.key, doc.envelope(), doc.attempts))
            else:
                blocked.add(event.key)
        return claimed

    def mark_published(self, item: Claimed) -> None:
        DocOutboxEvent.objects(id=item.ref).update_one(
            set__status="dispatched", set__dispatched_at=utcnow(), unset__last_error=True
        )

    def mark_failed(self, item: Claimed, error: str, *, retry_in: timedelta, dead: bool) -> None:
        DocOutboxEvent.objects(id=item.ref).update_one(
            set__attempts=item.attempts + 1,
            set__last_error=error[:2000],
            set__status="dead" if dead else "pending",
            set__next_attempt_at=utcnow() + retry_in,
        )

    def release(self, item: Claimed) -> None:
        DocOutboxEvent.objects(id=item.ref).update_one(set__next_attempt_at=utcnow())

    def backlog(self) -> Backlog:
        oldest = (
            DocOutboxEvent.objects(status="pending")
            .order_by("occurred_at")
            .only("occurred_at")
            .first()
        )
        return Backlog(
            DocOutboxEvent.objects(status="pending").count(),
            DocOutboxEvent.objects(status="dead").count(),
            as_utc(oldest.occurred_at) if oldest else None,
        )

    def dead_events(self, limit: int) -> list[DeadEvent]:
        return [
            DeadEvent(
                self.name,
                doc.event_id,
                doc.type,
                doc.key,
                doc.attempts,
                doc.last_error or "",
                as_utc(doc.occurred_at),
            )
            for doc in DocOutboxEvent.objects(status="dead").order_by("-id").limit(limit)
        ]

    def retry(self, event_id: str) -> None:
        if not isinstance(event_id, str) or len(event_id) > 64:
            raise NotFound("No dead event with that id.")
        updated = DocOutboxEvent.objects(event_id=event_id, status="dead").update_one(
            set__status="pending", set__attempts=0, set__next_attempt_at=utcnow()
        )
        if not updated:
            raise NotFound("No dead event with that id.")

    def prune_delivered(self, before: datetime) -> int:
        return int(DocOutboxEvent.objects(status="dispatched", dispatched_at__lt=before).delete())

    def prune_dead(self, before: datetime) -> int:
        return int(DocOutboxEvent.objects(status="dead", occurred_at__lt=before).delete())

    def forget_keys(self, keys: set[str], keep: Any = None) -> int:
        found = DocOutboxEvent.objects(key__in=list(keys))
        if keep is not None:
            found = found.filter(id__ne=keep.id)
        return int(found.delete())
