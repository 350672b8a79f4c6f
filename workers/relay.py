"""The relay process: publishes both outboxes to Kafka, backing off while the broker
is down. Several can run at once (see app/events/relay.py)."""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from flask import Flask

from app.events.kafka import Publisher
from app.events.relay import relay_once

log = logging.getLogger(__name__)


def run_relay(
    app: Flask, *, idle_sleep: float = 0.2, max_backoff: float = 30.0, rounds: int | None = None
) -> None:
    stopping = {"now": False}

    def stop(signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with app.app_context():
        publisher = Publisher(app)
    backoff = idle_sleep
    done = 0
    log.info("relay started")
    while not stopping["now"] and (rounds is None or done < rounds):
        with app.app_context():
            try:
                result = relay_once(publisher)
            except Exception:
                log.exception("relay round failed")
                result = {"published": 0, "failed": 1}
        done += 1
        if result["failed"]:
            backoff = min(max_backoff, backoff * 2)  # the broker is struggling: wait longer
        elif result["published"]:
            backoff = idle_sleep
            continue  # there may be more right away
        else:
            backoff = idle_sleep
        time.sleep(backoff)
    publisher.producer.flush(10)
    log.info("relay stopped")
