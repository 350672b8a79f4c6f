"""Chromium uploading straight to the bucket, from a page of another origin, as the
studio will: presigned multipart parts sent with fetch() (CORS preflight, ETag read
from the answer), and the presigned POST form with JavaScript switched off.

The page comes from a small local server; moto_server listens on another port, so the
two are different origins and the browser applies CORS exactly as it would to S3.
"""

from __future__ import annotations

import hashlib
import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.media.s3 import PART_MIN
from app.media.storage import new_key
from tests.storage.conftest import s3_storage

pytestmark = pytest.mark.e2e

# Fills a part in the page and in Python alike: byte i of part p is (i + p) % 256.
FILL_JS = """
const fill = (size, part) => {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i + part) % 256;
  return data;
};
"""


def _fill(size: int, part: int) -> bytes:
    block = bytes((j + part) % 256 for j in range(256))
    return (block * (size // 256 + 1))[:size]


class PageServer:
    """Serves `page` at / and a plain "done" page at /done (the form's redirect)."""

    def __init__(self) -> None:
        self.page = "<!doctype html><title>studio</title>"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = (server.page if self.path == "/" else "<title>done</title>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


@pytest.fixture
def page(browser, pages) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(pages.origin + "/")
    yield tab
    context.close()


def _put_parts(page, urls: list[str], sizes: list[int]) -> list[dict[str, Any]]:
    return page.evaluate(  # type: ignore[no-any-return]
        FILL_JS
        + """
        async ([urls, sizes]) => {
          const answers = [];
          for (let n = 0; n < urls.length; n++) {
            try {
              const r = await fetch(urls[n], {method: "PUT", body: fill(sizes[n], n + 1)});
              answers.push({status: r.status, etag: r.headers.get("ETag")});
            } catch (e) {
              answers.push({error: String(e)});
            }
          }
          return answers;
        }
        """,
        [urls, sizes],
    )


def test_chromium_sends_parts_to_the_bucket_and_reads_their_etags(page, s3_server, s3_store):
    key = new_key("lessons", "mp4")
    sizes = [PART_MIN, 300_001]
    upload_id = s3_store.create_multipart(key, "video/mp4")
    urls = [s3_store.sign_part(key, upload_id, n, seconds=600) for n in (1, 2)]
    answers = _put_parts(page, urls, sizes)
    assert [a.get("status") for a in answers] == [200, 200], answers
    etags = [a["etag"] for a in answers]
    assert all(etags), "the CORS rule must expose ETag"
    assert [p.etag for p in s3_store.list_parts(key, upload_id)] == etags
    s3_store.complete_multipart(key, upload_id, list(enumerate(etags, start=1)))
    expected = _fill(sizes[0], 1) + _fill(sizes[1], 2)
    stored = b"".join(s3_store.read(key))
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(expected).hexdigest()


def test_without_expose_headers_the_etag_stays_hidden(page, s3_server):
    """Why the bucket's CORS rule must name ETag: without it the part is stored but the
    page cannot learn its ETag, so it could never complete the upload."""
    bucket = s3_server.make_bucket(
        cors={"CORSRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]}
    )
    store = s3_storage(s3_server.endpoint, bucket)
    key = new_key("lessons", "bin")
    upload_id = store.create_multipart(key, "")
    (answer,) = _put_parts(page, [store.sign_part(key, upload_id, 1, seconds=60)], [1000])
    assert answer == {"status": 200, "etag": None}


def test_an_origin_the_rule_does_not_name_is_refused(page, s3_server):
    bucket = s3_server.make_bucket(
        cors={
            "CORSRules": [
                {
                    "AllowedMethods": ["PUT"],
                    "AllowedOrigins": ["https://learn.example.org"],
                    "ExposeHeaders": ["ETag"],
                }
            ]
        }
    )
    store = s3_storage(s3_server.endpoint, bucket)
    key = new_key("lessons", "bin")
    upload_id = store.create_multipart(key, "")
    (answer,) = _put_parts(page, [store.sign_part(key, upload_id, 1, seconds=60)], [1000])
    assert "Failed to fetch" in answer.get("error", ""), answer
    assert store.list_parts(key, upload_id) == []  # the preflight failed: nothing sent


def test_the_presigned_form_works_without_javascript(browser, pages, s3_store):
    """The no-JavaScript path: a plain form posting the file to the bucket, which
    redirects back with the key."""
    key = new_key("lessons", "pdf")
    post = s3_store.presigned_post(
        key, max_bytes=10_000, success_redirect=pages.origin + "/done", seconds=300
    )
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in post["fields"].items()
    )
    pages.page = (
        f'<!doctype html><form method="post" enctype="multipart/form-data" '
        f'action="{html.escape(post["url"])}">{hidden}'
        '<input type="file" name="file"><button>Upload</button></form>'
    )
    context = browser.new_context(java_script_enabled=False)
    try:
        tab = context.new_page()
        tab.goto(pages.origin + "/")
        tab.set_input_files(
            "input[type=file]",
            {"name": "notes.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 form"},
        )
        with tab.expect_navigation():
            tab.click("button")
        assert tab.url.startswith(pages.origin + "/done?")
        assert f"key={key.replace('/', '%2F')}" in tab.url
    finally:
        context.close()
    assert b"".join(s3_store.read(key)) == b"%PDF-1.4 form"
