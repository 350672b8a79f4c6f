"""The whole app on S3 (moto_server): avatars and lesson files are stored in the bucket,
and the media routes redirect to presigned URLs that serve them."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.media.files import signed_url
from app.media.s3 import S3Storage
from app.media.storage import new_key
from tests.test_account_pages import png_bytes

PDF = b"%PDF-1.4\n" + b"lesson notes " * 100


@pytest.fixture
def app(app_factory, s3_server, s3_bucket):
    return app_factory(environ=s3_server.storage_environ(s3_bucket))


def _objects(bucket_client, bucket, prefix):
    return [
        o["Key"]
        for o in bucket_client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    ]


def test_the_app_uses_the_bucket(app, s3_bucket):
    store = app.extensions["storage"]
    assert isinstance(store, S3Storage) and store.bucket == s3_bucket


def test_an_avatar_lives_in_the_bucket_and_is_served_by_redirect(
    app, client, auth, users, bucket_client, s3_bucket, s3_server
):
    user = auth.login()
    upload = {"avatar": (io.BytesIO(png_bytes()), "me.png")}
    assert (
        client.submit("/account/avatar", upload, content_type="multipart/form-data").status_code
        == 303
    )
    key = users.get(user.id).avatar_key
    assert _objects(bucket_client, s3_bucket, "avatars/") == [key]

    first = client.get(f"/media/{key}")
    assert first.status_code == 302
    location = first.headers["Location"]
    assert location.startswith(f"{s3_server.endpoint}/{s3_bucket}/{key}?")
    max_age = int(first.headers["Cache-Control"].removeprefix("public, max-age="))
    assert 3500 <= max_age <= 3600
    # The same URL for a while, so that browsers and CDNs can cache the image behind it.
    assert client.get(f"/media/{key}").headers["Location"] == location
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["86400"]

    image = requests.get(location, timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/webp"
    assert image.headers["Content-Disposition"] == "inline"
    assert image.content[:4] == b"RIFF" and image.content[8:12] == b"WEBP"

    client.submit("/account/avatar/delete")
    assert _objects(bucket_client, s3_bucket, "avatars/") == []


def test_a_guessed_key_finds_nothing(app, client):
    """With S3 the route does not ask the bucket first (that would cost a request per
    image); the redirect leads to S3's own refusal: 404, or 403 when the signer may not
    list the bucket (and moto always answers 403)."""
    answer = client.get(f"/media/{new_key('avatars', 'webp')}")
    assert requests.get(answer.headers["Location"], timeout=10).status_code in {403, 404}
    assert client.get("/media/avatars/..%2Fx.webp").status_code == 404
    assert client.get("/media/avatars/X.webp").status_code == 404


def test_a_signed_lesson_link_redirects_to_the_file_under_its_name(app, client):
    """An app-signed /media/lessons/ link (what the lesson page hands out) is checked by
    the app, then redirected to a presigned GET that serves the bytes, inline, under the
    uploaded name. A tampered link gets 403 and no redirect."""
    key = new_key("lessons", "pdf")
    with app.app_context():
        app.extensions["storage"].put(key, PDF, "application/pdf")
        link = signed_url(key, 3600, "Résumé 講義.pdf")
    answer = client.get(link)
    assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
    # Long enough for a long lesson with pauses: the video element keeps this URL.
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["X-Amz-Expires"] == ["14400"]
    served = requests.get(answer.headers["Location"], timeout=10)
    assert served.status_code == 200 and served.content == PDF
    assert served.headers["Content-Type"] == "application/pdf"
    disposition = served.headers["Content-Disposition"]
    assert disposition.startswith('inline; filename="Resume __.pdf"')
    assert disposition.endswith("filename*=UTF-8''R%C3%A9sum%C3%A9%20%E8%AC%9B%E7%BE%A9.pdf")

    tampered = link.replace("signature=", "signature=0")
    refused = client.get(tampered)
    assert refused.status_code == 403 and "Location" not in refused.headers


def test_a_lesson_file_uploaded_in_the_studio_lands_in_the_bucket(
    app, client, auth, courses, bucket_client, s3_bucket
):
    """Whatever route the studio's upload takes, the file ends up as an object in the
    bucket, under a random key, with its type."""
    instructor = auth.login("instructor")
    course = courses.published(instructor=instructor, lessons=("file",))
    _, lesson = course.lessons()[0]
    client.submit(
        f"/studio/{course.slug}/lessons/{lesson.id}/media",
        {"file": (io.BytesIO(PDF), "notes.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    keys = _objects(bucket_client, s3_bucket, "lessons/")
    assert len(keys) == 1 and re.fullmatch(r"lessons/[0-9a-f]{32}\.pdf", keys[0])
    assert (
        bucket_client.head_object(Bucket=s3_bucket, Key=keys[0])["ContentType"] == "application/pdf"
    )
