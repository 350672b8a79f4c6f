"""The event catalogue: every event type with its schema version, topic, producer and
consumers, and every topic and consumer group. docs/events.md is checked against it
(tests/test_event_catalogue.py), and `flask events create-topics` creates the topics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_days: int
    key: str  # what the message key is: events with one key stay in order


@dataclass(frozen=True)
class EventType:
    name: str
    version: int  # what producers write now
    topic: str
    producer: str
    consumers: tuple[str, ...]
    description: str
    # Earlier versions consumers still accept, so events recorded before an upgrade
    # (in an outbox or on a topic) are still handled.
    older: tuple[int, ...] = ()

    @property
    def versions(self) -> tuple[int, ...]:
        return (*self.older, self.version)


@dataclass(frozen=True)
class Worker:
    """One worker process kind = one consumer group, running these consumers' handlers."""

    name: str
    group: str
    consumers: tuple[str, ...]


TOPICS = {
    t.name: t
    for t in (
        Topic("lectern.accounts.users", 6, 7, "user id"),
        Topic("lectern.courses.courses", 3, 7, "course id"),
        Topic("lectern.courses.enrollments", 6, 7, "user id"),
        Topic("lectern.media.files", 3, 7, "course id (user id for an account's files)"),
    )
}
DEAD_LETTER_SUFFIX = ".dlq"
DEAD_LETTER_RETENTION_DAYS = 30

EVENTS = {
    e.name: e
    for e in (
        EventType(
            "user.registered",
            2,
            "lectern.accounts.users",
            "accounts",
            ("accounts-email",),
            "A new account; the verification email goes out.",
            older=(1,),
        ),
        EventType(
            "user.verification_requested",
            2,
            "lectern.accounts.users",
            "accounts",
            ("accounts-email",),
            "The user asked for a new verification email.",
            older=(1,),
        ),
        EventType(
            "user.email_verified",
            2,
            "lectern.accounts.users",
            "accounts",
            ("accounts-email",),
            "The address is confirmed; a welcome email goes out.",
            older=(1,),
        ),
        EventType(
            "user.password_reset_requested",
            2,
            "lectern.accounts.users",
            "accounts",
            ("accounts-email",),
            "A reset was asked for an address; only a real account gets the email.",
            older=(1,),
        ),
        EventType(
            "user.renamed",
            1,
            "lectern.accounts.users",
            "accounts",
            ("courses-accounts",),
            "New display name, copied onto courses and reviews.",
        ),
        EventType(
            "user.deleted",
            2,
            "lectern.accounts.users",
            "accounts",
            ("courses-accounts",),
            "The account is gone; the course side deletes its data.",
            older=(1,),
        ),
        EventType(
            "course.published",
            1,
            "lectern.courses.courses",
            "courses",
            ("accounts-email",),
            "A moderator approved a course; its instructor is told.",
        ),
        EventType(
            "course.enrolled",
            1,
            "lectern.courses.enrollments",
            "courses",
            ("accounts-email",),
            "A learner enrolled; they get a confirmation email.",
        ),
        EventType(
            "media.uploaded",
            2,
            "lectern.media.files",
            "courses",
            ("media-pipeline",),
            "A lesson's new file is stored and its type checked; the media worker prepares it.",
            older=(1,),
        ),
        EventType(
            "media.processing",
            1,
            "lectern.media.files",
            "media",
            ("courses-media",),
            "The media worker checks or prepares a lesson's new file: the studio shows how far.",
        ),
        EventType(
            "media.ready",
            1,
            "lectern.media.files",
            "media",
            ("courses-media", "accounts-email"),
            "A lesson's new file is prepared: learners get it, and its instructor is told.",
        ),
        EventType(
            "media.failed",
            1,
            "lectern.media.files",
            "media",
            ("courses-media", "accounts-email"),
            "A lesson's new file cannot be used: the lesson says why, its instructor is told.",
        ),
        EventType(
            "media.discarded",
            1,
            "lectern.media.files",
            "courses, accounts",
            ("media-pipeline",),
            "Stored files nothing uses any more; the media worker deletes them.",
        ),
    )
}

WORKERS = {
    w.name: w
    for w in (
        Worker("email", "lectern-email", ("accounts-email",)),
        Worker("courses", "lectern-courses", ("courses-accounts", "courses-media")),
        Worker("media", "lectern-media", ("media-pipeline",)),
    )
}


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


def all_topics() -> list[str]:
    """Every topic, with its dead-letter topic."""
    return [name for t in TOPICS for name in (t, dead_letter_topic(t))]


def topics_for_consumers(consumers: tuple[str, ...]) -> list[str]:
    """The topics carrying an event that one of `consumers` handles."""
    return sorted({e.topic for e in EVENTS.values() if set(e.consumers) & set(consumers)})


def _versions(e: EventType) -> str:
    return str(e.version) + (f" (accepts {', '.join(map(str, e.older))})" if e.older else "")


def markdown_table() -> str:
    """The catalogue as the Markdown table kept in docs/events.md."""
    rows = [
        "| event | version | topic | producer | consumers | what it means |",
        "|---|---|---|---|---|---|",
    ]
    for e in EVENTS.values():
        rows.append(
            f"| `{e.name}` | {_versions(e)} | `{e.topic}` | {e.producer} | "
            f"{', '.join(e.consumers)} | {e.description} |"
        )
    rows += ["", "| topic | partitions | retention | key | dead letters |", "|---|---|---|---|---|"]
    for t in TOPICS.values():
        rows.append(
            f"| `{t.name}` | {t.partitions} | {t.retention_days} days | {t.key} | "
            f"`{dead_letter_topic(t.name)}` ({DEAD_LETTER_RETENTION_DAYS} days) |"
        )
    rows += ["", "| worker | consumer group | consumers | topics |", "|---|---|---|---|"]
    for w in WORKERS.values():
        topics = ", ".join(f"`{t}`" for t in topics_for_consumers(w.consumers)) or "none yet"
        rows.append(
            f"| `flask --app wsgi worker {w.name}` | `{w.group}` | "
            f"{', '.join(w.consumers)} | {topics} |"
        )
    return "\n".join(rows)
