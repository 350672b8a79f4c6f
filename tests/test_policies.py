"""One question, can(actor, action, obj=None), decides who may do what (deny by default)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.policies import RULES, can

ROOT = Path(__file__).resolve().parents[1]


def _actor(role: str | None, user_id: str = "u1"):
    if role is None:
        return SimpleNamespace(is_authenticated=False)
    return SimpleNamespace(is_authenticated=True, id=user_id, role=role, name="N")


def _course(status: str = "published", owner: str = "owner"):
    return SimpleNamespace(status=status, instructor=SimpleNamespace(id=owner))


EXPECTED = {
    # action: roles allowed (guest, learner, instructor, moderator, admin), no object
    "account.use": {"learner", "instructor", "moderator", "admin"},
    "projects.use": {"learner", "instructor", "moderator", "admin"},
    "admin.use": {"admin"},
    "admin.users.set_role": {"admin"},
    "studio.use": {"instructor", "admin"},
    "course.create": {"instructor", "admin"},
    "course.moderate": {"moderator", "admin"},
    "moderation.use": {"moderator", "admin"},
}


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_role_actions(action):
    for role in (None, "learner", "instructor", "moderator", "admin"):
        assert can(_actor(role), action) is ((role or "guest") in EXPECTED[action]), (action, role)


def test_course_actions_look_at_the_course():
    owner, other = _actor("instructor", "owner"), _actor("instructor", "someone")
    draft, published = _course("draft"), _course("published")
    assert can(owner, "course.edit", draft) and not can(other, "course.edit", draft)
    assert can(_actor("admin"), "course.edit", draft)
    assert not can(_actor("moderator"), "course.edit", draft)
    assert can(_actor("moderator"), "course.unpublish", published)
    assert not can(other, "course.unpublish", published)
    assert can(None, "course.see", published) and not can(None, "course.see", draft)
    assert can(owner, "course.see", draft) and can(_actor("moderator"), "course.see", draft)
    lesson = SimpleNamespace(preview=False)
    assert not can(_actor("learner"), "lesson.open", (published, lesson, False))
    assert can(_actor("learner"), "lesson.open", (published, lesson, True))
    assert not can(_actor("learner"), "lesson.open", (draft, lesson, True))
    assert can(None, "lesson.open", (published, SimpleNamespace(preview=True), False))


def test_unknown_actions_are_denied():
    assert "admin.everything" not in RULES
    for role in (None, "learner", "admin"):
        assert can(_actor(role), "admin.everything") is False


def test_no_role_is_checked_outside_the_policies():
    """Pages, templates and services ask can(); only the policies compare roles."""
    allowed = {ROOT / "app" / "roles.py", *(ROOT / "app").glob("*/policies.py")}
    # A role compared with role names (a literal, a tuple of them, Role.X), or role_of().
    pattern = re.compile(r"\.role\s*(==|!=|in\b|not in\b)\s*[(\[{'\"R]|role_of\(")
    offenders = []
    for folder, suffix in (("app", "*.py"), ("blueprints", "*.py"), ("templates", "*.html")):
        for path in (ROOT / folder).rglob(suffix):
            if path in allowed:
                continue
            for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
