"""Events on a real Kafka-protocol broker, email through a SendGrid stand-in, and the
fault tests of issue 4: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

import pytest

from app.events.catalogue import WORKERS, all_topics, dead_letter_topic
from app.events.kafka import Publisher
from app.events.relay import relay_once
from app.extensions import db
from tests.conftest import PASSWORD, Users, events_of
from tests.integration.conftest import SENDGRID_KEY
from workers.runner import Runner

USERS_TOPIC = "lectern.accounts.users"


@pytest.fixture
def broker(private_kafka_broker):
    private_kafka_broker.create_topics(all_topics())
    return private_kafka_broker


@pytest.fixture
def kafka_app(app_factory, broker, sendgrid_standin):
    return app_factory(
        KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap,
        EVENT_BUS="kafka",
        SENDGRID_API_KEY=SENDGRID_KEY,
        SENDGRID_API_HOST=sendgrid_standin.url,
        EMAIL_SEND_ATTEMPTS=2,
        CONSUMER_MAX_ATTEMPTS=2,
        KAFKA_SESSION_TIMEOUT_MS=6000,
    )


def relay(app) -> dict[str, Any]:
    with app.app_context():
        return relay_once(Publisher(app))


def consume(app, n: int, worker: str = "email", timeout: float = 40.0) -> Runner:
    """Run a worker in this process until it has handled `n` messages."""
    runner = Runner(app, WORKERS[worker], sleep=lambda _s: None)
    thread = threading.Thread(target=runner.run, kwargs={"max_messages": n}, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        runner.stopping = True
        thread.join(15)
        raise AssertionError(f"the {worker} worker handled {runner.counts} in {timeout} s")
    return runner


def signup(app, email: str) -> None:
    response = app.test_client().post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "name": email.split("@")[0].title()},
    )
    assert response.status_code == 201, response.json


def recipients(standin) -> list[str]:
    return sorted(
        r.body["personalizations"][0]["to"][0]["email"] for r in standin.requests if r.status == 202
    )


def test_a_signup_becomes_exactly_one_verification_email(kafka_app, broker, sendgrid_standin):
    signup(kafka_app, "kai@example.com")
    assert relay(kafka_app) == {"published": 1, "failed": 0}
    (message,) = broker.messages(USERS_TOPIC, idle=0.3)
    envelope = json.loads(message["value"])
    assert (
        envelope["type"] == "user.registered"
        and message["headers"]["event-type"] == b"user.registered"
    )
    assert message["key"] == envelope["data"]["user_id"].encode()
    consume(kafka_app, 1)
    (request,) = sendgrid_standin.requests
    assert request.headers["Authorization"] == f"Bearer {SENDGRID_KEY}"
    body = request.body
    assert body["personalizations"] == [{"to": [{"email": "kai@example.com"}]}]
    assert body["subject"] == "Confirm your email address for Lectern"
    assert body["custom_args"] == {"event_id": envelope["id"]}
    link = re.search(r"http://lectern\.test(/verify-email/\S+)", body["content"][0]["value"])
    client = kafka_app.test_client()
    assert client.get(link.group(1)).status_code == 200  # the link in the email works
    assert events_of(kafka_app)[0].status == "dispatched"


def test_broker_down_while_users_sign_up_then_back(kafka_app, broker, sendgrid_standin):
    broker.stop()
    for name in ("ana", "ben", "cy"):
        signup(kafka_app, f"{name}@example.com")  # the site keeps working
    result = relay(kafka_app)
    assert result["published"] == 0 and result["failed"] == 3
    pending = events_of(kafka_app)
    assert [e.status for e in pending] == ["pending"] * 3 and all(e.last_error for e in pending)
    broker.start()
    broker.create_topics(all_topics())
    with kafka_app.app_context():  # skip the backoff the failure set
        from app.events.models import OutboxEvent
        from app.timeutil import utcnow

        db.session.query(OutboxEvent).update({"next_attempt_at": utcnow()})
        db.session.commit()
    assert relay(kafka_app)["published"] == 3
    consume(kafka_app, 3)
    assert recipients(sendgrid_standin) == ["ana@example.com", "ben@example.com", "cy@example.com"]


def test_the_same_event_delivered_twice_sends_one_email(kafka_app, broker, sendgrid_standin):
    signup(kafka_app, "dup@example.com")
    relay(kafka_app)
    (message,) = broker.messages(USERS_TOPIC, idle=0.3)
    broker.produce(USERS_TOPIC, message["value"], key=message["key"])  # a redelivery
    runner = consume(kafka_app, 2)
    assert recipients(sendgrid_standin) == ["dup@example.com"]
    assert runner.counts["processed"] == 2 and runner.counts["dead_lettered"] == 0


def test_a_malformed_message_between_two_good_ones(kafka_app, broker, sendgrid_standin):
    users = Users(kafka_app)
    good = [users.create(email=f"good{i}@example.com", verified=False) for i in (1, 2)]
    envelopes = [e.envelope() for e in events_of(kafka_app, "user.registered")]
    broker.produce(USERS_TOPIC, json.dumps(envelopes[0]).encode(), key=str(good[0].id))
    broker.produce(USERS_TOPIC, b'{"type": "user.registered", "data": "oops"', key="junk")
    broker.produce(USERS_TOPIC, json.dumps(envelopes[1]).encode(), key=str(good[1].id))
    runner = consume(kafka_app, 3)
    assert recipients(sendgrid_standin) == ["good1@example.com", "good2@example.com"]
    assert runner.counts["dead_lettered"] == 1
    (letter,) = broker.messages(dead_letter_topic(USERS_TOPIC), at_least=1)
    headers = letter["headers"]
    assert b"malformed event" in headers["dlq-error"]
    assert headers["dlq-topic"] == USERS_TOPIC.encode()
    assert headers["dlq-attempts"] == b"1" and headers["dlq-group"] == b"lectern-email"
    assert int(headers["dlq-offset"]) >= 0 and letter["value"].startswith(b'{"type"')
    from app.events.models import DeadLetter

    with kafka_app.app_context():
        row = db.session.query(DeadLetter).one()
        assert row.topic == USERS_TOPIC and "malformed" in row.error


def test_sendgrid_500_then_202_and_429_with_retry_after(kafka_app, broker, sendgrid_standin):
    from tests.support.sendgrid_standin import Answer

    sendgrid_standin.script(500, 202, Answer(429, retry_after=1), 202)
    signup(kafka_app, "first@example.com")
    signup(kafka_app, "second@example.com")
    relay(kafka_app)
    consume(kafka_app, 2)
    statuses = [r.status for r in sendgrid_standin.requests]
    assert statuses == [500, 202, 429, 202]
    assert recipients(sendgrid_standin) == ["first@example.com", "second@example.com"]
    waited = sendgrid_standin.requests[3].time - sendgrid_standin.requests[2].time
    assert waited >= 1.0  # Retry-After honoured


def test_an_email_that_keeps_failing_is_dead_lettered(kafka_app, broker, sendgrid_standin):
    sendgrid_standin.script(*([503] * 4))  # 2 sends x 2 handler attempts
    signup(kafka_app, "unlucky@example.com")
    relay(kafka_app)
    runner = consume(kafka_app, 1)
    assert runner.counts["dead_lettered"] == 1 and recipients(sendgrid_standin) == []
    (letter,) = broker.messages(dead_letter_topic(USERS_TOPIC), at_least=1)
    assert b"EmailNotSent" in letter["headers"]["dlq-error"]
    assert letter["headers"]["dlq-attempts"] == b"2"
    # An admin replays it once SendGrid is back: one email.
    from app.events.admin import replay_dead_letter
    from app.events.models import DeadLetter

    with kafka_app.app_context():
        replay_dead_letter(db.session.query(DeadLetter).one().id)
    consume(kafka_app, 1)
    assert recipients(sendgrid_standin) == ["unlucky@example.com"]


def test_course_events_reach_the_email_worker(kafka_app, broker, sendgrid_standin, courses, api):
    course = courses.published()
    learner = Users(kafka_app).create(email="learner@example.com")
    token = api.login(learner.email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    published = relay(kafka_app)["published"]
    assert published >= 2  # registrations, course.published, course.enrolled
    topics = {
        t: broker.messages(t, idle=0.3)
        for t in ("lectern.courses.courses", "lectern.courses.enrollments")
    }
    assert [json.loads(m["value"])["type"] for m in topics["lectern.courses.courses"]] == [
        "course.published"
    ]
    assert [json.loads(m["value"])["type"] for m in topics["lectern.courses.enrollments"]] == [
        "course.enrolled"
    ]
    total = sum(
        len(broker.messages(t, idle=0.3))
        for t in (
            "lectern.accounts.users",
            "lectern.courses.courses",
            "lectern.courses.enrollments",
        )
    )
    consume(kafka_app, total)
    subjects = sorted(r.body["subject"] for r in sendgrid_standin.requests)
    assert f"You are enrolled: {course.title}" in subjects
    assert f"Your course is published: {course.title}" in subjects


def test_account_deletion_reaches_the_courses_worker(kafka_app, broker, courses, api):
    from app.courses.documents import Enrollment

    course = courses.published()
    learner = Users(kafka_app).create(email="leaving@example.com")
    token = api.login(learner.email)["access_token"]
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    api.call("DELETE", "/users/account", token, json={"password": PASSWORD})
    relay(kafka_app)
    consume(kafka_app, len(broker.messages(USERS_TOPIC, idle=0.3)), worker="courses")
    assert Enrollment.objects(user_id=str(learner.id)).count() == 0


def test_the_admin_page_shows_workers_and_dead_letters(kafka_app, broker, sendgrid_standin):
    sendgrid_standin.script(*([503] * 4))
    signup(kafka_app, "page@example.com")
    relay(kafka_app)
    consume(kafka_app, 1)
    admin = Users(kafka_app).create("admin", email="root@example.com")
    client = kafka_app.test_client()
    client.submit("/signin", {"email": admin.email, "password": PASSWORD})
    page = client.get("/admin/events").get_data(as_text=True)
    assert "lectern-email" in page and "EmailNotSent" in page and "Replay" in page
    ready = kafka_app.test_client().get("/readyz").json
    kafka = next(c for c in ready["checks"] if c["name"] == "kafka")
    assert kafka["ok"] and not kafka["required"]
    outbox = next(c for c in ready["checks"] if c["name"] == "outbox")
    assert outbox["detail"]["dead_letters"] == 1 and outbox["detail"]["workers"]


def test_worker_ids_are_unique_per_process(kafka_app):
    first, second = Runner(kafka_app, WORKERS["email"]), Runner(kafka_app, WORKERS["courses"])
    assert first.worker_id.startswith("email@") and first.worker_id.endswith(f":{os.getpid()}")
    assert second.worker_id != first.worker_id
    for runner in (first, second):
        runner.consumer.close()


def group_row(page: str, group: str) -> list[str]:
    """The cells of a group's row in the Consumer groups table of /admin/events."""
    row = re.search(rf"<tr><td>{re.escape(group)}</td>(.*?)</tr>", page, re.S)
    assert row, f"no row for {group}"
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row[1], re.S)
    ]


def test_a_group_with_no_live_consumer_shows_its_backlog(kafka_app, broker):
    # One message per relay round: tansu answers ListOffsets(latest) with the base offset
    # of a partition's last record batch + 1, so a batch of several would read as one.
    for name in ("ana", "ben", "cy"):
        signup(kafka_app, f"{name}@example.com")
        assert relay(kafka_app)["published"] == 1  # and no worker has ever run
    admin = Users(kafka_app).create("admin", email="root@example.com")
    client = kafka_app.test_client()
    client.submit("/signin", {"email": admin.email, "password": PASSWORD})

    page = client.get("/admin/events").get_data(as_text=True)
    # worker, topics, live workers, backlog
    assert group_row(page, "lectern-email")[1:] == [
        "lectern.accounts.users, lectern.courses.courses, lectern.courses.enrollments, "
        "lectern.media.files",
        "none",
        "3",
    ]
    assert group_row(page, "lectern-courses")[2:] == ["none", "3"]
    # the media worker subscribes to its topic; nothing was uploaded, so nothing waits
    assert group_row(page, "lectern-media")[1:] == ["lectern.media.files", "none", "0"]
    kafka = next(c for c in client.get("/readyz").json["checks"] if c["name"] == "kafka")
    assert kafka["ok"] and kafka["detail"]["brokers"] == 1
    assert {g["group"]: (g["lag"], g["live"]) for g in kafka["detail"]["groups"]} == {
        "lectern-email": (3, 0),
        "lectern-courses": (3, 0),
        "lectern-media": (0, 0),
    }

    consume(kafka_app, 2)  # an email worker handles two, commits them, and stops
    page = client.get("/admin/events").get_data(as_text=True)
    assert group_row(page, "lectern-email")[2:] == ["none", "1"]  # from the committed offsets
    assert group_row(page, "lectern-courses")[2:] == ["none", "3"]


def test_the_admin_page_says_when_kafka_does_not_answer(kafka_app, broker):
    broker.stop()
    admin = Users(kafka_app).create("admin", email="root@example.com")
    client = kafka_app.test_client()
    client.submit("/signin", {"email": admin.email, "password": PASSWORD})
    page = client.get("/admin/events")
    assert page.status_code == 200
    assert "Kafka did not answer" in page.get_data(as_text=True)
