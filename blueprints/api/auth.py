"""POST /auth/register, /auth/login, /auth/refresh, /auth/logout."""

from __future__ import annotations

from typing import Any

from flask import g

from app.accounts import registration, sessions
from app.accounts.guessing import issue_device_token
from app.accounts.serializers import user_dict
from app.errors import Unauthenticated
from app.extensions import db
from blueprints.api import bp
from blueprints.api import schemas as s
from blueprints.api.core import api_client, route

E = s.ERROR


def _pair(pair: sessions.TokenPair) -> dict[str, Any]:
    return {**pair.to_dict(), "user": user_dict(pair.user)}


@route(
    bp,
    "/auth/register",
    "POST",
    limit="RATELIMIT_REGISTER",
    tag="auth",
    auth=False,
    body=s.REGISTER,
    summary="Create an account; a verification email is sent",
    responses={
        201: ("Created", s.USER_ENVELOPE),
        409: ("Email taken", E),
        422: ("Invalid fields", E),
    },
)
def register() -> Any:
    body = g.body
    user = registration.check_register(body["email"], body["password"], body["name"])
    db.session.commit()
    return {"user": user_dict(user)}, 201


@route(
    bp,
    "/auth/login",
    "POST",
    limit="RATELIMIT_SIGNIN",
    tag="auth",
    auth=False,
    body=s.LOGIN,
    summary="Exchange email and password for an access and a refresh token",
    responses={
        200: ("Signed in", s.TOKENS),
        401: ("Wrong email or password", E),
    },
)
def login() -> Any:
    client = api_client(g.body.get("device_token"))
    user = sessions.authenticate(g.body["email"], g.body["password"], client)
    pair = sessions.issue_token_pair(user)
    db.session.commit()
    return {**_pair(pair), "device_token": issue_device_token(str(user.id))}


@route(
    bp,
    "/auth/refresh",
    "POST",
    limit="RATELIMIT_REFRESH",
    tag="auth",
    auth=False,
    body=s.REFRESH,
    summary="Spend a refresh token for a new pair (a reused token revokes its family)",
    responses={
        200: ("New pair", s.TOKENS),
        401: ("Invalid, used or expired", E),
    },
)
def refresh() -> Any:
    try:
        pair = sessions.rotate_refresh_token(g.body["refresh_token"])
    except Unauthenticated:
        db.session.commit()  # keep the family revocation that reuse detection made
        raise
    db.session.commit()
    return _pair(pair)


@route(
    bp,
    "/auth/logout",
    "POST",
    tag="auth",
    auth=False,
    body=s.REFRESH,
    limit="RATELIMIT_REFRESH",
    summary="Sign out: this refresh token's family is revoked and, as for every sign-out "
    "(SPEC §9), every other session and token of the user ends too (a token already used, "
    "revoked or expired revokes only its own family)",
    responses={204: ("Signed out", None)},
)
def logout() -> Any:
    sessions.sign_out_with_refresh_token(g.body["refresh_token"])
    db.session.commit()
    return "", 204
