"""The JSON API's authentication: register, login, refresh rotation, logout, JWT checks."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.conftest import PASSWORD, events_of

USER_KEYS = {"id", "email", "name", "role", "bio", "avatar_url", "email_verified", "created_at"}


def test_register_returns_the_user_and_sends_verification(api, app, outbox):
    response = api.call(
        "POST",
        "/auth/register",
        json={"email": "Mob@Example.com", "password": PASSWORD, "name": "Mo Bile"},
    )
    assert response.status_code == 201
    user = response.json["user"]
    assert set(user) == USER_KEYS
    assert user["role"] == "learner" and user["email_verified"] is False
    assert [m["To"] for m in outbox.messages()] == ["Mob@example.com"]
    assert len(events_of(app, "user.registered")) == 1


def test_register_conflict_is_409(api, users):
    users.create(email="dupe@example.com")
    response = api.call(
        "POST",
        "/auth/register",
        json={"email": "DUPE@example.com", "password": PASSWORD, "name": "X"},
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"


def test_login_shape_and_user(api, users):
    user = users.create()
    body = api.login(user.email.upper())
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    # SPEC §4's pair, and the device token a phone sends back at its next sign-in.
    assert set(body) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "user",
        "device_token",
    }
    assert body["user"]["id"] == str(user.id)
    assert "password" not in json.dumps(body["user"]) and "hash" not in json.dumps(body["user"])


def test_login_failures_look_the_same(api, users):
    user = users.create()
    a = api.call("POST", "/auth/login", json={"email": user.email, "password": "wrong" * 4})
    b = api.call("POST", "/auth/login", json={"email": "ghost@example.com", "password": PASSWORD})
    assert a.status_code == b.status_code == 401
    assert a.json == b.json
    assert a.headers["WWW-Authenticate"].startswith("Bearer")


def test_refresh_rotates_and_reuse_revokes_the_family(api, users):
    user = users.create()
    first = api.login(user.email)
    second = api.call("POST", "/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json
    assert second["refresh_token"] != first["refresh_token"]
    assert api.call("GET", "/users/profile", second["access_token"]).status_code == 200
    # The first token again: reuse. The whole family, including the new token, is revoked.
    reuse = api.call("POST", "/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    after = api.call("POST", "/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    # Another device's family is untouched.
    other = api.login(user.email)
    assert (
        api.call(
            "POST", "/auth/refresh", json={"refresh_token": other["refresh_token"]}
        ).status_code
        == 200
    )


def test_reuse_stops_the_familys_access_tokens_at_once(api, users):
    user = users.create()
    first = api.login(user.email)
    other_device = api.login(user.email)
    second = api.call("POST", "/auth/refresh", json={"refresh_token": first["refresh_token"]}).json
    assert api.call("GET", "/users/profile", second["access_token"]).status_code == 200
    # Someone replays the spent token: the family is revoked, and its live access token
    # stops working now, not in up to 15 minutes.
    api.call("POST", "/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert api.call("GET", "/users/profile", second["access_token"]).status_code == 401
    assert api.call("GET", "/users/profile", first["access_token"]).status_code == 401
    assert api.call("GET", "/users/profile", other_device["access_token"]).status_code == 200


def test_a_family_ends_a_fixed_time_after_sign_in_however_often_it_rotates(api, users, app):
    import time

    from app.accounts.models import RefreshToken
    from app.extensions import db

    user = users.create()
    pair = api.login(user.email)
    # The sign-in was (nearly) REFRESH_TOKEN_DAYS ago: two seconds of the family are left.
    family_end = datetime.now(UTC) + timedelta(seconds=2)
    with app.app_context():
        db.session.query(RefreshToken).update({"expires_at": family_end})
        db.session.commit()
    rotated = api.call("POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200
    with app.app_context():
        newest = db.session.query(RefreshToken).filter(RefreshToken.used_at.is_(None)).one()
        assert newest.expires_at <= family_end  # not another 7 days from this rotation
    time.sleep(2.2)
    again = api.call("POST", "/auth/refresh", json={"refresh_token": rotated.json["refresh_token"]})
    assert again.status_code == 401


def test_expired_refresh_token(api, users, app):
    from app.accounts.models import RefreshToken
    from app.extensions import db

    user = users.create()
    pair = api.login(user.email)
    with app.app_context():
        db.session.query(RefreshToken).update(
            {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}
        )
        db.session.commit()
    response = api.call("POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 401


def test_logout_ends_every_session_and_token(api, users, app):
    user = users.create()
    browser = app.test_client()
    browser.submit("/signin", {"email": user.email, "password": PASSWORD})
    phone, tablet = api.login(user.email), api.login(user.email)
    assert (
        api.call("POST", "/auth/logout", json={"refresh_token": phone["refresh_token"]}).status_code
        == 204
    )
    for pair in (phone, tablet):
        assert (
            api.call(
                "POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
            ).status_code
            == 401
        )
        assert api.call("GET", "/users/profile", pair["access_token"]).status_code == 401
    assert browser.get("/account/profile").status_code == 302
    # Unknown tokens: still 204, nothing to tell an attacker.
    assert api.call("POST", "/auth/logout", json={"refresh_token": "x" * 43}).status_code == 204


def _forge(app, **changes):
    now = datetime.now(UTC)
    claims = {
        "iss": app.config["JWT_ISSUER"],
        "aud": app.config["JWT_AUDIENCE"],
        "sub": changes.pop("sub"),
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "typ": "access",
        "epoch": 0,
    }
    claims.update(changes)
    key = claims.pop("key", app.config["JWT_SECRET_KEY"])
    alg = claims.pop("alg", "HS256")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=alg)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_jwt_checks(api, users, app):
    user = users.create()
    sub = str(user.id)
    # A live refresh family (one sign-in) that the forged tokens claim to belong to.
    signed_in = api.login(user.email)["access_token"]
    fam = jwt.decode(signed_in, options={"verify_signature": False})["fam"]

    def _forge_token(**changes):
        return _forge(app, **{"fam": fam, **changes})

    assert api.call("GET", "/users/profile", _forge_token(sub=sub)).status_code == 200
    bad_tokens = {
        "expired": _forge_token(sub=sub, exp=datetime.now(UTC) - timedelta(seconds=1)),
        "wrong issuer": _forge_token(sub=sub, iss="someone-else"),
        "wrong audience": _forge_token(sub=sub, aud="other-app"),
        "no audience": _forge_token(sub=sub, aud=None),
        "wrong key": _forge_token(sub=sub, key="another-secret-of-enough-length-xyz"),
        "HS512": _forge_token(sub=sub, alg="HS512"),
        "refresh type": _forge_token(sub=sub, typ="refresh"),
        "old epoch": _forge_token(sub=sub, epoch=-1),
        "no family": _forge_token(sub=sub, fam=None),
        "unknown family": _forge_token(sub=sub, fam="00000000-0000-0000-0000-000000000000"),
        "unknown user": _forge_token(sub="00000000-0000-0000-0000-000000000000"),
        "alg none": _b64({"alg": "none", "typ": "JWT"})
        + "."
        + _b64(
            {
                "sub": sub,
                "iss": "lectern",
                "aud": "lectern-mobile",
                "typ": "access",
                "epoch": 0,
                "exp": 9999999999,
                "iat": 1,
            }
        )
        + ".",
        "garbage": "not.a.jwt",
    }
    for name, token in bad_tokens.items():
        response = api.call("GET", "/users/profile", token)
        assert response.status_code == 401, name
        assert response.json["error"]["code"] == "unauthenticated", name


def test_access_and_refresh_tokens_are_not_interchangeable(api, users):
    pair = api.login(users.create().email)
    assert api.call("GET", "/users/profile", pair["refresh_token"]).status_code == 401
    assert api.call(
        "POST", "/auth/refresh", json={"refresh_token": pair["access_token"]}
    ).status_code in (401, 422)


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic abc", "Token x"])
def test_missing_or_odd_authorization(api, header):
    response = api.client.get("/api/v1/users/profile", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.is_json


def test_profile_update_and_mass_assignment(api, users):
    user = users.create()
    token = api.login(user.email)["access_token"]
    ok = api.call("PUT", "/users/profile", token, json={"name": "  Renamed  ", "bio": "Hi"})
    assert ok.status_code == 200
    assert ok.json["user"]["name"] == "Renamed" and ok.json["user"]["bio"] == "Hi"
    for field, value in [
        ("role", "admin"),
        ("email", "x@example.com"),
        ("id", "x"),
        ("email_verified", True),
        ("password_hash", "x"),
    ]:
        response = api.call("PUT", "/users/profile", token, json={field: value})
        assert response.status_code == 422
        assert field in response.json["error"]["fields"]
    assert users.get(user.id).role == "learner"
    assert users.get(user.id).email == user.email


def test_delete_account_through_the_api(api, users, app):
    user = users.create()
    token = api.login(user.email)["access_token"]
    api.call("POST", "/projects", token, json={"name": "Mine"})
    wrong = api.call("DELETE", "/users/account", token, json={"password": "wrong password x"})
    assert wrong.status_code == 422 and users.get(user.id) is not None
    assert (
        api.call("DELETE", "/users/account", token, json={"password": PASSWORD}).status_code == 204
    )
    assert users.get(user.id) is None
    assert api.call("GET", "/users/profile", token).status_code == 401
    deleted = events_of(app, "user.deleted")
    assert len(deleted) == 1 and deleted[0].data["user_id"] == str(user.id)
    from app.accounts.models import OneTimeToken, Project, RefreshToken
    from app.extensions import db

    with app.app_context():
        for model in (Project, RefreshToken, OneTimeToken):
            assert db.session.query(model).count() == 0, model


def test_password_change_in_browser_ends_api_tokens(client, auth, api):
    user = auth.login()
    pair = api.login(user.email)
    response = client.submit(
        "/account/password", {"current_password": PASSWORD, "new_password": "brand new passphrase"}
    )
    assert response.status_code == 302
    assert client.get("/account/profile").status_code == 200  # this session lives on
    assert api.call("GET", "/users/profile", pair["access_token"]).status_code == 401
    assert (
        api.call("POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code
        == 401
    )


def test_openapi_document_matches_the_routes(client, app):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi_document":
            path = rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
            routed |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    register = doc["paths"]["/auth/register"]["post"]
    schema = register["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["email", "password", "name"]
    assert schema["additionalProperties"] is False


def test_a_refresh_racing_reuse_detection_cannot_revive_the_family(api, users, app, monkeypatch):
    from app.accounts import sessions
    from app.accounts.models import RefreshToken
    from app.extensions import db

    user = users.create()
    pair = api.login(user.email)
    with app.app_context():
        stale = sessions._find_refresh(pair["refresh_token"])
        db.session.expunge(stale)  # read by one request just before...
        db.session.query(RefreshToken).update({"revoked_at": datetime.now(UTC)})
        db.session.commit()  # ...another request's reuse detection revoked the family
    monkeypatch.setattr(sessions, "_find_refresh", lambda raw: stale)
    answer = api.call("POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert answer.status_code == 401
    with app.app_context():
        assert db.session.query(RefreshToken).filter(RefreshToken.revoked_at.is_(None)).count() == 0
    assert api.call("GET", "/users/profile", pair["access_token"]).status_code == 401


def test_an_old_refresh_token_cannot_sign_the_owner_out_again(api, users, app):
    user = users.create()
    leaked = api.login(user.email)
    api.call("POST", "/auth/refresh", json={"refresh_token": leaked["refresh_token"]})
    fresh = api.login(user.email)  # the owner signs in again on another device
    browser = app.test_client()
    browser.submit("/signin", {"email": user.email, "password": PASSWORD})
    # Someone replays the used token at logout: its own family goes, nothing else.
    api.call("POST", "/auth/logout", json={"refresh_token": leaked["refresh_token"]})
    assert api.call("GET", "/users/profile", fresh["access_token"]).status_code == 200
    assert browser.get("/account/profile").status_code == 200
    # A live token still signs out everywhere.
    api.call("POST", "/auth/logout", json={"refresh_token": fresh["refresh_token"]})
    assert browser.get("/account/profile").status_code == 302


def test_logout_is_rate_limited(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_REFRESH="3 per hour")
    client = app.test_client()
    for _ in range(3):
        client.post("/api/v1/auth/logout", json={"refresh_token": "x" * 43})
    answer = client.post("/api/v1/auth/logout", json={"refresh_token": "x" * 43})
    assert answer.status_code == 429 and answer.headers["Retry-After"]
