"""Counting database work per request: SQL statements and document-store operations.

SQL: SQLAlchemy's `before_cursor_execute` event. Documents: on the embedded and
in-memory stores (litemongo, mongomock) pymongo's command monitoring does not fire,
so the public methods of their Collection class are wrapped and the outermost call
per thread is counted (one `find`, one `aggregate`, ... each). On a real MongoDB use
a pymongo CommandListener instead; the counts are then per wire command.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

_local = threading.local()
_OPERATIONS = (
    "find",
    "find_one",
    "aggregate",
    "count_documents",
    "estimated_document_count",
    "distinct",
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "find_one_and_update",
    "find_one_and_replace",
    "find_one_and_delete",
    "bulk_write",
)


@dataclass
class Counts:
    sql: int = 0
    documents: int = 0


def _counts() -> Counts | None:
    return getattr(_local, "counts", None)


def instrument_documents(collection_class: type) -> None:
    """Wrap a store's Collection class once so its operations are counted."""
    if getattr(collection_class, "_bench_counted", False):
        return
    for name in _OPERATIONS:
        original = getattr(collection_class, name, None)
        if original is None:
            continue

        def make(fn: Any) -> Any:
            @functools.wraps(fn)
            def counted(*args: Any, **kwargs: Any) -> Any:
                depth = getattr(_local, "depth", 0)
                counts = _counts()
                if counts is not None and depth == 0:
                    counts.documents += 1
                _local.depth = depth + 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    _local.depth = depth

            return counted

        setattr(collection_class, name, make(original))
    collection_class._bench_counted = True  # type: ignore[attr-defined]


def instrument_sql(engine: Any) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args: Any) -> None:
        counts = _counts()
        if counts is not None:
            counts.sql += 1


@contextmanager
def counting() -> Iterator[Counts]:
    counts = Counts()
    _local.counts = counts
    try:
        yield counts
    finally:
        _local.counts = None
