"""The outbox relay: publishes stored events to Kafka, in order per key.

It claims due events (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several
relays share the work without waiting on each other), publishes them, and marks
each one dispatched only once the broker acknowledged it. An event whose key
still has an older unpublished event held by another relay waits for the next
round, so events of one key are published in the order they were recorded. While
the broker is down nothing is marked, and events wait with a growing backoff.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.events.kafka import Outgoing, Publisher, outgoing
from app.events.models import OutboxEvent
from app.extensions import db
from app.timeutil import utcnow

log = logging.getLogger(__name__)
BATCH = 200


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60, 2 ** max(0, attempts - 1)))


def relay_sql_outbox(publisher: Publisher, batch: int = BATCH) -> tuple[int, int]:
    """One round over the relational outbox; returns (published, failed)."""
    now = utcnow()
    stmt = (
        select(OutboxEvent)
        .where(OutboxEvent.status == "pending", OutboxEvent.next_attempt_at <= now)
        .order_by(OutboxEvent.seq)
        .limit(batch)
    )
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(stmt))
    if not rows:
        db.session.commit()
        return 0, 0
    first_seq: dict[str, int] = {}
    for row in rows:
        first_seq.setdefault(row.key, row.seq)
    oldest = dict(
        db.session.execute(
            select(OutboxEvent.key, func.min(OutboxEvent.seq))
            .where(OutboxEvent.status == "pending", OutboxEvent.key.in_(first_seq))
            .group_by(OutboxEvent.key)
        ).all()
    )
    # Only keys whose oldest pending event is in this batch: others wait their turn.
    ready = [row for row in rows if oldest.get(row.key, row.seq) >= first_seq[row.key]]
    results = publisher.publish([outgoing(row.envelope(), row.key) for row in ready])
    published = failed = 0
    broken: set[str] = set()
    for row, error in zip(ready, results, strict=True):
        if error is None and row.key not in broken:
            row.status, row.dispatched_at, row.last_error = "dispatched", utcnow(), None
            published += 1
        else:
            broken.add(row.key)  # keep the rest of this key for later, in order
            row.attempts += 1
            row.next_attempt_at = utcnow() + _backoff(row.attempts)
            row.last_error = (error or "an earlier event of this key was not published")[:2000]
            failed += 1
    db.session.commit()
    if failed:
        log.warning(
            "outbox relay: broker did not acknowledge",
            extra={"failed": failed, "published": published},
        )
    return published, failed


def relay_document_outbox(publisher: Publisher, batch: int = BATCH) -> tuple[int, int]:
    """One round over the course side's outbox (the same guarantees, by leases)."""
    from app.courses.outbox import claim_due, mark_failed, mark_published

    claimed = claim_due(batch)
    if not claimed:
        return 0, 0
    messages: list[Outgoing] = [outgoing(doc.envelope(), doc.key) for doc in claimed]
    results = publisher.publish(messages)
    published = failed = 0
    broken: set[str] = set()
    for doc, error in zip(claimed, results, strict=True):
        if error is None and doc.key not in broken:
            mark_published(doc)
            published += 1
        else:
            broken.add(doc.key)
            mark_failed(doc, error or "an earlier event of this key was not published")
            failed += 1
    return published, failed


def relay_once(publisher: Publisher) -> dict[str, Any]:
    sql = relay_sql_outbox(publisher)
    docs = relay_document_outbox(publisher)
    return {"published": sql[0] + docs[0], "failed": sql[1] + docs[1]}
