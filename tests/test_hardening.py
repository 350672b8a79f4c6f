"""Attacks and edge cases found by review; each test failed before its fix."""

from __future__ import annotations

import io
import logging
import threading

import pytest
from PIL import Image

from app.logs import JsonFormatter
from tests.conftest import PASSWORD, Users, events_of


def _log_text(caplog):
    formatter = JsonFormatter()
    return "\n".join(formatter.format(r) for r in caplog.records)


def test_token_links_never_reach_the_access_log(client, users, outbox, caplog):
    caplog.set_level(logging.INFO)
    user = users.create()
    client.submit("/forgot-password", {"email": user.email})
    link = outbox.links()[0]
    client.get(link)  # opening the link does not spend the token
    token = link.rsplit("/", 1)[-1]
    text = _log_text(caplog)
    assert token not in text
    assert "/reset-password/<token>" in text


def test_a_password_typed_into_the_email_box_is_not_logged(client, caplog):
    caplog.set_level(logging.INFO)
    client.submit("/signin", {"email": "my secret passphrase", "password": "x" * 12})
    text = _log_text(caplog)
    assert "my secret passphrase" not in text
    assert "[not an email address]" in text


def test_parallel_signups_with_one_address_give_one_account_and_409s(app, users, caplog):
    caplog.set_level(logging.INFO)
    statuses = []

    def register():
        response = app.test_client().post(
            "/api/v1/auth/register",
            json={"email": "race@example.com", "password": PASSWORD, "name": "Racer"},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(statuses)[0] == 201 and set(statuses) <= {201, 409}
    assert statuses.count(201) == 1
    assert users.count() == 1
    assert "$2b$" not in _log_text(caplog)


def test_emails_with_non_ascii_capitals_are_one_account(client, api, users):
    created = api.call(
        "POST",
        "/auth/register",
        json={"email": "ÉLODIE@example.com", "password": PASSWORD, "name": "Élodie"},
    )
    assert created.status_code == 201
    assert (
        api.call(
            "POST", "/auth/login", json={"email": "élodie@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )
    again = api.call(
        "POST",
        "/auth/register",
        json={"email": "élodie@EXAMPLE.com", "password": PASSWORD, "name": "Other"},
    )
    assert again.status_code == 409
    assert users.count() == 1


def test_large_images_are_refused_before_they_eat_memory(client, auth, users):
    user = auth.login()
    blank = io.BytesIO()
    Image.new("RGBA", (5000, 5000)).save(blank, format="PNG")
    blank.seek(0)
    response = client.submit(
        "/account/avatar",
        {"avatar": (blank, "big.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "too many pixels" in response.get_data(as_text=True)
    assert users.get(user.id).avatar_key is None


def test_a_successful_sign_in_clears_the_failure_count(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_ACCOUNT_FAILURES="3 per hour")
    user = Users(app).create()
    client = app.test_client()

    def login(password):
        return client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": password}
        ).status_code

    assert [login("wrong password!") for _ in range(2)] == [401, 401]
    assert login(PASSWORD) == 200
    assert [login("wrong password!") for _ in range(3)] == [401, 401, 401]
    assert login(PASSWORD) == 429  # three failures in a row: locked for the window


def test_refresh_is_limited_per_account_across_addresses(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_REFRESH_ACCOUNT="3 per hour")
    user = Users(app).create()
    client = app.test_client()
    token = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    ).json["refresh_token"]
    statuses = []
    for i in range(4):
        response = client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": token},
            environ_base={"REMOTE_ADDR": f"10.1.0.{i}"},
        )
        statuses.append(response.status_code)
        if response.status_code == 200:
            token = response.json["refresh_token"]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "a@example.com", "password": "\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800", '
        '"name": "A"}',
        '{"email": "a@example.com", "password": "a quiet river at dawn", "name": "A\\ud800"}',
    ],
)
def test_lone_surrogates_are_a_400(client, body, users):
    response = client.post("/api/v1/auth/register", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "malformed"
    assert users.count() == 0


def test_nul_and_control_characters_in_emails_are_ordinary_failures(client, api):
    assert (
        api.call(
            "POST", "/auth/login", json={"email": "a\u0000@example.com", "password": PASSWORD}
        ).status_code
        == 401
    )
    page = client.submit("/signin", {"email": "a\x00@example.com", "password": PASSWORD})
    assert page.status_code in (401, 422)
    forgot = client.submit("/forgot-password", {"email": "a\x00@example.com"})
    assert forgot.status_code in (302, 422)


def test_admin_search_survives_odd_parameters(client, auth):
    auth.login("admin")
    assert client.get("/admin/users?page=99999999999999999999").status_code == 200
    assert client.get("/admin/users?q=%00").status_code == 200
    assert client.get("/admin/users?page=-5").status_code == 200


def test_openapi_lists_the_errors_each_route_can_give(client):
    doc = client.get("/api/v1/openapi.json").json
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= codes, (method, path)
            if op["security"]:
                assert "401" in codes, (method, path)


def test_forgot_password_records_the_same_event_for_any_address(client, users, app):
    known = users.create(email="known@example.com")
    client.submit("/forgot-password", {"email": "known@example.com"})
    client.submit("/forgot-password", {"email": "unknown@example.com"})
    events = events_of(app, "user.password_reset_requested")
    # One event each; neither holds the address (the account is named by id, if any).
    assert [e.data for e in events] == [{"user_id": str(known.id)}, {"user_id": None}]
