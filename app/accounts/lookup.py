"""Finding accounts: by id, by email, and from a browser session's id."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from app.accounts.models import User, email_key
from app.extensions import db

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
_LOOKS_LIKE_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}$")


def loggable(account: str) -> str:
    """An address for the log, but never something else typed into the email box
    (people type passwords there)."""
    return account if _LOOKS_LIKE_EMAIL.match(account) else "[not an email address]"


def usable_email(raw: Any) -> str | None:
    """The lookup key of a typed email, or None for input no account can have."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 320 or _UNPRINTABLE.search(raw):
        return None
    return email_key(raw)


def get_user(user_id: uuid.UUID | str) -> User | None:
    try:
        uid = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
    except ValueError:
        return None
    return db.session.get(User, uid)


def find_user_by_email(email: str) -> User | None:
    if not isinstance(email, str):
        return None
    stmt = select(User).where(User.email_key == email_key(email))
    return db.session.scalars(stmt).first()


def load_session_user(session_id: str) -> User | None:
    """flask-login loader: the id is `<uuid>:<epoch>`, stale epochs sign out."""
    user_id, _, epoch = session_id.partition(":")
    user = get_user(user_id)
    if user is None or str(user.auth_epoch) != epoch:
        return None
    return user
