"""The storage contract: every engine behaves the same for every caller.

Each test runs on the local folder and on an S3 bucket (moto_server). Delivery URLs are
fetched as a client would: through the app's media route for the local engine, over
HTTP from the S3-API server for S3.
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import datetime
from urllib.parse import unquote

import pytest

from app.media.s3 import PART_MIN
from app.media.storage import TooLarge, new_key

MiB = 1024 * 1024
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40
BAD_KEYS = [
    "",
    "lessons",
    "lessons/",
    "../etc/passwd",
    "lessons/../../etc/passwd",
    "lessons/./x.pdf",
    "/lessons/x.pdf",
    "lessons//x.pdf",
    "Lessons/X.pdf",
    "lessons/x.pdf\n",
    "lessons/x y.pdf",
    "lessons/.hidden",
    "lessons\\x.pdf",
    "lessons/x.pdf%00.txt",
    "lessons/" + "a" * 400 + ".pdf",
]


def _read(store, key, start=0, end=None) -> bytes:
    return b"".join(store.read(key, start, end))


def _stream(size: int) -> tuple[io.BytesIO, str]:
    data = os.urandom(size)
    return io.BytesIO(data), hashlib.sha256(data).hexdigest()


def test_put_read_size_exists_and_replace(engine):
    store = engine.store
    key = new_key("lessons", "bin")
    assert not store.exists(key) and store.size(key) is None
    store.put(key, b"first version", "application/octet-stream")
    assert store.exists(key) and store.size(key) == 13
    assert _read(store, key) == b"first version"
    store.put(key, b"second", "application/octet-stream")
    assert _read(store, key) == b"second" and store.size(key) == 6


def test_an_empty_object(engine):
    key = new_key("lessons", "txt")
    engine.store.put(key, b"", "text/plain")
    assert engine.store.size(key) == 0 and _read(engine.store, key) == b""


@pytest.mark.parametrize("size", [0, 1000, PART_MIN, 2 * PART_MIN + 12345])
def test_put_stream_stores_every_byte(engine, size):
    """Below one part, exactly one part, and several parts (multipart on S3)."""
    stream, digest = _stream(size)
    key = new_key("lessons", "bin")
    assert engine.store.put_stream(key, stream, "application/octet-stream") == size
    assert hashlib.sha256(_read(engine.store, key)).hexdigest() == digest
    assert engine.store.size(key) == size
    assert engine.leftovers() == []


def test_put_stream_up_to_the_limit_is_accepted(engine):
    stream, digest = _stream(PART_MIN + 10)
    key = new_key("lessons", "bin")
    assert engine.store.put_stream(key, stream, "", max_bytes=PART_MIN + 10) == PART_MIN + 10
    assert hashlib.sha256(_read(engine.store, key)).hexdigest() == digest


@pytest.mark.parametrize(
    ("size", "limit"),
    [(1001, 1000), (PART_MIN + 1, PART_MIN), (2 * PART_MIN + 7, 2 * PART_MIN + 6)],
    ids=["small", "one-part-plus-one", "several-parts"],
)
def test_too_large_leaves_nothing_behind(engine, size, limit):
    """Past the limit nothing is stored: no object, no partial file, no open multipart
    upload holding parts (which S3 would bill for)."""
    stream, _ = _stream(size)
    key = new_key("lessons", "bin")
    with pytest.raises(TooLarge):
        engine.store.put_stream(key, stream, "", max_bytes=limit)
    assert not engine.store.exists(key)
    assert engine.leftovers() == []
    assert list(engine.store.list("lessons/")) == []


def test_ranged_reads(engine):
    data = bytes(range(256)) * 10
    key = new_key("lessons", "bin")
    engine.store.put(key, data, "application/octet-stream")
    assert _read(engine.store, key, 0) == data
    assert _read(engine.store, key, 5, 10) == data[5:10]
    assert _read(engine.store, key, 2550) == data[2550:]
    assert _read(engine.store, key, 2550, 9999) == data[2550:]  # past the end: cut short
    assert _read(engine.store, key, 7, 7) == b""
    assert _read(engine.store, key, 5000) == b""  # starts past the end: nothing


def test_reading_a_missing_object(engine):
    with pytest.raises(FileNotFoundError):
        _read(engine.store, new_key("lessons", "bin"))


def test_delete_is_idempotent(engine):
    key = new_key("lessons", "bin")
    engine.store.put(key, b"x", "application/octet-stream")
    engine.store.delete(key)
    engine.store.delete(key)
    engine.store.delete(new_key("lessons", "bin"))  # never existed
    assert not engine.store.exists(key) and engine.store.size(key) is None


def test_list_by_prefix(engine):
    store = engine.store
    lessons = sorted(new_key("lessons", "pdf") for _ in range(3))
    avatar = new_key("avatars", "webp")
    for n, key in enumerate([*lessons, avatar]):
        store.put(key, b"x" * (n + 1), "application/octet-stream")
    found = list(store.list("lessons/"))
    assert sorted(o.key for o in found) == lessons
    assert {o.key: o.size for o in found} == {k: n + 1 for n, k in enumerate(lessons)}
    assert all(isinstance(o.modified, datetime) and o.modified.tzinfo for o in found)
    partial = lessons[0][: len("lessons/") + 3]  # a prefix that ends inside a name
    assert {o.key for o in store.list(partial)} == {k for k in lessons if k.startswith(partial)}
    assert {o.key for o in store.list("")} == {*lessons, avatar}
    assert list(store.list("covers/")) == []


@pytest.mark.parametrize("prefix", ["../", "lessons/../..", "/lessons", "Lessons/", "a b"])
def test_malformed_prefixes_are_refused(engine, prefix):
    with pytest.raises(ValueError):
        list(engine.store.list(prefix))


@pytest.mark.parametrize("key", BAD_KEYS)
def test_malformed_keys_are_refused(engine, key):
    """A key is never a path: whatever a caller passes, nothing outside the store is read,
    written or deleted, and nothing is sent to S3."""
    store = engine.store
    with pytest.raises(ValueError):
        store.put(key, b"x", "text/plain")
    with pytest.raises(ValueError):
        store.put_stream(key, io.BytesIO(b"x"), "text/plain")
    with pytest.raises(ValueError):
        _read(store, key)
    with pytest.raises(ValueError):
        store.delete(key)
    with pytest.raises(ValueError):
        store.delivery_url(key, seconds=60)
    assert store.size(key) is None and not store.exists(key)


def test_delivery_url_serves_the_object_inline(engine):
    key = new_key("lessons", "pdf")
    engine.store.put(key, PDF, "application/pdf")
    url = engine.store.delivery_url(key, seconds=60, filename="Week 1.pdf")
    answer = engine.fetch(url)
    assert answer.status == 200 and answer.body == PDF
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"] == 'inline; filename="Week 1.pdf"'


def test_delivery_url_serves_byte_ranges(engine):
    key = new_key("lessons", "mp4")
    data = bytes(range(256)) * 4
    engine.store.put(key, data, "video/mp4")
    answer = engine.fetch(engine.store.delivery_url(key, seconds=60), {"Range": "bytes=10-19"})
    assert answer.status == 206 and answer.body == data[10:20]


def test_delivery_url_offers_other_types_as_downloads_under_their_name(engine):
    """A type a browser might run (HTML, SVG…) or does not show is an attachment of type
    application/octet-stream, under the uploaded name in RFC 6266 form."""
    key = new_key("lessons", "zip")
    engine.store.put(key, b"PK\x03\x04rest", "application/zip")
    answer = engine.fetch(engine.store.delivery_url(key, seconds=60, filename="Résumé final.zip"))
    assert answer.status == 200 and answer.body == b"PK\x03\x04rest"
    assert answer.headers["Content-Type"] == "application/octet-stream"
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Resume final.zip"')
    star = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(star) == "Résumé final.zip"
