"""What Lectern asks the Kafka cluster itself: the catalogue's topics (created, or
compared with what exists), and each consumer group's backlog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from app.events.catalogue import (
    DEAD_LETTER_RETENTION_DAYS,
    TOPICS,
    WORKERS,
    dead_letter_topic,
    topics_for_consumers,
)
from app.events.kafka import connection_config

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class WantedTopic:
    name: str
    partitions: int
    retention_ms: int


@dataclass(frozen=True)
class TopicReport:
    name: str
    outcome: str  # "created", "exists", "differs" or "failed"
    partitions: int | None  # on the cluster, when known
    wanted: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in {"created", "exists"}


def wanted_topics() -> list[WantedTopic]:
    """Every topic of the catalogue, then its dead-letter topic (1 partition, 30 days)."""
    wanted = []
    for topic in TOPICS.values():
        wanted.append(WantedTopic(topic.name, topic.partitions, topic.retention_days * DAY_MS))
        wanted.append(
            WantedTopic(dead_letter_topic(topic.name), 1, DEAD_LETTER_RETENTION_DAYS * DAY_MS)
        )
    return wanted


def _partitions(admin: Any, timeout: float) -> dict[str, int]:
    metadata = admin.list_topics(timeout=timeout)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None
    }


def create_topics(
    app: Flask, replication_factor: int = 1, timeout: float = 30.0
) -> list[TopicReport]:
    """Create the catalogue's topics that are missing; report the ones that exist, and
    whether their partition count is the catalogue's. Existing topics are left alone."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    admin = admin_client(app)
    wanted = wanted_topics()
    before = _partitions(admin, timeout)
    new = [
        NewTopic(
            t.name,
            num_partitions=t.partitions,
            replication_factor=replication_factor,
            config={"retention.ms": str(t.retention_ms)},
        )
        for t in wanted
        if t.name not in before
    ]
    failed: dict[str, str] = {}
    created: set[str] = set()
    if new:
        for name, future in admin.create_topics(new, request_timeout=timeout).items():
            try:
                future.result(timeout)
                created.add(name)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if not (
                    isinstance(error, KafkaError) and error.code() == error.TOPIC_ALREADY_EXISTS
                ):
                    failed[name] = str(error or exc)
    after = _partitions(admin, timeout) if new else before
    admin.poll(0)  # hand the client's log lines to the log
    reports = []
    for t in wanted:
        partitions = after.get(t.name)
        if t.name in failed:
            reports.append(TopicReport(t.name, "failed", partitions, t.partitions, failed[t.name]))
        elif partitions is not None and partitions != t.partitions:
            reports.append(TopicReport(t.name, "differs", partitions, t.partitions))
        elif t.name in created:
            reports.append(TopicReport(t.name, "created", partitions, t.partitions))
        else:
            reports.append(TopicReport(t.name, "exists", partitions, t.partitions))
    return reports


def admin_client(app: Flask) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(connection_config(app))


def group_backlogs(admin: Any, timeout: float = 2.0) -> dict[str, int]:
    """For each worker's consumer group, the messages on its topics past its committed
    offsets: the topics' high watermarks minus what the group committed, or minus the
    earliest offset where it committed nothing (a new group starts there). Worked out
    from Kafka alone, so a group with no live consumer still shows what waits for it.
    Raises KafkaException if the cluster does not answer within `timeout`."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    metadata = admin.list_topics(timeout=timeout)
    wanted = {
        w.group: [
            TopicPartition(topic, p)
            for topic in topics_for_consumers(w.consumers)
            if topic in metadata.topics and metadata.topics[topic].error is None
            for p in sorted(metadata.topics[topic].partitions)
        ]
        for w in WORKERS.values()
    }
    every = {(tp.topic, tp.partition) for tps in wanted.values() for tp in tps}
    if not every:
        return dict.fromkeys(wanted, 0)

    def offsets(spec: Any) -> dict[tuple[str, int], int]:
        futures = admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in every}, request_timeout=timeout
        )
        return {
            (tp.topic, tp.partition): int(f.result(timeout).offset) for tp, f in futures.items()
        }

    high, low = offsets(OffsetSpec.latest()), offsets(OffsetSpec.earliest())
    backlog: dict[str, int] = {}
    for group, tps in wanted.items():
        if not tps:
            backlog[group] = 0
            continue
        request = [
            ConsumerGroupTopicPartitions(group, [TopicPartition(t.topic, t.partition) for t in tps])
        ]
        answer = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group]
        committed = {
            (tp.topic, tp.partition): int(tp.offset)
            for tp in answer.result(timeout).topic_partitions
        }
        total = 0
        for tp in tps:
            key = (tp.topic, tp.partition)
            start = committed.get(key, -1)
            total += max(0, high[key] - (start if start >= 0 else low[key]))
        backlog[group] = total
    admin.poll(0)  # hand the client's log lines to the log
    return backlog
