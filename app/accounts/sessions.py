"""Signing in and out: password checks, browser sessions, and the API's token pairs."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update

from app.accounts import guessing, passwords
from app.accounts.guessing import Client
from app.accounts.lookup import find_user_by_email, loggable, usable_email
from app.accounts.models import RefreshToken, User
from app.accounts.tokens import AccessClaims, issue_access_token, new_secret_token, token_digest
from app.errors import Unauthenticated, ValidationFailed
from app.extensions import db
from app.ratelimits import consume_account_limit
from app.timeutil import utcnow

log = logging.getLogger(__name__)

SIGNIN_FAILED = "The email or password is incorrect."


def authenticate(email: Any, password: Any, client: Client) -> User:
    """The user for these credentials; the same error for a wrong email or password.

    The attempt is counted before bcrypt runs (app/accounts/guessing.py): a stranger
    guessing at one address is slowed down without keeping the owner out.
    """
    account = usable_email(email)
    if account is None or not isinstance(password, str):
        raise Unauthenticated(SIGNIN_FAILED)
    user = find_user_by_email(account)
    attempt = guessing.count_attempt(account, str(user.id) if user else None, client)
    if user is None:
        passwords.burn_time()
        ok = False
    else:
        ok = passwords.check_password(password[: passwords.MAX_INPUT_LENGTH], user.password_hash)
    if not ok or user is None:
        log.warning(
            "sign-in failed", extra={"account": loggable(account), "known": user is not None}
        )
        raise Unauthenticated(SIGNIN_FAILED)
    attempt.succeeded()
    log.info("sign-in", extra={"user_id": str(user.id)})
    return user


def check_current_password(user: User, password: Any, client: Client, field: str) -> None:
    """Re-check a signed-in user's password before a sensitive change, counted like a
    sign-in so that a borrowed session cannot be used to guess it."""
    if not user.password_hash:
        return  # accounts without a password (OAuth) re-authenticate otherwise
    attempt = guessing.count_attempt(user.email_key, str(user.id), client)
    given = password if isinstance(password, str) else ""
    if not passwords.check_password(given[: passwords.MAX_INPUT_LENGTH], user.password_hash):
        log.warning("password check failed", extra={"user_id": str(user.id), "field": field})
        raise ValidationFailed(fields={field: "The password is incorrect."})
    attempt.succeeded()


def end_all_sessions(user: User) -> None:
    """Sign the user out everywhere: every session cookie and every token stops working."""
    user.auth_epoch += 1
    now = utcnow()
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


def issue_token_pair(user: User, rotated: RefreshToken | None = None) -> TokenPair:
    """A new access token and a new refresh token: a new family at sign-in, or the next
    token of `rotated`'s family, which ends when the family does, REFRESH_TOKEN_DAYS
    after the sign-in however often it is used (SPEC §4)."""
    raw = new_secret_token()
    family_id = rotated.family_id if rotated else uuid.uuid4()
    expires_at = (
        rotated.expires_at
        if rotated
        else utcnow() + timedelta(days=current_app.config["REFRESH_TOKEN_DAYS"])
    )
    db.session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=token_digest(raw),
            expires_at=expires_at,
        )
    )
    return TokenPair(
        access_token=issue_access_token(user.id, user.auth_epoch, family_id),
        refresh_token=raw,
        expires_in=int(current_app.config["ACCESS_TOKEN_SECONDS"]),
        user=user,
    )


def _find_refresh(raw: Any) -> RefreshToken | None:
    if not isinstance(raw, str) or not 20 <= len(raw) <= 200:
        return None
    return db.session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == token_digest(raw))
    ).first()


def _revoke_family(family_id: uuid.UUID) -> None:
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def rotate_refresh_token(raw: Any) -> TokenPair:
    """Spend a refresh token for a new pair; a reused token revokes its whole family."""
    token = _find_refresh(raw)
    if token is None:
        raise Unauthenticated("The refresh token is not valid.")
    now = utcnow()
    if token.used_at is not None or token.revoked_at is not None:
        _revoke_family(token.family_id)
        log.warning("refresh token reuse", extra={"user_id": str(token.user_id)})
        raise Unauthenticated("The refresh token is not valid.")
    if token.expires_at <= now:
        raise Unauthenticated("The refresh token has expired. Sign in again.")
    consume_account_limit("refresh", "RATELIMIT_REFRESH_ACCOUNT", str(token.user_id))
    # Mark used only if nobody else did in the meantime (two racing refreshes).
    claimed = db.session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == token.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),  # reuse elsewhere may have revoked it meanwhile
        )
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        _revoke_family(token.family_id)
        raise Unauthenticated("The refresh token is not valid.")
    user = db.session.get(User, token.user_id)
    if user is None:
        raise Unauthenticated("The refresh token is not valid.")
    return issue_token_pair(user, rotated=token)


def sign_out_with_refresh_token(raw: Any) -> None:
    """API sign-out. Like the browser's (SPEC §9), it ends every session and token of
    the user, this device's refresh family included. Only a live token does that: an old
    one (used, revoked or expired, as a leaked copy would be) only revokes its own family,
    so it cannot be used to sign the owner out again and again. Unknown tokens: nothing
    happens."""
    token = _find_refresh(raw)
    if token is None:
        return
    live = token.used_at is None and token.revoked_at is None and token.expires_at > utcnow()
    _revoke_family(token.family_id)
    if not live:
        return
    user = db.session.get(User, token.user_id)
    if user is not None:
        end_all_sessions(user)


def user_for_access_claims(claims: AccessClaims) -> User | None:
    """The user of a valid access token, unless their sessions ended since (epoch) or its
    refresh family was revoked (reuse detected, sign-out): one query either way."""
    live_family = (
        select(RefreshToken.id)
        .where(RefreshToken.family_id == claims.family_id, RefreshToken.revoked_at.is_(None))
        .exists()
    )
    return db.session.scalars(
        select(User).where(User.id == claims.user_id, User.auth_epoch == claims.epoch, live_family)
    ).first()


def prune_expired_tokens(before: datetime) -> int:
    """Forget refresh and one-time tokens that expired before `before` (hashes only, but
    nothing can use them any more). The caller commits."""
    from app.accounts.models import OneTimeToken

    gone = 0
    for model in (RefreshToken, OneTimeToken):
        result = db.session.execute(delete(model).where(model.expires_at < before))
        gone += int(getattr(result, "rowcount", 0) or 0)
    return gone
