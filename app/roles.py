"""The roles, which both contexts know: accounts stores them, courses decide by them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    INSTRUCTOR = "instructor"
    LEARNER = "learner"  # every new account


GUEST = "guest"  # anyone not signed in
ROLES = tuple(r.value for r in Role)
STAFF = frozenset({Role.ADMIN, Role.MODERATOR})  # keep the place healthy
AUTHORS = frozenset({Role.ADMIN, Role.INSTRUCTOR})  # write courses


def role_of(actor: Any) -> str:
    """The actor's role; `guest` for None or an anonymous user."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return GUEST
    return str(actor.role)
