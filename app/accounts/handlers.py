"""Accounts' own event consumer (`accounts-email`): the emails that follow events.

The course side's events carry user ids; this consumer owns the addresses, so
it resolves them and sends. Each email is sent at most once per event.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.accounts import lookup, verification
from app.events import subscribe
from app.events.outbox import register_outbox
from app.events.sql_outbox import SqlOutbox
from app.mail import already_sent, send_mail

CONSUMER = "accounts-email"

# The accounts side records its events in the relational outbox; the bus and the relay
# deliver from it through the event layer's Outbox interface.
register_outbox(SqlOutbox())


def _link(path: str) -> str:
    return f"{current_app.config['PUBLIC_URL']}{path}"


def _send_verification(event: dict[str, Any], subject: str) -> None:
    user = lookup.get_user(event["data"]["user_id"])
    if user is None or user.email_verified or already_sent(event["id"], "verify_email"):
        return  # deleted, verified since, or sent already: a new token would void its link
    token = verification.create_one_time_token(user, verification.VERIFY)
    send_mail(
        user.email,
        subject,
        "verify_email",
        event_id=event["id"],
        user=user,
        link=_link(f"/verify-email/{token}"),
        hours=current_app.config["VERIFY_TOKEN_HOURS"],
    )


@subscribe("user.registered", CONSUMER)
def on_registered(event: dict[str, Any]) -> None:
    """Send the verification email to a new account."""
    _send_verification(event, "Confirm your email address for Lectern")


@subscribe("user.verification_requested", CONSUMER)
def on_verification_requested(event: dict[str, Any]) -> None:
    """Send a fresh verification link (earlier links stop working)."""
    _send_verification(event, "Your new Lectern confirmation link")


@subscribe("user.email_verified", CONSUMER)
def on_email_verified(event: dict[str, Any]) -> None:
    """Welcome a user once their address is confirmed."""
    user = lookup.get_user(event["data"]["user_id"])
    if user is not None:
        send_mail(
            user.email,
            "Welcome to Lectern",
            "welcome",
            event_id=event["id"],
            user=user,
            link=_link("/courses"),
        )


@subscribe("user.password_reset_requested", CONSUMER)
def on_password_reset_requested(event: dict[str, Any]) -> None:
    """Send a single-use password reset link if the address has an account."""
    data = event["data"]
    if event["version"] == 1:  # recorded before events stopped carrying addresses
        user = lookup.find_user_by_email(data["email"])
    else:
        user = lookup.get_user(data["user_id"]) if data["user_id"] else None
    if user is None or already_sent(event["id"], "reset_password"):
        return
    token = verification.create_one_time_token(user, verification.RESET)
    send_mail(
        user.email,
        "Reset your Lectern password",
        "reset_password",
        event_id=event["id"],
        user=user,
        link=_link(f"/reset-password/{token}"),
        minutes=current_app.config["RESET_TOKEN_MINUTES"],
    )


def _notify(
    event: dict[str, Any], user_id: str, subject: str, template: str, path: str, **context: Any
) -> None:
    """Mail an event to the user it concerns, if the account still exists (once per
    event and template), with a link to `path`."""
    user = lookup.get_user(user_id) if user_id else None
    if user is not None:
        send_mail(
            user.email,
            subject,
            template,
            event_id=event["id"],
            user=user,
            link=_link(path),
            **context,
        )


@subscribe("course.enrolled", CONSUMER)
def on_enrolled(event: dict[str, Any]) -> None:
    """Confirm an enrolment to the learner."""
    data = event["data"]
    _notify(
        event,
        data["user_id"],
        f"You are enrolled: {data['title']}",
        "enrolled",
        f"/courses/{data['slug']}/continue",
        title=data["title"],
    )


@subscribe("course.published", CONSUMER)
def on_course_published(event: dict[str, Any]) -> None:
    """Tell the instructor their course was approved and is in the catalog."""
    data = event["data"]
    _notify(
        event,
        data["instructor_id"],
        f"Your course is published: {data['title']}",
        "course_published",
        f"/courses/{data['slug']}",
        title=data["title"],
    )


def _media_mail(event: dict[str, Any], subject: str, template: str, **extra: Any) -> None:
    """Tell the instructor what became of a lesson's new file (once per upload: the
    mail is keyed by the event)."""
    data = event["data"]
    _notify(
        event,
        data["owner_id"],  # empty for an event recorded before the upgrade: nobody
        subject,
        template,
        f"/studio/{data['course_slug']}/lessons/{data['lesson_id']}",
        what="video" if data["kind"] == "video" else "file",
        lesson_title=data["lesson_title"],
        course_title=data["course_title"],
        **extra,
    )


@subscribe("media.ready", CONSUMER)
def on_media_ready(event: dict[str, Any]) -> None:
    """Tell the instructor a lesson's new file is ready for learners."""
    _media_mail(event, f"Ready: {event['data']['lesson_title']}", "media_ready")


@subscribe("media.failed", CONSUMER)
def on_media_failed(event: dict[str, Any]) -> None:
    """Tell the instructor why a lesson's new file cannot be used."""
    data = event["data"]
    _media_mail(
        event,
        f"Could not use the file for {data['lesson_title']}",
        "media_failed",
        reason=data["reason"],
    )
