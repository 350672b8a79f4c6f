"""The user's own projects: GET/POST /projects, GET/PUT/DELETE /projects/{id}."""

from __future__ import annotations

from typing import Any

from flask import g

from app.accounts import projects
from app.accounts.serializers import project_dict
from app.extensions import db
from blueprints.api import bp
from blueprints.api import schemas as s
from blueprints.api.core import route

E = s.ERROR
ID = [{"name": "project_id", "in": "path", "required": True, "schema": s.UUID}]


@route(
    bp,
    "/projects",
    "GET",
    tag="projects",
    summary="The user's projects, newest first",
    responses={200: ("Projects", s.PROJECT_LIST), 401: ("No valid token", E)},
)
def list_projects() -> Any:
    return {"items": [project_dict(p) for p in projects.list_projects(g.api_user)]}


@route(
    bp,
    "/projects",
    "POST",
    tag="projects",
    body=s.PROJECT_CREATE,
    summary="Create a project",
    responses={
        201: ("Created", s.PROJECT_ENVELOPE),
        401: ("No valid token", E),
        422: ("Invalid fields", E),
    },
)
def create_project() -> Any:
    b = g.body
    project = projects.create_project(
        g.api_user, b["name"], b.get("description"), b.get("course_slug")
    )
    db.session.commit()
    return {"project": project_dict(project)}, 201


@route(
    bp,
    "/projects/{project_id}",
    "GET",
    tag="projects",
    parameters=ID,
    summary="One of the user's projects",
    responses={200: ("The project", s.PROJECT_ENVELOPE), 404: ("Unknown or not yours", E)},
)
def get_project(project_id: str) -> Any:
    return {"project": project_dict(projects.access_project(g.api_user, project_id))}


@route(
    bp,
    "/projects/{project_id}",
    "PUT",
    tag="projects",
    parameters=ID,
    body=s.PROJECT_UPDATE,
    summary="Change a project",
    responses={
        200: ("Updated", s.PROJECT_ENVELOPE),
        404: ("Unknown or not yours", E),
        422: ("Invalid fields", E),
    },
)
def put_project(project_id: str) -> Any:
    b = g.body
    project = projects.update_project(
        g.api_user,
        project_id,
        name=b.get("name"),
        description=b.get("description"),
        course_slug=b["course_slug"] if "course_slug" in b else ...,
    )
    db.session.commit()
    return {"project": project_dict(project)}


@route(
    bp,
    "/projects/{project_id}",
    "DELETE",
    tag="projects",
    parameters=ID,
    summary="Delete a project",
    responses={204: ("Deleted", None), 404: ("Unknown or not yours", E)},
)
def delete_project(project_id: str) -> Any:
    projects.delete_project(g.api_user, project_id)
    db.session.commit()
    return "", 204
