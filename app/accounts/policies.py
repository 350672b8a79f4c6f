"""Who may do what: one deny-by-default policy used by pages, the API and the CLI."""

from __future__ import annotations

from typing import Any

from app.accounts.models import Role

# action -> roles allowed. Anything not listed is denied.
_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "account.use": frozenset(r.value for r in Role),
    "projects.use": frozenset(r.value for r in Role),
    "admin.users.view": frozenset({Role.ADMIN.value}),
    "admin.users.set_role": frozenset({Role.ADMIN.value}),
}


def role_of(user: Any) -> str:
    """The role of a user object, `guest` for anonymous users."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "guest"
    return str(user.role)


def can(user: Any, action: str) -> bool:
    """True if `user` (None or anonymous for guests) may perform `action`."""
    allowed = _ROLE_ACTIONS.get(action)
    return allowed is not None and role_of(user) in allowed
