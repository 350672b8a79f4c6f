"""The tus endpoint driven by an independent client, tuspy (the tus project's Python
client), over real HTTP: an upload in chunks, and one resumed by a new client that
knows only the upload's URL."""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from tusclient import client as tusclient
from werkzeug.serving import make_server

from tests.conftest import PASSWORD, Outbox
from tests.media.conftest import mp4


@pytest.fixture
def live(app) -> Iterator[str]:
    """The test app served over HTTP by werkzeug in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def signed_in(live: str, email: str) -> dict[str, str]:
    """Headers for an instructor's session: its cookie and CSRF token."""
    session = requests.Session()
    page = session.get(f"{live}/signin").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]  # type: ignore[index]
    answer = session.post(
        f"{live}/signin",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert answer.status_code in (302, 303)
    page = session.get(f"{live}/studio/").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]  # type: ignore[index]
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    return {"Cookie": cookie, "X-CSRFToken": token}


def _stored(app: Any, key: str) -> bytes:
    with app.app_context():
        from app.media.storage import storage

        return b"".join(storage().read(key))


def test_tuspy_uploads_a_lesson_file_in_chunks(app, live, courses):
    course = courses.draft(lessons=["video"])
    lesson = course.sections[0].lessons[0]
    data = mp4(300_000)
    client = tusclient.TusClient(f"{live}/uploads/tus", headers=signed_in(live, course.owner.email))
    uploader = client.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=64 * 1024,
        metadata={"filename": "talk.mp4", "course": course.slug, "lesson": lesson.id},
        store_url=False,
    )
    uploader.upload()
    assert uploader.offset == len(data)

    Outbox(app).deliver()
    with app.app_context():
        from app.courses.documents import Course

        media = Course.objects.get(id=course.id).find_lesson(lesson.id)[1].media
    assert media.status == "ready" and media.filename == "talk.mp4"
    assert hashlib.sha256(_stored(app, media.key)).digest() == hashlib.sha256(data).digest()


def test_a_new_tuspy_client_resumes_from_the_upload_url(app, live, courses):
    course = courses.draft(lessons=["video"])
    lesson = course.sections[0].lessons[0]
    data = mp4(200_000)
    headers = signed_in(live, course.owner.email)
    first = tusclient.TusClient(f"{live}/uploads/tus", headers=headers).uploader(
        file_stream=io.BytesIO(data),
        chunk_size=50_000,
        metadata={"filename": "talk.mp4", "course": course.slug, "lesson": lesson.id},
        store_url=False,
    )
    first.upload_chunk()
    first.upload_chunk()  # 100,000 bytes in; the "tab" closes here
    assert first.offset == 100_000

    second = tusclient.TusClient(f"{live}/uploads/tus", headers=headers).uploader(
        file_stream=io.BytesIO(data), chunk_size=50_000, url=first.url
    )
    assert second.offset == 100_000  # asked the server (HEAD), not the first client
    second.upload()
    assert second.offset == len(data)
    Outbox(app).deliver()
    with app.app_context():
        from app.courses.documents import Course

        media = Course.objects.get(id=course.id).find_lesson(lesson.id)[1].media
    assert hashlib.sha256(_stored(app, media.key)).digest() == hashlib.sha256(data).digest()
