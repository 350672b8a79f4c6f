"""The outbox interface. Each context keeps the events it records in its own store (the
accounts side in SQL, the course side in documents) and registers an `Outbox` here; the
embedded bus, the Kafka relay, the admin page and retention all work through it, so the
event layer never imports a context.

An outbox hands out due events with `claim_due()`: each leased to the caller for a while
(another dispatcher skips it meanwhile; if the caller dies the lease runs out and the
event is due again), in the order they were recorded, and never an event whose key has
an older one still pending, so events of one key are delivered in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

# Longer than the slowest delivery can take (an email: 5 tries of up to 15 s with waits
# of at most 30 s between them), so no other dispatcher takes over a live one.
LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Claimed:
    """A due event, leased to whoever claimed it."""

    ref: Any  # the store's own id of the row or document
    key: str
    envelope: dict[str, Any]
    attempts: int  # failed attempts so far


@dataclass(frozen=True)
class Backlog:
    pending: int
    dead: int
    oldest_pending_at: datetime | None


@dataclass(frozen=True)
class DeadEvent:
    """An event every attempt failed for, shown to admins with a Retry button."""

    outbox: str
    id: str
    type: str
    key: str
    attempts: int
    error: str
    occurred_at: datetime


class Outbox(Protocol):
    name: str  # "accounts", "courses": also the admin page's label

    def claim_due(self, limit: int) -> list[Claimed]: ...

    def mark_published(self, item: Claimed) -> None:
        """Delivered (or acknowledged by the broker): never handed out again."""

    def mark_failed(self, item: Claimed, error: str, *, retry_in: timedelta, dead: bool) -> None:
        """Not delivered: one more attempt counted, and due again after `retry_in`, or
        dead (kept for an admin) if `dead`. The caller decides both (app/events/retry.py)."""

    def release(self, item: Claimed) -> None:
        """Not tried (an earlier event of its key failed first): due again at once, its
        attempts unchanged; it waits behind the earlier one by the order rule."""

    def backlog(self) -> Backlog: ...

    def dead_events(self, limit: int) -> list[DeadEvent]: ...

    def retry(self, event_id: str) -> None:
        """Give a dead event another round of attempts (NotFound if there is none)."""

    def prune_delivered(self, before: datetime) -> int:
        """Forget the events delivered before `before`; how many."""

    def prune_dead(self, before: datetime) -> int:
        """Forget the dead events recorded before `before`; how many."""

    def forget_keys(self, keys: set[str], keep: Any = None) -> int:
        """Forget every event with one of `keys` (a deleted person's), but `keep`."""


_OUTBOXES: dict[str, Outbox] = {}


def register_outbox(outbox: Outbox) -> None:
    """A context makes its outbox known to the event layer (at import)."""
    _OUTBOXES[outbox.name] = outbox


def outboxes() -> list[Outbox]:
    return list(_OUTBOXES.values())


def outbox_named(name: Any) -> Outbox:
    from app.errors import NotFound

    found = _OUTBOXES.get(name) if isinstance(name, str) else None
    if found is None:
        raise NotFound("No such outbox.")
    return found
