"""Administration: roles, and finding users."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import func, or_, select

from app.accounts.lookup import find_user_by_email
from app.accounts.models import User
from app.errors import Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.pagination import Page
from app.policies import require
from app.roles import ROLES

log = logging.getLogger(__name__)

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def _check_role(role: Any) -> None:
    if role not in ROLES:
        raise ValidationFailed(fields={"role": f"Choose one of {', '.join(ROLES)}."})


def set_role(actor: Any, target: User, role: Any) -> User:
    """Change `target`'s role; only admins, and never their own (no self lock-out)."""
    require(actor, "admin.users.set_role")
    _check_role(role)
    if target.id == actor.id:
        raise Forbidden("You cannot change your own role.")
    if target.role != role:
        target.role = role
        log.info("role changed", extra={"user_id": str(target.id), "role": role})
    return target


def set_storage_quota(actor: Any, target: User, gigabytes: Any) -> User:
    """Give `target` their own storage quota in GiB, or None for the default
    (STORAGE_QUOTA_BYTES). Admins only. A quota below what they store already stops new
    uploads; nothing stored is deleted."""
    from app.media.rules import QUOTA_MAX_GB, GiB

    require(actor, "admin.users.set_quota")
    if gigabytes is not None and (
        not isinstance(gigabytes, int)
        or isinstance(gigabytes, bool)
        or not 0 <= gigabytes <= QUOTA_MAX_GB
    ):
        raise ValidationFailed(
            fields={
                "quota": f"Give a whole number of GB from 0 to {QUOTA_MAX_GB}, or leave it empty."
            }
        )
    target.storage_quota_bytes = None if gigabytes is None else gigabytes * GiB
    log.info(
        "storage quota changed",
        extra={"user_id": str(target.id), "quota_bytes": target.storage_quota_bytes},
    )
    return target


def set_role_by_email(email: str, role: str) -> User:
    """CLI: change a role without an acting user (the operator is the authority)."""
    user = find_user_by_email(email)
    if user is None:
        raise NotFound(f"No account with email {email}.")
    _check_role(role)
    user.role = role
    return user


def search_users(actor: Any, query: str = "", page: int = 1, per_page: int = 25) -> Page:
    """Admin: users whose name or email contains `query`, newest first."""
    require(actor, "admin.use")
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
