"""A learner's own projects (name, description, optional course): owner only."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.accounts.models import Project, User
from app.errors import NotFound
from app.extensions import db
from app.validation import clean_name, clean_slug, clean_text, collect

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
    actor: Any,
    project_id: Any,
    *,
    name: Any = None,
    description: Any = None,
    course_slug: Any = ...,
) -> Project:
    """Change the actor's own project (only the fields given)."""
    project = access_project(actor, project_id)
    clean = _clean_project(
        project.name if name is None else name,
        project.description if description is None else description,
        project.course_slug if course_slug is ... else course_slug,
    )
    for key, value in clean.items():
        setattr(project, key, value)
    return project


def delete_project(actor: Any, project_id: Any) -> Project:
    """Delete the actor's own project; returns it (its name, for the message)."""
    project = access_project(actor, project_id)
    db.session.delete(project)
    return project
