"""librdkafka's own log lines go through the app's JSON log, for every kind of client."""

from __future__ import annotations

import json
import logging
import signal
from types import SimpleNamespace

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from app.events.kafka import connection_config, consumer_config
from app.logs import KAFKA_LOG, JsonFormatter
from tests.integration.processes import process_env, wait_until, worker
from tests.support.kafka import free_port


def test_a_relay_writes_the_kafka_clients_lines_as_json(app_factory, sqlite_url, tmp_path):
    nowhere = SimpleNamespace(bootstrap=f"127.0.0.1:{free_port()}")  # nothing listens there
    app_factory()  # the database, migrated
    relay = worker("relay", process_env(tmp_path, sqlite_url, nowhere), tmp_path)
    try:
        wait_until(
            lambda: "Connection refused" in relay.output(), 20, "a client log line", (relay,)
        )
    finally:
        assert relay.stop(signal.SIGTERM) == 0, relay.tail()
    lines = relay.output().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is JSON, none raw ("%3|…")
    client = [e for e in entries if e["logger"] == "lectern.kafka"]
    refused = next(e for e in client if "Connection refused" in e["message"])
    assert refused["level"] == "ERROR" and refused["kafka_facility"] == "FAIL"
    assert refused["kafka_client"].startswith("lectern#producer")
    assert nowhere.bootstrap in refused["message"]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_consumers_and_admin_clients_log_through_the_json_log(app_factory):
    app = app_factory(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    seen = Records()
    KAFKA_LOG.addHandler(seen)
    try:
        consumer = Consumer(consumer_config(app, "lectern-email"))
        admin = AdminClient(connection_config(app))

        def logged(kind: str) -> bool:
            consumer.poll(0.1)
            admin.poll(0.1)
            return any(getattr(r, "kafka_client", "").startswith(kind) for r in seen.records)

        try:
            admin.list_topics(timeout=0.5)
        except KafkaException:
            pass
        wait_until(lambda: logged("lectern#consumer") and logged("lectern#producer"), 10, "logs")
        consumer.close()
    finally:
        KAFKA_LOG.removeHandler(seen)
    line = json.loads(JsonFormatter().format(seen.records[0]))
    assert line["logger"] == "lectern.kafka" and line["kafka_facility"] and line["message"]
