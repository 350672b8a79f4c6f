"""Email: render a Jinja HTML + text pair and hand the message to the configured backend.

The embedded backend writes one `.eml` file per message to DATA_DIR/outbox/.
A SendGrid backend slots in behind the same `send` interface.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app, render_template

from app.timeutil import utcnow


class MailBackend(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def prune(self, before: datetime) -> int:
        """Forget the copies of messages sent before `before`; returns how many."""
        ...

    def forget(self, address: str) -> int:
        """Forget every kept copy of a message to `address` (an account was deleted)."""
        ...


class FileBackend:
    """Writes each message as an .eml file; written to a temp name, then renamed.

    The files are the embedded default's sent-mail record: they hold addresses and
    links, so they are pruned after the retention period and scrubbed when an
    account is deleted (app/privacy.py).
    """

    def __init__(self, directory: Path):
        self.directory = directory

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml")) if self.directory.is_dir() else []

    def prune(self, before: datetime) -> int:
        gone = 0
        for path in self._files():
            try:
                if path.stat().st_mtime < before.timestamp():
                    path.unlink()
                    gone += 1
            except FileNotFoundError:
                continue
        return gone

    def forget(self, address: str) -> int:
        wanted = address.strip().lower()
        gone = 0
        for path in self._files():
            try:
                with path.open("rb") as raw:
                    headers = BytesParser(policy=default_policy).parse(raw, headersonly=True)
            except FileNotFoundError:
                continue
            recipients = {a.strip().lower() for _, a in getaddresses(headers.get_all("To", []))}
            if wanted in recipients:
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        final = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        tmp = final.with_suffix(".tmp")
        tmp.write_bytes(bytes(message))
        tmp.replace(final)


def init_app(app: Flask) -> None:
    """SendGrid when SENDGRID_API_KEY is set, else .eml files under DATA_DIR/outbox/."""
    from app.mail import models  # noqa: F401 - the table is part of the app's schema

    if app.config.get("SENDGRID_API_KEY"):
        from app.mail.sendgrid import SendGridBackend

        app.extensions["mail"] = SendGridBackend(
            app.config["SENDGRID_API_KEY"],
            app.config["SENDGRID_API_HOST"],
            attempts=app.config["EMAIL_SEND_ATTEMPTS"],
        )
    else:
        app.extensions["mail"] = FileBackend(Path(app.config["DATA_DIR"]) / "outbox")


def render_message(to: str, subject: str, template: str, **context: Any) -> EmailMessage:
    """Build a multipart message from templates/email/<template>.{txt,html}."""
    context.setdefault("public_url", current_app.config["PUBLIC_URL"])
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain="lectern.local")
    message.set_content(render_template(f"email/{template}.txt", subject=subject, **context))
    message.add_alternative(
        render_template(f"email/{template}.html", subject=subject, **context), subtype="html"
    )
    return message


def already_sent(event_id: str, template: str) -> bool:
    """True if this event's email with this template went out already."""
    from app.extensions import db
    from app.mail.models import SentEmail

    return db.session.get(SentEmail, f"{event_id}:{template}") is not None


def send_mail(
    to: str, subject: str, template: str, *, event_id: str | None = None, **context: Any
) -> bool:
    """Render and send one message through the configured backend.

    With an `event_id`, the message is sent at most once per (event, template): the
    record is committed the moment the backend accepted it, so a redelivered event
    finds it and sends nothing. Returns False when it had already been sent.
    """
    from app.extensions import db
    from app.mail.models import SentEmail

    key = f"{event_id}:{template}" if event_id else None
    if key and db.session.get(SentEmail, key) is not None:
        return False
    message = render_message(to, subject, template, **context)
    if event_id:
        message["X-Lectern-Event"] = event_id
    backend: MailBackend = current_app.extensions["mail"]
    backend.send(message)
    if key:
        db.session.add(SentEmail(key=key))
        db.session.commit()
    return True
