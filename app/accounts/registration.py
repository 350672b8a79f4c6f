"""Creating accounts: the sign-up rules and the new account's event."""

from __future__ import annotations

import logging
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError

from app.accounts import passwords
from app.accounts.lookup import find_user_by_email
from app.accounts.models import User
from app.errors import Conflict, ValidationFailed
from app.events import record_event
from app.extensions import db
from app.roles import Role
from app.validation import clean_name

log = logging.getLogger(__name__)

SOURCE = "accounts"  # the events' source
EMAIL_MAX = 254  # RFC 5321's limit on a forward path
EMAIL_TAKEN = "An account with this email already exists. Sign in or reset your password."


def clean_email(raw: Any) -> str:
    """A syntactically valid address, trimmed; the domain is lower-cased."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed(fields={"email": "Enter your email address."})
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(fields={"email": "Enter a valid email address."}) from exc
    if len(info.normalized) > EMAIL_MAX:
        raise ValidationFailed(fields={"email": "That email address is too long."})
    return info.normalized


def check_password_rules(
    password: Any, *, email: str = "", name: str = "", field: str = "password"
):
    if not isinstance(password, str):
        raise ValidationFailed(fields={field: "Enter a password."})
    problem = passwords.password_problem(password, email=email, name=name)
    if problem:
        raise ValidationFailed(fields={field: problem})


def registration_problems(
    email: Any, password: Any, name: Any
) -> tuple[dict[str, str], dict[str, str]]:
    """(clean values, field errors) of a sign-up, without asking whether the email is taken."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for field, fn, raw in (("email", clean_email, email), ("name", clean_name, name)):
        try:
            clean[field] = fn(raw)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    try:
        check_password_rules(password, email=clean.get("email", ""), name=clean.get("name", ""))
    except ValidationFailed as exc:
        errors.update(exc.fields)
    return clean, errors


def check_register(email: Any, password: Any, name: Any) -> User:
    """Validate a sign-up and create the account (unverified learner)."""
    clean, errors = registration_problems(email, password, name)
    if errors:
        raise ValidationFailed(fields=errors)
    if find_user_by_email(clean["email"]):
        raise Conflict(EMAIL_TAKEN, fields={"email": "An account with this email already exists."})
    return do_register(clean["email"], password, clean["name"])


def do_register(
    email: str, password: str | None, name: str, role: Role = Role.LEARNER, verified: bool = False
) -> User:
    user = User(
        email=email,
        name=name,
        role=role.value,
        email_verified=verified,
        password_hash=passwords.hash_password(password) if password else None,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # Two sign-ups with one address at once: the database's unique index decides.
        db.session.rollback()
        raise Conflict(
            EMAIL_TAKEN, fields={"email": "An account with this email already exists."}
        ) from None
    record_event("user.registered", {"user_id": str(user.id)}, key=str(user.id), source=SOURCE)
    log.info("user registered", extra={"user_id": str(user.id)})
    return user
