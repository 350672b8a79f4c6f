"""Kafka clients (confluent-kafka) with the settings the guarantees rely on.

Producer: acks=all and idempotence, so a message the broker acknowledged is on
every in-sync replica and a retry never writes it twice. Consumers: no
auto-commit; the runner commits a message's offset only after handling it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Flask

from app.events.catalogue import EVENTS


def connection_config(app: Flask) -> dict[str, Any]:
    """Where the cluster is and how to authenticate (TLS and SASL when configured)."""
    config: dict[str, Any] = {
        "bootstrap.servers": app.config["KAFKA_BOOTSTRAP_SERVERS"],
        "client.id": app.config["KAFKA_CLIENT_ID"],
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


class Publisher:
    """Publishes batches and reports, per message, whether the broker acknowledged it."""

    def __init__(self, app: Flask, producer: Any = None):
        if producer is None:
            from confluent_kafka import Producer

            producer = Producer(producer_config(app))
        self.producer = producer

    def publish(self, messages: list[Outgoing], timeout: float = 15.0) -> list[str | None]:
        """None for each acknowledged message, else the error text."""
        results: list[str | None] = ["not acknowledged"] * len(messages)

        def report(index: int) -> Any:
            def on_delivery(err: Any, _msg: Any) -> None:
                results[index] = None if err is None else str(err)

            return on_delivery

        for index, message in enumerate(messages):
            try:
                self.producer.produce(
                    message.topic,
                    key=message.key,
                    value=message.value,
                    headers=message.headers,
                    on_delivery=report(index),
                )
            except BufferError as exc:
                results[index] = f"local queue full: {exc}"
            self.producer.poll(0)
        self.producer.flush(timeout)
        return results
