"""The embedded default signs with secrets it generated itself (SPEC §9, issue 7.1).

Before, sessions, access tokens and media URLs were signed with strings written in
app/config.py, so anyone who read the source could mint a token for any user.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import stat
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from flask.sessions import SecureCookieSessionInterface

from app import create_app
from app.secrets_file import FILE_NAME, load_or_create
from tests.conftest import PASSWORD, base_config

# The strings that used to sign everything under `make run`.
KNOWN = ("dev-secret-not-for-production", "dev-jwt-secret-not-for-production")


def test_first_start_generates_owner_only_secrets_that_a_restart_keeps(app_factory):
    first = app_factory()
    data_dir = Path(first.config["DATA_DIR"])
    path = data_dir / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        assert first.config[name] == stored[name]
        assert len(first.config[name]) >= 48
        assert first.config[name] not in KNOWN
    assert first.config["SECRET_KEY"] != first.config["JWT_SECRET_KEY"]

    second = app_factory()  # a restart on the same DATA_DIR
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert second.config["JWT_SECRET_KEY"] == first.config["JWT_SECRET_KEY"]


def test_a_restart_signs_nobody_out(app_factory, users):
    first = app_factory()
    user = users.create()
    browser = first.test_client()
    assert browser.submit("/signin", {"email": user.email, "password": PASSWORD}).status_code == 302
    phone = first.test_client().post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    )
    access = phone.json["access_token"]

    second = app_factory()
    restarted = second.test_client()
    restarted.set_cookie(
        "lectern_session", browser.get_cookie("lectern_session").value, domain="localhost"
    )
    assert restarted.get("/account/profile").status_code == 200
    profile = second.test_client().get(
        "/api/v1/users/profile", headers={"Authorization": f"Bearer {access}"}
    )
    assert profile.status_code == 200


def test_environment_secrets_win_and_are_not_written(app_factory):
    app = app_factory(SECRET_KEY="e" * 48, JWT_SECRET_KEY="f" * 48)
    assert app.config["SECRET_KEY"] == "e" * 48
    assert not (Path(app.config["DATA_DIR"]) / FILE_NAME).exists()


def test_the_known_strings_sign_nothing(app, users, client):
    user = users.create()
    now = datetime.now(UTC)
    for key in KNOWN:
        with warnings.catch_warnings():  # the old strings were short, too
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            token = jwt.encode(
                {
                    "iss": app.config["JWT_ISSUER"],
                    "aud": app.config["JWT_AUDIENCE"],
                    "sub": str(user.id),
                    "iat": now,
                    "exp": now + timedelta(minutes=5),
                    "typ": "access",
                    "epoch": 0,
                },
                key,
                algorithm="HS256",
            )
        answer = client.get("/api/v1/users/profile", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401

        # A session cookie for the user, signed the way Flask signs them, with the known key.
        forger = type("Forger", (), {"secret_key": key, "config": app.config})()
        serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
        cookie = serializer.dumps(
            {"_user_id": f"{user.id}:0", "_fresh": True, "_started": int(time.time())}
        )
        stranger = app.test_client()
        stranger.set_cookie("lectern_session", cookie, domain="localhost")
        assert stranger.get("/account/profile").status_code == 302  # back to sign-in

        expires = int(time.time()) + 600
        media_key = "lessons/" + "a" * 32 + ".pdf"
        signature = hmac.new(
            key.encode(), f"media:{media_key}:{expires}".encode(), hashlib.sha256
        ).hexdigest()
        answer = client.get(f"/media/{media_key}?expires={expires}&signature={signature}")
        assert answer.status_code == 403


def _create(data_dir: str, queue) -> None:
    queue.put(load_or_create(Path(data_dir)))


def test_processes_starting_together_share_one_set_of_secrets(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_create, args=(str(tmp_path), queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert all(result == results[0] for result in results)
    assert json.loads((tmp_path / FILE_NAME).read_text()) == results[0]


def test_a_loose_secrets_file_is_made_owner_only(tmp_path):
    load_or_create(tmp_path)
    (tmp_path / FILE_NAME).chmod(0o644)
    load_or_create(tmp_path)
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600


def test_production_never_generates_secrets(tmp_path):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(base_config(tmp_path, "sqlite://"), environ={"LECTERN_ENV": "production"})
    assert not (tmp_path / "data" / FILE_NAME).exists()
