"""Outbox and embedded bus: events stored with the change, delivered once, failures retried."""

from __future__ import annotations

import threading
import time

import pytest

from app.events import InvalidEvent, record_event, subscribe
from app.events.bus import EmbeddedBus, deliver, dispatch_pending
from app.extensions import db
from tests.conftest import PASSWORD, events_of


def test_envelope_shape(client, app):
    client.submit("/signup", {"name": "Eve", "email": "eve@example.com", "password": PASSWORD})
    (event,) = events_of(app)
    envelope = event.envelope()
    assert set(envelope) == {"id", "type", "version", "occurred_at", "source", "data"}
    assert envelope["type"] == "user.registered" and envelope["source"] == "accounts"
    assert envelope["version"] == 2 and set(envelope["data"]) == {"user_id"}
    assert "password" not in str(envelope) and "eve@example.com" not in str(envelope)


def test_events_are_validated_against_their_schema(app):
    with app.app_context():
        with pytest.raises(InvalidEvent):
            record_event("user.registered", {"user_id": "x"}, key="k", source="test")
        with pytest.raises(InvalidEvent):
            record_event("user.unknown", {}, key="k", source="test")


def test_event_exists_only_if_the_change_commits(app, client):
    from app.accounts import registration

    with app.app_context():
        registration.do_register("rolled@example.com", PASSWORD, "Rolled Back")
        db.session.rollback()
    assert events_of(app) == []


def test_a_second_delivery_sends_nothing(client, app, outbox):
    client.submit("/signup", {"name": "Dup", "email": "dup@example.com", "password": PASSWORD})
    assert len(outbox.messages()) == 1
    from app.events.models import OutboxEvent

    with app.app_context():
        event = db.session.query(OutboxEvent).one()
        deliver(event.envelope())  # as if a relay delivered it again
        db.session.commit()
    assert len(outbox.messages()) == 1


@pytest.fixture
def flaky_handler():
    calls = {"n": 0, "fail_until": 0}

    @subscribe("user.email_verified", "test-flaky")
    def handler(event):
        calls["n"] += 1
        if calls["n"] <= calls["fail_until"]:
            raise RuntimeError("downstream unavailable")

    yield calls
    from app.events import _SUBSCRIPTIONS

    _SUBSCRIPTIONS[:] = [s for s in _SUBSCRIPTIONS if s.consumer != "test-flaky"]


def _verified_event(app):
    import uuid

    with app.app_context():
        record_event(
            "user.email_verified",
            {"user_id": str(uuid.uuid4())},
            key="k",
            source="test",
        )
        db.session.commit()


def _make_due(app):
    from app.events.models import OutboxEvent
    from app.timeutil import utcnow

    with app.app_context():
        db.session.query(OutboxEvent).update({"next_attempt_at": utcnow()})
        db.session.commit()


def test_failures_are_retried_with_backoff_then_succeed(app, flaky_handler):
    flaky_handler["fail_until"] = 2
    _verified_event(app)
    with app.app_context():
        assert dispatch_pending() == 0
    (event,) = events_of(app)
    assert event.status == "pending" and event.attempts == 1
    assert "downstream unavailable" in event.last_error
    with app.app_context():
        assert dispatch_pending() == 0  # not due yet: backoff
    _make_due(app)
    with app.app_context():
        dispatch_pending()
    _make_due(app)
    with app.app_context():
        assert dispatch_pending() == 1
    (event,) = events_of(app)
    assert event.status == "dispatched" and flaky_handler["n"] == 3


def test_a_poison_event_is_dead_lettered_with_its_reason(app, flaky_handler):
    flaky_handler["fail_until"] = 10**6
    _verified_event(app)
    budget = app.config["CONSUMER_MAX_ATTEMPTS"]  # one retry budget, bus and workers alike
    for _ in range(budget):
        _make_due(app)
        with app.app_context():
            dispatch_pending()
    (event,) = events_of(app)
    assert event.status == "dead" and event.attempts == budget
    assert "RuntimeError: downstream unavailable" in event.last_error
    response = app.test_client().get("/readyz")
    outbox = next(c for c in response.json["checks"] if c["name"] == "outbox")
    assert outbox["detail"]["dead"] == 1


def test_the_background_bus_delivers_without_being_asked(client, app, outbox):
    bus = EmbeddedBus(app, interval=0.05)
    bus.start()
    try:
        client.submit("/signup", {"name": "Bg", "email": "bg@example.com", "password": PASSWORD})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not list(outbox.dir.glob("*.eml")):
            time.sleep(0.05)
        assert len(list(outbox.dir.glob("*.eml"))) == 1
    finally:
        bus.stop()
    assert not any(t.name == "embedded-bus" and t.is_alive() for t in threading.enumerate())


def test_an_event_recorded_before_a_restart_is_delivered_after(app_factory, outbox):
    first = app_factory()
    first.test_client().submit(
        "/signup", {"name": "Restart", "email": "r@example.com", "password": PASSWORD}
    )
    # "Restart": a brand-new app on the same database and data directory.
    second = app_factory()
    with second.app_context():
        assert dispatch_pending() == 1
    assert len(list(outbox.dir.glob("*.eml"))) == 1


def test_two_dispatchers_at_once_deliver_each_event_once(app_factory, outbox):
    from app.accounts import registration

    first, second = app_factory(), app_factory()
    with first.app_context():
        for i in range(12):
            registration.do_register(f"crowd{i}@example.com", PASSWORD, f"Crowd {i}")
        db.session.commit()
    errors = []

    def run(app):
        try:
            with app.app_context():
                while dispatch_pending(limit=3):
                    pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    recipients = sorted(m["To"] for m in outbox.messages())
    assert recipients == sorted(f"crowd{i}@example.com" for i in range(12))


def test_a_redelivery_after_the_email_went_out_keeps_its_link_working(client, app, outbox):
    from app.events.models import EventReceipt, OutboxEvent

    client.submit("/signup", {"name": "Rae", "email": "rae@example.com", "password": PASSWORD})
    link = outbox.links()[0]
    with app.app_context():  # as if the worker died after sending, before its receipt
        db.session.query(EventReceipt).delete()
        event = db.session.query(OutboxEvent).filter_by(type="user.registered").one()
        deliver(event.envelope())
        db.session.commit()
    assert len(outbox.messages()) == 1
    assert client.submit(link).status_code == 302  # the emailed link still works


def test_a_permanent_failure_on_the_course_outbox_is_dead_at_once(app):
    from app.courses.outbox import DocOutboxEvent, record_course_event
    from app.events import _SUBSCRIPTIONS, PermanentFailure

    @subscribe("course.enrolled", "test-permanent-doc")
    def refuse(event):
        raise PermanentFailure("address refused")

    try:
        with app.app_context():
            event = record_course_event(
                "course.enrolled",
                {"user_id": "u", "course_id": "c", "slug": "s", "title": "t"},
                key="u",
            )
            dispatch_pending()
        stored = DocOutboxEvent.objects.get(id=event.id)
        assert stored.status == "dead" and stored.attempts == 1
        assert "address refused" in stored.last_error
    finally:
        _SUBSCRIPTIONS[:] = [s for s in _SUBSCRIPTIONS if s.consumer != "test-permanent-doc"]
