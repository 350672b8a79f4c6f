"""The embedded event bus: delivers outbox events to in-process handlers.

It reads the outbox, so an event recorded before a crash or restart is
delivered after it. Each (consumer, event) pair gets a receipt in the same
transaction as the handler's own changes, so a repeated delivery does
nothing. A failing event is retried with exponential backoff and marked
`dead`, with its error, once the retry budget is spent (app/events/retry.py).
It delivers from every outbox the contexts registered (app/events/outbox.py).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.events import (
    InvalidEvent,
    PermanentFailure,
    Subscription,
    subscriptions_for,
    validate_event,
)
from app.events.models import EventReceipt
from app.events.outbox import Claimed, Outbox, outboxes
from app.events.retry import backoff, budget
from app.extensions import db

log = logging.getLogger(__name__)

BATCH = 50


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


def dispatch_pending(limit: int = BATCH) -> int:
    """Deliver the due events of every outbox, in order per key; returns how many."""
    return sum(_dispatch(outbox, limit) for outbox in outboxes())


def _dispatch(outbox: Outbox, limit: int) -> int:
    delivered = 0
    broken: set[str] = set()
    claimed = outbox.claim_due(limit)
    finished = 0
    try:
        for item in claimed:
            delivered += _deliver_one(outbox, item, broken)
            finished += 1
    except BaseException:
        db.session.rollback()
        for item in claimed[finished:]:  # unfinished: due again at once, not in 10 minutes
            outbox.release(item)
        raise
    return delivered


def _deliver_one(outbox: Outbox, item: Claimed, broken: set[str]) -> int:
    """Deliver one claimed event and record the outcome; 1 if it was delivered."""
    if item.key in broken:
        outbox.release(item)  # its key's earlier event failed: it waits its turn
        return 0
    try:
        deliver(item.envelope)
    except Exception as exc:
        db.session.rollback()
        broken.add(item.key)
        attempt = item.attempts + 1
        dead = isinstance(exc, PermanentFailure) or attempt >= budget()
        outbox.mark_failed(
            item, f"{type(exc).__name__}: {exc}", retry_in=backoff(attempt), dead=dead
        )
        extra = {"event_id": item.envelope["id"], "type": item.envelope["type"]}
        if dead:
            log.error("event dead-lettered", extra=extra)
        else:
            log.warning("event handler failed", extra=extra)
        return 0
    outbox.mark_published(item)
    return 1


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
        from app.chores import Schedule
        from app.privacy import maybe_prune

        pruned = None
        chores = Schedule()  # every chore: the embedded default has no other process
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    while dispatch_pending() and not self._stop.is_set():
                        pass
                    pruned = maybe_prune(pruned)
                    chores.run_due()
            except Exception:
                log.exception("embedded bus loop failed; retrying")
            self._stop.wait(self.interval)
