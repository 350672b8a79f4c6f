"""The embedded event bus: delivers outbox events to in-process handlers.

It reads the outbox, so an event recorded before a crash or restart is
delivered after it. Each (consumer, event) pair gets a receipt in the same
transaction as the handler's own changes, so a repeated delivery does
nothing. A failing event is retried with exponential backoff and marked
`dead`, with its error, after MAX_ATTEMPTS.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.events import (
    InvalidEvent,
    PermanentFailure,
    Subscription,
    subscriptions_for,
    validate_event,
)
from app.events.models import EventReceipt, OutboxEvent
from app.extensions import db
from app.timeutil import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 50
# Longer than the slowest delivery can take (an email: 5 tries of up to 15 s with waits
# of at most 30 s between them), so no other dispatcher takes over a live one.
LEASE = timedelta(minutes=10)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** max(0, attempts - 1)))


def _already_handled(consumer: str, event_id: uuid.UUID) -> bool:
    stmt = select(EventReceipt.id).where(
        EventReceipt.consumer == consumer, EventReceipt.event_id == event_id
    )
    return db.session.execute(stmt).first() is not None


def check_envelope(envelope: Any) -> dict[str, Any]:
    """The envelope if it is well formed and its data matches its type's schema."""
    required = {"id", "type", "version", "occurred_at", "source", "data"}
    if not isinstance(envelope, dict) or not required <= set(envelope):
        raise InvalidEvent("not an event envelope")
    try:
        uuid.UUID(str(envelope["id"]))
    except ValueError as exc:
        raise InvalidEvent("the event id is not a UUID") from exc
    if not isinstance(envelope["version"], int) or not isinstance(envelope["data"], dict):
        raise InvalidEvent("version or data has the wrong type")
    validate_event(str(envelope["type"]), envelope["version"], envelope["data"])
    return envelope


def run_handler(sub: Subscription, envelope: dict[str, Any]) -> bool:
    """Run one consumer's handler unless it already handled this event; False if it had.

    The receipt is committed with the handler's own changes.
    """
    event_id = uuid.UUID(envelope["id"])
    if _already_handled(sub.consumer, event_id):
        return False
    sub.handler(envelope)
    db.session.add(EventReceipt(consumer=sub.consumer, event_id=event_id))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another dispatcher finished this pair first
    return True


def deliver(envelope: dict[str, Any], consumers: set[str] | None = None) -> None:
    """Run every subscribed handler (of `consumers`, if given) that has not handled it."""
    check_envelope(envelope)
    for sub in subscriptions_for(envelope["type"]):
        if consumers is None or sub.consumer in consumers:
            run_handler(sub, envelope)


def _claim(seq: int) -> bool:
    """Take a lease on a due event so that no other dispatcher delivers it meanwhile.

    If this process dies mid-delivery the lease runs out and the event is retried;
    the receipts keep handlers that had already finished from running again.
    """
    now = utcnow()
    claimed = db.session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.seq == seq,
            OutboxEvent.status == "pending",
            OutboxEvent.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE)
    )
    db.session.commit()
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def dispatch_pending(limit: int = BATCH) -> int:
    """Deliver due events in order; returns how many were delivered."""
    due = db.session.scalars(
        select(OutboxEvent.seq)
        .where(OutboxEvent.status == "pending", OutboxEvent.next_attempt_at <= utcnow())
        .order_by(OutboxEvent.seq)
        .limit(limit)
    ).all()
    delivered = 0
    for seq in due:
        if not _claim(seq):
            continue  # another dispatcher has it
        event = db.session.get(OutboxEvent, seq)
        if event is None:
            continue
        try:
            deliver(event.envelope())
        except Exception as exc:
            db.session.rollback()
            _record_failure(seq, exc)
            continue
        db.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.seq == seq)
            .values(status="dispatched", dispatched_at=utcnow(), last_error=None)
        )
        db.session.commit()
        delivered += 1
    return delivered + dispatch_documents(limit)


def dispatch_documents(limit: int = BATCH) -> int:
    """The same for the course side's outbox."""
    from app.courses.outbox import claim_due, mark_failed, mark_published

    delivered = 0
    for doc in claim_due(limit):
        try:
            deliver(doc.envelope())
        except Exception as exc:
            db.session.rollback()
            mark_failed(
                doc,
                f"{type(exc).__name__}: {exc}",
                1 if isinstance(exc, PermanentFailure) else MAX_ATTEMPTS,
            )
            log.warning("event handler failed", extra={"event_id": doc.event_id, "type": doc.type})
            continue
        mark_published(doc)
        delivered += 1
    return delivered


def _record_failure(seq: int, exc: Exception) -> None:
    event = db.session.get(OutboxEvent, seq)
    if event is None:
        return
    event.attempts += 1
    event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if event.attempts >= MAX_ATTEMPTS or isinstance(exc, PermanentFailure):
        event.status = "dead"
        log.error("event dead-lettered", extra={"event_id": str(event.id), "type": event.type})
    else:
        event.next_attempt_at = utcnow() + _backoff(event.attempts)
        log.warning("event handler failed", extra={"event_id": str(event.id), "type": event.type})
    db.session.commit()


class EmbeddedBus:
    """A daemon thread that keeps dispatching the outbox of one app."""

    def __init__(self, app: Flask, interval: float = 0.5):
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="embedded-bus", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        from app.privacy import maybe_prune

        pruned = None
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    while dispatch_pending() and not self._stop.is_set():
                        pass
                    pruned = maybe_prune(pruned)
            except Exception:
                log.exception("embedded bus loop failed; retrying")
            self._stop.wait(self.interval)
