"""Who may do what: one deny-by-default question, `can(actor, action, obj=None)`, in front
of both contexts' policies (app/accounts/policies.py, app/courses/policies.py).

Views, templates (`can` is a template global) and services all ask it, so a page, the
API and a worker get the same answer.
"""

from __future__ import annotations

from typing import Any

from app.accounts.policies import RULES as ACCOUNT_RULES
from app.courses.policies import RULES as COURSE_RULES
from app.errors import Forbidden

RULES = {**ACCOUNT_RULES, **COURSE_RULES}


def can(actor: Any, action: str, obj: Any = None) -> bool:
    """True if `actor` (None or anonymous for a guest) may do `action` (to `obj`)."""
    rule = RULES.get(action)
    return rule is not None and bool(rule(actor, obj))


def require(actor: Any, action: str, obj: Any = None, message: str | None = None) -> None:
    """Raise Forbidden unless `actor` may do `action`."""
    if not can(actor, action, obj):
        raise Forbidden(message)
