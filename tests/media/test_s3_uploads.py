"""Uploads straight to the bucket (moto_server): the app signs parts and joins them, and
never holds a byte; a plain form posts to the bucket. Hostile inputs change nothing;
faults of the store are retried, or reported with nothing pointing at a missing object."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.media.documents import MediaUpload
from tests.conftest import PASSWORD, Outbox
from tests.media.conftest import Studio, course_events, mp4
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.s3
MiB = 1024 * 1024


@pytest.fixture
def database_uri(sqlite_url):
    return sqlite_url  # the relational database plays no part here


@pytest.fixture
def proxy(s3_server):
    with FaultProxy(s3_server.endpoint) as running:
        yield running


@pytest.fixture
def app(app_factory, s3_server, s3_bucket, proxy):
    """The app on a moto bucket, through the fault proxy; 5 MiB parts."""
    environ = s3_server.storage_environ(s3_bucket, endpoint=proxy.url)
    environ |= {"UPLOAD_CHUNK_BYTES": str(5 * MiB), "S3_MAX_ATTEMPTS": "3"}
    return app_factory(environ=environ)


@pytest.fixture
def bucket(s3_server, s3_bucket):
    client = s3_server.client()

    class Bucket:
        name = s3_bucket

        def keys(self, prefix=""):
            found = client.list_objects_v2(Bucket=s3_bucket, Prefix=prefix).get("Contents", [])
            return [o["Key"] for o in found]

        def read(self, key):
            return client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()

        def open_uploads(self):
            return client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])

        raw = client

    return Bucket()


def _json(studio: Studio, method: str, url: str, body=None):
    return studio.client.open(url, method=method, json=body, headers={"X-CSRFToken": studio.token})


def _start(studio: Studio, size: int, filename="talk.mp4", lesson=None):
    lesson = lesson or studio.video
    return _json(
        studio,
        "POST",
        "/uploads/s3",
        {"course": studio.course.slug, "lesson": lesson.id, "filename": filename, "size": size},
    )


def _send_parts(studio: Studio, upload_id: str, data: bytes, part_size: int, numbers):
    urls = _json(studio, "POST", f"/uploads/{upload_id}/parts", {"numbers": list(numbers)})
    assert urls.status_code == 200, urls.get_json()
    for number, url in urls.get_json()["urls"].items():
        n = int(number)
        body = data[(n - 1) * part_size : n * part_size]
        put = requests.put(url, data=body, timeout=30)  # what the browser does
        assert put.status_code == 200 and put.headers["ETag"]
    return urls.get_json()["urls"]


def test_a_file_goes_to_the_bucket_in_parts(studio, app, bucket):
    data = mp4(11 * MiB + 123)
    started = _start(studio, len(data))
    assert started.status_code == 201
    body = started.get_json()
    assert body["part_size"] == 5 * MiB and body["parts"] == 3
    upload_id = body["id"]
    assert len(bucket.open_uploads()) == 1
    urls = _send_parts(studio, upload_id, data, 5 * MiB, [1, 2, 3])
    # each URL is signed for its part's size (S3 refuses another; moto does not check)
    signed = parse_qs(urlsplit(urls["3"]).query)["X-Amz-SignedHeaders"][0]
    assert "content-length" in signed
    done = _json(studio, "POST", f"/uploads/{upload_id}/complete")
    assert done.status_code == 200
    assert done.get_json()["state"] == "complete"
    assert done.get_json()["media_status"] == "uploaded"
    pending = studio.lesson(studio.video).pending
    assert pending.key.startswith("lessons/") and pending.key.endswith(".mp4")
    assert hashlib.sha256(bucket.read(pending.key)).digest() == hashlib.sha256(data).digest()
    assert bucket.open_uploads() == []
    Outbox(app).deliver()
    lesson = studio.lesson(studio.video)
    assert lesson.media.status == "ready" and lesson.media.size == len(data)
    assert course_events("media.uploaded")[0].data["key"] == lesson.media.key


def test_a_resumed_upload_sends_only_the_missing_parts(studio, app, bucket):
    data = mp4(11 * MiB)
    upload_id = _start(studio, len(data)).get_json()["id"]
    _send_parts(studio, upload_id, data, 5 * MiB, [1])
    held = _json(studio, "GET", f"/uploads/{upload_id}/parts").get_json()
    assert [p["number"] for p in held["parts"]] == [1] and held["parts"][0]["size"] == 5 * MiB
    page = studio.client.get(
        f"/studio/{studio.course.slug}/lessons/{studio.video.id}/media/status",
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "5 MB of 11 MB received" in page
    _send_parts(studio, upload_id, data, 5 * MiB, [2, 3])
    assert _json(studio, "POST", f"/uploads/{upload_id}/complete").get_json()["state"] == (
        "complete"
    )


def test_completing_checks_the_bucket_not_the_client(studio, app, bucket):
    data = mp4(11 * MiB)
    upload_id = _start(studio, len(data)).get_json()["id"]
    _send_parts(studio, upload_id, data, 5 * MiB, [1, 3])
    missing = _json(studio, "POST", f"/uploads/{upload_id}/complete")
    assert missing.status_code == 409 and "Part 2" in missing.get_json()["error"]["message"]
    assert studio.lesson(studio.video).pending.status == "uploading"


def test_part_numbers_are_checked(studio, app):
    upload_id = _start(studio, 11 * MiB).get_json()["id"]
    for numbers in ([0], [4], ["1"], [True], [1.5], list(range(1, 102)), [], "1", None):
        answer = _json(studio, "POST", f"/uploads/{upload_id}/parts", {"numbers": numbers})
        assert answer.status_code == 422, numbers
    assert _json(studio, "POST", f"/uploads/{upload_id}/parts", ["x"]).status_code == 400


def test_content_that_is_not_its_claimed_type_is_removed(studio, app, bucket):
    data = b"%PDF-1.7\n" + b"x" * (6 * MiB)  # a PDF called .mp4
    upload_id = _start(studio, len(data)).get_json()["id"]
    _send_parts(studio, upload_id, data, 5 * MiB, [1, 2])
    done = _json(studio, "POST", f"/uploads/{upload_id}/complete").get_json()
    assert done["state"] == "failed" and "not what its name says" in done["error"]
    assert bucket.keys("lessons/") == [] and bucket.open_uploads() == []
    lesson = studio.lesson(studio.video)
    assert lesson.pending.status == "failed" and lesson.media.status == "none"


def test_another_instructors_upload_is_not_found(studio, app, users, bucket):
    upload_id = _start(studio, 11 * MiB).get_json()["id"]
    stranger = users.create("instructor")
    other = app.test_client()
    other.submit("/signin", {"email": stranger.email, "password": PASSWORD})
    token = other.csrf_token()
    for method, path, body in (
        ("POST", f"/uploads/{upload_id}/parts", {"numbers": [1]}),
        ("GET", f"/uploads/{upload_id}/parts", None),
        ("POST", f"/uploads/{upload_id}/complete", None),
        ("GET", f"/uploads/{upload_id}", None),
        ("DELETE", f"/uploads/{upload_id}", None),
    ):
        answer = other.open(path, method=method, json=body, headers={"X-CSRFToken": token})
        assert answer.status_code == 404, path
    assert len(bucket.open_uploads()) == 1


def test_starting_checks_size_type_and_quota(studio, app, bucket):
    assert _start(studio, 21 * 1024**3).status_code == 413
    assert _start(studio, 100, "notes.pdf").status_code == 422
    assert _start(studio, 0).status_code == 422
    app.config["STORAGE_QUOTA_BYTES"] = 10 * MiB
    assert _start(studio, 11 * MiB).status_code == 422
    assert bucket.open_uploads() == []


def test_cancelling_aborts_the_multipart_upload(studio, app, bucket):
    upload_id = _start(studio, 11 * MiB).get_json()["id"]
    _send_parts(studio, upload_id, mp4(11 * MiB), 5 * MiB, [1])
    assert _json(studio, "DELETE", f"/uploads/{upload_id}").status_code == 204
    assert bucket.open_uploads() == []
    assert studio.lesson(studio.video).pending is None
    assert _json(studio, "POST", f"/uploads/{upload_id}/complete").status_code == 409


def test_the_sweep_aborts_abandoned_and_unknown_multipart_uploads(studio, app, bucket):
    upload_id = _start(studio, 11 * MiB).get_json()["id"]
    stray = bucket.raw.create_multipart_upload(Bucket=bucket.name, Key="lessons/" + "f" * 32)
    assert len(bucket.open_uploads()) == 2
    with app.app_context():
        from app.media.uploads import sweep_abandoned
        from app.timeutil import utcnow

        # moto says every multipart upload began in 2010, so the stray one is old at once
        assert sweep_abandoned() == 1
        assert [u["UploadId"] for u in bucket.open_uploads()] != [stray["UploadId"]]
        assert sweep_abandoned(utcnow() + timedelta(hours=25)) == 1
    assert bucket.open_uploads() == []
    assert MediaUpload.objects.get(id=upload_id).state == "aborted"


def test_transient_store_faults_are_retried(studio, app, bucket, proxy):
    data = mp4(6 * MiB)
    proxy.fail(2, status=503, code="SlowDown", method="POST", match="uploads")
    upload_id = _start(studio, len(data)).get_json()["id"]  # CreateMultipartUpload, retried
    _send_parts(studio, upload_id, data, 5 * MiB, [1, 2])
    proxy.fail(2, status=500, code="InternalError", method="POST", match="uploadId=")
    done = _json(studio, "POST", f"/uploads/{upload_id}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "complete"
    assert proxy.seen("POST", "uploadId=") == 3


def test_a_store_that_keeps_failing_is_reported_and_nothing_points_at_a_missing_file(
    studio, app, bucket, proxy
):
    data = mp4(6 * MiB)
    upload_id = _start(studio, len(data)).get_json()["id"]
    _send_parts(studio, upload_id, data, 5 * MiB, [1, 2])
    proxy.fail(10, status=503, code="SlowDown", method="POST", match="uploadId=")
    down = _json(studio, "POST", f"/uploads/{upload_id}/complete")
    assert down.status_code == 503 and down.headers["Retry-After"]
    lesson = studio.lesson(studio.video)
    assert lesson.pending.status == "uploading" and not lesson.pending.key
    assert lesson.media.status == "none"
    proxy.clear()
    again = _json(studio, "POST", f"/uploads/{upload_id}/complete")  # the script retries
    assert again.get_json()["state"] == "complete"
    assert studio.lesson(studio.video).pending.key in bucket.keys("lessons/")


def test_a_plain_form_posts_straight_to_the_bucket(studio, app, bucket, proxy):
    page = studio.client.get(f"/studio/{studio.course.slug}/lessons/{studio.sheet.id}")
    html = page.get_data(as_text=True)
    csp = page.headers["Content-Security-Policy"]
    assert f"form-action 'self' {proxy.url}" in csp  # the bucket, for the form and parts
    assert f"connect-src 'self' {proxy.url}" in csp
    action = re.search(r'<form id="upload-form".*?action="([^"]+)"', html, re.S).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))
    fields.pop("csrf_token", None)
    assert "policy" in fields and "key" in fields and fields["key"].startswith("incoming/")
    pdf = b"%PDF-1.4\n" + b"notes " * 1000
    posted = requests.post(
        action.replace("&amp;", "&"),
        data={k: v.replace("&amp;", "&") for k, v in fields.items()},
        files={"file": ("Week 1.pdf", pdf)},
        allow_redirects=False,
        timeout=30,
    )
    assert posted.status_code in (303, 302), posted.text
    back = posted.headers["Location"]
    assert "/media/returned?token=" in back
    path = urlsplit(back).path + "?" + urlsplit(back).query
    first = studio.client.get(path)
    assert first.status_code == 303
    pending = studio.lesson(studio.sheet).pending
    assert pending.status == "uploaded" and pending.key.endswith(".pdf")
    assert bucket.keys("incoming/") == [] and bucket.read(pending.key) == pdf
    again = studio.client.get(path, follow_redirects=True)  # a reload: nothing new
    assert "File uploaded" in again.get_data(as_text=True)
    assert MediaUpload.objects.count() == 1
    token = parse_qs(urlsplit(back).query)["token"][0]
    forged = studio.client.get(path.replace(token, token[:-3] + "abc"))
    assert forged.status_code == 404


def test_prepare_bucket_applies_the_rules_the_docs_show(app, runner, s3_server):
    import json
    from pathlib import Path

    from app.media.bucket_setup import cors_rules, lifecycle_rules

    aws = Path(__file__).resolve().parents[2] / "deploy" / "aws"
    assert json.loads((aws / "cors.json").read_text()) == cors_rules(["https://learn.example.org"])
    assert json.loads((aws / "lifecycle.json").read_text()) == lifecycle_rules()
    app.config["S3_BUCKET"] = bucket = "lectern-prepared"
    app.extensions["storage"].bucket = bucket
    done = runner.invoke(args=["media", "prepare-bucket", "--create"])
    assert done.exit_code == 0, done.output
    assert "created bucket lectern-prepared" in done.output
    raw = s3_server.client()
    (rule,) = raw.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rule["AllowedOrigins"] == [app.config["PUBLIC_URL"]] and rule["ExposeHeaders"] == [
        "ETag"
    ]
    again = runner.invoke(args=["media", "prepare-bucket", "--create"])
    assert "created" not in again.output  # safe to run again


def test_with_s3_the_video_is_made_into_hls_in_the_bucket_and_served(studio, app, bucket):
    """The media worker copies the upload from the bucket, makes HLS back into it; the
    app serves the playlists and redirects segments to presigned URLs."""
    data = mp4(6 * MiB)
    upload_id = _start(studio, len(data)).get_json()["id"]
    _send_parts(studio, upload_id, data, 5 * MiB, [1, 2])
    assert _json(studio, "POST", f"/uploads/{upload_id}/complete").status_code == 200
    Outbox(app).deliver()
    media = studio.lesson(studio.video).media
    assert media.status == "ready" and media.hls_master
    stored = bucket.keys(media.hls_master.rsplit("/", 1)[0] + "/")
    assert media.hls_master in stored and any(k.endswith(".m4s") for k in stored)

    page = studio.client.get(f"/courses/{studio.course.slug}/lessons/{studio.video.id}")
    url = re.search(r'data-hls="([^"]+)"', page.get_data(as_text=True))[1]
    master = studio.client.get(url)
    assert master.status_code == 200 and master.mimetype == "application/vnd.apple.mpegurl"
    rung = next(
        line for line in master.get_data(as_text=True).splitlines() if line.endswith(".m3u8")
    )
    base = url.rsplit("/", 1)[0]
    playlist = studio.client.get(f"{base}/{rung}").get_data(as_text=True)
    segment = next(line for line in playlist.splitlines() if line.endswith(".m4s"))
    answer = studio.client.get(f"{base}/{rung.rsplit('/', 1)[0]}/{segment}")
    assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
    fetched = requests.get(answer.headers["Location"], timeout=30)  # what hls.js does
    assert fetched.status_code == 200 and fetched.content
