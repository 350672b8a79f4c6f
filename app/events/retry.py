"""One retry policy for every part of the event machinery: the embedded bus, the relay
and the consumer runner wait `backoff(attempt)` between tries, and a handler that keeps
failing is given up on after `budget()` attempts (CONSUMER_MAX_ATTEMPTS)."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app


def backoff(attempt: int, *, base: float = 1.0, cap: float = 300.0) -> timedelta:
    """How long to wait after the `attempt`-th failure: doubling from `base` seconds, at
    most `cap` seconds."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def budget() -> int:
    """How many attempts a failing handler gets before its event is dead-lettered."""
    return max(1, int(current_app.config["CONSUMER_MAX_ATTEMPTS"]))
