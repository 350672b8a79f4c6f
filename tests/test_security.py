"""SPEC §9 points that cut across pages: headers, cookies, CSRF, rate limits, logs."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import PASSWORD


def test_security_headers_on_pages(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # not in development
    assert response.headers["X-Request-ID"]


def test_pages_have_no_inline_script_or_style(client, auth):
    pages = ["/", "/signin", "/signup", "/forgot-password"]
    auth.login("admin")
    pages += [
        "/account/profile",
        "/account/password",
        "/account/delete",
        "/projects/",
        "/projects/new",
        "/admin/users",
    ]
    for page in pages:
        html = client.get(page).get_data(as_text=True)
        assert "<script>" not in html and "<script " not in html.replace(
            '<script src="/static/vendor/htmx.min.js" defer></script>', ""
        ), page
        assert "<style" not in html and " style=" not in html, page
        assert " on" + "click=" not in html, page


def test_signed_in_pages_are_no_store(client, auth):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    auth.login()
    assert client.get("/account/profile").headers["Cache-Control"] == "no-store"


def test_production_headers_and_cookies(app_factory):
    app = app_factory(ENV_NAME="production", SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    response = client.get("/", base_url="https://localhost")
    assert "max-age" in response.headers["Strict-Transport-Security"]
    cookie = response.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_cookie_flags_in_development(client, users):
    user = users.create()
    response = client.submit("/signin", {"email": user.email, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_csrf_is_required_for_every_cookie_authenticated_change(client, auth, users):
    auth.login()
    project = client.submit("/projects/new", {"name": "Mine"})
    project_url = project.headers["Location"]
    posts = [
        "/account/profile",
        "/account/password",
        "/account/delete",
        "/account/avatar",
        "/account/avatar/delete",
        "/projects/new",
        f"{project_url}/edit",
        f"{project_url}/delete",
        "/signout",
        "/verify-email/resend",
    ]
    for url in posts:
        assert client.post(url, data={"name": "Hacked"}).status_code == 400, url
        # htmx requests need the header token too
        assert (
            client.post(url, data={"name": "Hacked"}, headers={"HX-Request": "true"}).status_code
            == 400
        ), url
        assert (
            client.post(url, data={"name": "Hacked"}, headers={"X-CSRFToken": "forged"}).status_code
            == 400
        ), url
    assert client.get("/account/profile").status_code == 200  # still signed in
    assert "Hacked" not in client.get("/account/profile").get_data(as_text=True)
    token = client.csrf_token()
    ok = client.post(
        "/account/profile",
        data={"name": "Via htmx", "bio": ""},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    assert ok.status_code == 204 and ok.headers["HX-Redirect"] == "/account/profile"


def test_user_input_is_escaped(client, auth, app):
    auth.login()
    client.submit("/account/profile", {"name": "Fine Name", "bio": "<script>alert(1)</script>"})
    html = client.get("/account/profile").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ------------------------------------------------------------------ rate limits


@pytest.fixture
def limited(app_factory):
    return app_factory(RATELIMIT_ENABLED=True)


def test_registration_limit_per_address_allows_a_classroom(limited):
    client = limited.test_client()
    token = client.csrf_token()
    for i in range(50):
        response = client.post(
            "/api/v1/auth/register",
            json={"email": f"student{i}@example.com", "password": PASSWORD, "name": f"Student {i}"},
        )
        assert response.status_code == 201, (i, response.json)
    blocked = client.post(
        "/api/v1/auth/register",
        json={"email": "one-more@example.com", "password": PASSWORD, "name": "One More"},
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.json["error"]["code"] == "rate_limited"
    page = client.post(
        "/signup",
        data={"csrf_token": token, "name": "X", "email": "x@example.com", "password": PASSWORD},
    )
    assert page.status_code == 429  # the page draws from the same allowance as the API
    # A different address is not affected.
    other = client.post(
        "/api/v1/auth/register",
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
        json={"email": "elsewhere@example.com", "password": PASSWORD, "name": "Elsewhere"},
    )
    assert other.status_code == 201


def test_signin_limits_per_address_and_per_account(limited):
    from tests.conftest import Users

    users = Users(limited)
    victim = users.create(email="victim@example.com")
    client = limited.test_client()
    # 20 failures for one account from many addresses, then the account is locked for a while.
    for i in range(20):
        response = client.post(
            "/api/v1/auth/login",
            environ_base={"REMOTE_ADDR": f"10.0.0.{i}"},
            json={"email": victim.email, "password": "wrong password!!"},
        )
        assert response.status_code == 401
    locked = client.post(
        "/api/v1/auth/login",
        environ_base={"REMOTE_ADDR": "10.0.1.1"},
        json={"email": victim.email, "password": PASSWORD},
    )
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    page = client.post(
        "/signin",
        environ_base={"REMOTE_ADDR": "10.0.1.2"},
        data={"csrf_token": client.csrf_token(), "email": victim.email, "password": PASSWORD},
    )
    assert page.status_code == 429 and "Slow down" in page.get_data(as_text=True)
    # Another account is fine, and a classroom of 100 sign-ins from one address too.
    classmate = users.create(email="classmate@example.com")
    for _ in range(100):
        ok = client.post(
            "/api/v1/auth/login", json={"email": classmate.email, "password": PASSWORD}
        )
        assert ok.status_code == 200
    over = client.post("/api/v1/auth/login", json={"email": classmate.email, "password": PASSWORD})
    assert over.status_code == 429


def test_reset_requests_are_limited_per_account(limited):
    client = limited.test_client()
    for _ in range(5):
        ok = client.post(
            "/forgot-password",
            data={"csrf_token": client.csrf_token(), "email": "someone@example.com"},
        )
        assert ok.status_code == 302
    blocked = client.post(
        "/forgot-password", data={"csrf_token": client.csrf_token(), "email": "SOMEONE@example.com"}
    )
    assert blocked.status_code == 429 and blocked.headers["Retry-After"]


def test_refresh_is_limited(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_REFRESH="3 per hour")
    client = app.test_client()
    for _ in range(3):
        client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 429


def test_forwarded_for_is_trusted_only_to_the_configured_depth(app_factory):
    untrusted = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_REFRESH="2 per hour")
    client = untrusted.test_client()
    for i in range(2):
        client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": "x" * 43},
            headers={"X-Forwarded-For": f"1.2.3.{i}"},
        )
    spoofed = client.post(
        "/api/v1/auth/refresh",
        json={"refresh_token": "x" * 43},
        headers={"X-Forwarded-For": "9.9.9.9"},
    )
    assert spoofed.status_code == 429  # the header was ignored: same client

    trusted = app_factory(
        RATELIMIT_ENABLED=True, RATELIMIT_REFRESH="2 per hour", TRUSTED_PROXY_COUNT=1
    )
    client = trusted.test_client()
    for _ in range(2):
        client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": "x" * 43},
            headers={"X-Forwarded-For": "1.2.3.4"},
        )
    assert (
        client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": "x" * 43},
            headers={"X-Forwarded-For": "1.2.3.4"},
        ).status_code
        == 429
    )
    assert (
        client.post(
            "/api/v1/auth/refresh",
            json={"refresh_token": "x" * 43},
            headers={"X-Forwarded-For": "5.6.7.8"},
        ).status_code
        == 401
    )


# ------------------------------------------------------------------ logs


def test_logs_hold_no_passwords_or_tokens(client, api, users, outbox, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "my very secret passphrase"
    client.submit("/signup", {"name": "Logger", "email": "log@example.com", "password": secret})
    client.application.test_client().submit(
        "/signin", {"email": "log@example.com", "password": "wrong wrong wrong"}
    )
    pair = api.login("log@example.com", secret)
    api.call("POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    link = outbox.links()[0]
    from app.logs import JsonFormatter

    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    assert "sign-in failed" in text  # failed sign-ins are logged
    for needle in [
        secret,
        "wrong wrong wrong",
        pair["access_token"],
        pair["refresh_token"],
        link.rsplit("/", 1)[-1],
        "$2b$",
    ]:
        assert needle not in text


def test_log_lines_carry_the_request_id(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/", headers={"X-Request-ID": "req-12345678"})
    assert response.headers["X-Request-ID"] == "req-12345678"
    from app.logs import JsonFormatter

    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "lectern.access"]
    assert any('"request_id": "req-12345678"' in line for line in lines)
    odd = client.get("/", headers={"X-Request-ID": "<script>"})
    assert odd.headers["X-Request-ID"] != "<script>"
