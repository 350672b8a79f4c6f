"""The embedded document store: litemongo, reached through one thread that Lectern owns.

litemongo is a file-backed, pymongo-compatible store (one SQLite file per
collection). Its SQLite connections may only be used by the thread that opened
them, while gunicorn serves requests from several threads. Rather than patch
litemongo's internals, this adapter sits at the client boundary: every call on the
client, a database, a collection or a cursor is run by one dedicated *store
thread*, and only plain results (documents, ids, counts) come back. The objects
litemongo hands out are wrapped in proxies that do the same, so none of them is
ever touched by another thread. Cursors fetch their documents in batches, one
hand-over per batch.

mongoengine builds its client as `mongo_client_class(host=..., port=..., **kw)`:
`EmbeddedClient` accepts those keywords and opens litemongo on the `store` folder.
See docs/decisions/0008-document-stores.md.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import litemongo

BATCH = 200  # documents a cursor takes from the store thread at a time


class StoreThread:
    """One daemon thread that runs every store operation of the process, in order."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="document-store", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            call, done = self._calls.get()
            if not done.set_running_or_notify_cancel():
                continue
            try:
                done.set_result(call())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
                done.set_exception(exc)

    def run(self, call: Callable[[], Any]) -> Any:
        """Run `call` on the store thread and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            return call()  # a proxy used from within a store call
        done: Future[Any] = Future()
        self._calls.put((call, done))
        return done.result()


_THREAD: StoreThread | None = None
_THREAD_LOCK = threading.Lock()


def store_thread() -> StoreThread:
    global _THREAD
    with _THREAD_LOCK:
        if _THREAD is None:
            _THREAD = StoreThread()
        return _THREAD


def _needs_proxy(value: Any) -> bool:
    """litemongo objects that hold connections: databases, collections and cursors."""
    return (
        hasattr(value, "find")  # a collection
        or hasattr(value, "list_collection_names")  # a database or a client
        or hasattr(value, "__next__")  # a cursor
    )


def _wrap(value: Any) -> Any:
    if _needs_proxy(value):
        return CursorProxy(value) if hasattr(value, "__next__") else StoreProxy(value)
    return value


class StoreProxy:
    """Forwards attribute reads and calls to a litemongo object, on the store thread."""

    __slots__ = ("_target",)

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        # Reading an attribute touches no connection (litemongo's are plain attributes
        # and bound methods); only calls go to the store thread.
        value = getattr(object.__getattribute__(self, "_target"), name)
        if callable(value) and not _needs_proxy(value):
            return _Method(value)
        return _wrap(value)

    def __getitem__(self, key: Any) -> Any:
        target = object.__getattribute__(self, "_target")
        return _wrap(store_thread().run(lambda: target[key]))

    def __eq__(self, other: object) -> bool:
        mine = object.__getattribute__(self, "_target")
        theirs = (
            object.__getattribute__(other, "_target") if isinstance(other, StoreProxy) else other
        )
        return bool(mine == theirs)

    def __hash__(self) -> int:
        return hash(object.__getattribute__(self, "_target"))

    def __repr__(self) -> str:
        return f"<store proxy of {object.__getattribute__(self, '_target')!r}>"


class _Method:
    """A bound method of a litemongo object; calling it runs on the store thread."""

    __slots__ = ("_method",)

    def __init__(self, method: Callable[..., Any]) -> None:
        self._method = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        method = self._method
        return _wrap(store_thread().run(lambda: method(*args, **kwargs)))


class CursorProxy(StoreProxy):
    """A cursor: modifiers (sort, limit, …) are forwarded; iteration takes batches."""

    __slots__ = ("_buffer",)

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        object.__setattr__(self, "_buffer", [])

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        buffer: list[Any] = object.__getattribute__(self, "_buffer")
        if not buffer:
            target = object.__getattribute__(self, "_target")

            def take() -> list[Any]:
                batch = []
                for _ in range(BATCH):
                    try:
                        batch.append(next(target))
                    except StopIteration:
                        break
                return batch

            buffer.extend(reversed(store_thread().run(take)))
            if not buffer:
                raise StopIteration
        return buffer.pop()

    def __getitem__(self, key: Any) -> Any:
        target = object.__getattribute__(self, "_target")
        return _wrap(store_thread().run(lambda: target[key]))

    def rewind(self) -> CursorProxy:
        """Start again from the first document (what was fetched ahead is dropped)."""
        object.__getattribute__(self, "_buffer").clear()
        target = object.__getattribute__(self, "_target")
        store_thread().run(target.rewind)
        return self


class EmbeddedClient(StoreProxy):
    """What mongoengine calls as its `mongo_client_class`: litemongo on a folder."""

    __slots__ = ()

    def __init__(self, host: Any = None, port: Any = None, store: Any = None, **kw: Any) -> None:
        kw.pop("driver", None)  # pymongo-only keywords that mongoengine adds
        client = store_thread().run(lambda: litemongo.MongoClient(store, **kw))
        super().__init__(client)
