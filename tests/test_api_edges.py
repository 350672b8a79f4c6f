"""The API's edges: answers without content, and bodies sent in chunks."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from blueprints.api.core import MAX_JSON_BYTES, OPERATIONS
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


# ------------------------------------------------------------------ chunked bodies


@pytest.fixture
def live_api(app):
    """The test app behind werkzeug's real HTTP server, in a thread: the test client does
    not frame a body in chunks, a real server decodes them (and sets
    wsgi.input_terminated, as gunicorn does)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def _send_chunked(port, path, body, headers=None, chunk=4096):
    """POST/PUT `body` with Transfer-Encoding: chunked and no Content-Length."""
    method, _, path = path.partition(" ")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        pieces = (body[i : i + chunk] for i in range(0, len(body), chunk))
        connection.request(
            method,
            path,
            body=pieces,
            headers={"Content-Type": "application/json", **(headers or {})},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def _login_body(size):
    """A login body of exactly `size` bytes."""
    head, tail = b'{"email": "owner@example.com", "password": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_chunked_body_over_the_limit_is_413(live_api):
    for size in (MAX_JSON_BYTES + 1, MAX_JSON_BYTES + 5000, 4 * MAX_JSON_BYTES):
        status, content_type, raw = _send_chunked(
            live_api, "POST /api/v1/auth/login", _login_body(size)
        )
        assert status == 413, (size, raw)
        assert content_type == "application/json"
        assert json.loads(raw)["error"]["code"] == "too_large"


def test_a_chunked_body_within_the_limit_is_read_whole(live_api, world):
    user, tokens, _ = world
    # exactly at the limit: read and validated (the password is too long), not refused for size
    status, _, raw = _send_chunked(live_api, "POST /api/v1/auth/login", _login_body(MAX_JSON_BYTES))
    assert status == 422, raw
    assert "password" in json.loads(raw)["error"]["fields"]
    # a small one works end to end
    body = json.dumps({"email": user.email, "password": PASSWORD}).encode()
    status, _, raw = _send_chunked(live_api, "POST /api/v1/auth/login", body, chunk=7)
    assert status == 200, raw
    assert json.loads(raw)["token_type"] == "Bearer"
    status, _, raw = _send_chunked(
        live_api,
        "PUT /api/v1/users/profile",
        b'{"bio": "sent in chunks"}',
        {"Authorization": f"Bearer {tokens['access_token']}"},
        chunk=5,
    )
    assert status == 200, raw
    assert json.loads(raw)["user"]["bio"] == "sent in chunks"


@pytest.fixture(scope="module")
def gunicorn_api(tmp_path_factory):
    """gunicorn, as in production (`-c gunicorn.conf.py`), on the embedded default: only its
    framing of chunked bodies matters here, so no migrations (no database is touched)."""
    data_dir = tmp_path_factory.mktemp("gunicorn")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("GUNICORN_BIND", "FLASK_APP")},
        **{name: "" for name in ("DATABASE_URL", "REDIS_URL", "MONGODB_URI", "PUBLIC_URL")},
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "LECTERN_ENV": "development",
        "KAFKA_BOOTSTRAP_SERVERS": "",
        "WEB_CONCURRENCY": "1",
    }
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - closed below
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((data_dir / "server.log").read_text(errors="replace")[-3000:])
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def test_gunicorn_frames_chunked_bodies_the_same(gunicorn_api):
    status, content_type, raw = _send_chunked(
        gunicorn_api, "POST /api/v1/auth/login", _login_body(MAX_JSON_BYTES + 1)
    )
    assert (status, content_type) == (413, "application/json"), raw
    assert json.loads(raw)["error"]["code"] == "too_large"
    # read whole and validated: the field errors name what the body holds
    status, _, raw = _send_chunked(
        gunicorn_api, "POST /api/v1/auth/login", b'{"email": "a@b.c"}', chunk=3
    )
    assert status == 422, raw
    assert json.loads(raw)["error"]["fields"] == {"password": "This field is required."}
