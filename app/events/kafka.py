"""Kafka clients (confluent-kafka) with the settings the guarantees rely on.

Producer: acks=all and idempotence, so a message the broker acknowledged is on
every in-sync replica and a retry never writes it twice; it never creates a topic.
Consumers: no auto-commit; the runner commits a message's offset only after
handling it. Every client writes librdkafka's log lines through the JSON log
(`app.logs.KAFKA_LOG`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

from app.events.catalogue import EVENTS
from app.logs import KAFKA_LOG

log = logging.getLogger(__name__)
# Fatal producer errors in a row (each on a new producer, with no message acknowledged
# in between) after which the relay stops, so that its supervisor restarts it.
FATAL_LIMIT = 5


def connection_config(app: Flask) -> dict[str, Any]:
    """Where the cluster is and how to authenticate (TLS and SASL when configured)."""
    config: dict[str, Any] = {
        "bootstrap.servers": app.config["KAFKA_BOOTSTRAP_SERVERS"],
        "client.id": app.config["KAFKA_CLIENT_ID"],
        # librdkafka's own lines go to this logger (handed over by poll and flush), so
        # they come out as JSON like every other line instead of raw on stderr.
        "logger": KAFKA_LOG,
    }
    for key, setting in (
        ("security.protocol", "KAFKA_SECURITY_PROTOCOL"),
        ("sasl.mechanism", "KAFKA_SASL_MECHANISM"),
        ("sasl.username", "KAFKA_SASL_USERNAME"),
        ("sasl.password", "KAFKA_SASL_PASSWORD"),
    ):
        if app.config.get(setting):
            config[key] = app.config[setting]
    return config


def producer_config(app: Flask) -> dict[str, Any]:
    return {
        **connection_config(app),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        # Give up on a message after this long; the outbox keeps it for a later try.
        "message.timeout.ms": 10_000,
        # Topics come from `events create-topics` (the catalogue's partitions and
        # retention), never from a first message with the broker's defaults.
        "allow.auto.create.topics": False,
    }


def consumer_config(app: Flask, group: str) -> dict[str, Any]:
    return {
        **connection_config(app),
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": app.config["KAFKA_SESSION_TIMEOUT_MS"],
        "heartbeat.interval.ms": max(1_000, app.config["KAFKA_SESSION_TIMEOUT_MS"] // 5),
        "max.poll.interval.ms": 300_000,
    }


def encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode("utf-8")


def headers(envelope: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [
        ("event-type", envelope["type"].encode()),
        ("event-version", str(envelope["version"]).encode()),
        ("event-id", envelope["id"].encode()),
    ]


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: str
    value: bytes
    headers: list[tuple[str, bytes]]


def outgoing(envelope: dict[str, Any], key: str) -> Outgoing:
    topic = EVENTS[envelope["type"]].topic
    return Outgoing(topic, key, encode(envelope), headers(envelope))


class ProducerFailed(RuntimeError):
    """The Kafka producer cannot be built, or keeps failing fatally when rebuilt."""


def missing_topic_error(topic: str) -> str:
    return (
        f"topic {topic} does not exist; the relay never creates topics: "
        "run `flask --app wsgi events create-topics`"
    )


class Publisher:
    """Publishes batches and reports, per message, whether the broker acknowledged it.

    A producer that failed a message is never used again: after a round with a failure
    the next round gets a new one. That is what gets the relay through a broker restart,
    where the old producer's id is unknown to the broker and librdkafka either fails
    fatally or bumps its epoch forever; a new producer asks for a new id. The old one is
    emptied first (flushed, then purged), so nothing it held can still reach the broker
    and double a message that the outbox keeps for its next try.
    """

    def __init__(self, app: Flask, producer: Any = None, factory: Callable[[], Any] | None = None):
        self._factory = factory or (lambda: self._new_producer(app))
        self.producer = producer
        self.fatal_in_a_row = 0
        self.replaced = 0
        self._fatal: Any = None
        self._known_topics: set[str] = set()

    def _new_producer(self, app: Flask) -> Any:
        from confluent_kafka import Producer

        return Producer(producer_config(app))

    def ready(self) -> Any:
        """The producer in use, made if there is none (raises ProducerFailed if it cannot be)."""
        if self.producer is None:
            try:
                self.producer = self._factory()
            except Exception as exc:
                raise ProducerFailed(f"could not create the Kafka producer: {exc}") from exc
            self._known_topics = set()
        return self.producer

    def _missing_topics(self, producer: Any, topics: set[str]) -> set[str]:
        """Topics of this batch that the broker does not have. Asked once per producer and
        topic; if the broker does not answer, assume they exist (the messages will wait)."""
        unknown = topics - self._known_topics
        if not unknown:
            return set()
        from confluent_kafka import KafkaException

        try:
            metadata = producer.list_topics(timeout=2)
        except KafkaException:
            return set()
        existing = {name for name, t in metadata.topics.items() if t.error is None}
        self._known_topics |= unknown & existing
        return unknown - existing

    def publish(self, messages: list[Outgoing], timeout: float = 15.0) -> list[str | None]:
        """None for each acknowledged message, else the error text."""
        from confluent_kafka import KafkaException

        results: list[str | None] = ["not acknowledged"] * len(messages)
        if not messages:
            return results
        producer = self.ready()
        self._fatal = None
        missing = self._missing_topics(producer, {m.topic for m in messages})
        if missing:
            log.error(
                "kafka topic missing: the relay never creates topics; "
                "run `flask --app wsgi events create-topics`",
                extra={"topics": sorted(missing)},
            )

        def report(index: int) -> Any:
            def on_delivery(err: Any, _msg: Any) -> None:
                results[index] = None if err is None else str(err)
                if err is not None and err.fatal():
                    self._fatal = self._fatal or err

            return on_delivery

        handed: list[int] = []  # the messages the producer took
        remaining = 0
        try:
            for index, message in enumerate(messages):
                if message.topic in missing:
                    results[index] = missing_topic_error(message.topic)
                    continue
                try:
                    producer.produce(
                        message.topic,
                        key=message.key,
                        value=message.value,
                        headers=message.headers,
                        on_delivery=report(index),
                    )
                except BufferError as exc:
                    results[index] = f"local queue full: {exc}"
                    continue
                except KafkaException as exc:  # refused at once (too large, or fatal)
                    results[index] = str(exc.args[0] if exc.args else exc)
                    self._note_fatal(exc)
                    if self._fatal is not None:
                        break
                    continue
                handed.append(index)
                producer.poll(0)
            remaining = producer.flush(timeout)
        except KafkaException as exc:  # confluent-kafka raises a fatal error from flush()
            self._note_fatal(exc)
            if self._fatal is None:
                raise
        if self._fatal is not None or remaining or any(results[i] is not None for i in handed):
            self._discard(producer)
        if self._fatal is not None:
            self.fatal_in_a_row += 1
        elif any(r is None for r in results):
            self.fatal_in_a_row = 0
        return results

    def _note_fatal(self, exc: Exception) -> None:
        from confluent_kafka import KafkaError

        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and (error.fatal() or error.code() == KafkaError._FATAL):
            self._fatal = error
            log.error("kafka producer fatal error", extra={"error": str(error)})

    def _discard(self, producer: Any) -> None:
        """Drop a producer that failed: serve its last delivery reports, purge what it still
        holds (those messages stay pending in the outbox), and use a new one next time."""
        from confluent_kafka import KafkaException

        try:
            producer.purge()
            producer.flush(1)
        except (KafkaException, NotImplementedError, AttributeError):
            pass
        self.producer = None
        self.replaced += 1
        log.warning(
            "kafka producer replaced after a failed round",
            extra={"fatal": str(self._fatal) if self._fatal is not None else None},
        )

    def poll(self) -> None:
        """Serve the producer's queued callbacks, its log lines included (an idle relay)."""
        if self.producer is not None:
            self.producer.poll(0)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to `timeout`), then let the producer go."""
        from confluent_kafka import KafkaException

        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                producer.flush(timeout)
            except KafkaException:  # a fatal error: nothing more can be delivered
                pass
