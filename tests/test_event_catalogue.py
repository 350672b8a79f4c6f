"""The event catalogue is the one truth: schemas, subscriptions and the docs agree with it."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from app.events import _SUBSCRIPTIONS
from app.events.catalogue import EVENTS, TOPICS, WORKERS, markdown_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "events.md"


def test_every_schema_is_in_the_catalogue_and_back(app):
    schemas = {
        p.name
        for p in files("app.events").joinpath("schemas").iterdir()
        if p.name.endswith(".json")
    }
    # Every version consumers accept has its schema, and no schema is left over.
    assert schemas == {f"{e.name}.v{v}.json" for e in EVENTS.values() for v in e.versions}


def test_subscriptions_match_the_declared_consumers(app):
    declared = {(e.name, c) for e in EVENTS.values() for c in e.consumers}
    registered = {
        (s.event_type, s.consumer) for s in _SUBSCRIPTIONS if not s.consumer.startswith("test-")
    }
    assert registered == declared


def test_every_consumer_runs_in_a_worker_and_every_topic_is_declared():
    in_workers = {c for w in WORKERS.values() for c in w.consumers}
    assert {c for e in EVENTS.values() for c in e.consumers} <= in_workers
    assert {e.topic for e in EVENTS.values()} <= set(TOPICS)


def test_the_docs_show_the_catalogue_as_it_is():
    text = DOCS.read_text("utf-8")
    match = re.search(r"<!-- catalogue:start -->\n(.*?)\n<!-- catalogue:end -->", text, re.S)
    assert match, "docs/events.md needs the generated catalogue between its markers"
    assert match.group(1).strip() == markdown_table().strip(), (
        "docs/events.md is stale: run `flask --app wsgi events catalogue` and paste the table"
    )
