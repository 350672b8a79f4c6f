"""Events: one envelope, a JSON Schema per type, an outbox, and one way to publish.

`record_event` adds the event to the outbox in the caller's transaction, so the
event exists exactly when the change it describes does. A dispatcher (the
embedded bus now; a Kafka relay later) delivers it to the subscribed handlers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator

from app.events.models import OutboxEvent
from app.extensions import db

Handler = Callable[[dict[str, Any]], None]


class InvalidEvent(ValueError):
    """An event's data does not match the schema of its type."""


class PermanentFailure(RuntimeError):
    """A handler failed in a way retrying cannot fix: dead-letter the event at once."""


@cache
def _validator(event_type: str, version: int) -> Draft202012Validator:
    from app.events.catalogue import EVENTS

    known = EVENTS.get(event_type)
    if known is None or version not in known.versions:
        raise InvalidEvent(f"unknown event type or version: {event_type[:80]!r} v{version}")
    resource = files("app.events").joinpath(f"schemas/{event_type}.v{version}.json")
    if not resource.is_file():
        raise InvalidEvent(f"no schema for event {event_type} v{version}")
    return Draft202012Validator(json.loads(resource.read_text("utf-8")))


def validate_event(event_type: str, version: int, data: dict[str, Any]) -> None:
    """Raise InvalidEvent unless `data` matches the type's schema."""
    errors = sorted(_validator(event_type, version).iter_errors(data), key=str)
    if errors:
        raise InvalidEvent(f"{event_type} v{version}: {errors[0].message}")


def current_version(event_type: str) -> int:
    """The schema version producers write for `event_type`."""
    from app.events.catalogue import EVENTS

    known = EVENTS.get(event_type)
    if known is None:
        raise InvalidEvent(f"unknown event type: {event_type[:80]!r}")
    return known.version


def record_event(event_type: str, data: dict[str, Any], *, key: str, source: str) -> OutboxEvent:
    """Validate and add an event to the outbox in the current transaction (caller commits)."""
    version = current_version(event_type)
    validate_event(event_type, version, data)
    event = OutboxEvent(type=event_type, version=version, key=key, source=source, data=data)
    db.session.add(event)
    return event


@dataclass(frozen=True)
class Subscription:
    consumer: str
    event_type: str
    handler: Handler


_SUBSCRIPTIONS: list[Subscription] = []


def subscribe(event_type: str, consumer: str) -> Callable[[Handler], Handler]:
    """Register `handler` for `event_type` under the consumer name `consumer`."""

    def register(handler: Handler) -> Handler:
        sub = Subscription(consumer, event_type, handler)
        if sub not in _SUBSCRIPTIONS:
            _SUBSCRIPTIONS.append(sub)
        return handler

    return register


def subscriptions_for(event_type: str) -> list[Subscription]:
    return [s for s in _SUBSCRIPTIONS if s.event_type == event_type]
