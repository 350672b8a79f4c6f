"""The outbox relay: publishes every registered outbox's events to Kafka, in order per key.

Each round claims due events (leased, so several relays share the work without
publishing an event twice, and in order per key: app/events/outbox.py), publishes them,
and marks each one published only once the broker acknowledged it. While the broker is
down nothing is marked: the events wait with a growing backoff and are never given up
on (that is the broker's trouble, not the event's).
"""

from __future__ import annotations

import logging
from typing import Any

from app.events.kafka import Publisher, outgoing
from app.events.outbox import Outbox, outboxes
from app.events.retry import backoff

log = logging.getLogger(__name__)
BATCH = 200
RETRY_CAP_SECONDS = 60.0  # an event waits at most this long once the broker is back


def relay_outbox(outbox: Outbox, publisher: Publisher, batch: int = BATCH) -> tuple[int, int]:
    """One round over one outbox; returns (published, failed)."""
    claimed = outbox.claim_due(batch)
    if not claimed:
        return 0, 0
    try:
        results = publisher.publish([outgoing(item.envelope, item.key) for item in claimed])
    except BaseException:
        for item in claimed:  # due again at once, for this relay's next round or another's
            outbox.release(item)
        raise
    published = failed = 0
    broken: set[str] = set()
    for item, error in zip(claimed, results, strict=True):
        if error is None:  # in Kafka: never publish it again
            outbox.mark_published(item)
            published += 1
            continue
        failed += 1
        if item.key in broken:  # an earlier event of this key failed: this one waits its turn
            outbox.release(item)
            continue
        broken.add(item.key)
        outbox.mark_failed(
            item,
            error or "not acknowledged",
            retry_in=backoff(item.attempts + 1, cap=RETRY_CAP_SECONDS),
            dead=False,
        )
    if failed:
        log.warning(
            "outbox relay: broker did not acknowledge",
            extra={"outbox": outbox.name, "failed": failed, "published": published},
        )
    return published, failed


def relay_once(publisher: Publisher) -> dict[str, Any]:
    """One round over every outbox."""
    published = failed = 0
    for outbox in outboxes():
        done, missed = relay_outbox(outbox, publisher)
        published += done
        failed += missed
    return {"published": published, "failed": failed}
