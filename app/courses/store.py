"""Connects mongoengine to the configured document store.

- `mongodb`: a real MongoDB at MONGODB_URI (production).
- `litemongo`: the embedded default, a file-backed pymongo-compatible store
  under DOCUMENT_STORE_PATH (default DATA_DIR/documents). It survives restarts.
  Reached through app/courses/embedded_store.py, which runs it on one thread.
- `mongomock`: in memory, for fast tests.

The same mongoengine code runs on all three; see docs/decisions/0008.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import mongoengine
from flask import Flask

from app.courses.embedded_store import EmbeddedClient

ALIAS = mongoengine.DEFAULT_CONNECTION_NAME
_current: dict[str, Any] = {}
_lock = threading.Lock()


def connection_settings(app: Flask) -> dict[str, Any]:
    backend = app.config["DOCUMENT_STORE"]
    common = {"db": app.config["MONGODB_DB"], "tz_aware": True, "uuidRepresentation": "standard"}
    if backend == "mongodb":
        return {**common, "host": app.config["MONGODB_URI"], "serverSelectionTimeoutMS": 5000}
    if backend == "mongomock":
        import mongomock

        return {
            **common,
            "host": "mongodb://localhost",
            "mongo_client_class": mongomock.MongoClient,
        }
    if backend == "litemongo":
        path = Path(app.config["DOCUMENT_STORE_PATH"] or Path(app.config["DATA_DIR"]) / "documents")
        path.mkdir(parents=True, exist_ok=True)
        return {
            **common,
            "mongo_client_class": EmbeddedClient,
            "store": str(path.resolve()),
        }
    raise ValueError(f"DOCUMENT_STORE must be mongodb, litemongo or mongomock, not {backend!r}")


def init_app(app: Flask) -> None:
    """(Re)connect the default alias if this app wants a different store than the last one."""
    settings = connection_settings(app)
    key = {k: v for k, v in settings.items() if k != "mongo_client_class"}
    key["backend"] = app.config["DOCUMENT_STORE"]
    with _lock:
        if _current.get("key") != key:
            if _current:
                mongoengine.disconnect(ALIAS)
            mongoengine.connect(alias=ALIAS, **settings)
            _current["key"] = key
    app.extensions["documents"] = key["backend"]


def drop_all() -> None:
    """Empty every collection of the document store (tests and `reset` only)."""
    from app.courses import documents
    from app.courses.catalog import CatalogFacets
    from app.courses.outbox import DocOutboxEvent
    from app.media.documents import MediaUpload, QuotaLock

    for model in (*documents.ALL, CatalogFacets, DocOutboxEvent, MediaUpload, QuotaLock):
        model.drop_collection()


def ping() -> str:
    """Readiness: the store answers a trivial command."""
    db = mongoengine.get_db(ALIAS)
    db.command("ping") if _current.get("key", {}).get(
        "backend"
    ) == "mongodb" else db.list_collection_names()
    return str(_current.get("key", {}).get("backend"))
