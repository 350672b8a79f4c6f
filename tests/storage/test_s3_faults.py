"""S3 failing: transient 5xx and SlowDown answers are retried (the operation succeeds),
persistent ones raise StorageUnavailable, and a failed upload leaves nothing behind: no
object a record could point at, no multipart upload holding parts.

The faults come from tests/support/fault_proxy.py between the engine and moto_server.
Each engine here makes 3 attempts per call. SlowDown is a throttling answer, after which
botocore waits longer (up to 1 s, then 2 s), so only two tests use it.
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta

import pytest

from app.media.s3 import PART_MIN, UploadNotFound
from app.media.storage import StorageError, StorageUnavailable, new_key
from tests.storage.conftest import s3_storage
from tests.support.s3 import free_port


def _uploads(bucket_client, bucket) -> list[str]:
    return [
        u["Key"] for u in bucket_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ]


def _exists(bucket_client, bucket, key) -> bool:
    return bucket_client.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) > 0


def test_a_put_succeeds_after_slowdowns(faulty_store, fault_proxy):
    key = new_key("avatars", "webp")
    fault_proxy.fail(2, status=503, code="SlowDown", method="PUT")
    faulty_store.put(key, b"image", "image/webp")
    assert fault_proxy.seen("PUT") == 3
    assert b"".join(faulty_store.read(key)) == b"image"


def test_a_streamed_multipart_put_survives_faults_on_every_step(
    faulty_store, fault_proxy, bucket_client
):
    """A 500 on creating the upload, on a part and on completing it: each is retried,
    and the object is whole."""
    data = os.urandom(2 * PART_MIN + 1000)
    key = new_key("lessons", "mp4")
    fault_proxy.fail(1, status=500, code="InternalError", method="POST", match="?uploads")
    fault_proxy.fail(2, status=500, code="InternalError", method="PUT", match="partNumber=2")
    fault_proxy.fail(1, status=503, code="ServiceUnavailable", method="POST", match="uploadId=")
    assert faulty_store.put_stream(key, io.BytesIO(data), "video/mp4") == len(data)
    assert fault_proxy.seen("PUT", "partNumber=2") == 3
    stored = b"".join(faulty_store.read(key))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    assert _uploads(bucket_client, faulty_store.bucket) == []


def test_reads_and_listings_are_retried(faulty_store, fault_proxy):
    key = new_key("lessons", "pdf")
    faulty_store.put(key, b"%PDF-1.4", "application/pdf")
    fault_proxy.fail(2, status=500, code="InternalError", method="GET", match=key)
    assert b"".join(faulty_store.read(key, 1, 4)) == b"PDF"
    fault_proxy.fail(2, status=503, code="ServiceUnavailable", method="HEAD")
    assert faulty_store.size(key) == 8
    fault_proxy.fail(1, status=500, code="InternalError", method="GET", match="list-type=2")
    assert [o.key for o in faulty_store.list("lessons/")] == [key]


def test_a_put_that_keeps_failing_is_reported_and_stores_nothing(
    faulty_store, fault_proxy, bucket_client
):
    key = new_key("avatars", "webp")
    fault_proxy.fail(100, status=503, code="SlowDown", method="PUT")
    with pytest.raises(StorageUnavailable) as caught:
        faulty_store.put(key, b"image", "image/webp")
    message = str(caught.value)
    assert "put_object" in message and "3 attempts" in message and "SlowDown" in message
    assert caught.value.code == "SlowDown" and caught.value.status == 503
    assert fault_proxy.seen("PUT") == 3, "\n".join(map(str, fault_proxy.log))
    assert not _exists(bucket_client, faulty_store.bucket, key)


def test_a_streamed_put_that_fails_half_way_aborts_its_upload(
    faulty_store, fault_proxy, bucket_client
):
    """Part 1 is stored, part 2 keeps failing: the caller gets StorageUnavailable and the
    multipart upload is aborted, so neither an object nor stored parts remain."""
    key = new_key("lessons", "mp4")
    fault_proxy.fail(100, status=500, code="InternalError", method="PUT", match="partNumber=2")
    with pytest.raises(StorageUnavailable, match="upload_part"):
        faulty_store.put_stream(key, io.BytesIO(os.urandom(2 * PART_MIN + 10)), "video/mp4")
    assert fault_proxy.seen("DELETE", "uploadId=") == 1
    assert _uploads(bucket_client, faulty_store.bucket) == []
    assert not _exists(bucket_client, faulty_store.bucket, key)


def test_a_completion_that_keeps_failing_aborts_its_upload(
    faulty_store, fault_proxy, bucket_client
):
    key = new_key("lessons", "mp4")
    fault_proxy.fail(100, status=500, code="InternalError", method="POST", match="uploadId=")
    with pytest.raises(StorageUnavailable, match="complete_multipart_upload"):
        faulty_store.put_stream(key, io.BytesIO(os.urandom(PART_MIN + 10)), "video/mp4")
    assert _uploads(bucket_client, faulty_store.bucket) == []
    assert not _exists(bucket_client, faulty_store.bucket, key)


def test_when_the_abort_fails_too_the_first_error_is_reported(
    faulty_store, fault_proxy, bucket_client
):
    """The parts then stay until the sweep (incomplete_uploads, or the bucket's
    AbortIncompleteMultipartUpload rule) removes them; no object exists meanwhile."""
    key = new_key("lessons", "mp4")
    fault_proxy.fail(100, status=500, code="InternalError", method="PUT", match="partNumber=2")
    fault_proxy.fail(100, status=503, code="ServiceUnavailable", method="DELETE", match="uploadId=")
    with pytest.raises(StorageUnavailable, match="upload_part"):
        faulty_store.put_stream(key, io.BytesIO(os.urandom(2 * PART_MIN + 10)), "video/mp4")
    assert not _exists(bucket_client, faulty_store.bucket, key)
    fault_proxy.clear()
    left = list(faulty_store.incomplete_uploads("lessons/", datetime.now(UTC) + timedelta(1)))
    assert [u.key for u in left] == [key]
    faulty_store.abort_multipart(left[0].key, left[0].upload_id)
    assert _uploads(bucket_client, faulty_store.bucket) == []


def test_a_completion_whose_answer_was_lost(faulty_store, fault_proxy):
    """S3 assembled the object, the answer never arrived, and the retry finds the upload
    gone (NoSuchUpload): the object is there, so the completion succeeded."""
    key = new_key("lessons", "bin")
    upload_id = faulty_store.create_multipart(key, "")
    etag = faulty_store.client.upload_part(
        Bucket=faulty_store.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"abc"
    )["ETag"]
    fault_proxy.fail(1, status=500, code="InternalError", method="POST", forward=True)
    fault_proxy.fail(1, status=404, code="NoSuchUpload", method="POST")
    faulty_store.complete_multipart(key, upload_id, [(1, etag)])
    assert b"".join(faulty_store.read(key)) == b"abc"


def test_completing_an_unknown_upload(faulty_store, fault_proxy):
    fault_proxy.fail(1, status=404, code="NoSuchUpload", method="POST")
    with pytest.raises(UploadNotFound):
        faulty_store.complete_multipart(new_key("lessons", "bin"), "gone", [(1, '"e"')])


def test_a_refusal_is_not_retried(faulty_store, fault_proxy):
    """403 AccessDenied is a configuration fault: one attempt, and a StorageError that
    is not StorageUnavailable."""
    fault_proxy.fail(100, status=403, code="AccessDenied", method="PUT")
    with pytest.raises(StorageError) as caught:
        faulty_store.put(new_key("avatars", "webp"), b"x", "image/webp")
    assert not isinstance(caught.value, StorageUnavailable)
    assert caught.value.code == "AccessDenied" and fault_proxy.seen("PUT") == 1


def test_no_server_at_all(s3_server, s3_bucket):
    store = s3_storage(f"http://127.0.0.1:{free_port()}", s3_bucket, max_attempts=2)
    with pytest.raises(StorageUnavailable, match="2 attempts"):
        store.put(new_key("avatars", "webp"), b"x", "image/webp")
