"""Workers as real processes: killed with SIGKILL mid-message, stopped with SIGTERM, and the
whole chain (web server, relay, email worker) turning one sign-up into one email."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from app.events.catalogue import all_topics
from app.events.kafka import Publisher
from app.events.relay import relay_once
from app.extensions import db
from tests.conftest import PASSWORD
from tests.integration.processes import BIN, ROOT, Proc, process_env, wait_until, worker


@pytest.fixture
def broker(private_kafka_broker):
    private_kafka_broker.create_topics(all_topics())
    return private_kafka_broker


def test_a_worker_killed_mid_message_sends_the_email_once(
    app_factory, broker, sendgrid_standin, tmp_path, sqlite_url
):
    app = app_factory(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, EVENT_BUS="kafka")
    client = app.test_client()
    assert (
        client.post(
            "/api/v1/auth/register",
            json={"email": "killed@example.com", "password": PASSWORD, "name": "Kill"},
        ).status_code
        == 201
    )
    with app.app_context():
        assert relay_once(Publisher(app))["published"] == 1
    env = process_env(tmp_path, sqlite_url, broker, sendgrid_standin)
    sendgrid_standin.script("hang")  # the first send never gets an answer
    first = worker("email", env, tmp_path, "-1")
    try:
        wait_until(lambda: sendgrid_standin.received >= 1, 40, "the first send", (first,))
    finally:
        first.stop(signal.SIGKILL)  # in the middle of the message, before it is committed
    sendgrid_standin.release()
    second = worker("email", env, tmp_path, "-2")
    try:
        wait_until(lambda: len(sendgrid_standin.requests) >= 1, 60, "the email", (second,))
        time.sleep(2)  # room for a duplicate to show up, if there were one
        assert [r.status for r in sendgrid_standin.requests] == [202]
        assert sendgrid_standin.received == 2  # the hung one and the real one
    finally:
        assert second.stop(signal.SIGTERM) == 0, second.tail()  # a clean, graceful exit
    assert '"worker stopped"' in second.tail() or "worker stopped" in second.tail()
    from app.events.models import WorkerHeartbeat
    from app.mail.models import SentEmail

    with app.app_context():
        assert db.session.query(SentEmail).count() == 1
        beats = {b.worker_id: b for b in db.session.query(WorkerHeartbeat)}
        assert any(b.stopped and b.processed == 1 for b in beats.values())


def signup_in_browser(browser, base: str, email: str, name: str) -> None:
    """Sign up through the web page in Debian's Chromium, as a person would."""
    from playwright.sync_api import expect

    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/signup")
        page.get_by_label("Your name").fill(name)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_text(f"Welcome, {name}!")).to_be_visible()
    finally:
        context.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_a_browser_signup_becomes_one_email_through_real_processes(
    broker, sendgrid_standin, tmp_path, browser
):
    """Issue 4's "done when": a sign-up in the browser, with the web server, the relay and the
    email worker as separate processes, makes exactly one request to SendGrid."""
    database_url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    port = _free_port()
    env = process_env(
        tmp_path,
        database_url,
        broker,
        sendgrid_standin,
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )  # noqa: S603
    web = Proc(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], env, tmp_path / "web.log"
    )
    relay = worker("relay", env, tmp_path)
    email = worker("email", env, tmp_path)
    procs = (web, relay, email)
    try:

        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):  # noqa: S310
                    return True
            except OSError:
                return False

        wait_until(up, 30, "the web server", procs)
        signup_in_browser(browser, f"http://127.0.0.1:{port}", "real@example.com", "Real Person")
        wait_until(lambda: len(sendgrid_standin.requests) >= 1, 60, "the email", procs)
        time.sleep(3)
        (sent,) = sendgrid_standin.requests
        assert sent.body["personalizations"] == [{"to": [{"email": "real@example.com"}]}]
        assert f"http://127.0.0.1:{port}/verify-email/" in sent.body["content"][0]["value"]
        assert "embedded event bus started" not in web.tail()  # Kafka mode: no in-process bus
    finally:
        for proc in procs:
            proc.stop()
