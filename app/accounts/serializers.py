"""Public JSON shapes of account objects: never a hash, a token or an internal key."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.accounts.models import Project, User


def avatar_url(user: User) -> str | None:
    if not user.avatar_key:
        return None
    return f"{current_app.config['PUBLIC_URL']}/media/{user.avatar_key}"


def user_dict(user: User) -> dict[str, Any]:
    """The SPEC §4 `{user}` object."""
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "bio": user.bio or "",
        "avatar_url": avatar_url(user),
        "email_verified": bool(user.email_verified),
        "created_at": user.created_at.isoformat(),
    }


def project_dict(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "name": project.name,
        "description": project.description or "",
        "course_slug": project.course_slug,
        "created_at": project.created_at.isoformat(),
        "updated_at": project.updated_at.isoformat(),
    }
