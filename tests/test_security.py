"""SPEC §9 points that cut across pages: headers, cookies, CSRF, rate limits, logs."""

from __future__ import annotations

import logging
import re

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


_INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
_SCRIPT_TAG = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)


def _assert_no_inline_code(client, pages):
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
        html = response.get_data(as_text=True)
        assert not _SCRIPT_TAG.search(html), page  # every script is a file (the CSP says so)
        assert "<style" not in html and " style=" not in html, page
        assert not _INLINE_HANDLER.search(html), page


def test_pages_have_no_inline_script_or_style(client, auth, courses):
    course = courses.published(lessons=["reading", "quiz", "video"])
    lessons = [f"/courses/{course.slug}/lessons/{lesson.id}" for _, lesson in course.lessons()]
    # As a guest first: the sign-in and sign-up forms only show to guests.
    _assert_no_inline_code(
        client,
        ["/", "/signin", "/signup", "/forgot-password", "/courses", f"/courses/{course.slug}"],
    )
    auth.login("admin")
    _assert_no_inline_code(
        client,
        [
            "/account/profile",
            "/account/password",
            "/account/delete",
            "/projects/",
            "/projects/new",
            "/admin/users",
            "/admin/events",
            "/learn",
            f"/courses/{course.slug}",
            *lessons,
            "/studio/",
            "/studio/new",
            f"/studio/{course.slug}",
            f"/studio/{course.slug}/dashboard",
            f"/studio/{course.slug}/lessons/{course.sections[0].lessons[1].id}",
            f"/studio/{course.slug}/lessons/{course.sections[0].lessons[1].id}/attempts",
            "/moderation/",
        ],
    )


def test_signed_in_pages_are_no_store(client, auth):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    auth.login()
    assert client.get("/account/profile").headers["Cache-Control"] == "no-store"


def test_production_headers_and_cookies(app_factory, users):
    production = {"LECTERN_ENV": "production", "SECRET_KEY": "s" * 48, "JWT_SECRET_KEY": "j" * 48}
    app = app_factory(environ=production, ENV_NAME="production")
    client = app.test_client()
    response = client.get("/", base_url="https://localhost")
    assert "max-age" in response.headers["Strict-Transport-Security"]
    cookie = response.headers.get("Set-Cookie", "")
    # __Host-: browsers keep it only when Secure, host-only and for the whole site.
    assert cookie.startswith("__Host-lectern_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie
    user = users.create()
    signed_in = client.post(
        "/signin",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/signin"},
        data={"csrf_token": client.csrf_token(), "email": user.email, "password": PASSWORD},
    )
    assert signed_in.status_code == 302
    cookies = signed_in.headers.getlist("Set-Cookie")
    device = next(c for c in cookies if "lectern_device" in c)
    assert device.startswith("__Host-lectern_device=")
    assert "Secure" in device and "HttpOnly" in device and "Path=/" in device
    assert "Domain" not in device


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


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # sandboxed frames and some redirects
        {"Origin": "http://localhost.evil.example"},
        {"Referer": "https://evil.example/page"},  # a browser that sent no Origin
        {"Origin": "https://evil.example", "HX-Request": "true"},
    ],
)
def test_a_foreign_origin_cannot_change_anything_even_with_a_csrf_token(client, auth, headers):
    auth.login()
    token = client.csrf_token()
    refused = client.post(
        "/account/profile",
        data={"csrf_token": token, "name": "Hacked", "bio": ""},
        headers={"X-CSRFToken": token, **headers},
    )
    assert refused.status_code == 403
    assert "another site" in refused.get_data(as_text=True)
    assert "Hacked" not in client.get("/account/profile").get_data(as_text=True)
    # Signing in from another site (login CSRF) is refused too.
    signin = client.post("/signin", data={"csrf_token": token}, headers=headers)
    assert signin.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost"},  # the request's own host
        {"Origin": "http://lectern.test"},  # PUBLIC_URL
        {"Origin": "https://school.example:8443"},  # ALLOWED_ORIGINS
        {"Referer": "http://localhost/account/profile"},
        {},  # no browser: the CSRF token alone decides
    ],
)
def test_own_and_allowed_origins_may_post(app_factory, users, headers):
    app = app_factory(ALLOWED_ORIGINS=("https://school.example:8443",))
    client = app.test_client()
    user = users.create()
    client.submit("/signin", {"email": user.email, "password": PASSWORD})
    token = client.csrf_token()
    ok = client.post(
        "/account/profile",
        data={"csrf_token": token, "name": "New Name", "bio": ""},
        headers=headers,
    )
    assert ok.status_code == 302, ok.get_data(as_text=True)
    assert "New Name" in client.get("/account/profile").get_data(as_text=True)


def test_allowed_origins_setting_is_a_list():
    from app.config import Settings

    config = Settings.from_env({"ALLOWED_ORIGINS": "https://a.example, https://b.example:8443"})
    assert config.to_flask()["ALLOWED_ORIGINS"] == ("https://a.example", "https://b.example:8443")


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
    # A classroom's typos are refused (422) without using up its allowance...
    for i in range(30):
        typo = client.post(
            "/api/v1/auth/register",
            json={"email": f"student{i}@example", "password": PASSWORD, "name": f"Student {i}"},
        )
        assert typo.status_code == 422
        page_typo = client.post(
            "/signup",
            data={"csrf_token": token, "name": "X", "email": "x@example.com", "password": "short"},
        )
        assert page_typo.status_code == 422
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


def test_registration_conflicts_count_towards_the_limit(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_REGISTER="3 per hour")
    client = app.test_client()
    body = {"email": "taken@example.com", "password": PASSWORD, "name": "Taken"}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    for _ in range(2):  # probing for existing addresses is not free
        assert client.post("/api/v1/auth/register", json=body).status_code == 409
    body["email"] = "fresh@example.com"
    assert client.post("/api/v1/auth/register", json=body).status_code == 429


def _api_login(client, email, password, address):
    return client.post(
        "/api/v1/auth/login",
        environ_base={"REMOTE_ADDR": address},
        json={"email": email, "password": password},
    )


def _page_login(client, email, password, address):
    return client.post(
        "/signin",
        environ_base={"REMOTE_ADDR": address},
        data={"csrf_token": client.csrf_token(), "email": email, "password": password},
    )


def test_a_stranger_at_one_address_cannot_lock_the_owner_out(limited, caplog):
    from tests.conftest import Users

    caplog.set_level(logging.WARNING)
    users = Users(limited)
    victim = users.create(email="victim@example.com")
    attacker = limited.test_client()
    for _ in range(20):
        assert _api_login(attacker, victim.email, "wrong password!!", "6.6.6.6").status_code == 401
    blocked = _api_login(attacker, victim.email, PASSWORD, "6.6.6.6")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    # Guessing is slowed at that address; every failure was logged.
    assert sum("sign-in failed" in r.getMessage() for r in caplog.records) == 20
    # The owner, anywhere else, gets in: by the API and by the sign-in page.
    assert _api_login(limited.test_client(), victim.email, PASSWORD, "10.1.1.1").status_code == 200
    owner = limited.test_client()
    assert _page_login(owner, victim.email, PASSWORD, "10.1.1.2").status_code == 302
    # Even behind the stranger's own address (one school network), a browser that has
    # signed in before carries its device cookie and gets in.
    owner.submit("/signout")
    assert _page_login(owner, victim.email, PASSWORD, "6.6.6.6").status_code == 302
    assert _page_login(limited.test_client(), victim.email, PASSWORD, "6.6.6.6").status_code == 429


def test_guessing_from_many_addresses_is_slowed_but_a_known_browser_gets_in(limited):
    from tests.conftest import Users

    users = Users(limited)
    victim = users.create(email="victim@example.com")
    owner = limited.test_client()
    assert _page_login(owner, victim.email, PASSWORD, "10.1.1.1").status_code == 302
    owner.submit("/signout")
    botnet = limited.test_client()
    for n in range(100):  # 5 addresses, 20 guesses each: the account-wide allowance
        address = f"6.6.6.{n // 20}"
        assert _api_login(botnet, victim.email, "wrong password!!", address).status_code == 401
    assert _api_login(botnet, victim.email, PASSWORD, "6.6.6.9").status_code == 429
    assert _api_login(limited.test_client(), victim.email, PASSWORD, "10.2.2.2").status_code == 429
    # The owner's browser has its own allowance.
    assert _page_login(owner, victim.email, PASSWORD, "10.1.1.1").status_code == 302


def test_a_device_cookie_works_only_for_its_own_account(limited):
    from tests.conftest import Users

    users = Users(limited)
    mine = users.create(email="mine@example.com")
    theirs = users.create(email="theirs@example.com")
    browser = limited.test_client()
    assert _page_login(browser, mine.email, PASSWORD, "10.1.1.1").status_code == 302
    browser.submit("/signout")
    for _ in range(20):
        assert _page_login(browser, theirs.email, "wrong password!!", "6.6.6.6").status_code == 401
    assert _page_login(browser, theirs.email, PASSWORD, "6.6.6.6").status_code == 429
    # A forged or altered device cookie is just no device cookie.
    forged = limited.test_client()
    forged.set_cookie("lectern_device", "e30.forged.signature", domain="localhost")
    assert _page_login(forged, theirs.email, PASSWORD, "6.6.6.6").status_code == 429


def test_a_completed_reset_clears_every_failure_count(limited):
    from tests.conftest import Outbox, Users

    users = Users(limited)
    victim = users.create(email="victim@example.com")
    stranger = limited.test_client()
    for n in range(100):
        _api_login(stranger, victim.email, "wrong password!!", f"6.6.6.{n // 20}")
    assert _api_login(stranger, victim.email, PASSWORD, "10.3.3.3").status_code == 429
    owner = limited.test_client()
    owner.submit("/forgot-password", {"email": victim.email})
    link = Outbox(limited).links(to=victim.email)[-1]
    new_password = "a brand new morning tide"
    assert owner.submit(link, {"password": new_password}).status_code == 302
    for address in ("6.6.6.0", "10.3.3.3"):
        assert _api_login(owner, victim.email, new_password, address).status_code == 200


def test_a_classroom_signs_in_from_one_address(limited):
    from tests.conftest import Users

    users = Users(limited)
    client = limited.test_client()
    classmate = users.create(email="classmate@example.com")
    for _ in range(100):
        assert _api_login(client, classmate.email, PASSWORD, "10.0.0.1").status_code == 200
    assert _api_login(client, classmate.email, PASSWORD, "10.0.0.1").status_code == 429


def test_password_checks_on_change_and_delete_are_limited_like_sign_in(limited):
    from tests.conftest import Users

    users = Users(limited)
    user = users.create(email="someone@example.com")
    browser = limited.test_client()
    assert _page_login(browser, user.email, PASSWORD, "10.1.1.1").status_code == 302
    # A borrowed session (no device cookie of its own) cannot be used to guess the password.
    borrowed = limited.test_client()
    borrowed.set_cookie("lectern_session", browser.get_cookie("lectern_session").value)
    for n in range(20):
        url, field = (
            ("/account/password", "current_password") if n % 2 else ("/account/delete", "password")
        )
        data = {field: "not my password!", "new_password": "another long passphrase"}
        assert borrowed.submit(url, data).status_code == 422
    assert borrowed.submit("/account/delete", {"password": PASSWORD}).status_code == 429
    token = (
        limited.test_client()
        .post(
            "/api/v1/auth/login",
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
            json={"email": user.email, "password": PASSWORD},
        )
        .json["access_token"]
    )
    api = limited.test_client()
    for _ in range(20):
        wrong = api.delete(
            "/api/v1/users/account",
            headers={"Authorization": f"Bearer {token}"},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
            json={"password": "not my password!"},
        )
        assert wrong.status_code == 422
    blocked = api.delete(
        "/api/v1/users/account",
        headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
        json={"password": PASSWORD},
    )
    assert blocked.status_code == 429 and blocked.headers["Retry-After"]
    assert users.get(user.id) is not None


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


def test_one_ipv6_host_counts_as_one_address(limited):
    """An IPv6 host can use its whole /64: the limits count the /64, not each address."""
    from tests.conftest import Users

    victim = Users(limited).create(email="victim@example.com")
    attacker = limited.test_client()
    for n in range(20):
        address = f"2001:db8:1:2::{n + 1:x}"
        assert _api_login(attacker, victim.email, "wrong password!!", address).status_code == 401
    assert _api_login(attacker, victim.email, PASSWORD, "2001:db8:1:2::ff").status_code == 429
    # Another /64, and an IPv4 client, are someone else.
    assert _api_login(attacker, victim.email, PASSWORD, "2001:db8:1:3::1").status_code == 200
    assert _api_login(attacker, victim.email, PASSWORD, "::ffff:192.0.2.7").status_code == 200


def test_a_phone_that_signed_in_before_gets_in_despite_a_botnet(limited):
    from tests.conftest import Users

    victim = Users(limited).create(email="victim@example.com")
    phone = limited.test_client()
    first = _api_login(phone, victim.email, PASSWORD, "10.1.1.1")
    device_token = first.json["device_token"]
    botnet = limited.test_client()
    for n in range(100):  # five /64s, twenty guesses each: the account-wide allowance
        address = f"2001:db8:{n // 20}::1"
        assert _api_login(botnet, victim.email, "wrong password!!", address).status_code == 401
    assert _api_login(limited.test_client(), victim.email, PASSWORD, "10.2.2.2").status_code == 429
    again = phone.post(
        "/api/v1/auth/login",
        environ_base={"REMOTE_ADDR": "10.2.2.2"},
        json={"email": victim.email, "password": PASSWORD, "device_token": device_token},
    )
    assert again.status_code == 200 and again.json["device_token"]
    forged = phone.post(
        "/api/v1/auth/login",
        environ_base={"REMOTE_ADDR": "10.2.2.2"},
        json={"email": victim.email, "password": PASSWORD, "device_token": "x" * 40},
    )
    assert forged.status_code == 429


def test_the_account_wide_allowance_must_outsize_one_address():
    from app.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="three times"):
        Settings.from_env(
            {
                "RATELIMIT_ACCOUNT_FAILURES": "20 per 15 minutes",
                "RATELIMIT_ACCOUNT_FAILURES_TOTAL": "40 per 15 minutes",
            }
        )
    with pytest.raises(ConfigError, match="not a rate limit"):
        Settings.from_env({"RATELIMIT_ACCOUNT_FAILURES_TOTAL": "lots"})


def test_signing_up_with_htmx_remembers_the_device(client):
    response = client.submit(
        "/signup",
        {"name": "Htmx Person", "email": "htmx@example.com", "password": PASSWORD},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/signup"},
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/"
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("lectern_device=") for c in cookies)
    assert any(c.startswith("lectern_session=") for c in cookies)
