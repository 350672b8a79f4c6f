"""The API's edges: answers without content, and bodies sent in chunks."""

from __future__ import annotations

import pytest

from blueprints.api.core import OPERATIONS
from tests.conftest import PASSWORD

PATHS = sorted({op.path for op in OPERATIONS} | {"/openapi.json"})
NO_CONTENT_OPS = [op for op in OPERATIONS if 204 in op.responses]


@pytest.fixture
def world(api, users, courses):
    """A signed-in user with a project and a refresh token, enrolled in a course with a quiz;
    returns (user, tokens, path builder)."""
    user = users.create(email="owner@example.com", name="Owner")
    tokens = api.login(user.email)
    project = api.call("POST", "/projects", tokens["access_token"], json={"name": "Mine"})
    course = courses.published(lessons=["quiz"])
    lesson_id = course.sections[0].lessons[0].id
    api.call("POST", f"/courses/{course.slug}/enrollment", tokens["access_token"])

    def path(template):
        return "/api/v1" + (
            template.replace("{project_id}", project.json["project"]["id"])
            .replace("{slug}", course.slug)
            .replace("{lesson_id}", lesson_id)
        )

    return user, tokens, path


def _assert_no_content(response):
    assert response.status_code == 204, (response.status_code, response.get_data(as_text=True))
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers, response.headers
    assert "text/html" not in str(response.headers)


@pytest.mark.parametrize("template", PATHS)
def test_options_carries_no_html(template, world, client):
    _, tokens, path = world
    for headers in ({}, {"Authorization": f"Bearer {tokens['access_token']}"}):
        response = client.options(path(template), headers=headers)
        _assert_no_content(response)
        routed = {op.method.upper() for op in OPERATIONS if op.path == template} or {"GET"}
        assert routed <= {m.strip() for m in response.headers["Allow"].split(",")}


# How to make each 204 route succeed; a new one must be added here.
SUCCESS_BODIES = {
    "logout": lambda tokens: {"refresh_token": tokens["refresh_token"]},
    "delete_account": lambda tokens: {"password": PASSWORD},
    "delete_project": lambda tokens: None,
}


def test_every_no_content_route_is_covered():
    assert {op.endpoint for op in NO_CONTENT_OPS} == set(SUCCESS_BODIES)


@pytest.mark.parametrize("op", NO_CONTENT_OPS, ids=lambda op: f"{op.method} {op.path}")
def test_no_content_answers_carry_no_body_and_no_type(op, world, client):
    _, tokens, path = world
    headers = {"Authorization": f"Bearer {tokens['access_token']}"} if op.auth else {}
    body = SUCCESS_BODIES[op.endpoint](tokens)
    kwargs = {"json": body} if body is not None else {}
    response = client.open(path(op.path), method=op.method.upper(), headers=headers, **kwargs)
    _assert_no_content(response)
