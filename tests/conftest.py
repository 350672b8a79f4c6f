"""Shared fixtures, in the style of flaskr's conftest.

Every test that uses `app` runs twice: on SQLite and on a real PostgreSQL
database that this session creates (from TEST_DATABASE_URL's server) and drops
at the end. The schema comes from the Alembic migrations, so they are tested
too. Between tests every table is emptied. Under CI=true a missing service
fails the run instead of skipping.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db

IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "a quiet river at dawn"
PG_SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def require_service(name: str, reason: str) -> None:
    """Fail under CI, skip elsewhere: a test that needs a missing service."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


# ------------------------------------------------------------------ databases


def _pg_url(database: str) -> str:
    url = make_url(PG_SERVER).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, dropped at the end."""
    name = f"lectern_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        _pg_url(make_url(PG_SERVER).database or "postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server"
        admin.dispose()
        require_service("PostgreSQL", f"{PG_SERVER}: {exc}")
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.sqlite3'}"


_MIGRATED: set[str] = set()


def _prepare_schema(app: Flask) -> None:
    """Migrate once per database, then empty every table and collection before each test."""
    from flask_migrate import upgrade

    from app.courses.store import drop_all

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        if uri not in _MIGRATED:
            upgrade()
            _MIGRATED.add(uri)
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
    drop_all()


def base_config(
    tmp_path: Path,
    database_uri: str,
    document_store: str = "mongomock",
    document_store_path: str = "",
    **overrides: Any,
) -> dict[str, Any]:
    config = {
        "TESTING": True,
        "ENV_NAME": "testing",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "DATA_DIR": tmp_path / "data",
        "BCRYPT_ROUNDS": 4,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_URL": "http://lectern.test",
        "DOCUMENT_STORE": document_store,
        "DOCUMENT_STORE_PATH": document_store_path,
        "SERVER_NAME": None,
    }
    if "postgresql" in database_uri:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "pool_size": 2}
    config.update(overrides)
    return config


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_uri(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return sqlite_url


@pytest.fixture
def document_store() -> str:
    """The course documents' store; tests/courses runs on litemongo too."""
    return "mongomock"


@pytest.fixture(scope="session")
def litemongo_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("litemongo"))


@pytest.fixture
def app_factory(
    tmp_path: Path, database_uri: str, document_store: str, litemongo_path: str
) -> Iterator[Any]:
    """Build apps on this test's databases; they are emptied once, before the first app."""
    made: list[Flask] = []

    def make(environ: dict[str, str] | None = None, **overrides: Any) -> Flask:
        # The app reads `environ` only: never the developer's shell or .env (where a
        # SENDGRID_API_KEY, say, would send the tests' mail for real).
        app = create_app(
            base_config(tmp_path, database_uri, document_store, litemongo_path, **overrides),
            environ=dict(environ or {}),
        )
        app.test_client_class = Client
        if not made:
            _prepare_schema(app)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory()  # type: ignore[no-any-return]


# ------------------------------------------------------------------ clients


class Client(FlaskClient):
    """A test client that sends the CSRF token with form posts, as a browser would."""

    def csrf_token(self) -> str:
        page = self.get("/").get_data(as_text=True)
        match = CSRF_RE.search(page)
        assert match, "no CSRF token on the home page"
        return match.group(1) or match.group(2)

    def submit(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token())
        return self.post(url, data=data, **kwargs)


@pytest.fixture
def client(app: Flask) -> Client:
    return app.test_client()  # type: ignore[return-value]


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


# ------------------------------------------------------------------ factories and helpers


class Users:
    """Creates accounts directly through the service, committed."""

    def __init__(self, app: Flask):
        self.app = app

    def create(
        self,
        role: str = "learner",
        *,
        email: str | None = None,
        password: str = PASSWORD,
        name: str = "Test User",
        verified: bool = True,
    ) -> Any:
        from app.accounts import registration
        from app.roles import Role

        with self.app.app_context():
            user = registration.do_register(
                email or f"{role}-{uuid.uuid4().hex[:8]}@example.com",
                password,
                name,
                Role(role),
                verified=verified,
            )
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def get(self, user_id: Any) -> Any:
        from app.accounts import lookup

        with self.app.app_context():
            user = lookup.get_user(user_id)
            if user is not None:
                db.session.expunge(user)
            return user

    def get_by_email(self, email: str) -> Any:
        from app.accounts import lookup

        with self.app.app_context():
            user = lookup.find_user_by_email(email)
            if user is not None:
                db.session.expunge(user)
            return user

    def count(self) -> int:
        from app.accounts.models import User

        with self.app.app_context():
            return db.session.query(User).count()


@pytest.fixture
def users(app: Flask) -> Users:
    return Users(app)


class Auth:
    """Sign in through the real sign-in form, as a given role."""

    def __init__(self, client: Client, users: Users):
        self.client = client
        self.users = users

    def login(self, role: str = "learner", **kwargs: Any) -> Any:
        user = self.users.create(role, **kwargs)
        response = self.client.submit(
            "/signin", {"email": user.email, "password": kwargs.get("password", PASSWORD)}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    def logout(self) -> Any:
        return self.client.submit("/signout")


@pytest.fixture
def auth(client: Client, users: Users) -> Auth:
    return Auth(client, users)


class Api:
    """Calls the JSON API with an optional bearer token."""

    def __init__(self, client: Client):
        self.client = client

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.json
        return response.json  # type: ignore[no-any-return]

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)


@pytest.fixture
def api(client: Client) -> Api:
    return Api(client)


class Outbox:
    """Delivers pending events, then reads the .eml files the mail backend wrote."""

    def __init__(self, app: Flask):
        self.app = app
        self.dir = Path(app.config["DATA_DIR"]) / "outbox"

    def deliver(self) -> int:
        """Deliver every pending event, and run the media worker's jobs they queue (as
        its own process would), until nothing is left to do."""
        from app.events.bus import dispatch_pending
        from app.media.processing import run_next

        with self.app.app_context():
            total = 0
            while True:
                n = dispatch_pending()
                total += n
                if not n and not run_next():
                    return total

    def messages(self) -> list[email.message.EmailMessage]:
        self.deliver()
        if not self.dir.exists():
            return []
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(self.dir.glob("*.eml"))
        ]

    def links(self, to: str | None = None) -> list[str]:
        found = []
        for message in self.messages():
            if to and message["To"] != to:
                continue
            body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
            found += re.findall(r"http://lectern\.test(/\S+)", body)
        return found


@pytest.fixture
def outbox(app: Flask) -> Outbox:
    return Outbox(app)


def events_of(app: Flask, event_type: str | None = None) -> list[Any]:
    from app.events.models import OutboxEvent

    with app.app_context():
        query = db.session.query(OutboxEvent).order_by(OutboxEvent.seq)
        if event_type:
            query = query.filter(OutboxEvent.type == event_type)
        rows = query.all()
        for row in rows:
            db.session.expunge(row)
        return rows


class Courses:
    """Builds courses through the studio services, as an instructor would."""

    def __init__(self, app: Flask, users: Users):
        self.app = app
        self.users = users

    @staticmethod
    def actor(user: Any) -> Any:
        from app.demo import Actor

        return Actor(str(user.id), user.role, user.name)

    def draft(
        self, instructor: Any = None, lessons: Any = ("reading",), title: str = "", **fields: Any
    ) -> Any:
        from app.courses import studio

        instructor = instructor or self.users.create("instructor", name="Ina Structor")
        with self.app.app_context():
            course = studio.create_course(
                self.actor(instructor),
                {"title": title or f"Course {uuid.uuid4().hex[:6]}", **fields},
            )
            author = self.actor(instructor)
            section = studio.add_section(author, course, "Part one")
            for n, kind in enumerate(lessons, start=1):
                data: dict[str, Any] = {
                    "title": f"Lesson {n}",
                    "kind": kind,
                    "body": f"Body of lesson {n}",
                }
                if kind == "quiz":
                    data["questions"] = [
                        {
                            "prompt": "2 + 2?",
                            "choices": [{"text": "3"}, {"text": "4", "correct": True}],
                        },
                        {
                            "prompt": "Primes?",
                            "multiple": True,
                            "explanation": "2 and 3.",
                            "choices": [
                                {"text": "2", "correct": True},
                                {"text": "3", "correct": True},
                                {"text": "4"},
                            ],
                        },
                    ]
                    data["pass_mark"] = 100
                studio.add_lesson(author, course, section.id, data)
            course.reload()
            course.owner = instructor
            return course

    def published(self, instructor: Any = None, lessons: Any = ("reading",), **kw: Any) -> Any:
        from app.courses import workflow

        course = self.draft(instructor, lessons, **kw)
        owner = course.owner
        moderator = self.users.create("moderator", name="Mod")
        with self.app.app_context():
            workflow.submit_for_review(self.actor(owner), course)
            workflow.approve(self.actor(moderator), course)
            course.reload()
        course.owner = owner
        return course


@pytest.fixture
def courses(app: Flask, users: Users) -> Courses:
    return Courses(app, users)


# ------------------------------------------------------------------ the browser


def require_chromium() -> None:
    """Debian's Chromium (Playwright's own download does not work offline)."""
    if not os.access(CHROMIUM, os.X_OK):
        require_service("Chromium", f"{CHROMIUM} is missing: install it with `make browser`")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session (Playwright allows one sync instance)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


# ------------------------------------------------------------------ the S3-API server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One moto_server process for the session (tests/support/s3.py); every test makes
    its own bucket, so tests never see each other's objects."""
    from tests.support.s3 import MotoError, MotoServer

    server = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        server.start()
    except (MotoError, OSError) as exc:
        require_service("S3-API server (moto_server)", str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: Any) -> str:
    """A fresh bucket with the CORS rule browser uploads need (PUT, POST, GET from any
    origin; ETag exposed)."""
    return str(s3_server.make_bucket())
