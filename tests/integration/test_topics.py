"""Topics come from `events create-topics` and the catalogue, never from a first message:
the relay does not create a missing topic, and create-topics reports a topic whose
partition count is not the catalogue's."""

from __future__ import annotations

import logging

from confluent_kafka import Producer

from app.events.catalogue import TOPICS, all_topics
from app.events.kafka import Publisher, producer_config
from app.events.relay import relay_once
from app.extensions import db
from tests.conftest import PASSWORD, events_of

USERS_TOPIC = "lectern.accounts.users"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_publish_to_a_missing_topic_does_not_create_it(app_factory, private_kafka_broker):
    broker = private_kafka_broker  # no topics at all, as after a restart of tansu
    app = app_factory(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, EVENT_BUS="kafka")
    assert (
        app.test_client()
        .post(
            "/api/v1/auth/register",
            json={"email": "early@example.com", "password": PASSWORD, "name": "Early"},
        )
        .status_code
        == 201
    )
    logged = Records()
    logging.getLogger("app.events.kafka").addHandler(logged)
    try:
        with app.app_context():
            assert relay_once(Publisher(app)) == {"published": 0, "failed": 1}
    finally:
        logging.getLogger("app.events.kafka").removeHandler(logged)
    (event,) = events_of(app)
    assert event.status == "pending"
    assert event.last_error == (
        f"topic {USERS_TOPIC} does not exist; the relay never creates topics: "
        "run `flask --app wsgi events create-topics`"
    )
    (line,) = [r for r in logged.records if r.levelno == logging.ERROR]
    assert "kafka topic missing" in line.getMessage() and line.topics == [USERS_TOPIC]

    # The producer itself, sent straight at the missing topic, does not create it either.
    delivered = []
    producer = Producer({**producer_config(app), "message.timeout.ms": 1500})
    producer.produce(USERS_TOPIC, b"{}", key=b"k", on_delivery=lambda e, _m: delivered.append(e))
    producer.flush(5)
    assert delivered and delivered[0] is not None
    assert broker.topics() == set()

    # Once the topics exist, the event goes out.
    broker.create_topics(all_topics())
    with app.app_context():
        from app.events.models import OutboxEvent
        from app.timeutil import utcnow

        db.session.query(OutboxEvent).update({"next_attempt_at": utcnow()})
        db.session.commit()
        assert relay_once(Publisher(app)) == {"published": 1, "failed": 0}


def test_create_topics_reports_a_partition_count_that_differs(app_factory, private_kafka_broker):
    broker = private_kafka_broker
    broker.create_topics(["lectern.courses.enrollments"], partitions=2)  # the catalogue says 6
    assert TOPICS["lectern.courses.enrollments"].partitions == 6
    app = app_factory(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, EVENT_BUS="kafka")
    cli = app.test_cli_runner()

    result = cli.invoke(args=["events", "create-topics"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "created lectern.accounts.users (6 partitions)" in lines
    assert "created lectern.accounts.users.dlq (1 partitions)" in lines
    assert (
        "DIFFERS lectern.courses.enrollments: 2 partitions on the cluster, 6 in the catalogue"
        in lines
    )
    assert "1 topic(s) are not as the catalogue says." in result.output
    assert set(all_topics()) <= broker.topics()

    # Run again: the rest exists and is fine; the odd one is still reported, and left alone.
    again = cli.invoke(args=["events", "create-topics"])
    assert again.exit_code == 1
    assert "exists  lectern.accounts.users (6 partitions)" in again.output.splitlines()
    assert "DIFFERS lectern.courses.enrollments" in again.output
