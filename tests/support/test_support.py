"""Tests of the stand-ins themselves: the SendGrid stand-in and the tansu broker."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from python_http_client.exceptions import (
    BadRequestsError,
    HTTPError,
    InternalServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
)
from sendgrid import SendGridAPIClient

from tests.integration.conftest import start_broker
from tests.support.kafka import RDKAFKA_LOG, BrokerError, KafkaBroker
from tests.support.sendgrid_standin import Answer, SendGridStandin

KEY = "SG.test-key"
MAIL = {
    "personalizations": [{"to": [{"email": "ada@example.com"}]}],
    "from": {"email": "noreply@lectern.test", "name": "Lectern"},
    "subject": "Hello",
    "content": [{"type": "text/plain", "value": "Hi Ada"}],
}


# ------------------------------------------------------------------ SendGrid stand-in


@pytest.fixture
def sg() -> Iterator[SendGridStandin]:
    with SendGridStandin(api_key=KEY) as standin:
        yield standin


def post(
    standin: SendGridStandin,
    body: Any = MAIL,
    key: str | None = KEY,
    path: str = "/v3/mail/send",
    timeout: float = 5,
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request; (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def sendgrid_client(standin: SendGridStandin, key: str = KEY, timeout: float = 5) -> Any:
    client = SendGridAPIClient(api_key=key, host=standin.url).client
    client.timeout = timeout
    return client


def test_answers_scripted_codes_in_order_then_202(sg: SendGridStandin) -> None:
    sg.script(500, 503, (429, 3), 401, 202)
    statuses = [post(sg)[0] for _ in range(6)]
    assert statuses == [500, 503, 429, 401, 202, 202]
    assert [r.status for r in sg.requests] == statuses
    assert sg.received == 6
    assert sg.pending_answers == 0


def test_202_is_empty_with_a_message_id_and_records_the_request(sg: SendGridStandin) -> None:
    status, headers, body = post(sg)
    assert (status, body) == (202, b"")
    assert len(headers["X-Message-Id"]) == 22
    [request] = sg.wait_for(1)
    assert (request.method, request.path, request.body) == ("POST", "/v3/mail/send", MAIL)
    assert request.headers["authorization"] == f"Bearer {KEY}"  # any case
    assert request.headers.get("Content-Type") == "application/json"
    assert request.time <= time.monotonic()


def test_errors_have_a_sendgrid_error_body(sg: SendGridStandin) -> None:
    sg.script(Answer(503, message="try later"))
    status, headers, body = post(sg)
    assert status == 503
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["errors"][0]["message"] == "try later"


def test_401_on_a_wrong_or_missing_key(sg: SendGridStandin) -> None:
    assert post(sg, key="SG.wrong")[0] == 401
    status, _, body = post(sg, key=None)
    assert status == 401
    assert "authorization" in json.loads(body)["errors"][0]["message"]
    assert post(sg)[0] == 202
    assert [r.status for r in sg.requests] == [401, 401, 202]


def test_400_for_a_body_sendgrid_would_reject(sg: SendGridStandin) -> None:
    status, _, body = post(sg, body={"from": {"email": "x@example.com"}})
    assert status == 400
    assert json.loads(body)["errors"][0]["field"] == "personalizations"
    assert post(sg, body={**MAIL, "content": []})[0] == 400
    assert post(sg, body={**MAIL, "template_id": "d-1", "subject": "", "content": []})[0] == 202


def test_validation_can_be_turned_off() -> None:
    with SendGridStandin(api_key=KEY, validate=False) as standin:
        assert post(standin, body={"anything": 1})[0] == 202
        assert standin.requests[0].body == {"anything": 1}


def test_other_paths_404_without_using_the_script(sg: SendGridStandin) -> None:
    sg.script(500)
    assert post(sg, path="/v3/nope")[0] == 404
    assert post(sg)[0] == 500


def test_hang_is_counted_not_recorded_and_stop_releases_it() -> None:
    standin = SendGridStandin(api_key=KEY).start()
    outcome: list[Any] = []

    def send() -> None:
        try:
            outcome.append(post(standin, timeout=10))
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            outcome.append(exc)

    standin.script("hang")
    thread = threading.Thread(target=send)
    thread.start()
    try:
        standin.wait_received(1)
        assert standin.hung == 1
        assert post(standin)[0] == 202  # the next request is answered meanwhile
        assert [r.status for r in standin.requests] == [202]
    finally:
        started = time.monotonic()
        standin.stop()
        thread.join(5)
    assert time.monotonic() - started < 2
    assert not thread.is_alive()
    assert standin.received == 2
    assert len(standin.requests) == 1
    [error] = outcome
    assert isinstance(error, ConnectionError | http.client.HTTPException), error


def test_release_closes_hung_requests_unanswered(sg: SendGridStandin) -> None:
    sg.script("hang", "hang")
    errors: list[BaseException] = []

    def send() -> None:
        try:
            post(sg)
        except (ConnectionError, http.client.HTTPException) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    sg.wait_received(2)
    deadline = time.monotonic() + 5
    while sg.hung < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sg.hung == 2
    sg.release()
    for thread in threads:
        thread.join(5)
    assert len(errors) == 2
    assert sg.requests == [] and sg.received == 2
    assert post(sg)[0] == 202  # later requests are answered normally


def test_reset_and_wait_for(sg: SendGridStandin) -> None:
    sg.script(500, 500)
    post(sg)
    sg.reset()
    assert (sg.requests, sg.received, sg.pending_answers) == ([], 0, 0)
    with pytest.raises(AssertionError, match="1 answered request"):
        sg.wait_for(1, timeout=0.2)
    timer = threading.Timer(0.1, post, args=(sg,))
    timer.start()
    assert [r.status for r in sg.wait_for(1, timeout=5)] == [202]
    timer.join(5)


def test_an_idle_connection_does_not_block_stop() -> None:
    standin = SendGridStandin(api_key=KEY).start()
    with socket.create_connection(("127.0.0.1", standin.port)):
        time.sleep(0.1)
        started = time.monotonic()
        standin.stop()
        assert time.monotonic() - started < 2


def test_the_sendgrid_library_sends_through_the_standin(sg: SendGridStandin) -> None:
    response = sendgrid_client(sg).mail.send.post(request_body=MAIL)
    assert response.status_code == 202
    assert response.body == b""
    assert response.headers["X-Message-Id"]
    [request] = sg.requests
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body == MAIL


def test_the_sendgrid_library_raises_on_scripted_errors(sg: SendGridStandin) -> None:
    sg.script(Answer(429, retry_after=7), 500, 503, 400)
    client = sendgrid_client(sg)
    with pytest.raises(TooManyRequestsError) as too_many:
        client.mail.send.post(request_body=MAIL)
    assert isinstance(too_many.value, HTTPError)
    assert too_many.value.status_code == 429
    assert too_many.value.headers["Retry-After"] == "7"
    assert json.loads(too_many.value.body)["errors"][0]["message"] == "too many requests"
    for expected in (InternalServerError, ServiceUnavailableError, BadRequestsError):
        with pytest.raises(expected):
            client.mail.send.post(request_body=MAIL)
    with pytest.raises(UnauthorizedError) as unauthorized:
        sendgrid_client(sg, key="SG.other").mail.send.post(request_body=MAIL)
    assert unauthorized.value.status_code == 401
    assert [r.status for r in sg.requests] == [429, 500, 503, 400, 401]


def test_the_sendgrid_library_times_out_on_a_hang(sg: SendGridStandin) -> None:
    sg.script("hang")
    with pytest.raises(TimeoutError):
        sendgrid_client(sg, timeout=0.3).mail.send.post(request_body=MAIL)
    assert (sg.received, sg.requests) == (1, [])


# ------------------------------------------------------------------ the broker


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """This module's own broker: the restart test wipes its storage."""
    started = start_broker(tmp_path_factory.mktemp("kafka-support"))
    try:
        yield started
    finally:
        started.stop()


def topic_name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.mark.kafka
def test_broker_creates_topics(broker: KafkaBroker) -> None:
    a, b = topic_name(), topic_name()
    broker.create_topics([a, b], partitions=3)
    broker.create_topics([a])  # exists already: fine
    assert {a, b} <= broker.topics()
    metadata = AdminClient(broker.config()).list_topics(timeout=5)
    assert len(metadata.topics[a].partitions) == 3
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"


@pytest.mark.kafka
def test_broker_produce_then_messages(broker: KafkaBroker) -> None:
    topic = topic_name()
    broker.create_topics([topic], partitions=3)
    sent = [
        broker.produce(topic, b"one", key=b"k1", headers={"type": b"a", "n": "1"}),
        broker.produce(topic, b"two", key="k2", headers={"type": b"b"}),
        broker.produce(topic, b"three"),
    ]
    found = broker.messages(topic, idle=0.5)
    assert len(found) == 3
    by_value = {m["value"]: m for m in found}
    assert by_value[b"one"]["key"] == b"k1"
    assert by_value[b"one"]["headers"] == {"type": b"a", "n": b"1"}
    assert by_value[b"two"]["key"] == b"k2"
    assert by_value[b"two"]["headers"] == {"type": b"b"}
    assert by_value[b"three"]["key"] is None and by_value[b"three"]["headers"] == {}
    assert {(m["partition"], m["offset"]) for m in found} == {
        (s["partition"], s["offset"]) for s in sent
    }
    assert found == sorted(found, key=lambda m: (m["partition"], m["offset"]))
    assert broker.messages(topic, idle=0.2) == found  # reading does not consume


@pytest.mark.kafka
def test_messages_of_an_unknown_topic_is_empty(broker: KafkaBroker) -> None:
    started = time.monotonic()
    assert broker.messages(topic_name(), idle=0.3) == []
    assert time.monotonic() - started < 3


@pytest.mark.kafka
def test_messages_waits_for_at_least(broker: KafkaBroker) -> None:
    topic = topic_name()
    broker.create_topics([topic])
    timer = threading.Timer(0.8, broker.produce, args=(topic, b"late"))
    timer.start()
    found = broker.messages(topic, timeout=10, idle=0.2, at_least=1)
    timer.join(10)
    assert [m["value"] for m in found] == [b"late"]


@pytest.mark.kafka
def test_a_consumer_group_reads_and_commits(broker: KafkaBroker) -> None:
    topic, group = topic_name(), f"g-{uuid.uuid4().hex[:8]}"
    broker.create_topics([topic], partitions=1)
    broker.produce(topic, b"hello", key=b"k")
    consumer = Consumer(
        broker.config(
            **{
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
            }
        )
    )
    try:
        consumer.subscribe([topic])
        message = None
        deadline = time.monotonic() + 15
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error():
                message = None
        assert message is not None and message.value() == b"hello"
        consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    assert broker.messages(topic, group=group, idle=0.2)[0]["value"] == b"hello"


@pytest.mark.kafka
def test_restart_keeps_the_port_and_clients_reconnect(broker: KafkaBroker) -> None:
    topic = topic_name()
    broker.create_topics([topic])
    port, pid = broker.port, broker.pid
    producer = Producer(broker.config(acks="all", **{"message.timeout.ms": 15000}))
    producer.produce(topic, b"before")
    assert producer.flush(10) == 0

    broker.restart()
    assert (broker.port, broker.bootstrap) == (port, f"127.0.0.1:{port}")
    assert broker.pid != pid and broker.running
    assert topic not in broker.topics()  # storage is in memory: gone
    broker.create_topics([topic])

    errors: list[Any] = []
    producer.produce(topic, b"after", on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(15) == 0
    assert errors == [None]
    assert [m["value"] for m in broker.messages(topic, idle=0.3)] == [b"after"]


def test_broker_start_errors_are_reported(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="exited with code 1"):
        KafkaBroker("/bin/false", log_dir=tmp_path).start()
    missing = KafkaBroker(log_dir=tmp_path)
    missing.binary = None
    with pytest.raises(BrokerError, match="not found"):
        missing.start()
    assert RDKAFKA_LOG.name.startswith("tests.support")
