"""The consumer runner with fake Kafka clients: poison messages never stop it."""

from __future__ import annotations

import json

import pytest

from app.events.catalogue import WORKERS
from app.extensions import db
from workers.runner import Runner


class FakeMessage:
    def __init__(self, value: bytes, key: bytes | None = b"k", offset: int = 0):
        self._value, self._key, self._offset = value, key, offset

    def value(self):
        return self._value

    def key(self):
        return self._key

    def topic(self):
        return "lectern.accounts.users"

    def partition(self):
        return 0

    def offset(self):
        return self._offset

    def error(self):
        return None


class FakeConsumer:
    def __init__(self, messages):
        self.messages = list(messages)
        self.committed = []

    def subscribe(self, topics):
        self.topics = topics

    def poll(self, timeout):
        return self.messages.pop(0) if self.messages else None

    def commit(self, message, asynchronous):
        self.committed.append(message.offset())

    def assignment(self):
        return []

    def close(self):
        pass


class FakeProducer:
    def __init__(self, fail: int = 0):
        self.sent = []
        self.fail = fail  # how many deliveries to fail first

    def produce(self, topic, key=None, value=None, headers=None, on_delivery=None):
        if self.fail:
            self.fail -= 1
            if on_delivery:
                on_delivery("broker down", None)
            return
        self.sent.append((topic, key, value, dict(headers or [])))
        if on_delivery:
            on_delivery(None, None)

    def flush(self, timeout=None):
        return 0

    def poll(self, timeout=None):
        return 0


def test_poison_messages_are_dead_lettered_and_committed(app):
    from app.events.models import DeadLetter
    from app.extensions import db

    poison = [
        FakeMessage(b"[" * 200_000, offset=1),  # RecursionError in the JSON parser
        FakeMessage(
            json.dumps(
                {
                    "id": "00000000-0000-0000-0000-000000000000",
                    "type": "a" * 300,
                    "version": 1,
                    "occurred_at": "x",
                    "source": "x",
                    "data": {},
                }
            ).encode(),
            offset=2,
        ),
        FakeMessage(
            json.dumps(
                {
                    "id": "00000000-0000-0000-0000-000000000000",
                    "type": "../../schemas/user.registered",
                    "version": 1,
                    "occurred_at": "x",
                    "source": "x",
                    "data": {},
                }
            ).encode(),
            offset=3,
        ),
        FakeMessage(b"{}", key=b"k" * 500, offset=4),  # a key longer than the column
        FakeMessage(b"x" * (2 * 1024 * 1024), offset=5),
    ]
    consumer, producer = FakeConsumer(poison), FakeProducer()
    runner = Runner(
        app, WORKERS["email"], consumer=consumer, producer=producer, sleep=lambda _s: None
    )
    runner.run(max_messages=len(poison))
    assert consumer.committed == [1, 2, 3, 4, 5]
    assert runner.counts["dead_lettered"] == 5
    assert all(topic == "lectern.accounts.users.dlq" for topic, *_ in producer.sent)
    with app.app_context():
        assert db.session.query(DeadLetter).count() == 5


def test_dispatch_lease_outlasts_the_slowest_email():
    from app.events.outbox import LEASE
    from app.mail.sendgrid import MAX_WAIT

    attempts, timeout = 5, 15.0
    worst = attempts * timeout + (attempts - 1) * MAX_WAIT
    assert LEASE.total_seconds() > worst * 2
    assert worst < 300  # inside the consumer's max.poll.interval.ms


@pytest.mark.parametrize("outbox_name", ["accounts", "courses"])
def test_each_outbox_keeps_order_per_key(app, outbox_name):
    """Both stores behind one interface: a key's later event waits for its earlier one."""
    from datetime import timedelta

    from app.courses.outbox import DocOutboxEvent, record_course_event
    from app.events import record_event
    from app.events.models import OutboxEvent
    from app.events.outbox import outbox_named
    from app.timeutil import utcnow

    def record(key):
        if outbox_name == "courses":
            data = {"user_id": "u", "course_id": "c", "slug": "s", "title": "t"}
            return record_course_event("course.enrolled", data, key=key).event_id
        data = {"user_id": "00000000-0000-0000-0000-000000000001", "name": "N"}
        event = record_event("user.renamed", data, key=key, source="test")
        db.session.commit()
        return str(event.id)

    def make_all_due():
        past = utcnow() - timedelta(seconds=1)
        DocOutboxEvent.objects.update(set__next_attempt_at=past)
        db.session.query(OutboxEvent).update({"next_attempt_at": past})
        db.session.commit()

    with app.app_context():
        outbox = outbox_named(outbox_name)
        first, _second, other = record("same"), record("same"), record("other")
        claimed = outbox.claim_due(10)
        assert [c.key for c in claimed] == ["same", "same", "other"]
        assert outbox.claim_due(10) == []  # all leased
        # The first fails and backs off; the second of its key is released, yet waits.
        outbox.mark_failed(claimed[0], "broker down", retry_in=timedelta(hours=1), dead=False)
        outbox.release(claimed[1])
        outbox.release(claimed[2])
        again = outbox.claim_due(10)
        assert [(c.key, c.envelope["id"]) for c in again] == [("other", other)]
        assert first not in {c.envelope["id"] for c in again}
        outbox.mark_published(again[0])
        make_all_due()
        assert [c.key for c in outbox.claim_due(10)] == ["same", "same"]


def test_an_unrecorded_dead_letter_is_not_committed(app):
    import pytest

    consumer = FakeConsumer([FakeMessage(b"not json", offset=7)])
    runner = Runner(
        app,
        WORKERS["email"],
        consumer=consumer,
        producer=FakeProducer(fail=3),
        sleep=lambda _s: None,
    )
    with pytest.raises(RuntimeError, match="could not write"):
        runner.run(max_messages=1)
    assert consumer.committed == []  # it comes back after a restart instead of vanishing


def test_a_permanent_failure_is_dead_lettered_without_retries(app):
    from app.events import _SUBSCRIPTIONS, PermanentFailure, subscribe

    calls = []

    @subscribe("user.renamed", "test-permanent")
    def refuse(event):
        calls.append(event["id"])
        raise PermanentFailure("no")

    worker = WORKERS["email"].__class__("email", "g", ("test-permanent",))
    envelope = {
        "id": "11111111-1111-1111-1111-111111111111",
        "type": "user.renamed",
        "version": 1,
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "source": "t",
        "data": {"user_id": "22222222-2222-2222-2222-222222222222", "name": "N"},
    }
    consumer, producer = FakeConsumer([FakeMessage(json.dumps(envelope).encode())]), FakeProducer()
    try:
        runner = Runner(app, worker, consumer=consumer, producer=producer, sleep=lambda _s: None)
        runner.topics = ["lectern.accounts.users"]  # a test consumer is in no catalogue entry
        runner.run(max_messages=1)
    finally:
        _SUBSCRIPTIONS[:] = [s for s in _SUBSCRIPTIONS if s.consumer != "test-permanent"]
    assert len(calls) == 1 and runner.counts["dead_lettered"] == 1
    assert producer.sent[0][3]["dlq-attempts"] == b"1"


def test_a_worker_prunes_the_heartbeats_of_workers_gone_long_ago(app_factory):
    from datetime import timedelta

    from app.events.models import WorkerHeartbeat
    from app.extensions import db
    from app.timeutil import utcnow

    app = app_factory(WORKER_HEARTBEAT_RETENTION=timedelta(hours=24))
    with app.app_context():
        for worker_id, ago, stopped in (
            ("email@old:1", timedelta(hours=25), True),  # stopped long ago
            ("email@old:2", timedelta(days=3), False),  # killed long ago, never said so
            ("email@recent:3", timedelta(hours=23), True),  # stopped, but not long ago
        ):
            db.session.add(
                WorkerHeartbeat(
                    worker_id=worker_id,
                    name="email",
                    group="lectern-email",
                    last_seen=utcnow() - ago,
                    stopped=stopped,
                )
            )
        db.session.commit()
    runner = Runner(
        app,
        WORKERS["email"],
        consumer=FakeConsumer([]),
        producer=FakeProducer(),
        sleep=lambda _s: None,
    )
    runner.beat(force=True)
    with app.app_context():
        left = sorted(b.worker_id for b in db.session.query(WorkerHeartbeat))
    assert left == sorted(["email@recent:3", runner.worker_id])


class ForgetfulConsumer(FakeConsumer):
    """Refuses the first commit, as after a broker restart that forgot this member."""

    def commit(self, message, asynchronous):
        from confluent_kafka import KafkaError, KafkaException

        if not getattr(self, "refused", False):
            self.refused = True
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID, "Unknown member"))
        super().commit(message, asynchronous)


def test_a_refused_commit_does_not_stop_the_worker(app):
    messages = [FakeMessage(b"not json", offset=1), FakeMessage(b"not json", offset=2)]
    consumer = ForgetfulConsumer(messages)
    runner = Runner(
        app, WORKERS["email"], consumer=consumer, producer=FakeProducer(), sleep=lambda _s: None
    )
    runner.run(max_messages=2)  # the first commit raises; the worker goes on to the next
    assert consumer.refused and consumer.committed == [2]
    assert runner.counts["dead_lettered"] == 2
