"""Two relays at once on PostgreSQL: row locks that skip locked rows, each event once."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from app.events.catalogue import all_topics
from app.events.kafka import Publisher
from app.events.relay import relay_outbox
from app.events.sql_outbox import SqlOutbox
from app.extensions import db
from tests.conftest import PASSWORD


@pytest.fixture
def database_uri(postgres_url: str) -> str:
    return postgres_url


def test_two_relays_publish_each_event_once_and_in_order(app_factory, private_kafka_broker):
    private_kafka_broker.create_topics(all_topics())
    first = app_factory(KAFKA_BOOTSTRAP_SERVERS=private_kafka_broker.bootstrap, EVENT_BUS="kafka")
    second = app_factory(KAFKA_BOOTSTRAP_SERVERS=private_kafka_broker.bootstrap, EVENT_BUS="kafka")
    from app.accounts import profiles, registration

    with first.app_context():
        for i in range(40):
            user = registration.do_register(f"u{i}@example.com", PASSWORD, f"User {i}")
            db.session.commit()
            for _ in range(2):  # several events of one key, to check their order
                profiles.update_profile(user, name=f"User {i} {_}")
                db.session.commit()
    errors: list[BaseException] = []

    def run(app):
        try:
            with app.app_context():
                publisher = Publisher(app)
                while sum(relay_outbox(SqlOutbox(), publisher, batch=7)):
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    messages = private_kafka_broker.messages("lectern.accounts.users", idle=0.5, at_least=120)
    envelopes = [json.loads(m["value"]) for m in messages]
    counts = Counter(e["id"] for e in envelopes)
    assert len(counts) == 120 and set(counts.values()) == {1}
    by_key: dict[bytes, list[str]] = {}
    for m, e in zip(messages, envelopes, strict=True):
        by_key.setdefault(m["key"], []).append(e["type"])
    # Per key (per user): registered first, then the two renames.
    assert all(
        types == ["user.registered", "user.renamed", "user.renamed"] for types in by_key.values()
    )
