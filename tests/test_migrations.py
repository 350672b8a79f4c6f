"""The Alembic migrations build exactly the schema the models describe, both ways."""

from __future__ import annotations

import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect
from sqlalchemy.exc import SAWarning

from app.extensions import db


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes and says so.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping", UserWarning)
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, db.metadata)
            # SQLite cannot reflect the expression index on lower(email); the
            # uniqueness itself is tested in test_auth_pages.
            if not (isinstance(d, tuple) and getattr(d[1], "name", "") == "uq_users_email_lower")
        ]
        assert diff == []


def test_downgrade_to_base_and_up_again(app):
    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
    assert {
        "users",
        "projects",
        "refresh_tokens",
        "one_time_tokens",
        "outbox_events",
        "event_receipts",
    } <= tables
