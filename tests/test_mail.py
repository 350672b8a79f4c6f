"""Email: the SendGrid backend against an HTTP stand-in for the SendGrid API."""

from __future__ import annotations

import pytest

from app.mail.sendgrid import EmailNotSent, EmailRejected, SendGridBackend
from tests.support.sendgrid_standin import Answer, SendGridStandin

KEY = "SG.test-key"


@pytest.fixture
def standin():
    with SendGridStandin(api_key=KEY) as server:
        yield server


@pytest.fixture
def sendgrid_app(app_factory, standin):
    return app_factory(
        SENDGRID_API_KEY=KEY,
        SENDGRID_API_HOST=standin.url,
        EMAIL_SEND_ATTEMPTS=3,
        MAIL_FROM="Lectern <no-reply@lectern.test>",
    )


def _send(app, **kwargs):
    from app.mail import send_mail

    with app.app_context():
        return send_mail(
            "ana@example.com",
            "Hello Ana",
            "welcome",
            user=type("U", (), {"name": "Ana <3"})(),
            link="http://x/y",
            **kwargs,
        )


def test_the_exact_request_sendgrid_receives(sendgrid_app, standin):
    assert _send(sendgrid_app, event_id="e-1") is True
    (request,) = standin.requests
    assert request.method == "POST" and request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = request.body
    assert body["personalizations"] == [{"to": [{"email": "ana@example.com"}]}]
    assert body["from"] == {"email": "no-reply@lectern.test", "name": "Lectern"}
    assert body["subject"] == "Hello Ana"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert "Ana <3" in body["content"][0]["value"]
    assert "Ana &lt;3" in body["content"][1]["value"]  # escaped in HTML
    assert body["custom_args"] == {"event_id": "e-1"}


def test_one_email_per_event_and_template(sendgrid_app, standin):
    assert _send(sendgrid_app, event_id="e-2") is True
    assert _send(sendgrid_app, event_id="e-2") is False
    assert len(standin.requests) == 1


def test_500_then_202_is_retried(sendgrid_app, standin):
    standin.script(500, 202)
    _send(sendgrid_app)
    assert [r.status for r in standin.requests] == [500, 202]


def test_429_waits_for_retry_after(app_factory, standin):
    waits = []
    app = app_factory(SENDGRID_API_KEY=KEY, SENDGRID_API_HOST=standin.url)
    with app.app_context():
        backend = app.extensions["mail"]
        backend.sleep = waits.append
    standin.script(Answer(429, retry_after=7), 503, 202)
    _send(app)
    assert waits == [7.0, 1.0]  # Retry-After honoured, then exponential backoff
    assert [r.status for r in standin.requests] == [429, 503, 202]


def test_gives_up_after_the_limit(app_factory, standin):
    app = app_factory(SENDGRID_API_KEY=KEY, SENDGRID_API_HOST=standin.url, EMAIL_SEND_ATTEMPTS=2)
    with app.app_context():
        app.extensions["mail"].sleep = lambda _s: None
    standin.script(500, 500)
    with pytest.raises(EmailNotSent):
        _send(app, event_id="e-3")
    standin.script(202)
    assert _send(app, event_id="e-3") is True  # not recorded as sent before


@pytest.mark.parametrize("status", [400, 401, 403])
def test_permanent_errors_are_not_retried(app_factory, standin, status):
    app = app_factory(SENDGRID_API_KEY=KEY, SENDGRID_API_HOST=standin.url)
    standin.script(status)
    with pytest.raises(EmailRejected):
        _send(app)
    assert len(standin.requests) == 1


def test_unreachable_sendgrid_is_retried_then_reported():
    backend = SendGridBackend(
        "SG.x", "http://127.0.0.1:9", attempts=2, sleep=lambda _s: None, timeout=1
    )
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@b.co", "c@d.co", "Hi"
    message.set_content("plain")
    with pytest.raises(EmailNotSent, match="unreachable"):
        backend.send(message)
