"""The media routes on the local store handing the sending to nginx
(MEDIA_ACCEL_REDIRECT): the app checks the request, nginx sends the bytes.

Only a request that passes every check gets an X-Accel-Redirect header; anything else
gets an ordinary error with no header, so nginx sends nothing from its internal
location.
"""

from __future__ import annotations

import pytest

from app.media.files import signed_url
from app.media.storage import new_key, storage

ACCEL = "/_protected/"
PDF = b"%PDF-1.4 lesson notes"


@pytest.fixture
def app(app_factory):
    return app_factory(environ={"MEDIA_ACCEL_REDIRECT": ACCEL})


def _stored(app, prefix: str, extension: str, data: bytes = b"bytes") -> str:
    with app.app_context():
        key = new_key(prefix, extension)
        storage().put(key, data, "")
        return key


def _signed(app, key: str, seconds: int = 60, name: str | None = None) -> str:
    with app.app_context():
        return signed_url(key, seconds, name)


def test_a_public_image_is_handed_to_nginx(app, client):
    key = _stored(app, "avatars", "webp")
    answer = client.get(f"/media/{key}")
    assert answer.status_code == 200 and answer.get_data() == b""
    assert answer.headers["X-Accel-Redirect"] == f"{ACCEL}{key}"
    assert answer.headers["Content-Type"] == "image/webp"
    assert answer.headers["Content-Disposition"] == "inline"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "public, max-age=86400, immutable"


def test_a_signed_lesson_file_is_handed_to_nginx_with_its_name(app, client):
    key = _stored(app, "lessons", "pdf", PDF)
    answer = client.get(_signed(app, key, name="Week 1 notes.pdf"))
    assert answer.status_code == 200 and answer.get_data() == b""
    assert answer.headers["X-Accel-Redirect"] == f"{ACCEL}{key}"
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"] == 'inline; filename="Week 1 notes.pdf"'
    assert answer.headers["Cache-Control"] == "private, max-age=300"
    assert "frame-ancestors 'self'" in answer.headers["Content-Security-Policy"]


def test_a_file_browsers_should_not_render_is_a_download(app, client):
    key = _stored(app, "lessons", "zip", b"PK\x03\x04")
    answer = client.get(_signed(app, key, name="code.zip"))
    assert answer.headers["X-Accel-Redirect"] == f"{ACCEL}{key}"
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="code.zip"'


def test_bad_requests_are_never_handed_over(app, client):
    key = _stored(app, "lessons", "pdf", PDF)
    good = _signed(app, key, name="a.pdf")
    missing = new_key("lessons", "pdf")
    with app.app_context():
        expired = signed_url(key, -1)
    attempts = {
        good.replace("signature=", "signature=0"): 403,  # tampered
        good.replace("name=a.pdf", "name=b.pdf"): 403,  # another name than was signed
        good.split("&signature")[0]: 403,  # unsigned
        expired: 403,
        f"/media/{key}": 403,
        _signed(app, missing): 404,  # signed, but there is no such file
        "/media/avatars/" + "0" * 32 + ".webp": 404,  # a guessed key
        "/media/avatars/..%2F..%2Fsecrets.json": 404,
        "/media/avatars/%2e%2e": 404,
        "/media/avatars/ABC.webp": 404,
        "/media/avatars/x.webp%0A": 404,
        "/media/lessons/..%2Flessons.pdf?expires=9999999999&signature=x": 404,
    }
    for url, status in attempts.items():
        answer = client.get(url)
        assert answer.status_code == status, url
        assert "X-Accel-Redirect" not in answer.headers, url


def test_without_the_setting_the_app_sends_the_bytes(app_factory):
    app = app_factory()
    key = _stored(app, "lessons", "pdf", PDF)
    with app.test_client().get(_signed(app, key)) as answer:
        assert answer.get_data() == PDF and "X-Accel-Redirect" not in answer.headers
