"""The consumer runner shared by every worker process.

For each message: decode and validate the envelope (a malformed one goes straight
to the dead-letter topic with the reason), run each of this worker's handlers
that has not handled the event yet (a receipt per consumer and event id makes a
repeated delivery do nothing), retrying a failing handler with backoff a bounded
number of times, then dead-letter it with the error, the original topic,
partition, offset and attempts. Only then is the offset committed, so a worker
killed mid-message gets the message again. SIGTERM lets the current message
finish, commits, and leaves the group.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from app.chores import Schedule
from app.events import PermanentFailure, subscriptions_for
from app.events.admin import prune_worker_heartbeats
from app.events.bus import check_envelope, run_handler
from app.events.catalogue import Worker, dead_letter_topic, topics_for_consumers
from app.events.kafka import consumer_config, producer_config
from app.events.models import DeadLetter, WorkerHeartbeat
from app.events.retry import backoff, budget
from app.extensions import db
from app.timeutil import utcnow

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
PRUNE_SECONDS = 600.0  # how often a worker forgets the workers gone for WORKER_HEARTBEAT_RETENTION
MAX_MESSAGE_BYTES = 1024 * 1024


class Runner:
    def __init__(
        self,
        app: Flask,
        worker: Worker,
        *,
        consumer: Any = None,
        producer: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        from confluent_kafka import Consumer, Producer

        self.app = app
        self.worker = worker
        self.topics = topics_for_consumers(worker.consumers)
        self.consumer = consumer or Consumer(consumer_config(app, worker.group))
        self.producer = producer or Producer(producer_config(app))
        self.sleep = sleep
        self.stopping = False
        self.worker_id = f"{worker.name}@{socket.gethostname()}:{os.getpid()}"
        self.counts = {"processed": 0, "failed": 0, "dead_lettered": 0}
        self._last_beat = 0.0
        self._last_prune: float | None = None
        self.chores = Schedule(worker.name)  # app/chores.py: this worker kind's

    # ------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: Any) -> None:
            log.info("worker stopping", extra={"worker": self.worker_id, "signal": signum})
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def run(self, max_messages: int | None = None, idle_timeout: float | None = None) -> None:
        """Consume until SIGTERM (or, for tests, a message count or an idle spell)."""
        log.info(
            "worker started",
            extra={"worker": self.worker_id, "topics": self.topics, "group": self.worker.group},
        )
        if self.topics:
            self.consumer.subscribe(self.topics)
        handled = 0
        idle_since = time.monotonic()
        try:
            while not self.stopping:
                self.beat()
                self.run_chores()
                if not self.topics:
                    self.sleep(1.0)  # nothing to consume yet; stay up and report health
                    continue
                message = self.consumer.poll(1.0)
                self.producer.poll(0)  # the dead-letter producer's log lines
                if message is None:
                    if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                        break
                    continue
                if message.error():
                    log.warning("consumer error", extra={"error": str(message.error())})
                    continue
                self.handle(message)
                self.commit(message)
                handled += 1
                idle_since = time.monotonic()
                if max_messages is not None and handled >= max_messages:
                    break
        finally:
            self.beat(force=True, stopped=True)
            self.consumer.close()
            self.producer.flush(10)
            log.info("worker stopped", extra={"worker": self.worker_id, **self.counts})

    def commit(self, message: Any) -> None:
        """Commit a handled message's offset. If the broker refuses (it restarted and forgot
        this member, the group is rebalancing), carry on: the message comes again from the
        last committed offset, and its receipts make the second delivery do nothing."""
        from confluent_kafka import KafkaException

        try:
            self.consumer.commit(message=message, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            log.warning(
                "commit failed; the message will be delivered again",
                extra={
                    "topic": message.topic(),
                    "partition": message.partition(),
                    "offset": message.offset(),
                    "error": str(error),
                },
            )

    # ------------------------------------------------------------ one message

    def handle(self, message: Any) -> None:
        """Handle one message completely; never raises (a failure is dead-lettered)."""
        with self.app.app_context():
            try:
                if len(message.value() or b"") > MAX_MESSAGE_BYTES:
                    raise ValueError("message too large")
                envelope = check_envelope(json.loads(message.value() or b""))
            except Exception as exc:  # whatever is wrong with it, it must not stop the worker
                self.dead_letter(
                    message, f"malformed event: {type(exc).__name__}: {exc}"[:500], attempts=1
                )
                return
            for sub in subscriptions_for(envelope["type"]):
                if sub.consumer in self.worker.consumers:
                    self._run_with_retries(sub, envelope, message)
            self.counts["processed"] += 1

    def _run_with_retries(self, sub: Any, envelope: dict[str, Any], message: Any) -> None:
        attempts = budget()
        for attempt in range(1, attempts + 1):
            try:
                run_handler(sub, envelope)
                return
            except Exception as exc:
                db.session.rollback()
                self.counts["failed"] += 1
                error = f"{sub.consumer}: {type(exc).__name__}: {exc}"
                log.warning(
                    "handler failed",
                    extra={"event_id": envelope["id"], "attempt": attempt, "error": error},
                )
                if attempt == attempts or isinstance(exc, PermanentFailure):
                    self.dead_letter(message, error, attempts=attempt)
                    return
                # Short waits: the partition holds still meanwhile (and a lease-free poll
                # loop must come back within max.poll.interval).
                self.sleep(backoff(attempt, base=0.5, cap=30.0).total_seconds())

    def dead_letter(self, message: Any, error: str, attempts: int) -> None:
        """Send the message to its topic's dead-letter topic, and keep a copy for the admin."""
        topic = message.topic()
        key = message.key().decode("utf-8", "replace") if message.key() else None
        value = message.value() or b""
        headers: list[tuple[str, str | bytes | None]] = [
            ("dlq-error", error[:2000].encode()),
            ("dlq-topic", topic.encode()),
            ("dlq-partition", str(message.partition()).encode()),
            ("dlq-offset", str(message.offset()).encode()),
            ("dlq-attempts", str(attempts).encode()),
            ("dlq-group", self.worker.group.encode()),
        ]
        self._publish_dead_letter(dead_letter_topic(topic), key, value, headers)
        try:
            db.session.add(
                DeadLetter(
                    group=self.worker.group,
                    topic=topic,
                    partition=message.partition(),
                    offset=message.offset(),
                    key=key[:200] if key else None,
                    value=value.decode("utf-8", "replace"),
                    error=error[:4000],
                    attempts=attempts,
                )
            )
            db.session.commit()
        except Exception:  # the copy on the dead-letter topic is the record that counts
            db.session.rollback()
            log.exception("could not store the dead letter for the admin page")
        self.counts["dead_lettered"] += 1
        log.error(
            "message dead-lettered",
            extra={"topic": topic, "offset": message.offset(), "error": error[:500]},
        )

    def _publish_dead_letter(
        self,
        topic: str,
        key: str | None,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]],
    ) -> None:
        """Put the message on the dead-letter topic, confirmed by the broker. If it cannot
        be, raise: the offset is then not committed and the message comes back after a
        restart, rather than being lost."""
        outcome: dict[str, Any] = {}
        for _ in range(3):
            outcome.clear()
            self.producer.produce(
                topic,
                key=key,
                value=value,
                headers=headers,
                on_delivery=lambda err, _msg: outcome.update(error=err),
            )
            self.producer.flush(15)
            if "error" in outcome and outcome["error"] is None:
                return
        raise RuntimeError(f"could not write to {topic}: {outcome.get('error', 'no answer')}")

    # ------------------------------------------------------------ health

    def lag(self) -> int | None:
        """Messages behind the end of the assigned partitions (None before assignment)."""
        try:
            assigned = self.consumer.assignment()
            if not assigned:
                return None
            total = 0
            for position in self.consumer.position(assigned):
                # The high watermark the last fetch brought back: no broker round trip.
                _, high = self.consumer.get_watermark_offsets(position, cached=True)
                if high < 0 or position.offset < 0:
                    continue  # not known yet
                total += max(0, high - position.offset)
            return total
        except Exception:  # health must never take the worker down
            return None

    def run_chores(self) -> None:
        with self.app.app_context():
            self.chores.run_due()

    def beat(self, force: bool = False, stopped: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        with self.app.app_context():
            try:
                row = db.session.get(WorkerHeartbeat, self.worker_id) or WorkerHeartbeat(
                    worker_id=self.worker_id, name=self.worker.name, group=self.worker.group
                )
                row.last_seen = utcnow()
                row.lag = self.lag()
                row.stopped = stopped
                row.processed = self.counts["processed"]
                row.failed = self.counts["failed"]
                row.dead_lettered = self.counts["dead_lettered"]
                db.session.add(row)
                if self._last_prune is None or now - self._last_prune >= PRUNE_SECONDS:
                    self._last_prune = now
                    prune_worker_heartbeats(self.app.config["WORKER_HEARTBEAT_RETENTION"])
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("heartbeat failed")
