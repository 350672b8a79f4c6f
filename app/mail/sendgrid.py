"""Email through the SendGrid v3 API, with the official `sendgrid` client.

429 and 5xx answers (and network errors) are retried with exponential backoff,
honouring Retry-After; other 4xx answers are permanent. After the last attempt
the error propagates, so the consumer runner retries or dead-letters the event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from app.events import PermanentFailure

log = logging.getLogger(__name__)
# Every wait is capped so that a whole send stays well inside a consumer's
# max.poll.interval and a dispatcher's lease (app/events/bus.py LEASE).
MAX_WAIT = 30.0


class EmailRejected(PermanentFailure):
    """SendGrid refused the message for good (e.g. 400 or 401); retrying will not help."""


class EmailNotSent(RuntimeError):
    """SendGrid stayed unavailable through every attempt."""


def to_sendgrid(message: EmailMessage) -> dict[str, Any]:
    """The v3 mail/send body for a rendered message (plain text and HTML parts)."""
    from_name, from_email = parseaddr(message["From"])
    recipients = [{"email": addr} for _, addr in getaddresses([message["To"]]) if addr]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    content = []
    if plain is not None:
        content.append({"type": "text/plain", "value": plain.get_content()})
    if html is not None:
        content.append({"type": "text/html", "value": html.get_content()})
    body: dict[str, Any] = {
        "personalizations": [{"to": recipients}],
        "from": {"email": from_email, **({"name": from_name} if from_name else {})},
        "subject": str(message["Subject"]),
        "content": content,
    }
    if message["X-Lectern-Event"]:
        body["custom_args"] = {"event_id": str(message["X-Lectern-Event"])}
    return body


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After") if headers else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class SendGridBackend:
    def __init__(
        self,
        api_key: str,
        host: str,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 15.0,
    ):
        self.client = SendGridAPIClient(api_key=api_key, host=host)
        self.attempts = max(1, attempts)
        self.sleep = sleep
        self.timeout = timeout

    # Lectern keeps no copy of what it sent through SendGrid; SendGrid's own activity
    # history follows the retention of your SendGrid account (docs/operations.md).
    def prune(self, before: datetime) -> int:
        return 0

    def forget(self, address: str) -> int:
        return 0

    def send(self, message: EmailMessage) -> None:
        body = to_sendgrid(message)
        last = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                self.client.client.mail.send.post(request_body=body, timeout=self.timeout)
                return
            except HTTPError as exc:
                status = int(getattr(exc, "status_code", 0) or 0)
                if status != 429 and status < 500:
                    raise EmailRejected(f"SendGrid refused the message ({status})") from exc
                wait = _retry_after(getattr(exc, "headers", None))
                last = f"SendGrid answered {status}"
            except (URLError, TimeoutError, ConnectionError) as exc:
                wait = None
                last = f"SendGrid unreachable: {type(exc).__name__}"
            if attempt == self.attempts:
                break
            delay = min(MAX_WAIT, wait if wait is not None else 0.5 * 2 ** (attempt - 1))
            log.warning(
                "email send retry",
                extra={"attempt": attempt, "reason": last, "wait_seconds": delay},
            )
            self.sleep(delay)
        raise EmailNotSent(f"{last}, after {self.attempts} attempts")
