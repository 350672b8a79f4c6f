"""The relational outbox (the accounts side's events), behind the Outbox interface.

`record_event` (app/events/__init__.py) adds a row in the caller's transaction; this
hands rows out to the bus and the relay with leases, in order per key.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import aliased

from app.errors import NotFound
from app.events.models import OutboxEvent
from app.events.outbox import LEASE, Backlog, Claimed, DeadEvent
from app.extensions import db
from app.timeutil import as_utc, utcnow


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class SqlOutbox:
    name = "accounts"

    def claim_due(self, limit: int) -> list[Claimed]:
        now = utcnow()
        # A due event behind an older one of its key that is not due (leased, or backing
        # off) cannot go yet; leaving such events out before the LIMIT keeps one stuck key
        # from filling every batch while other keys wait.
        older = aliased(OutboxEvent)
        held_back = (
            select(older.seq)
            .where(
                older.key == OutboxEvent.key,
                older.status == "pending",
                older.seq < OutboxEvent.seq,
                older.next_attempt_at > now,
            )
            .exists()
        )
        due = db.session.execute(
            select(OutboxEvent.seq, OutboxEvent.key)
            .where(OutboxEvent.status == "pending", OutboxEvent.next_attempt_at <= now, ~held_back)
            .order_by(OutboxEvent.seq)
            .limit(limit)
        ).all()
        if not due:
            db.session.commit()
            return []
        due_seqs = {seq for seq, _ in due}
        # Every pending event of these keys, due or not: a key's events can be claimed only
        # from its oldest pending one on, up to the first that is not due (leased by
        # another dispatcher, or waiting out a backoff).
        pending: dict[str, list[int]] = defaultdict(list)
        for key, seq in db.session.execute(
            select(OutboxEvent.key, OutboxEvent.seq)
            .where(
                OutboxEvent.status == "pending",
                OutboxEvent.key.in_({key for _, key in due}),
                OutboxEvent.seq <= max(due_seqs),
            )
            .order_by(OutboxEvent.seq)
        ):
            pending[key].append(seq)
        mine: list[int] = []
        for seqs in pending.values():
            for seq in seqs:
                if seq not in due_seqs:
                    break
                taken = db.session.execute(
                    update(OutboxEvent)
                    .where(
                        OutboxEvent.seq == seq,
                        OutboxEvent.status == "pending",
                        OutboxEvent.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=now + LEASE)
                )
                if _rowcount(taken) != 1:
                    break  # another dispatcher has it: the rest of the key waits
                mine.append(seq)
        db.session.commit()
        rows = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.seq.in_(mine)).order_by(OutboxEvent.seq)
        ).all()
        return [Claimed(row.seq, row.key, row.envelope(), row.attempts) for row in rows]

    def mark_published(self, item: Claimed) -> None:
        db.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.seq == item.ref)
            .values(status="dispatched", dispatched_at=utcnow(), last_error=None)
        )
        db.session.commit()

    def mark_failed(self, item: Claimed, error: str, *, retry_in: timedelta, dead: bool) -> None:
        db.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.seq == item.ref)
            .values(
                attempts=item.attempts + 1,
                last_error=error[:2000],
                status="dead" if dead else "pending",
                next_attempt_at=utcnow() + retry_in,
            )
        )
        db.session.commit()

    def release(self, item: Claimed) -> None:
        db.session.execute(
            update(OutboxEvent).where(OutboxEvent.seq == item.ref).values(next_attempt_at=utcnow())
        )
        db.session.commit()

    def backlog(self) -> Backlog:
        counts = dict(
            db.session.execute(
                select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)
            ).all()
        )
        oldest = db.session.scalar(
            select(func.min(OutboxEvent.occurred_at)).where(OutboxEvent.status == "pending")
        )
        return Backlog(
            counts.get("pending", 0), counts.get("dead", 0), as_utc(oldest) if oldest else None
        )

    def dead_events(self, limit: int) -> list[DeadEvent]:
        rows = db.session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.status == "dead")
            .order_by(OutboxEvent.seq.desc())
            .limit(limit)
        )
        return [
            DeadEvent(
                self.name,
                str(row.seq),
                row.type,
                row.key,
                row.attempts,
                row.last_error or "",
                as_utc(row.occurred_at),
            )
            for row in rows
        ]

    def retry(self, event_id: str) -> None:
        seq = int(event_id) if isinstance(event_id, str) and event_id.isdigit() else None
        event = db.session.get(OutboxEvent, seq) if seq is not None else None
        if event is None or event.status != "dead":
            raise NotFound("No dead event with that number.")
        event.status, event.attempts, event.next_attempt_at = "pending", 0, utcnow()
        db.session.commit()

    def prune_delivered(self, before: datetime) -> int:
        return _rowcount(
            db.session.execute(
                delete(OutboxEvent).where(
                    OutboxEvent.status == "dispatched", OutboxEvent.dispatched_at < before
                )
            )
        )

    def prune_dead(self, before: datetime) -> int:
        return _rowcount(
            db.session.execute(
                delete(OutboxEvent).where(
                    OutboxEvent.status == "dead", OutboxEvent.occurred_at < before
                )
            )
        )

    def forget_keys(self, keys: set[str], keep: Any = None) -> int:
        statement = delete(OutboxEvent).where(OutboxEvent.key.in_(keys))
        if keep is not None:
            db.session.flush()
            statement = statement.where(OutboxEvent.seq != keep.seq)
        return _rowcount(db.session.execute(statement))
