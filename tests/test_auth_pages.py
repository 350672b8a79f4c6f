"""Sign-up, sign-in, verification and password reset through the browser pages."""

from __future__ import annotations

import re
from datetime import timedelta

from app.timeutil import utcnow
from tests.conftest import PASSWORD, events_of


def signup(client, email="newbie@example.com", name="New Bie", password=PASSWORD):
    return client.submit("/signup", {"name": name, "email": email, "password": password})


def test_signup_signs_in_and_sends_verification(client, users, outbox, app):
    response = signup(client)
    assert response.status_code == 302
    assert "New Bie" in client.get("/").get_data(as_text=True)
    assert [e.type for e in events_of(app)] == ["user.registered"]
    messages = outbox.messages()
    assert len(messages) == 1
    assert messages[0]["To"] == "newbie@example.com"
    assert "Confirm your email" in messages[0]["Subject"]
    assert messages[0].get_body(preferencelist=("html",)) is not None
    link = outbox.links()[0]
    assert link.startswith("/verify-email/")


def test_signup_rejects_bad_input_and_changes_nothing(client, users, app):
    cases = [
        ({"name": "", "email": "a@example.com", "password": PASSWORD}, "required"),
        ({"name": "Ann", "email": "not-an-email", "password": PASSWORD}, "valid email"),
        ({"name": "Ann", "email": "a@example.com", "password": "short"}, "at least 12"),
        ({"name": "Ann", "email": "a@example.com", "password": "password1234"}, "too common"),
        ({"name": "<script>x</script>", "email": "a@example.com", "password": PASSWORD}, "&lt;"),
        ({"name": "Ann", "email": "a@example.com", "password": "x" * 129}, "at most 128"),
    ]
    for data, expected in cases:
        response = client.submit("/signup", data)
        assert response.status_code == 422, data
        assert expected in response.get_data(as_text=True), data
    assert users.count() == 0
    assert events_of(app) == []


def test_signup_email_is_unique_case_insensitively(client, users):
    users.create(email="Taken@Example.com")
    response = signup(client, email="taken@EXAMPLE.com")
    assert response.status_code == 409
    assert "already exists" in response.get_data(as_text=True)
    assert users.count() == 1


def test_verification_link_shows_a_button_then_verifies_once(client, outbox, app, users):
    signup(client)
    link = outbox.links()[0]
    page = client.get(link)
    assert page.status_code == 200 and "Confirm my email" in page.get_data(as_text=True)
    assert events_of(app, "user.email_verified") == []  # GET changed nothing
    assert client.submit(link).status_code == 302
    assert len(events_of(app, "user.email_verified")) == 1
    again = client.submit(link)
    assert again.status_code == 400
    assert "invalid, already used or expired" in client.get(link).get_data(as_text=True)
    assert len(events_of(app, "user.email_verified")) == 1
    # The welcome email follows the verification.
    subjects = [m["Subject"] for m in outbox.messages()]
    assert "Welcome to Lectern" in subjects


def test_verification_token_expires(client, outbox, app):
    from app.accounts.models import OneTimeToken
    from app.extensions import db

    signup(client)
    link = outbox.links()[0]
    with app.app_context():
        db.session.query(OneTimeToken).update({"expires_at": utcnow() - timedelta(seconds=1)})
        db.session.commit()
    assert client.submit(link).status_code == 400


def test_resend_verification_invalidates_the_old_link(client, outbox):
    signup(client)
    first = outbox.links()[0]
    assert client.submit("/verify-email/resend").status_code == 302
    links = [link for link in outbox.links() if link.startswith("/verify-email/")]
    assert len(links) == 2 and links[1] != first
    assert client.submit(first).status_code == 400
    assert client.submit(links[1]).status_code == 302


def test_unguessable_tokens_are_rejected(client):
    assert client.get("/verify-email/" + "A" * 43).status_code == 400
    assert client.submit("/verify-email/" + "A" * 43).status_code == 400
    assert client.get("/reset-password/nope").status_code == 400


def test_signin_failure_is_the_same_for_wrong_email_and_wrong_password(client, users):
    user = users.create()
    wrong_password = client.submit("/signin", {"email": user.email, "password": "x" * 20})
    wrong_email = client.submit("/signin", {"email": "nobody@example.com", "password": PASSWORD})
    assert wrong_password.status_code == wrong_email.status_code == 401

    def message(response):
        return response.get_data(as_text=True).split('<div id="flashes"')[1].split("</div>")[0]

    assert message(wrong_password) == message(wrong_email)
    assert "email or password is incorrect" in message(wrong_email)


def test_signin_starts_a_new_session(client, users, app):
    user = users.create()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    client.submit("/signin", {"email": user.email.upper(), "password": PASSWORD})
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"].startswith(str(user.id))


def test_signin_next_only_goes_to_this_site(client, users):
    user = users.create()
    good = client.submit(
        "/signin", {"email": user.email, "password": PASSWORD, "next": "/projects/"}
    )
    assert good.headers["Location"] == "/projects/"
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        " //evil.example",
        "/%0d%0aX: y",
    ]:
        client.submit("/signout")
        response = client.submit(
            "/signin", {"email": user.email, "password": PASSWORD, "next": evil}
        )
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith("//"), evil
        assert "evil" not in location or location.startswith("/%"), evil
    page = client.get("/signin?next=https://evil.example/").get_data(as_text=True)
    assert "evil.example" not in page


def test_signout_ends_every_session_and_token(client, app, users, api):
    user = users.create()
    other = app.test_client()
    for c in (client, other):
        c.submit("/signin", {"email": user.email, "password": PASSWORD})
    tokens = api.login(user.email)
    assert other.get("/account/profile").status_code == 200
    client.submit("/signout")
    assert client.get("/account/profile").status_code == 302
    assert other.get("/account/profile").status_code == 302
    assert api.call("GET", "/users/profile", tokens["access_token"]).status_code == 401
    refreshed = api.call("POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401


def test_signout_needs_post_and_csrf(client, auth):
    auth.login()
    assert client.get("/signout").status_code == 405
    assert client.post("/signout").status_code == 400
    assert client.get("/account/profile").status_code == 200


def test_forgot_password_answers_the_same_for_known_and_unknown(client, users, app, outbox):
    user = users.create()
    known = client.submit("/forgot-password", {"email": user.email}, follow_redirects=True)
    unknown = client.submit(
        "/forgot-password", {"email": "nobody@example.com"}, follow_redirects=True
    )
    assert known.status_code == unknown.status_code == 200

    def page(response):
        # The CSRF tokens carry a timestamp, so two pages a second apart differ there.
        text = response.get_data(as_text=True).replace(user.email, "")
        return re.sub(r'(value="|X-CSRFToken": ")[^"]+', r"\1…", text)

    assert page(known) == page(unknown)
    # Both requests take the same path (one event each); only the real account gets mail.
    assert len(events_of(app, "user.password_reset_requested")) == 2
    assert [m["To"] for m in outbox.messages()] == [user.email]


def test_password_reset_sets_password_and_ends_sessions(client, app, users, outbox, api):
    user = users.create()
    tokens = api.login(user.email)
    other = app.test_client()
    other.submit("/signin", {"email": user.email, "password": PASSWORD})
    client.submit("/forgot-password", {"email": user.email})
    link = [x for x in outbox.links() if x.startswith("/reset-password/")][0]
    assert "New password" in client.get(link).get_data(as_text=True)
    weak = client.submit(link, {"password": "password1234"})
    assert weak.status_code == 422
    done = client.submit(link, {"password": "an entirely new phrase"})
    assert done.status_code == 302 and done.headers["Location"] == "/signin"
    assert other.get("/account/profile").status_code == 302
    assert api.call("GET", "/users/profile", tokens["access_token"]).status_code == 401
    assert client.submit(link, {"password": "yet another new phrase"}).status_code == 302
    assert (
        "/forgot-password"
        in client.submit(link, {"password": "yet another one"}).headers["Location"]
    )
    ok = client.submit("/signin", {"email": user.email, "password": "an entirely new phrase"})
    assert ok.status_code == 302
    old = app.test_client().submit("/signin", {"email": user.email, "password": PASSWORD})
    assert old.status_code == 401


def test_reset_link_expires(client, app, users, outbox):
    from app.accounts.models import OneTimeToken
    from app.extensions import db

    user = users.create()
    client.submit("/forgot-password", {"email": user.email})
    link = outbox.links()[0]
    with app.app_context():
        db.session.query(OneTimeToken).update({"expires_at": utcnow() - timedelta(seconds=1)})
        db.session.commit()
    assert client.get(link).status_code == 400
    assert client.submit(link, {"password": "an entirely new phrase"}).status_code == 302
    assert (
        app.test_client().submit("/signin", {"email": user.email, "password": PASSWORD}).status_code
        == 302
    )


def test_idle_and_absolute_session_timeouts(client, auth, app):
    auth.login()
    assert client.get("/account/profile").status_code == 200
    idle = int(app.config["SESSION_IDLE_TIMEOUT"].total_seconds())
    with client.session_transaction() as session:
        session["_seen"] -= idle + 5
    assert client.get("/account/profile").status_code == 302

    auth.login()
    absolute = int(app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds())
    with client.session_transaction() as session:
        session["_started"] -= absolute + 5
    assert client.get("/account/profile").status_code == 302


def test_htmx_signup_gets_the_form_partial_or_a_client_redirect(client):
    headers = {"HX-Request": "true"}
    bad = client.submit(
        "/signup", {"name": "A", "email": "x", "password": PASSWORD}, headers=headers
    )
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert body.lstrip().startswith("<form") and "<html" not in body
    good = client.submit(
        "/signup", {"name": "A", "email": "a@example.com", "password": PASSWORD}, headers=headers
    )
    assert good.status_code == 204 and good.headers["HX-Redirect"] == "/"


def _field_errors(response):
    import re

    return dict(re.findall(r'id="(\w+)-error">([^<]+)<', response.get_data(as_text=True)))


def test_inline_signup_validation_checks_only_the_field_left(client, users):
    users.create(email="taken@example.com")
    headers = {"HX-Request": "true", "HX-Trigger-Name": "password"}
    response = client.submit(
        "/signup/validate",
        {"name": "", "email": "bad", "password": "password1234"},
        headers=headers,
    )
    assert response.status_code == 200
    errors = _field_errors(response)
    assert list(errors) == ["password"] and "too common" in errors["password"]
    headers["HX-Trigger-Name"] = "email"
    taken = client.submit("/signup/validate", {"email": "taken@example.com"}, headers=headers)
    assert _field_errors(taken) == {}  # whether it is taken is told only on submit
    bad = client.submit("/signup/validate", {"email": "nope"}, headers=headers)
    assert "valid email" in _field_errors(bad)["email"]
    assert users.count() == 1


def test_signup_returns_to_where_the_user_was_going(client):
    page = client.get("/signup?next=/courses/some-course").get_data(as_text=True)
    assert 'value="/courses/some-course"' in page
    response = client.submit(
        "/signup",
        {
            "name": "Nx",
            "email": "nx@example.com",
            "password": PASSWORD,
            "next": "/courses/some-course",
        },
    )
    assert response.headers["Location"] == "/courses/some-course"
    evil = client.application.test_client().submit(
        "/signup",
        {
            "name": "Ev",
            "email": "ev@example.com",
            "password": PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert evil.headers["Location"] == "/"
