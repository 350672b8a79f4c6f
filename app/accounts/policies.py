"""Who may do what on the accounts side; asked through app.policies.can()."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.roles import GUEST, Role, role_of


def signed_in(actor: Any, _obj: Any = None) -> bool:
    return role_of(actor) != GUEST


def admin(actor: Any, _obj: Any = None) -> bool:
    return role_of(actor) == Role.ADMIN


# action -> rule(actor, obj). Anything not listed is denied.
RULES: dict[str, Callable[[Any, Any], bool]] = {
    "account.use": signed_in,
    "projects.use": signed_in,
    "admin.use": admin,  # the admin pages: users, roles, events and workers
    "admin.users.set_role": admin,
    "admin.users.set_quota": admin,  # an instructor's storage quota
}
