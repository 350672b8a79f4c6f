"""The embedded document store's adapter keeps litemongo on one thread (ADR 0008)."""

from __future__ import annotations

import sqlite3
import threading

import litemongo
import mongoengine
import pytest

from app.courses.embedded_store import EmbeddedClient


class Counter(mongoengine.Document):
    name = mongoengine.StringField(required=True, unique=True)
    hits = mongoengine.IntField(default=0)
    meta = {"collection": "test_counters", "db_alias": "embedded-test"}


@pytest.fixture
def embedded(tmp_path):
    mongoengine.connect(
        alias="embedded-test",
        db="threads",
        mongo_client_class=EmbeddedClient,
        store=str(tmp_path),
        tz_aware=True,
        uuidRepresentation="standard",
    )
    Counter._collection = None  # a fresh folder for each test
    yield Counter
    mongoengine.disconnect("embedded-test")


def test_litemongo_alone_refuses_a_second_thread(tmp_path):
    """Why the adapter exists: litemongo's connections belong to the thread that opened them."""
    collection = litemongo.MongoClient(str(tmp_path))["db"]["things"]
    collection.insert_one({"n": 1})
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            collection.insert_one({"n": 2})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert errors and isinstance(errors[0], sqlite3.ProgrammingError)


def test_many_threads_share_the_store_through_the_adapter(embedded):
    names = [f"counter-{n}" for n in range(4)]
    for name in names:
        embedded(name=name).save()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(25):
                embedded.objects(name=names[n % 4]).update_one(inc__hits=1)
                embedded(name=f"w{worker}-{n}").save()
                assert embedded.objects(name=names[worker % 4]).first() is not None
                list(embedded.objects(name__startswith=f"w{worker}-").order_by("-name").limit(5))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(c.hits for c in embedded.objects(name__in=names)) == 8 * 25  # no update lost
    assert embedded.objects(name__startswith="w").count() == 8 * 25


def test_a_cursor_reads_in_batches_across_threads(embedded):
    for n in range(450):  # more than two batches
        embedded(name=f"c{n:03d}").save()
    seen: list[str] = []
    reader = threading.Thread(
        target=lambda: seen.extend(c.name for c in embedded.objects.order_by("name"))
    )
    reader.start()
    reader.join()
    assert seen == [f"c{n:03d}" for n in range(450)]


def test_errors_come_back_to_the_caller(embedded):
    embedded(name="only-once").save()
    with pytest.raises(mongoengine.errors.NotUniqueError):
        embedded(name="only-once").save(force_insert=True)
    assert embedded.objects(name="only-once").count() == 1


def test_a_rewound_cursor_starts_again(embedded):
    for n in range(250):  # more than one batch
        embedded(name=f"r{n:03d}").save()
    cursor = embedded.objects.order_by("name").no_cache()
    reading = iter(cursor)
    first = [next(reading).name for _ in range(5)]
    assert first == [f"r{n:03d}" for n in range(5)]
    assert [c.name for c in cursor] == [f"r{n:03d}" for n in range(250)]
