"""Account workflows shared by the pages, the JSON API and the CLI.

Naming follows Zulip: `do_*` performs a change and its side effects,
`check_*` validates and then calls `do_*`, `access_*` fetches or raises.
Functions add to the session; the caller (view, CLI, worker) commits.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts import guessing, passwords
from app.accounts.guessing import Client
from app.accounts.models import OneTimeToken, Project, RefreshToken, Role, User, email_key
from app.accounts.tokens import (
    AccessClaims,
    issue_access_token,
    new_secret_token,
    token_digest,
)
from app.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from app.events import record_event
from app.extensions import db
from app.media.images import make_avatar, replace_image
from app.media.storage import storage
from app.ratelimits import consume_account_limit
from app.timeutil import utcnow
from app.validation import clean_name, clean_slug, clean_text, collect

log = logging.getLogger(__name__)

SOURCE = "accounts"
VERIFY = "verify_email"
RESET = "reset_password"
NAME_MAX = 100
BIO_MAX = 2000
SIGNIN_FAILED = "The email or password is incorrect."
EMAIL_TAKEN = "An account with this email already exists. Sign in or reset your password."
_LOOKS_LIKE_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}$")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def _loggable(account: str) -> str:
    """An address for the log, but never something else typed into the email box
    (people type passwords there)."""
    return account if _LOOKS_LIKE_EMAIL.match(account) else "[not an email address]"


def _usable_email(raw: Any) -> str | None:
    """The lookup key of a typed email, or None for input no account can have."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 320 or _UNPRINTABLE.search(raw):
        return None
    return email_key(raw)


# ---------------------------------------------------------------- validation


def clean_email(raw: Any) -> str:
    """A syntactically valid address, trimmed; the domain is lower-cased."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed(fields={"email": "Enter your email address."})
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(fields={"email": "Enter a valid email address."}) from exc
    if len(info.normalized) > 254:
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


def _rounds() -> int:
    return int(current_app.config["BCRYPT_ROUNDS"])


# ---------------------------------------------------------------- lookups


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


# ---------------------------------------------------------------- registration


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
        password_hash=passwords.hash_password(password, _rounds()) if password else None,
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


# ---------------------------------------------------------------- sign-in and sessions


def authenticate(email: Any, password: Any, client: Client) -> User:
    """The user for these credentials; the same error for a wrong email or password.

    The attempt is counted before bcrypt runs (app/accounts/guessing.py): a stranger
    guessing at one address is slowed down without keeping the owner out.
    """
    account = _usable_email(email)
    if account is None or not isinstance(password, str):
        raise Unauthenticated(SIGNIN_FAILED)
    user = find_user_by_email(account)
    attempt = guessing.count_attempt(account, str(user.id) if user else None, client)
    if user is None:
        passwords.burn_time(_rounds())
        ok = False
    else:
        ok = passwords.check_password(password[: passwords.MAX_LENGTH * 4], user.password_hash)
    if not ok or user is None:
        log.warning(
            "sign-in failed", extra={"account": _loggable(account), "known": user is not None}
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
    if not passwords.check_password(given[: passwords.MAX_LENGTH * 4], user.password_hash):
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
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
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
    the user, this device's refresh family included. Unknown tokens: nothing happens."""
    token = _find_refresh(raw)
    if token is None:
        return
    _revoke_family(token.family_id)
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


# ---------------------------------------------------------------- one-time tokens


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


def _spend_one_time_token(raw: Any, purpose: str) -> User:
    token = peek_one_time_token(raw, purpose)
    if token is None:
        raise ValidationFailed(
            "This link is invalid or has expired. Ask for a new one.",
            fields={"token": "invalid or expired"},
        )
    claimed = db.session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == token.id, OneTimeToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    user = db.session.get(User, token.user_id)
    if claimed.rowcount != 1 or user is None:  # type: ignore[attr-defined]
        raise ValidationFailed("This link has already been used.", fields={"token": "used"})
    return user


# ---------------------------------------------------------------- email verification


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


# ---------------------------------------------------------------- passwords


def request_password_reset(email: Any) -> None:
    """Queue a reset request. Known and unknown addresses take the same path (one lookup
    and one event each); the handler mails only a real account. The event names the
    account by id, never by its address."""
    account = _usable_email(email)
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
    token = peek_one_time_token(raw, RESET)
    if token is None:
        raise ValidationFailed(
            "This link is invalid or has expired. Ask for a new one.",
            fields={"token": "invalid or expired"},
        )
    user = db.session.get(User, token.user_id)
    if user is None:
        raise ValidationFailed("This link is invalid or has expired.", fields={"token": "invalid"})
    check_password_rules(new_password, email=user.email, name=user.name)
    _spend_one_time_token(raw, RESET)
    user.password_hash = passwords.hash_password(new_password, _rounds())
    user.email_verified = True  # they just proved they read this mailbox
    end_all_sessions(user)
    guessing.forget_all_failures(user.email_key)  # a stranger's guesses no longer count
    log.info("password reset", extra={"user_id": str(user.id)})
    return user


def change_password(user: User, current: Any, new: Any, client: Client) -> None:
    """Check the current password, set the new one and end every other session."""
    check_current_password(user, current, client, "current_password")
    check_password_rules(new, email=user.email, name=user.name, field="new_password")
    user.password_hash = passwords.hash_password(new, _rounds())
    end_all_sessions(user)
    log.info("password changed", extra={"user_id": str(user.id)})


# ---------------------------------------------------------------- profile and account


def update_profile(user: User, *, name: Any = None, bio: Any = None) -> User:
    """Change the name and/or bio; None leaves a field as it is."""
    errors: dict[str, str] = {}
    changes: dict[str, str] = {}
    if name is not None:
        try:
            changes["name"] = clean_name(name)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if bio is not None:
        try:
            changes["bio"] = clean_text(bio, "bio", BIO_MAX)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed(fields=errors)
    renamed = "name" in changes and changes["name"] != user.name
    for key, value in changes.items():
        setattr(user, key, value)
    if renamed:
        record_event(
            "user.renamed",
            {"user_id": str(user.id), "name": user.name},
            key=str(user.id),
            source=SOURCE,
        )
    return user


def set_avatar(user: User, data: bytes) -> None:
    """Re-encode the upload as a square WebP and make it the user's avatar."""
    user.avatar_key = replace_image(data, make_avatar, "avatars", user.avatar_key, "avatar")


def remove_avatar(user: User) -> None:
    if user.avatar_key:
        storage().delete(user.avatar_key)
        user.avatar_key = None


def delete_account(user: User, password: Any, client: Client) -> None:
    """Delete the user and everything they own here; the course side learns by event."""
    from app.privacy import forget_person

    check_current_password(user, password, client, "password")
    told = record_event("user.deleted", {"user_id": str(user.id)}, key=str(user.id), source=SOURCE)
    forget_person(str(user.id), user.email, keep=told)
    avatar = user.avatar_key
    db.session.execute(
        update(RefreshToken).where(RefreshToken.user_id == user.id).values(revoked_at=utcnow())
    )
    db.session.delete(user)
    db.session.flush()
    if avatar:
        storage().delete(avatar)
    log.info("account deleted", extra={"user_id": str(user.id)})


def export_user_data(user: User) -> dict[str, Any]:
    """Everything the accounts context holds about the user, for download."""
    from app.accounts.serializers import project_dict, user_dict

    return {
        "user": user_dict(user),
        "projects": [project_dict(p) for p in list_projects(user)],
        "exported_at": utcnow().isoformat(),
    }


# ---------------------------------------------------------------- roles and admin


def _require(actor: Any, action: str) -> None:
    from app.accounts.policies import can

    if not can(actor, action):
        raise Forbidden()


def set_role(actor: Any, target: User, role: Any) -> User:
    """Change `target`'s role; only admins, and never their own (no self lock-out)."""
    _require(actor, "admin.users.set_role")
    if role not in {r.value for r in Role}:
        raise ValidationFailed(
            fields={"role": "Choose one of admin, moderator, instructor, learner."}
        )
    if target.id == actor.id:
        raise Forbidden("You cannot change your own role.")
    if target.role != role:
        target.role = role
        log.info("role changed", extra={"user_id": str(target.id), "role": role})
    return target


def set_role_by_email(email: str, role: str) -> User:
    """CLI: change a role without an acting user (the operator is the authority)."""
    user = find_user_by_email(email)
    if user is None:
        raise NotFound(f"No account with email {email}.")
    if role not in {r.value for r in Role}:
        raise ValidationFailed(
            fields={"role": "Choose one of admin, moderator, instructor, learner."}
        )
    user.role = role
    return user


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def search_users(actor: Any, query: str = "", page: int = 1, per_page: int = 25) -> Page:
    """Admin: users whose name or email contains `query`, newest first."""
    _require(actor, "admin.users.view")
    page = min(max(1, page), 100_000)
    per_page = min(max(1, per_page), 100)
    stmt = select(User)
    count = select(func.count()).select_from(User)
    query = _UNPRINTABLE.sub("", query or "").strip()[:100]
    if query:
        like = (
            "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        cond = or_(
            User.email_key.like(like, escape="\\"),
            func.lower(User.name).like(like, escape="\\"),
        )
        stmt, count = stmt.where(cond), count.where(cond)
    total = db.session.scalar(count) or 0
    items = db.session.scalars(
        stmt.order_by(User.created_at.desc(), User.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(list(items), page, per_page, total)


# ---------------------------------------------------------------- projects

PROJECT_NAME_MAX = 120
PROJECT_DESCRIPTION_MAX = 5000


def _clean_project(name: Any, description: Any, course_slug: Any) -> dict[str, Any]:
    return collect(
        ("name", lambda: clean_name(name, "name", PROJECT_NAME_MAX)),
        ("description", lambda: clean_text(description, "description", PROJECT_DESCRIPTION_MAX)),
        (
            "course_slug",
            lambda: None if course_slug in (None, "") else clean_slug(course_slug, "course_slug"),
        ),
    )


def list_projects(user: User) -> list[Project]:
    return list(
        db.session.scalars(
            select(Project).where(Project.owner_id == user.id).order_by(Project.created_at.desc())
        )
    )


def create_project(user: User, name: Any, description: Any = None, course_slug: Any = None):
    project = Project(owner_id=user.id, **_clean_project(name, description, course_slug))
    db.session.add(project)
    db.session.flush()
    return project


def access_project(user: Any, project_id: Any) -> Project:
    """The user's own project; anyone else's, or a malformed id, is NotFound."""
    try:
        pid = uuid.UUID(str(project_id))
    except ValueError as exc:
        raise NotFound("No such project.") from exc
    project = db.session.get(Project, pid)
    if project is None or getattr(user, "id", None) != project.owner_id:
        raise NotFound("No such project.")
    return project


def update_project(
    project: Project, *, name: Any = None, description: Any = None, course_slug: Any = ...
) -> Project:
    clean = _clean_project(
        project.name if name is None else name,
        project.description if description is None else description,
        project.course_slug if course_slug is ... else course_slug,
    )
    for key, value in clean.items():
        setattr(project, key, value)
    return project


def delete_project(project: Project) -> None:
    db.session.delete(project)
