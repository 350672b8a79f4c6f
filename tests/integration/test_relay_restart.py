"""One relay process, and one email worker, kept running while their broker is stopped
and started again.

tansu keeps its topics in memory, so after the restart the broker has lost every
producer id it handed out: the relay's idempotent producer then gets "unknown producer
id" for its next messages, which librdkafka either treats as fatal or answers by
bumping its epoch forever. Either way that producer never publishes again; the relay
has to replace it. The worker's consumer group is forgotten too, so a commit can be
refused; the worker must carry on. On PostgreSQL, as in the operator's try-out.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

import pytest
from sqlalchemy import select

from app.events.catalogue import all_topics
from app.events.models import OutboxEvent
from app.extensions import db
from tests.conftest import PASSWORD
from tests.integration.processes import process_env, wait_until, worker

USERS_TOPIC = "lectern.accounts.users"


@pytest.fixture
def database_uri(postgres_url: str) -> str:
    return postgres_url


def record(app, prefix: str, tokens: dict[str, str], new: int) -> None:
    """`new` sign-ups, and a rename of every account made so far: several events per key.
    Through the API, as the mobile client would."""
    client = app.test_client()
    for i in range(new):
        account = {"email": f"{prefix}{i}@example.com", "password": PASSWORD}
        assert (
            client.post(
                "/api/v1/auth/register", json={**account, "name": f"{prefix} {i}"}
            ).status_code
            == 201
        )
        tokens[account["email"]] = client.post("/api/v1/auth/login", json=account).json[
            "access_token"
        ]
    for email, token in tokens.items():
        renamed = client.put(
            "/api/v1/users/profile",
            json={"name": f"{email} ({prefix})"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert renamed.status_code == 200, renamed.json


def outbox(app) -> list[OutboxEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)))
        db.session.expunge_all()
        return rows


def all_dispatched(app) -> bool:
    return all(row.status == "dispatched" for row in outbox(app))


def emailed(standin) -> list[str]:
    return sorted(
        r.body["personalizations"][0]["to"][0]["email"] for r in standin.requests if r.status == 202
    )


def test_one_relay_keeps_publishing_across_a_broker_restart(
    app_factory, private_kafka_broker, postgres_url, sendgrid_standin, tmp_path
):
    broker = private_kafka_broker
    broker.create_topics(all_topics())
    app = app_factory(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, EVENT_BUS="kafka")
    env = process_env(tmp_path, postgres_url, broker, sendgrid_standin)
    relay = worker("relay", env, tmp_path)
    email = worker("email", env, tmp_path)
    tokens: dict[str, str] = {}
    try:
        # Before: published, on the topic, and emailed.
        record(app, "before", tokens, new=4)
        wait_until(lambda: all_dispatched(app), 20, "the events before the restart", (relay,))
        first_life = broker.messages(USERS_TOPIC, at_least=len(outbox(app)), idle=0.3)
        wait_until(lambda: len(emailed(sendgrid_standin)) == 4, 30, "4 emails", (email,))

        # During: the broker is down; the relay keeps them pending.
        broker.stop()
        record(app, "during", tokens, new=3)
        time.sleep(2)  # the relay (polling every 0.2 s) hands them to its producer, which waits
        broker.start()  # same port, empty memory
        broker.create_topics(all_topics())

        # After: the same relay process publishes everything that was left, and more.
        record(app, "after", tokens, new=3)
        wait_until(lambda: all_dispatched(app), 45, "the relay to publish again", (relay,))
        rows = outbox(app)
        second_life = broker.messages(USERS_TOPIC, at_least=len(rows) - len(first_life), idle=1)
        wait_until(lambda: len(emailed(sendgrid_standin)) >= 10, 30, "10 emails", (email,))
        assert relay.popen.poll() is None, relay.tail()  # one process of each throughout
        assert email.popen.poll() is None, email.tail()
    finally:
        codes = relay.stop(), email.stop()
    assert codes == (0, 0), relay.tail() + email.tail()
    signed_up = [
        f"{p}{i}@example.com"
        for p, n in (("before", 4), ("during", 3), ("after", 3))
        for i in range(n)
    ]
    assert emailed(sendgrid_standin) == sorted(signed_up)  # one email each

    seen = [json.loads(m["value"])["id"] for m in first_life + second_life]
    assert sorted(seen) == sorted(str(r.id) for r in rows)  # each event once: none lost or doubled
    by_key: dict[str, list[str]] = defaultdict(list)
    for message in first_life + second_life:  # each life is in (partition, offset) order
        by_key[message["key"].decode()].append(json.loads(message["value"])["id"])
    expected: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        expected[row.key].append(str(row.id))
    assert by_key == expected  # in the order they were recorded, per key
    assert len(rows) == 4 + 3 + 3 + 4 + 7 + 10  # sign-ups, then a rename of each so far
