"""Email verification and password reset: single-use, expiring tokens sent by email."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from app.accounts import guessing, passwords
from app.accounts.lookup import find_user_by_email, usable_email
from app.accounts.models import OneTimeToken, User
from app.accounts.registration import SOURCE, check_password_rules
from app.accounts.sessions import end_all_sessions
from app.accounts.tokens import new_secret_token, token_digest
from app.errors import ValidationFailed
from app.events import record_event
from app.extensions import db
from app.ratelimits import consume_account_limit
from app.timeutil import utcnow

log = logging.getLogger(__name__)

VERIFY = "verify_email"
RESET = "reset_password"


def create_one_time_token(user: User, purpose: str) -> str:
    """A new single-use token; earlier unused ones of the same purpose stop working."""
    lifetime = (
        timedelta(hours=current_app.config["VERIFY_TOKEN_HOURS"])
        if purpose == VERIFY
        else timedelta(minutes=current_app.config["RESET_TOKEN_MINUTES"])
    )
    now = utcnow()
    db.session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    raw = new_secret_token()
    db.session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_digest(raw),
            expires_at=now + lifetime,
        )
    )
    return raw


def peek_one_time_token(raw: Any, purpose: str) -> OneTimeToken | None:
    """The live token for `raw`, without spending it."""
    if not isinstance(raw, str) or not 20 <= len(raw) <= 200:
        return None
    token = db.session.scalars(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == token_digest(raw), OneTimeToken.purpose == purpose
        )
    ).first()
    if token is None or token.used_at is not None or token.expires_at <= utcnow():
        return None
    return token


def _live_token(raw: Any, purpose: str) -> OneTimeToken:
    """The live token for `raw`, or the error a stale or unknown link gets."""
    token = peek_one_time_token(raw, purpose)
    if token is None:
        raise ValidationFailed(
            "This link is invalid or has expired. Ask for a new one.",
            fields={"token": "invalid or expired"},
        )
    return token


def _spend_one_time_token(raw: Any, purpose: str) -> User:
    token = _live_token(raw, purpose)
    claimed = db.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == token.id, OneTimeToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    user = db.session.get(User, token.user_id)
    if claimed.rowcount != 1 or user is None:  # type: ignore[attr-defined]
        raise ValidationFailed("This link has already been used.", fields={"token": "used"})
    return user


def verify_email(raw: Any) -> User:
    """Spend a verification token and mark the address verified."""
    user = _spend_one_time_token(raw, VERIFY)
    if not user.email_verified:
        user.email_verified = True
        record_event(
            "user.email_verified", {"user_id": str(user.id)}, key=str(user.id), source=SOURCE
        )
    return user


def request_verification_email(user: User) -> bool:
    """Queue a new verification email unless already verified; False if nothing to do."""
    if user.email_verified:
        return False
    consume_account_limit("verify", "RATELIMIT_VERIFY_ACCOUNT", str(user.id))
    record_event(
        "user.verification_requested", {"user_id": str(user.id)}, key=str(user.id), source=SOURCE
    )
    return True


def request_password_reset(email: Any) -> None:
    """Queue a reset request. Known and unknown addresses take the same path (one lookup
    and one event each); the handler mails only a real account. The event names the
    account by id, never by its address."""
    account = usable_email(email)
    if account is None:
        return
    consume_account_limit("reset", "RATELIMIT_RESET_ACCOUNT", account)
    user = find_user_by_email(account)
    user_id = str(user.id) if user else None
    record_event(
        "user.password_reset_requested",
        {"user_id": user_id},
        key=user_id or str(uuid.uuid4()),  # no order to keep for an unknown address
        source=SOURCE,
    )


def reset_password(raw: Any, new_password: Any) -> User:
    """Spend a reset token, set the password and end every session and token."""
    token = _live_token(raw, RESET)
    user = db.session.get(User, token.user_id)
    if user is None:
        raise ValidationFailed("This link is invalid or has expired.", fields={"token": "invalid"})
    check_password_rules(new_password, email=user.email, name=user.name)
    _spend_one_time_token(raw, RESET)
    user.password_hash = passwords.hash_password(new_password)
    user.email_verified = True  # they just proved they read this mailbox
    end_all_sessions(user)
    guessing.forget_all_failures(user.email_key)  # a stranger's guesses no longer count
    log.info("password reset", extra={"user_id": str(user.id)})
    return user
