"""Fixtures for uploads: a signed-in instructor with a course of a video and a file lesson."""

from __future__ import annotations

import base64
import functools
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.support.videos import make_video


def metadata(**values: str) -> str:
    """A tus Upload-Metadata header."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


@dataclass
class Studio:
    client: Any
    course: Any
    video: Any  # the video lesson
    sheet: Any  # the file lesson
    token: str  # the CSRF token scripts send in X-CSRFToken

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-CSRFToken": self.token, "Tus-Resumable": "1.0.0", **extra}

    def create(self, size: int, filename: str = "talk.mp4", lesson: Any = None, **kw: Any) -> Any:
        lesson_id = (lesson or self.video).id
        meta = metadata(course=self.course.slug, lesson=lesson_id, filename=filename)
        return self.client.post(
            "/uploads/tus",
            headers=self.headers(**{"Upload-Length": str(size), "Upload-Metadata": meta}, **kw),
        )

    def patch(self, location: str, offset: int, data: bytes, **kw: Any) -> Any:
        headers = self.headers(
            **{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        )
        headers.update(kw)
        return self.client.patch(location, data=data, headers=headers)

    def upload(self, data: bytes, filename: str = "talk.mp4", lesson: Any = None, chunk: int = 0):
        created = self.create(len(data), filename, lesson)
        assert created.status_code == 201, created.get_data(as_text=True)
        location = created.headers["Location"]
        chunk = chunk or len(data)
        offset, answer = 0, None
        while offset < len(data):
            answer = self.patch(location, offset, data[offset : offset + chunk])
            if answer.status_code != 204:
                return location, answer
            offset = int(answer.headers["Upload-Offset"])
        return location, answer

    def lesson(self, which: Any) -> Any:
        from app.courses.documents import Course

        return Course.objects.get(id=self.course.id).find_lesson(which.id)[1]


@pytest.fixture
def studio(client, courses) -> Studio:
    course = courses.draft(lessons=["video", "file"])
    client.submit("/signin", {"email": course.owner.email, "password": PASSWORD})
    video, sheet = course.sections[0].lessons
    return Studio(client, course, video, sheet, client.csrf_token())


def mp4(size: int) -> bytes:
    """An MP4 `size` long: a real one-second video followed by a `free` box (the media
    worker's probe reads it as the video it is), or, when `size` is smaller than the
    video, bytes that only start like an MP4 (an ftyp box), for the tests of the
    protocol that never get as far as the content."""
    video = _small_video()
    if size >= len(video) + 8:
        pad = size - len(video)
        filler = bytes(range(256)) * (pad // 256 + 1)
        return video + struct.pack(">I", pad) + b"free" + filler[: pad - 8]
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    body = bytes(range(256)) * (size // 256 + 1)
    return (head + body)[:size]


@functools.cache
def _small_video() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = make_video(Path(folder) / "small.mp4", size=(64, 64), seconds=1.0, audio=None)
        return path.read_bytes()


def course_events(event_type: str) -> list[Any]:
    """The course side's outbox events of a type, oldest first."""
    from app.courses.outbox import DocOutboxEvent

    return list(DocOutboxEvent.objects(type=event_type).order_by("occurred_at"))
