"""GET/PUT /users/profile and DELETE /users/account."""

from __future__ import annotations

from typing import Any

from flask import g

from app.accounts import profiles
from app.accounts.serializers import user_dict
from app.extensions import db
from blueprints.api import bp
from blueprints.api import schemas as s
from blueprints.api.core import api_client, route

E = s.ERROR


@route(
    bp,
    "/users/profile",
    "GET",
    tag="users",
    summary="The signed-in user",
    responses={200: ("The user", s.USER_ENVELOPE), 401: ("No valid token", E)},
)
def get_profile() -> Any:
    return {"user": user_dict(g.api_user)}


@route(
    bp,
    "/users/profile",
    "PUT",
    tag="users",
    body=s.PROFILE_UPDATE,
    summary="Change name and/or bio (role, email and the rest cannot be set here)",
    responses={
        200: ("Updated", s.USER_ENVELOPE),
        401: ("No valid token", E),
        422: ("Invalid fields", E),
    },
)
def put_profile() -> Any:
    profiles.update_profile(g.api_user, name=g.body.get("name"), bio=g.body.get("bio"))
    db.session.commit()
    return {"user": user_dict(g.api_user)}


@route(
    bp,
    "/users/account",
    "DELETE",
    tag="users",
    body=s.ACCOUNT_DELETE,
    summary="Delete the account and all its data (password required if the account has one)",
    responses={
        204: ("Deleted", None),
        401: ("No valid token", E),
        422: ("Wrong password", E),
        # the password is checked like a sign-in, in the same per-account buckets
        429: ("Too many wrong passwords for this account", E),
    },
)
def delete_account() -> Any:
    profiles.delete_account(g.api_user, g.body.get("password"), api_client())
    db.session.commit()
    return "", 204
