"""Hostile input on every API endpoint that takes a body: a clear 4xx and nothing changed."""

from __future__ import annotations

import json

import pytest

from blueprints.api import core
from blueprints.api.core import MAX_JSON_BYTES, MAX_JSON_DEPTH, OPERATIONS
from tests.conftest import PASSWORD, events_of

BODY_OPS = [op for op in OPERATIONS if op.body]


def _snapshot(app, users):
    from app.accounts.models import Project, RefreshToken, User
    from app.extensions import db

    with app.app_context():
        return {
            "users": [
                (u.email, u.name, u.bio, u.role, u.password_hash)
                for u in db.session.query(User).order_by(User.email)
            ],
            "projects": [
                (p.name, p.description, p.course_slug)
                for p in db.session.query(Project).order_by(Project.name)
            ],
            "refresh": db.session.query(RefreshToken)
            .filter(RefreshToken.revoked_at.is_(None))
            .count(),
            "events": len(events_of(app)),
            "documents": _documents(),
        }


def _documents():
    from app.courses.documents import ALL

    return {
        model.__name__: sorted(str(d.to_mongo().to_dict()) for d in model.objects) for model in ALL
    }


@pytest.fixture
def world(api, users, app, courses):
    """A signed-in user with one project, enrolled in a course with a quiz;
    returns (token, path builder)."""
    user = users.create(email="owner@example.com", name="Owner")
    token = api.login(user.email)["access_token"]
    project = api.call("POST", "/projects", token, json={"name": "Existing"}).json["project"]
    course = courses.published(lessons=["quiz"])
    lesson_id = course.sections[0].lessons[0].id
    api.call("POST", f"/courses/{course.slug}/enrollment", token)

    def path(op):
        return "/api/v1" + (
            op.path.replace("{project_id}", project["id"])
            .replace("{slug}", course.slug)
            .replace("{lesson_id}", lesson_id)
        )

    return token, path


def _valid_body(op):
    """A body that passes the schema, so a single defect is what we test."""
    samples = {
        "email": "someone@example.com",
        "password": PASSWORD,
        "name": "Valid Name",
        "refresh_token": "r" * 43,
        "bio": "bio",
        "description": "d",
        "course_slug": "a-course",
        "completed": True,
        "position_seconds": 10,
        "answers": {},
    }
    required = op.body.get("required", [])
    return {k: samples[k] for k in (required or list(op.body["properties"])[:1])}


def _types(schema):
    if "anyOf" in schema:
        return set().union(*(_types(branch) for branch in schema["anyOf"]))
    if "const" in schema:
        return {"string"} if isinstance(schema["const"], str) else {"other"}
    kinds = schema.get("type", "object")
    return set(kinds if isinstance(kinds, list) else [kinds])


def _wrong_types(schema):
    kinds = _types(schema)
    candidates = {
        "string": "text",
        "integer": 12345,
        "boolean": True,
        "array": ["a"],
        "object": {"a": 1},
    }
    out = [value for kind, value in candidates.items() if kind not in kinds]
    if "integer" in kinds:
        out.append(-1)  # below every minimum we declare
    return out


@pytest.mark.parametrize("op", BODY_OPS, ids=lambda op: f"{op.method} {op.path}")
def test_hostile_bodies(op, world, app, users, client):
    token, path = world
    headers = {"Authorization": f"Bearer {token}"} if op.auth else {}
    url = path(op)
    before = _snapshot(app, users)
    valid = _valid_body(op)

    def send(**kwargs):
        return client.open(url, method=op.method.upper(), headers=headers, **kwargs)

    checks = []
    # malformed JSON
    checks.append((send(data="{not json", content_type="application/json"), 400))
    checks.append((send(data="[1, 2]", content_type="application/json"), 400))
    checks.append((send(data="NaN", content_type="application/json"), 400))
    checks.append((send(data=b"\xff\xfe", content_type="application/json"), 400))
    # wrong content type
    checks.append((send(data="email=a", content_type="application/x-www-form-urlencoded"), 415))
    checks.append((send(data="{}", content_type="text/plain"), 415))
    # oversized
    checks.append(
        (
            send(
                data='{"x": "' + "a" * (MAX_JSON_BYTES + 10) + '"}', content_type="application/json"
            ),
            413,
        )
    )
    # extra field
    checks.append((send(json={**valid, "role": "admin"}), 422))
    checks.append((send(json={**valid, "owner_id": "x"}), 422))
    for field, schema in op.body["properties"].items():
        # operator objects and values of the wrong type
        checks.append((send(json={**valid, field: {"$ne": ""}}), 422))
        for bad in _wrong_types(schema):
            checks.append((send(json={**valid, field: bad}), 422))
    for field in op.body.get("required", []):
        missing = {k: v for k, v in valid.items() if k != field}
        checks.append((send(json=missing), 422))
    if "name" in op.body["properties"]:
        checks.append((send(json={**valid, "name": "<img src=x onerror=alert(1)>"}), 422))
        checks.append((send(json={**valid, "name": "a" * 500}), 422))
    for response, status in checks:
        assert response.status_code == status, (response.status_code, response.json)
        assert response.is_json
        error = response.json["error"]
        assert error["code"] and error["message"]
        assert "Traceback" not in response.get_data(as_text=True)
    assert _snapshot(app, users) == before


def _nested(depth, shape):
    if shape == "array":
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


def _deep_bodies(op, depth):
    """Bodies nesting `depth` levels: bare, and inside each field of the route's schema."""
    for shape in ("array", "object"):
        inner = _nested(depth, shape)
        yield inner
        for field in op.body["properties"]:
            yield f'{{"{field}": {inner}}}'
        yield f'{{"answers": {{"q": {inner}}}}}'


@pytest.mark.parametrize("op", BODY_OPS, ids=lambda op: f"{op.method} {op.path}")
def test_deeply_nested_bodies_are_400_on_every_route(op, world, app, users, client, monkeypatch):
    """Nesting is bounded at parse time: one level past the bound, the depths that used to
    reach a RecursionError (about 980 to 1,000), and 100,000 levels with the size limit
    raised so the depth, not the size, is what the server meets."""
    token, path = world
    headers = {"Authorization": f"Bearer {token}"} if op.auth else {}
    monkeypatch.setattr(core, "MAX_JSON_BYTES", 1024 * 1024)
    before = _snapshot(app, users)
    for depth in (MAX_JSON_DEPTH + 1, 100, 981, 1000, 30_000, 100_000):
        for body in _deep_bodies(op, depth):
            response = client.open(
                path(op),
                method=op.method.upper(),
                headers=headers,
                data=body,
                content_type="application/json",
            )
            assert response.status_code == 400, (depth, body[:40], response.status_code)
            assert response.is_json
            assert response.json["error"]["code"] == "malformed"
            assert "nests more than" in response.json["error"]["message"]
    # unclosed brackets are refused for their depth too
    response = client.open(
        path(op),
        method=op.method.upper(),
        headers=headers,
        data="[" * 60_000,
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed"
    assert _snapshot(app, users) == before


@pytest.mark.parametrize("op", BODY_OPS, ids=lambda op: f"{op.method} {op.path}")
def test_nesting_up_to_the_bound_is_parsed(op, world, client):
    """At the bound the body is parsed and validated as usual (422, not 400), and brackets
    inside strings do not count."""
    token, path = world
    headers = {"Authorization": f"Bearer {token}"} if op.auth else {}
    for body in (
        f'{{"unknown": {_nested(MAX_JSON_DEPTH - 1, "array")}}}',
        json.dumps({"unknown": "[" * 1000 + "\\", "more": '\\"[{'}),
    ):
        response = client.open(
            path(op),
            method=op.method.upper(),
            headers=headers,
            data=body,
            content_type="application/json",
        )
        assert response.status_code == 422, (body[:40], response.json)
        assert response.json["error"]["fields"]["unknown"] == "This field is not allowed here."


def test_errors_for_unknown_routes_and_methods_are_json(client):
    assert client.get("/api/v1/does-not-exist").json["error"]["code"] == "not_found"
    response = client.patch("/api/v1/users/profile")
    assert response.status_code == 405 and response.is_json
    assert response.headers["Allow"]


def test_a_bug_gives_a_generic_500_without_a_traceback(app_factory):
    app = app_factory()

    @app.route("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.route("/boom")
    def boom_page():
        raise RuntimeError("secret internals")

    client = app.test_client()
    api = client.get("/api/v1/boom")
    assert api.status_code == 500 and api.json["error"]["code"] == "internal_error"
    page = client.get("/boom")
    assert page.status_code == 500
    for response in (api, page):
        body = response.get_data(as_text=True)
        assert "secret internals" not in body and "Traceback" not in body


def test_project_ids_that_are_not_uuids_are_404(world, client):
    token, _ = world
    headers = {"Authorization": f"Bearer {token}"}
    for bad in ["1", "../etc", "%00", "{'$ne': 1}", "00000000-0000-0000-0000-000000000000"]:
        assert client.get(f"/api/v1/projects/{bad}", headers=headers).status_code == 404


def test_credentials_with_operator_objects_never_sign_in(api, users):
    users.create(email="victim@example.com")
    response = api.call(
        "POST", "/auth/login", json={"email": "victim@example.com", "password": {"$ne": "x"}}
    )
    assert response.status_code == 422
    response = api.call("POST", "/auth/login", json={"email": {"$gt": ""}, "password": PASSWORD})
    assert response.status_code == 422
