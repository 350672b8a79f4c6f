"""Course tests run on SQLite for accounts and on both document stores: the in-memory
one (mongomock) and the file-backed embedded default (litemongo)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["mongomock", "litemongo"])
def document_store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_uri(sqlite_url: str) -> str:
    return sqlite_url
