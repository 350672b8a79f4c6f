"""Lesson downloads carry the uploaded file's name, never the storage key (RFC 6266)."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from app.courses.documents import Course
from app.demo_media import demo_pdf
from tests.conftest import Outbox

PDF = demo_pdf("Sheet", ["line"])
ZIP = b"PK\x03\x04" + b"\x00" * 64


@pytest.fixture
def lesson_file(client, auth, courses):
    """Upload `content` as `name` to a file lesson; returns the signed URL the page links."""
    instructor = auth.login("instructor", name="Ina Structor")
    course = courses.published(instructor=instructor, lessons=("file",))
    _, lesson = course.lessons()[0]

    def upload(content: bytes, name: str) -> str:
        response = client.submit(
            f"/studio/{course.slug}/lessons/{lesson.id}/media",
            {"file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
            follow_redirects=True,
        )
        assert "File uploaded" in response.get_data(as_text=True)
        Outbox(client.application).deliver()  # the media worker makes it ready
        return page_url()

    def page_url() -> str:
        page = client.get(f"/courses/{course.slug}/lessons/{lesson.id}").get_data(as_text=True)
        match = re.search(r'href="(/media/lessons/[^"]+)" download', page)
        assert match, page
        return match.group(1).replace("&amp;", "&")

    def store_name(name: str) -> str:  # a name stored by an older version, unchecked
        Course.objects(id=course.id).update_one(
            **{"set__sections__0__lessons__0__media__filename": name}
        )
        return page_url()

    upload.store_name = store_name  # type: ignore[attr-defined]
    upload.course = course  # type: ignore[attr-defined]
    return upload


def _disposition(response) -> tuple[str, dict[str, str]]:
    header = response.headers["Content-Disposition"]
    assert "\r" not in header and "\n" not in header
    kind, _, rest = header.partition(";")
    params = dict(
        (k.strip().lower(), v.strip())
        for k, v in (
            p.split("=", 1) for p in re.findall(r'\s*([^;=]+=(?:"(?:[^"\\]|\\.)*"|[^;]*))', rest)
        )
    )
    return kind.strip(), params


def _names(response) -> tuple[str, str | None]:
    """(the ASCII filename, the decoded UTF-8 filename* or None)."""
    _, params = _disposition(response)
    ascii_name = params["filename"].strip('"')
    assert ascii_name.isascii()
    star = params.get("filename*")
    if star is None:
        return ascii_name, None
    assert star.startswith("UTF-8''"), star
    encoded = star[len("UTF-8''") :]
    assert re.fullmatch(r"[A-Za-z0-9%!#$&+^_`|~.\-]*", encoded), encoded  # RFC 5987 attr-chars
    return ascii_name, unquote(encoded, encoding="utf-8", errors="strict")


def _get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    response.close()
    return response


def test_an_ascii_name(client, lesson_file):
    url = lesson_file(PDF, "Cheat sheet (v2).pdf")
    response = _get(client, url)
    kind, _ = _disposition(response)
    assert kind == "inline"  # a PDF opens in the lesson page's frame
    assert _names(response)[0] == "Cheat sheet (v2).pdf"
    key = urlsplit(url).path.rsplit("/", 1)[-1]
    assert key not in response.headers["Content-Disposition"]


def test_a_non_ascii_name(client, lesson_file):
    url = lesson_file(PDF, "Résumé 講義.pdf")
    ascii_name, utf8_name = _names(_get(client, url))
    assert utf8_name == "Résumé 講義.pdf"
    assert ascii_name.endswith(".pdf") and ascii_name.startswith("Resume")


def test_a_file_to_download_is_an_attachment_with_its_name(client, lesson_file):
    url = lesson_file(ZIP, "Übungen.zip")
    response = _get(client, url)
    kind, _ = _disposition(response)
    assert kind == "attachment"
    assert _names(response)[1] == "Übungen.zip"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("stored", "offered"),
    [
        ('report"; filename="evil.exe', "report_; filename=_evil.exe"),
        ("notes\r\nSet-Cookie: stolen=1.pdf", "notes Set-Cookie: stolen=1.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("invoice\u202efdp.exe", "invoice fdp.exe"),  # no right-to-left override
        ("\x00\x1f", "lesson.pdf"),  # nothing left: a neutral name
    ],
)
def test_hostile_names_cannot_break_the_header(client, lesson_file, stored, offered):
    lesson_file(PDF, "first.pdf")
    url = lesson_file.store_name(stored)
    response = _get(client, url)
    assert not any("stolen" in c for c in response.headers.getlist("Set-Cookie"))
    ascii_name, utf8_name = _names(response)
    name = utf8_name or ascii_name
    assert name == offered
    assert not re.search(r'[\\/"\x00-\x1f\x7f]', ascii_name), ascii_name


def test_the_signed_name_cannot_be_swapped(client, lesson_file):
    url = lesson_file(PDF, "Cheat sheet.pdf")
    query = parse_qs(urlsplit(url).query)
    assert query["name"] == ["Cheat sheet.pdf"]
    swapped = url.replace("name=Cheat", "name=Evil")
    assert client.get(swapped).status_code == 403
    without = re.sub(r"&name=[^&]+", "", url)
    assert client.get(without).status_code == 403
