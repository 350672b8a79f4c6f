"""Topics come from `events create-topics` and the catalogue, never from a first message:
the relay does not create a missing topic."""

from __future__ import annotations

import logging

from confluent_kafka import Producer

from app.events.catalogue import all_topics
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
