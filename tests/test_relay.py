"""The relay's producer handling with scripted producers: a fatal error gets a new
producer and loses nothing; producers that keep failing stop the relay with an error."""

from __future__ import annotations

from datetime import timedelta

import pytest
from confluent_kafka import KafkaError

from app.events.kafka import FATAL_LIMIT, ProducerFailed, Publisher
from app.events.relay import relay_outbox
from app.events.sql_outbox import SqlOutbox
from app.extensions import db
from tests.conftest import Users, events_of
from workers.relay import run_relay


class ScriptedProducer:
    """Acknowledges every message, or fails them all with a fatal error as a broker that
    lost this producer's id would."""

    def __init__(self, fatal: bool):
        self.fatal = fatal
        self.sent: list[tuple[str, str]] = []
        self.queued: list = []
        self.purged = False

    def list_topics(self, timeout=None):
        from app.events.catalogue import all_topics

        class Meta:
            topics = {name: type("T", (), {"error": None})() for name in all_topics()}

        return Meta()

    def produce(self, topic, key=None, value=None, headers=None, on_delivery=None):
        self.queued.append((topic, key, on_delivery))

    def poll(self, timeout=None):
        return 0

    def flush(self, timeout=None):
        queued, self.queued = self.queued, []
        for topic, key, on_delivery in queued:
            if self.fatal:
                on_delivery(
                    KafkaError(KafkaError.UNKNOWN_PRODUCER_ID, "unknown producer id", fatal=True),
                    None,
                )
            else:
                self.sent.append((topic, key))
                on_delivery(None, None)
        return 0

    def purge(self):
        self.purged = True


def make_due(app):
    from app.events.models import OutboxEvent
    from app.timeutil import utcnow

    with app.app_context():
        db.session.query(OutboxEvent).update({"next_attempt_at": utcnow()})
        db.session.commit()


def test_a_fatal_producer_error_gets_a_new_producer_and_nothing_is_lost(app):
    users = Users(app)
    first, second = users.create(), users.create()
    made: list[ScriptedProducer] = []

    def factory():
        made.append(ScriptedProducer(fatal=not made))  # only the first one is broken
        return made[-1]

    publisher = Publisher(app, factory=factory)
    with app.app_context():
        assert relay_outbox(SqlOutbox(), publisher) == (0, 2)
    assert made[0].purged and publisher.producer is None and publisher.fatal_in_a_row == 1
    assert [e.status for e in events_of(app)] == ["pending", "pending"]
    make_due(app)
    with app.app_context():
        assert relay_outbox(SqlOutbox(), publisher) == (2, 0)
    assert len(made) == 2 and publisher.fatal_in_a_row == 0
    assert [key for _, key in made[1].sent] == [str(first.id), str(second.id)]  # once, in order
    assert [e.status for e in events_of(app)] == ["dispatched", "dispatched"]


def test_the_relay_stops_when_new_producers_keep_failing_fatally(app, monkeypatch):
    Users(app).create()
    monkeypatch.setattr("app.events.relay.backoff", lambda attempt, **_: timedelta(0))
    made: list[ScriptedProducer] = []

    def factory():
        made.append(ScriptedProducer(fatal=True))
        return made[-1]

    with pytest.raises(ProducerFailed, match="failed fatally 5 times in a row"):
        run_relay(app, publisher=Publisher(app, factory=factory), idle_sleep=0, max_backoff=0)
    assert len(made) == FATAL_LIMIT
    (event,) = events_of(app)
    assert event.status == "pending" and event.attempts == FATAL_LIMIT  # kept for the next relay


def test_a_relay_whose_producer_cannot_be_made_exits_with_an_error(app_factory):
    app = app_factory(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9", KAFKA_SECURITY_PROTOCOL="bogus")
    result = app.test_cli_runner().invoke(args=["worker", "relay"])
    assert result.exit_code == 1
    assert "relay stopped: could not create the Kafka producer" in result.output
    assert "security.protocol" in result.output


class ListPublisher:
    """A publisher that answers each message from a script (None: acknowledged)."""

    def __init__(self, answers=None, raises=None):
        self.answers = list(answers or [])
        self.raises = raises
        self.sent: list[str] = []

    def publish(self, messages):
        if self.raises:
            raise self.raises
        results = []
        for message in messages:
            error = self.answers.pop(0) if self.answers else None
            if error is None:
                self.sent.append(message.key)
            results.append(error)
        return results


def _renamed(app, key, n):
    from app.events import record_event

    with app.app_context():
        record_event(
            "user.renamed",
            {"user_id": "00000000-0000-0000-0000-000000000001", "name": f"Name {n}"},
            key=key,
            source="test",
        )
        db.session.commit()


def test_an_acknowledged_event_is_never_published_again(app):
    for n in range(2):
        _renamed(app, "same", n)
    publisher = ListPublisher(answers=["refused", None])  # the broker took the second
    with app.app_context():
        assert relay_outbox(SqlOutbox(), publisher) == (1, 1)
    assert [e.status for e in events_of(app)] == ["pending", "dispatched"]


def test_a_failed_round_leaves_nothing_leased(app):
    from app.timeutil import utcnow

    _renamed(app, "k", 0)
    with app.app_context(), pytest.raises(ProducerFailed):
        relay_outbox(SqlOutbox(), ListPublisher(raises=ProducerFailed("no producer")))
    (event,) = events_of(app)
    assert event.next_attempt_at.replace(tzinfo=None) <= utcnow().replace(tzinfo=None)
    with app.app_context():
        assert [c.key for c in SqlOutbox().claim_due(10)] == ["k"]  # due again at once


@pytest.mark.parametrize("outbox_name", ["accounts", "courses"])
def test_one_stuck_key_does_not_starve_the_others(app, outbox_name):
    from app.courses.outbox import DocOutboxEvent, record_course_event
    from app.events.models import OutboxEvent
    from app.events.outbox import outbox_named
    from app.timeutil import utcnow

    def record(key, n):
        if outbox_name == "accounts":
            _renamed(app, key, n)
        else:
            data = {"user_id": "u", "course_id": "c", "slug": "s", "title": str(n)}
            with app.app_context():
                record_course_event("course.enrolled", data, key=key)

    for n in range(60):
        record("stuck", n)
    record("other", 60)
    with app.app_context():
        later = utcnow() + timedelta(hours=1)  # the stuck key's first event backs off
        if outbox_name == "accounts":
            first = db.session.query(OutboxEvent).order_by(OutboxEvent.seq).first()
            first.next_attempt_at = later
            db.session.commit()
        else:
            first = DocOutboxEvent.objects.order_by("id").first()
            DocOutboxEvent.objects(id=first.id).update_one(set__next_attempt_at=later)
        claimed = outbox_named(outbox_name).claim_due(50)
    assert [c.key for c in claimed] == ["other"]
