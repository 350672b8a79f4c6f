"""Connects mongoengine to the configured document store.

- `mongodb`: a real MongoDB at MONGODB_URI (production).
- `litemongo`: the embedded default, a file-backed pymongo-compatible store
  under DOCUMENT_STORE_PATH (default DATA_DIR/documents). It survives restarts.
- `mongomock`: in memory, for fast tests.

The same mongoengine code runs on all three; see docs/decisions/0008.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import types
from pathlib import Path
from typing import Any

import mongoengine
from flask import Flask

ALIAS = mongoengine.DEFAULT_CONNECTION_NAME
_current: dict[str, Any] = {}
_lock = threading.Lock()


def _litemongo_client_class() -> type:
    """litemongo's client, adapted to how mongoengine builds clients, made thread-safe.

    mongoengine calls the client class with pymongo's keywords (host, port, ...);
    litemongo wants a `store`. litemongo's SQLite connections refuse use from a
    second thread, and gunicorn serves requests from several threads, so every
    collection and cursor operation is serialised behind one lock.
    """
    import litemongo
    from litemongo import sqlite_store  # type: ignore[attr-defined]
    from litemongo._vendor.mongomock import collection as mm_collection

    if not getattr(sqlite_store, "_lectern_threadsafe", False):
        lock = threading.RLock()
        sqlite_store.sqlite3 = types.SimpleNamespace(  # type: ignore[attr-defined]
            connect=functools.partial(sqlite3.connect, check_same_thread=False),
            **{
                k: getattr(sqlite3, k)
                for k in dir(sqlite3)
                if not k.startswith("_") and k != "connect"
            },
        )

        def locked(fn: Any) -> Any:
            @functools.wraps(fn)
            def run(*args: Any, **kwargs: Any) -> Any:
                with lock:
                    return fn(*args, **kwargs)

            return run

        for cls, names in (
            (mm_collection.Collection, None),
            (mm_collection.Cursor, ("_compute_results", "distinct", "count", "__next__")),
        ):
            for name, attr in list(vars(cls).items()):
                if names is not None and name not in names:
                    continue
                if names is None and (
                    name.startswith("__")
                    or not callable(attr)
                    or isinstance(attr, staticmethod | classmethod | type)
                ):
                    continue
                setattr(cls, name, locked(attr))
        sqlite_store._lectern_threadsafe = True  # type: ignore[attr-defined]

    class LiteMongoClient(litemongo.MongoClient):  # type: ignore[misc,name-defined]
        def __init__(self, host: Any = None, port: Any = None, store: Any = None, **kw: Any):
            kw.pop("driver", None)
            super().__init__(store, **kw)

    return LiteMongoClient


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
            "mongo_client_class": _litemongo_client_class(),
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
    """Empty every collection of the courses context (tests and `reset` only)."""
    from app.courses import documents
    from app.courses.catalog import CatalogFacets
    from app.courses.outbox import DocOutboxEvent

    for model in (*documents.ALL, CatalogFacets, DocOutboxEvent):
        model.drop_collection()


def ping() -> str:
    """Readiness: the store answers a trivial command."""
    db = mongoengine.get_db(ALIAS)
    db.command("ping") if _current.get("key", {}).get(
        "backend"
    ) == "mongodb" else db.list_collection_names()
    return str(_current.get("key", {}).get("backend"))
