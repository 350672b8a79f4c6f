"""The relay process: publishes both outboxes to Kafka, backing off while the broker
is down. Several can run at once (see app/events/relay.py).

After a round in which the broker did not acknowledge everything, the next round uses
a new producer (see `Publisher`), so a broker restart that leaves the old producer's id
unknown does not wedge the relay. If new producers keep failing fatally, or one cannot
be built, the relay stops with an error (`ProducerFailed`), so that its supervisor
restarts it: a relay that is running is a relay that publishes.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from flask import Flask

from app.events.kafka import FATAL_LIMIT, ProducerFailed, Publisher
from app.events.relay import relay_once
from app.privacy import maybe_prune

log = logging.getLogger(__name__)


def run_relay(
    app: Flask,
    *,
    idle_sleep: float = 0.2,
    max_backoff: float = 30.0,
    rounds: int | None = None,
    publisher: Publisher | None = None,
) -> None:
    stopping = {"now": False}

    def stop(signum: int, _frame: Any) -> None:
        stopping["now"] = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    publisher = publisher or Publisher(app)
    backoff = idle_sleep
    done = 0
    pruned = None  # when the delivery records were last pruned (app/privacy.py)
    try:
        publisher.ready()  # a producer that cannot be built stops the relay at once
        log.info("relay started")
        while not stopping["now"] and (rounds is None or done < rounds):
            with app.app_context():
                try:
                    result = relay_once(publisher)
                except ProducerFailed:
                    raise
                except Exception:
                    log.exception("relay round failed")
                    result = {"published": 0, "failed": 1}
                pruned = maybe_prune(pruned)
            done += 1
            publisher.poll()  # librdkafka's log lines, even while there is nothing to send
            if publisher.fatal_in_a_row >= FATAL_LIMIT:
                raise ProducerFailed(
                    f"the Kafka producer failed fatally {publisher.fatal_in_a_row} times in a "
                    "row, each time on a new producer"
                )
            if result["failed"]:
                backoff = min(max_backoff, backoff * 2)  # the broker is struggling: wait longer
            elif result["published"]:
                backoff = idle_sleep
                continue  # there may be more right away
            else:
                backoff = idle_sleep
            time.sleep(backoff)
    except ProducerFailed as exc:
        log.critical("relay stopped: %s", exc)
        raise
    finally:
        publisher.close(10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("relay stopped")
