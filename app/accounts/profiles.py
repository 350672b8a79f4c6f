"""A signed-in user's own account: profile, avatar, password, data download, deletion."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update

from app.accounts import passwords
from app.accounts.guessing import Client
from app.accounts.models import RefreshToken, User
from app.accounts.registration import SOURCE, check_password_rules
from app.accounts.sessions import check_current_password, end_all_sessions
from app.errors import ValidationFailed
from app.events import record_event
from app.extensions import db
from app.media.images import make_avatar, replace_image
from app.media.storage import storage
from app.timeutil import utcnow
from app.validation import clean_name, clean_text

log = logging.getLogger(__name__)

BIO_MAX = 2000


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
    if avatar:  # the media side deletes the file once this commits
        record_event(
            "media.discarded",
            {"keys": [avatar], "reason": "account_deleted"},
            key=str(user.id),
            source=SOURCE,
        )
    db.session.delete(user)
    db.session.flush()
    log.info("account deleted", extra={"user_id": str(user.id)})


def export_user_data(user: User) -> dict[str, Any]:
    """Everything the accounts context holds about the user, for download."""
    from app.accounts.projects import list_projects
    from app.accounts.serializers import project_dict, user_dict

    return {
        "user": user_dict(user),
        "projects": [project_dict(p) for p in list_projects(user)],
        "exported_at": utcnow().isoformat(),
    }


def change_password(user: User, current: Any, new: Any, client: Client) -> None:
    """Check the current password, set the new one and end every other session."""
    check_current_password(user, current, client, "current_password")
    check_password_rules(new, email=user.email, name=user.name, field="new_password")
    user.password_hash = passwords.hash_password(new)
    end_all_sessions(user)
    log.info("password changed", extra={"user_id": str(user.id)})
