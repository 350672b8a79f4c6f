"""The primitives browser uploads are built on: presigned multipart parts, completion,
abort, the sweep of abandoned uploads, and the presigned POST form, all against
moto_server, with the parts sent by plain HTTP as a browser would send them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.media.s3 import (
    PART_MIN,
    POST_MAX,
    Part,
    PartsRejected,
    UploadNotFound,
)
from app.media.storage import new_key


def _put_part(url: str, data: bytes) -> str:
    answer = requests.put(url, data=data, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.headers["ETag"]


def _object(store, key) -> bytes:
    return b"".join(store.read(key))


def test_a_browser_style_multipart_upload(s3_store):
    """Create, sign each part, PUT the parts over HTTP, list them, complete: the object
    is byte for byte what was sent."""
    key = new_key("lessons", "mp4")
    chunks = [os.urandom(PART_MIN), os.urandom(PART_MIN), os.urandom(123_457)]
    upload_id = s3_store.create_multipart(key, "video/mp4")
    etags = []
    for number, chunk in enumerate(chunks, start=1):
        url = s3_store.sign_part(key, upload_id, number, seconds=600)
        etags.append((number, _put_part(url, chunk)))
    parts = s3_store.list_parts(key, upload_id)
    assert parts == [
        Part(n, len(chunk), etag) for (n, etag), chunk in zip(etags, chunks, strict=True)
    ]
    assert not s3_store.exists(key)  # nothing readable before completion
    s3_store.complete_multipart(key, upload_id, list(reversed(etags)))  # any order
    whole = b"".join(chunks)
    assert hashlib.sha256(_object(s3_store, key)).digest() == hashlib.sha256(whole).digest()
    assert s3_store.size(key) == len(whole)
    with pytest.raises(UploadNotFound):
        s3_store.list_parts(key, upload_id)


def test_list_parts_pages_through_many_parts(s3_store, bucket_client):
    """list_parts follows S3's pages (1,000 parts a page; here 2 a page, by a client
    whose paginator asks for less)."""
    key = new_key("lessons", "bin")
    upload_id = s3_store.create_multipart(key, "")
    for number in range(1, 6):
        _put_part(s3_store.sign_part(key, upload_id, number, seconds=60), b"x" * number)
    paginate = s3_store.client.get_paginator("list_parts").paginate
    pages = list(
        paginate(
            Bucket=s3_store.bucket, Key=key, UploadId=upload_id, PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) == 3
    assert [p.number for p in s3_store.list_parts(key, upload_id)] == [1, 2, 3, 4, 5]
    assert [p.size for p in s3_store.list_parts(key, upload_id)] == [1, 2, 3, 4, 5]


def test_a_part_can_be_sent_again(s3_store):
    """A resumed upload sends a part again; the last one sent is the one kept."""
    key = new_key("lessons", "bin")
    upload_id = s3_store.create_multipart(key, "")
    url = s3_store.sign_part(key, upload_id, 1, seconds=60)
    _put_part(url, b"first try")
    etag = _put_part(url, b"second try")
    assert s3_store.list_parts(key, upload_id) == [Part(1, 10, etag)]
    s3_store.complete_multipart(key, upload_id, [(1, etag)])
    assert _object(s3_store, key) == b"second try"


def test_completing_twice_is_not_an_error(s3_store):
    """A completion retried after its answer was lost finds the object already there."""
    key = new_key("lessons", "bin")
    upload_id = s3_store.create_multipart(key, "")
    etag = _put_part(s3_store.sign_part(key, upload_id, 1, seconds=60), b"data")
    s3_store.complete_multipart(key, upload_id, [(1, etag)])
    s3_store.complete_multipart(key, upload_id, [(1, etag)])
    assert _object(s3_store, key) == b"data"


def test_bad_completions_are_rejected(s3_store):
    key = new_key("lessons", "bin")
    upload_id = s3_store.create_multipart(key, "")
    small = _put_part(s3_store.sign_part(key, upload_id, 1, seconds=60), b"too small")
    last = _put_part(s3_store.sign_part(key, upload_id, 2, seconds=60), b"last")
    with pytest.raises(PartsRejected):  # a part other than the last under 5 MiB
        s3_store.complete_multipart(key, upload_id, [(1, small), (2, last)])
    with pytest.raises(PartsRejected):  # an ETag that is not the part's
        s3_store.complete_multipart(key, upload_id, [(1, '"0123456789abcdef0123456789abcdef"')])
    with pytest.raises(PartsRejected):
        s3_store.complete_multipart(key, upload_id, [(1, small), (1, small)])
    with pytest.raises(PartsRejected):
        s3_store.complete_multipart(key, upload_id, [])
    assert not s3_store.exists(key)
    # An unknown upload id: S3 answers 404 NoSuchUpload, moto 5.x a 500 (a KeyError in
    # moto), so that case is in test_s3_faults.py, with the answer injected.


def test_abort_drops_the_parts_and_is_idempotent(s3_store, bucket_client):
    key = new_key("lessons", "bin")
    upload_id = s3_store.create_multipart(key, "")
    _put_part(s3_store.sign_part(key, upload_id, 1, seconds=60), b"part")
    s3_store.abort_multipart(key, upload_id)
    s3_store.abort_multipart(key, upload_id)
    s3_store.abort_multipart(key, "never-existed")
    with pytest.raises(UploadNotFound):
        s3_store.list_parts(key, upload_id)
    assert bucket_client.list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads") is None
    assert not s3_store.exists(key)


def test_incomplete_uploads_are_found_by_age_and_prefix(s3_store):
    """moto reports every upload as initiated at the same fixed moment (2010-11-10), so
    the age cut-off is checked around the time it reports, not around now."""
    lesson = new_key("lessons", "mp4")
    other = new_key("uploads", "bin")
    first = s3_store.create_multipart(lesson, "video/mp4")
    second = s3_store.create_multipart(other, "")
    later = datetime.now(UTC) + timedelta(minutes=1)
    found = list(s3_store.incomplete_uploads("", later))
    assert {(u.key, u.upload_id) for u in found} == {(lesson, first), (other, second)}
    assert all(u.initiated.tzinfo is not None for u in found)
    assert [u.key for u in s3_store.incomplete_uploads("lessons/", later)] == [lesson]
    initiated = found[0].initiated
    assert list(s3_store.incomplete_uploads("", initiated)) == []  # strictly before
    assert len(list(s3_store.incomplete_uploads("", initiated + timedelta(seconds=1)))) == 2
    for upload in found:  # the sweep: abort what is too old
        s3_store.abort_multipart(upload.key, upload.upload_id)
    assert list(s3_store.incomplete_uploads("", later)) == []
    with pytest.raises(ValueError):
        list(s3_store.incomplete_uploads("", datetime.now()))  # noqa: DTZ005 - naive on purpose


@pytest.mark.parametrize("number", [0, -1, 10_001, True, 1.0, "1"])
def test_part_numbers_out_of_range_are_refused(s3_store, number):
    key = new_key("lessons", "bin")
    with pytest.raises(ValueError):
        s3_store.sign_part(key, "some-upload", number, seconds=60)
    with pytest.raises(ValueError):
        s3_store.complete_multipart(key, "some-upload", [(number, '"etag"')])


def test_part_numbers_at_the_bounds_are_signed(s3_store):
    key = new_key("lessons", "bin")
    for number in (1, 10_000):
        query = parse_qs(urlsplit(s3_store.sign_part(key, "u", number, seconds=60)).query)
        assert query["partNumber"] == [str(number)] and query["uploadId"] == ["u"]


@pytest.mark.parametrize("upload_id", ["", "a b", "x\ny", "x" * 1025])
def test_malformed_upload_ids_are_refused(s3_store, upload_id):
    key = new_key("lessons", "bin")
    for call in (
        lambda: s3_store.sign_part(key, upload_id, 1, seconds=60),
        lambda: s3_store.list_parts(key, upload_id),
        lambda: s3_store.abort_multipart(key, upload_id),
    ):
        with pytest.raises(ValueError):
            call()


def test_malformed_keys_never_reach_s3(s3_store):
    for call in (
        lambda: s3_store.create_multipart("../x", ""),
        lambda: s3_store.sign_part("lessons/../x.bin", "u", 1, seconds=60),
        lambda: s3_store.presigned_post("/x", max_bytes=1, success_redirect="/", seconds=60),
    ):
        with pytest.raises(ValueError):
            call()


def test_presigned_urls_have_bounded_lifetimes(s3_store):
    key = new_key("lessons", "bin")
    url = s3_store.sign_part(key, "u", 1, seconds=900)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["900"]
    for seconds in (0, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError):
            s3_store.sign_part(key, "u", 1, seconds=seconds)
    with pytest.raises(ValueError):
        s3_store.delivery_url(key, seconds=0)
    # A delivery URL asked for longer than SigV4 allows gets the most it can have.
    longest = s3_store.delivery_url(key, seconds=30 * 24 * 3600)
    assert parse_qs(urlsplit(longest).query)["X-Amz-Expires"] == [str(7 * 24 * 3600)]


def test_a_part_of_declared_size_signs_its_length(s3_store):
    """With `size`, Content-Length is a signed header: S3 refuses a part of another size
    (moto does not check signatures, so the test checks what is signed, then that the
    right size is accepted)."""
    key = new_key("lessons", "bin")
    upload_id = s3_store.create_multipart(key, "")
    url = s3_store.sign_part(key, upload_id, 1, seconds=60, size=5)
    signed = parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")
    assert "content-length" in signed
    etag = _put_part(url, b"12345")
    s3_store.complete_multipart(key, upload_id, [(1, etag)])
    assert _object(s3_store, key) == b"12345"
    with pytest.raises(ValueError):
        s3_store.sign_part(key, upload_id, 1, seconds=60, size=0)


# ------------------------------------------------------------------ presigned POST


def _policy(post) -> dict:
    return json.loads(base64.b64decode(post["fields"]["policy"]))


def test_a_form_post_within_the_limit_is_stored_and_redirects(s3_store):
    key = new_key("lessons", "pdf")
    back = "http://lectern.test/studio/upload-done"
    post = s3_store.presigned_post(key, max_bytes=1000, success_redirect=back, seconds=300)
    answer = requests.post(
        post["url"],
        data=post["fields"],
        files={"file": ("notes.pdf", b"%PDF-1.4 small")},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == back
    assert parse_qs(location.query)["key"] == [key]
    assert _object(s3_store, key) == b"%PDF-1.4 small"


def test_the_form_post_policy_limits_size_key_redirect_and_time(s3_store):
    """What S3 enforces is the signed policy, so the policy is what must be right."""
    key = new_key("lessons", "pdf")
    back = "http://lectern.test/done"
    before = datetime.now(UTC)
    post = s3_store.presigned_post(
        key, max_bytes=5000, success_redirect=back, seconds=600, content_type="application/pdf"
    )
    assert post["fields"]["key"] == key
    assert post["fields"]["success_action_redirect"] == back
    policy = _policy(post)
    conditions = policy["conditions"]
    assert ["content-length-range", 0, 5000] in conditions
    assert {"key": key} in conditions and {"bucket": s3_store.bucket} in conditions
    assert {"success_action_redirect": back} in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(seconds=590) <= expires - before <= timedelta(seconds=610)


def test_a_form_post_over_the_limit(s3_store):
    """Real S3 answers 400 EntityTooLarge. moto (5.x) does not enforce
    content-length-range and stores the file; then the policy above is all we can
    check, and this test says so rather than pretend."""
    key = new_key("lessons", "bin")
    post = s3_store.presigned_post(key, max_bytes=10, success_redirect="http://x.test/", seconds=60)
    answer = requests.post(
        post["url"],
        data=post["fields"],
        files={"file": ("big.bin", b"x" * 11)},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code == 400:  # a server that enforces the policy
        assert "EntityTooLarge" in answer.text
        assert not s3_store.exists(key)
    else:
        assert ["content-length-range", 0, 10] in _policy(post)["conditions"]


@pytest.mark.parametrize("max_bytes", [0, -1, POST_MAX + 1])
def test_form_post_sizes_are_bounded(s3_store, max_bytes):
    with pytest.raises(ValueError):
        s3_store.presigned_post(
            new_key("lessons", "bin"), max_bytes=max_bytes, success_redirect="/", seconds=60
        )


def test_delivery_urls_expire(s3_store):
    """The presigned GET carries its lifetime (moto does not enforce it; S3 does)."""
    key = new_key("lessons", "pdf")
    s3_store.put(key, b"%PDF", "application/pdf")
    url = s3_store.delivery_url(key, seconds=120)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["120"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(signed_at.timestamp() - time.time()) < 60
    assert query["response-content-type"] == ["application/pdf"]


# ------------------------------------------------------------------ copies


def test_a_copy_is_made_inside_the_bucket(s3_store):
    source, target = new_key("incoming", ""), new_key("lessons", "pdf")
    s3_store.put(source, b"%PDF-1.4 copied", "application/pdf")
    s3_store.copy(source, target)
    assert _object(s3_store, target) == b"%PDF-1.4 copied"
    assert _object(s3_store, source) == b"%PDF-1.4 copied"
    with pytest.raises(FileNotFoundError):
        s3_store.copy(new_key("incoming", ""), new_key("lessons", "pdf"))
    with pytest.raises(ValueError):
        s3_store.copy(source, "../elsewhere")


def test_a_copy_past_the_single_copy_limit_goes_by_parts(s3_store, bucket_client):
    """Above 5 GiB S3 copies only by parts (UploadPartCopy); the limits are lowered here
    so a few MiB show it."""
    data = os.urandom(2 * PART_MIN + 4321)
    source, target = new_key("incoming", ""), new_key("lessons", "mp4")
    s3_store.put(source, data, "video/mp4")
    s3_store.copy_single_max, s3_store.copy_part_size = PART_MIN, PART_MIN
    s3_store.copy(source, target)
    assert hashlib.sha256(_object(s3_store, target)).digest() == hashlib.sha256(data).digest()
    head = bucket_client.head_object(Bucket=s3_store.bucket, Key=target)
    assert head["ContentType"] == "video/mp4" and head["ETag"].endswith('-3"')
    assert bucket_client.list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads") is None
