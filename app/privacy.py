"""How long Lectern keeps records of deliveries, and forgetting a person at once.

Events carry the least personal data their consumers need (an account is named by
its id; only `user.renamed` carries a name). What still holds personal data for a
while is the machinery around them:

- delivered outbox events (both contexts), consumer receipts and the records of
  sent emails, kept DELIVERY_RETENTION_DAYS so that a redelivered event is still
  recognised (that is why the setting may not be shorter than any topic's
  retention), then pruned;
- dead letters and dead outbox events, kept DEAD_LETTER_RETENTION_DAYS for an
  admin to read and replay, then pruned;
- the embedded default's `.eml` files (its copy of what it sent), pruned like the
  sent-email records.

`prune_expired()` runs from the embedded bus and the relay about once an hour,
and from `flask --app wsgi data prune`. Deleting an account calls
`forget_person()` in the same transaction, which removes at once every event,
dead letter and kept email about that person.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete

from app.accounts.sessions import prune_expired_tokens
from app.events.catalogue import DEAD_LETTER_RETENTION_DAYS
from app.events.models import DeadLetter, EventReceipt, OutboxEvent
from app.events.outbox import outbox_named, outboxes
from app.extensions import db
from app.mail.models import SentEmail
from app.timeutil import utcnow

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)


def _mail_backend():  # type: ignore[no-untyped-def]
    return current_app.extensions["mail"]


def prune_expired(now: datetime | None = None) -> dict[str, int]:
    """Delete the delivery records whose retention has passed; the caller need not commit."""
    now = now or utcnow()
    delivered_before = now - timedelta(days=current_app.config["DELIVERY_RETENTION_DAYS"])
    dead_before = now - timedelta(days=DEAD_LETTER_RETENTION_DAYS)
    counts = {
        f"{outbox.name}_outbox_events": outbox.prune_delivered(delivered_before)
        + outbox.prune_dead(dead_before)
        for outbox in outboxes()
    }
    counts |= {
        "event_receipts": _rowcount(
            delete(EventReceipt).where(EventReceipt.handled_at < delivered_before)
        ),
        "sent_emails": _rowcount(delete(SentEmail).where(SentEmail.sent_at < delivered_before)),
        "dead_letters": _rowcount(delete(DeadLetter).where(DeadLetter.created_at < dead_before)),
        "expired_tokens": prune_expired_tokens(delivered_before),
    }
    db.session.commit()
    counts["email_copies"] = _mail_backend().prune(delivered_before)
    if any(counts.values()):
        log.info("pruned delivery records", extra=counts)
    return counts


def _rowcount(statement) -> int:  # type: ignore[no-untyped-def]
    return int(db.session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def forget_person(user_id: str, email: str, keep: OutboxEvent | None = None) -> None:
    """Remove what the event and mail machinery still holds about a deleted account:
    its outbox events (but `keep`, the `user.deleted` that tells the other side), its
    dead letters and the kept copies of emails sent to it. In the caller's transaction
    (the mail copies are files, removed at once)."""
    keys = {user_id, email, email.strip().lower()}  # events before version 2 used the address
    # The accounts side's own outbox; the course side forgets its events when it hears
    # user.deleted (app/courses/handlers.py).
    outbox_named("accounts").forget_keys(keys, keep)
    db.session.execute(delete(DeadLetter).where(DeadLetter.key.in_(keys)))
    _mail_backend().forget(email)


def maybe_prune(last: datetime | None) -> datetime | None:
    """Prune if an hour has passed since `last`; returns when it last ran. For loops that
    run all the time (the embedded bus, the relay)."""
    now = utcnow()
    if last is not None and now - last < PRUNE_EVERY:
        return last
    try:
        prune_expired(now)
    except Exception:
        db.session.rollback()
        log.exception("pruning delivery records failed; trying again later")
    return now
