"""The OpenAPI document states the server's real rules: each documented rule is read from
the served document and checked against what the server does at and past its edges."""

from __future__ import annotations

import re
import uuid

import pytest

from blueprints.api.core import OPERATIONS
from tests.conftest import PASSWORD, Users


@pytest.fixture
def doc(client):
    return client.get("/api/v1/openapi.json").json


def _body_schema(doc, path, method):
    operation = doc["paths"][path][method]
    return operation["requestBody"]["content"]["application/json"]["schema"]


def _param(doc, path, method, name):
    operation = doc["paths"][path][method]
    return next(p for p in operation["parameters"] if p["name"] == name)


def _fits(schema, value):
    """Whether `value` is valid for a string schema, reading `pattern` as ECMA-262 does
    (`$` is the end of the text; Python's `re.search` would also allow a final newline)."""
    if "anyOf" in schema:
        return any(_fits(branch, value) for branch in schema["anyOf"])
    if "const" in schema:
        return value == schema["const"]
    types = schema.get("type", [])
    if value is None or "string" not in types:
        return value is None and "null" in types
    if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
        return False
    return "pattern" not in schema or re.fullmatch(schema["pattern"], value) is not None


def _password(length):
    """A password of `length` characters that is not a common one."""
    return (uuid.uuid4().hex * 10)[:length]


# ------------------------------------------------------------------ accounts


def test_register_password_length(doc, api):
    schema = _body_schema(doc, "/auth/register", "post")["properties"]["password"]
    from app.accounts import passwords

    assert (schema["minLength"], schema["maxLength"]) == (
        passwords.MIN_LENGTH,
        passwords.MAX_LENGTH,
    )
    for length in (
        schema["minLength"] - 1,
        schema["minLength"],
        schema["maxLength"],
        schema["maxLength"] + 1,
    ):
        response = api.call(
            "POST",
            "/auth/register",
            json={"email": f"p{length}@example.com", "password": _password(length), "name": "P"},
        )
        expected = 201 if _fits(schema, "x" * length) else 422
        assert response.status_code == expected, (length, response.json)
        if expected == 422:
            assert set(response.json["error"]["fields"]) == {"password"}


def test_login_takes_any_password_up_to_its_cap(doc, api, users):
    schema = _body_schema(doc, "/auth/login", "post")["properties"]["password"]
    user = users.create()
    for length in (1, 11, 129, schema["maxLength"]):
        response = api.call(
            "POST", "/auth/login", json={"email": user.email, "password": "x" * length}
        )
        assert response.status_code == 401, length  # checked, and wrong
    too_long = api.call(
        "POST",
        "/auth/login",
        json={"email": user.email, "password": "x" * (schema["maxLength"] + 1)},
    )
    assert too_long.status_code == 422


NAMES = [
    "Ann",
    "  Ann   Lee ",
    "Zoë Ørsted",
    "李雷",
    "😀 Emoji",
    "Ann\u00a0Lee",
    "\u3000Ann",
    "Ann\u200b",
    "Ann\tLee",
    "Ann\nLee",
    "Ann\n",
    "Ann\r",
    "\x1fAnn",
    "Ann\x85",
    "Ann\x7f",
    "\x00",
    "<b>",
    "a > b",
    "",
    "   ",
    "\u3000\u2003",
    "a" * 100,
    "a" * 101,
    "a" * 120,
    "a" * 121,
]


def test_name_rule(doc, api, users):
    """Names the document allows are taken, and names it refuses are refused, for the
    profile and for projects (which allow longer names, by the same rule)."""
    user = users.create()
    token = api.login(user.email)["access_token"]
    profile = _body_schema(doc, "/users/profile", "put")["properties"]["name"]
    project = _body_schema(doc, "/projects", "post")["properties"]["name"]
    assert profile["pattern"] == project["pattern"]
    disagreements = []
    for sample in NAMES:
        got = api.call("PUT", "/users/profile", token, json={"name": sample}).status_code
        if (got == 200) != _fits(profile, sample) or got not in (200, 422):
            disagreements.append(("profile", sample, got))
        got = api.call("POST", "/projects", token, json={"name": sample}).status_code
        if (got == 201) != _fits(project, sample) or got not in (201, 422):
            disagreements.append(("project", sample, got))
    assert disagreements == []


def test_a_name_is_folded(api, users):
    token = api.login(users.create().email)["access_token"]
    response = api.call("PUT", "/users/profile", token, json={"name": "  Ann \u3000 Lee "})
    assert response.json["user"]["name"] == "Ann Lee"


SLUGS = [
    "intro-to-html",
    "a",
    "a1-b2-c3",
    "intro--html",
    "-intro",
    "intro-",
    "Intro",
    "intro html",
    "intro\n",  # Python's `$` matched before a final newline: this one got through
    "intro_html",
    "ïntro",
    "a" * 120,
    "a" * 121,
    "",
    None,
]


def test_course_slug_rule(doc, api, users):
    token = api.login(users.create().email)["access_token"]
    schema = _body_schema(doc, "/projects", "post")["properties"]["course_slug"]
    disagreements = []
    for sample in SLUGS:
        response = api.call("POST", "/projects", token, json={"name": "P", "course_slug": sample})
        if (response.status_code == 201) != _fits(schema, sample):
            disagreements.append((sample, response.status_code))
    assert disagreements == []


def test_a_slug_with_a_final_newline_is_refused(api, users):
    """Regression: the slug check used Python's `$`, which also matches before a final
    newline, so "intro-to-html\n" was stored as a course slug."""
    token = api.login(users.create().email)["access_token"]
    response = api.call(
        "POST", "/projects", token, json={"name": "P", "course_slug": "intro-to-html\n"}
    )
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"course_slug"}


def test_path_slugs_follow_the_slug_pattern(doc):
    """Every slug the studio makes fits the pattern the document gives course paths."""
    from app.courses.studio import slugify

    pattern = _param(doc, "/courses/{slug}", "get", "slug")["schema"]["pattern"]
    project_pattern = _body_schema(doc, "/projects", "post")["properties"]["course_slug"]
    assert pattern == project_pattern["anyOf"][0]["pattern"]
    for title in ["Python 101", "  Ünïcödé  title!! ", "日本語", "---", "a" * 300, "C++ & C#"]:
        assert re.fullmatch(pattern, slugify(title)), title


# ------------------------------------------------------------------ courses


@pytest.mark.parametrize("name", ["q", "category", "language", "tag"])
def test_catalog_text_parameters_are_refused_past_their_length(doc, client, name):
    schema = _param(doc, "/courses", "get", name)["schema"]
    longest = "a" * schema["maxLength"]
    assert client.get("/api/v1/courses", query_string={name: longest}).status_code == 200
    response = client.get("/api/v1/courses", query_string={name: longest + "a"})
    assert response.status_code == 422, "text past the limit was cut, not refused"
    assert set(response.json["error"]["fields"]) == {name}
    # the catalog page shares the parser: it says so, and resets the search
    page = client.get("/courses", query_string={name: longest + "a"})
    assert page.status_code == 200 and "were not valid" in page.get_data(as_text=True)
    # and its search box takes no more than that
    assert f'name="q" value="" maxlength="{schema["maxLength"]}"' in page.get_data(as_text=True)


@pytest.mark.parametrize("name", ["page", "per_page"])
def test_catalog_integers_are_whole_numbers_in_range(doc, client, name):
    schema = _param(doc, "/courses", "get", name)["schema"]
    assert schema["type"] == "integer"
    for good in ("1", str(schema["maximum"]), "", "2.0", "007"):
        assert client.get("/api/v1/courses", query_string={name: good}).status_code == 200, good
    too_big = str(schema["maximum"] + 1)
    for bad in ("0", too_big, "+1", " 1", "1 ", "1_0", "1.5", "1e1", "١", "²", "x"):
        response = client.get("/api/v1/courses", query_string={name: bad})
        assert response.status_code == 422, bad


@pytest.fixture
def enrolled(api, users, courses):
    """A token of a learner enrolled in a course with a video and a quiz; (token, course)."""
    user = users.create()
    token = api.login(user.email)["access_token"]
    course = courses.published(lessons=["video", "quiz"])
    api.call("POST", f"/courses/{course.slug}/enrollment", token)
    return token, course


def test_position_seconds(doc, api, enrolled):
    token, course = enrolled
    video = course.sections[0].lessons[0]
    path = "/courses/{slug}/lessons/{lesson_id}/progress"
    schema = _body_schema(doc, path, "put")["properties"]["position_seconds"]
    url = f"/courses/{course.slug}/lessons/{video.id}/progress"
    for value, expected in [
        (schema["minimum"], 200),
        (schema["maximum"], 200),
        (42.0, 200),  # an integer to JSON Schema, so to the server too
        (schema["minimum"] - 1, 422),
        (schema["maximum"] + 1, 422),
        (42.5, 422),
        ("42", 422),
        (True, 422),
    ]:
        response = api.call("PUT", url, token, json={"position_seconds": value})
        assert response.status_code == expected, (value, response.json)
        if expected == 200:
            assert response.json["progress"]["position_seconds"] == int(value)


def test_a_quiz_lesson_answers_the_documented_409(doc, api, enrolled):
    token, course = enrolled
    quiz = course.sections[0].lessons[1]
    path = "/courses/{slug}/lessons/{lesson_id}/progress"
    assert "409" in doc["paths"][path]["put"]["responses"]
    response = api.call(
        "PUT",
        f"/courses/{course.slug}/lessons/{quiz.id}/progress",
        token,
        json={"completed": True},
    )
    assert response.status_code == 409
    assert response.json["error"]["message"] == "Pass the quiz to complete this lesson."


def test_lesson_ids_follow_the_documented_pattern(doc, enrolled):
    _, course = enrolled
    pattern = _param(doc, "/courses/{slug}/lessons/{lesson_id}", "get", "lesson_id")["schema"]
    for section in course.sections:
        for lesson in section.lessons:
            assert re.fullmatch(pattern["pattern"], lesson.id)


# ------------------------------------------------------------------ rate limits

LIMITED = [op for op in OPERATIONS if op.limit]


def test_every_rate_limited_route_documents_429_with_retry_after(doc):
    assert {op.endpoint for op in LIMITED} >= {"register", "login", "refresh"}
    for op in LIMITED:
        response = doc["paths"][op.path][op.method]["responses"]["429"]
        assert response["headers"]["Retry-After"]["required"] is True
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            if "429" in operation["responses"]:
                assert "Retry-After" in operation["responses"]["429"]["headers"], (path, method)


def _limited_request(op, n):
    bodies = {
        "register": {"email": f"r{n}@example.com", "password": PASSWORD, "name": "R"},
        "login": {"email": f"nobody{n}@example.com", "password": PASSWORD},
        "refresh": {"refresh_token": "x" * 43},
        "logout": {"refresh_token": "x" * 43},
    }
    return bodies[op.endpoint]


@pytest.mark.parametrize("op", LIMITED, ids=lambda op: f"{op.method} {op.path}")
def test_rate_limited_routes_answer_429_with_retry_after(op, app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, **{op.limit: "1 per hour"})
    client = app.test_client()
    first = client.open(f"/api/v1{op.path}", method=op.method.upper(), json=_limited_request(op, 1))
    assert first.status_code != 429
    second = client.open(
        f"/api/v1{op.path}", method=op.method.upper(), json=_limited_request(op, 2)
    )
    assert second.status_code == 429
    assert second.json["error"]["code"] == "rate_limited"
    assert int(second.headers["Retry-After"]) >= 1


def test_account_deletion_answers_its_documented_429(app_factory, doc):
    """Its password is checked like a sign-in, in the per-account buckets (SPEC §9)."""
    response = doc["paths"]["/users/account"]["delete"]["responses"]["429"]
    assert response["headers"]["Retry-After"]["required"] is True
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_ACCOUNT_FAILURES="2 per hour")
    user = Users(app).create()
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    ).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [
        client.delete("/api/v1/users/account", headers=headers, json={"password": "wrong" * 3})
        for _ in range(3)
    ]
    assert [r.status_code for r in statuses] == [422, 422, 429]
    assert statuses[-1].json["error"]["code"] == "rate_limited"
    assert int(statuses[-1].headers["Retry-After"]) >= 1
