"""Work done on a clock rather than on an event: each chore names how often it runs and
which worker kind runs it in the Kafka mode. The embedded bus runs every chore; a
`flask worker <name>` process runs its own. A failing chore is logged and tried again
at its next turn; it never stops the loop that runs it.

(The relay and the bus also prune delivery records, app/privacy.py; that predates this
list and runs wherever events are dispatched.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chore:
    name: str
    every_seconds: float
    worker: str  # the worker kind (app/events/catalogue.py WORKERS) that runs it
    run: Callable[[], Any]


def _sweep_uploads() -> Any:
    from app.media.uploads import sweep_abandoned

    return sweep_abandoned()


def _prune_media_jobs() -> Any:
    from app.media.jobs import prune

    return prune()


CHORES = (
    Chore("sweep abandoned uploads", 3600.0, "media", _sweep_uploads),
    Chore("forget finished media jobs", 86400.0, "media", _prune_media_jobs),
)


class Schedule:
    """When each chore last ran, in one loop (monotonic clock; the first turn runs all)."""

    def __init__(self, worker: str | None = None, clock: Callable[[], float] = time.monotonic):
        self.chores = [c for c in CHORES if worker is None or c.worker == worker]
        self.clock = clock
        self.last: dict[str, float] = {}

    def run_due(self) -> int:
        """Run the chores whose time has come (in the caller's app context)."""
        ran = 0
        for chore in self.chores:
            now = self.clock()
            if chore.name in self.last and now - self.last[chore.name] < chore.every_seconds:
                continue
            self.last[chore.name] = now
            try:
                chore.run()
            except Exception:
                log.exception("chore failed; trying again later", extra={"chore": chore.name})
            ran += 1
        return ran
