"""An instructor uploads a lesson's video in Chromium: progress, pause, cancel, and the
upload surviving a killed server, a dropped network and a closed tab.

The browser's upload speed is held down through the DevTools protocol (as its network
throttling does), so there is time to break things halfway. The server is gunicorn as
`make run` starts it, on its own DATA_DIR with the demo content; a test kills it with
SIGKILL and starts it again on the same port, database and files.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.demo import DEMO_PASSWORD
from tests.e2e.conftest import ServerProcess, serve
from tests.support.videos import padded_mp4

MiB = 1024**2
CHUNK = 5 * MiB  # the smallest chunk the settings allow: several chunks per test file
UPLOAD_SPEED = 6 * MiB  # bytes per second the browser may send
FINISH = 60_000  # ms for an upload of a few seconds to end, retries included

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def uploads_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = serve(tmp_path_factory, "uploads", {"UPLOAD_CHUNK_BYTES": str(CHUNK)}, seed=True)
    try:
        yield process
    finally:
        process.close()


@pytest.fixture
def studio(browser: Any, uploads_server: ServerProcess, console: Any) -> Iterator[Page]:
    """A signed-in instructor's tab on the uploads server, with its upload speed held down."""
    context = browser.new_context(base_url=uploads_server.server.url, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", lambda m: console.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console.page_errors.append(str(exc)))
    sign_in(page)
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Page, email: str = "instructor@lectern.test") -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Studio")).to_be_visible()


class Network:
    """The tab's network as DevTools emulates it: upload speed held down, or offline
    (requests in flight fail, navigator.onLine turns false, `offline` fires)."""

    def __init__(self, page: Page, upload_bytes_per_second: int = UPLOAD_SPEED):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.speed = upload_bytes_per_second
        self.set(offline=False)

    def set(self, offline: bool) -> None:
        self.cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": offline,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": self.speed,
            },
        )

    def outage(self, page: Page, seconds: float = 2.0) -> None:
        """Offline until the page says it waits for the network, then for `seconds`."""
        self.set(offline=True)
        expect(page.locator(".upload-progress-text")).to_contain_text("Offline", timeout=FINISH)
        page.wait_for_timeout(seconds * 1000)
        self.set(offline=False)


def throttle(page: Page) -> Network:
    return Network(page)


def new_video_lesson(page: Page) -> str:
    """A fresh course with one video lesson; returns the lesson's studio page."""
    page.goto("/studio/new")
    page.get_by_label("Title", exact=True).fill(f"Uploads {uuid.uuid4().hex[:8]}")
    page.get_by_role("button", name="Create course").click()
    page.get_by_label("Section title").fill("Part one")
    page.get_by_role("button", name="Add section").click()
    page.get_by_role("link", name="video", exact=True).click()
    page.get_by_label("Lesson title").fill("A long talk")
    page.get_by_role("button", name="Add lesson").click()
    expect(page.get_by_role("heading", name="Video")).to_be_visible()
    return page.url


def video_file(directory: Path, size: int, name: str = "talk.mp4") -> Path:
    """A real MP4 padded to `size` (tests/support/videos.py)."""
    return padded_mp4(directory / name, size)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MiB):
            h.update(block)
    return h.hexdigest()


def stored_copy(server: ServerProcess, source: Path) -> Path:
    """The file in the server's media store with the same bytes as `source`."""
    want, size = digest(source), source.stat().st_size
    for path in (server.server.data_dir / "media").rglob("*"):
        if path.is_file() and path.stat().st_size == size and digest(path) == want:
            return path
    raise AssertionError(f"no stored file has the bytes of {source.name}")


def requests_in_log(server: ServerProcess, method: str, route: str) -> int:
    """How many `method route` requests the server's access log shows."""
    count = 0
    for line in server.server.log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("method") == method and str(entry.get("route", "")).startswith(route):
            count += 1
    return count


def choose_and_upload(page: Page, path: Path) -> None:
    page.get_by_label("Upload a video").set_input_files(str(path))
    page.get_by_role("button", name="Upload", exact=True).click()


def progress(page: Page) -> int:
    return int(page.locator(".upload-progress progress").get_attribute("value") or 0)


def wait_for_progress(page: Page, percent: int) -> None:
    # polled from here: wait_for_function evaluates a string, which the page's CSP forbids
    deadline = time.monotonic() + FINISH / 1000
    while progress(page) < percent:
        assert time.monotonic() < deadline, f"the upload did not reach {percent}%"
        page.wait_for_timeout(100)


def expect_ready(page: Page, filename: str) -> None:
    status = page.locator("#media-status")
    expect(status.locator(".media-ready")).to_be_visible(timeout=FINISH)
    expect(status).to_contain_text(filename)


# ------------------------------------------------------------------ the happy path


def test_a_video_uploads_in_chunks_with_a_progress_bar(
    studio: Page, uploads_server: ServerProcess, tmp_path: Path, console: Any
):
    new_video_lesson(studio)
    throttle(studio)
    video = video_file(tmp_path, 24 * MiB)
    patches = requests_in_log(uploads_server, "PATCH", "/uploads/tus/")

    choose_and_upload(studio, video)
    bar = studio.locator(".upload-progress")
    expect(bar).to_be_visible()
    wait_for_progress(studio, 20)
    expect(bar.locator(".upload-progress-text")).to_contain_text("of 25.2 MB")
    expect_ready(studio, "talk.mp4")

    assert stored_copy(uploads_server, video)
    assert requests_in_log(uploads_server, "PATCH", "/uploads/tus/") - patches == 5  # 24 MiB / 5
    assert not console.page_errors and not console.csp_violations()


def test_pause_holds_the_upload_and_resume_finishes_it(
    studio: Page, uploads_server: ServerProcess, tmp_path: Path
):
    new_video_lesson(studio)
    throttle(studio)
    video = video_file(tmp_path, 20 * MiB)
    choose_and_upload(studio, video)
    wait_for_progress(studio, 25)

    studio.get_by_role("button", name="Pause").click()
    expect(studio.locator(".upload-progress-text")).to_contain_text("Paused")
    held = progress(studio)
    studio.wait_for_timeout(1500)
    assert progress(studio) == held  # nothing moves while paused

    studio.get_by_role("button", name="Resume").click()
    expect_ready(studio, "talk.mp4")
    assert stored_copy(uploads_server, video)


def test_cancel_removes_what_arrived_and_keeps_the_lesson_as_it_was(
    studio: Page, uploads_server: ServerProcess, tmp_path: Path
):
    new_video_lesson(studio)
    throttle(studio)
    choose_and_upload(studio, video_file(tmp_path, 20 * MiB))
    wait_for_progress(studio, 25)

    studio.get_by_role("button", name="Cancel", exact=True).click()
    status = studio.locator("#media-status")
    expect(status.locator(".media-none")).to_be_visible()
    expect(status).not_to_contain_text("uploading")
    expect(studio.locator(".upload-progress")).to_be_hidden()
    staging = uploads_server.server.data_dir / "uploads"
    assert staging.is_dir() and not list(staging.glob("*.part"))  # what arrived is gone


# ------------------------------------------------------------------ things that go wrong


def test_the_upload_survives_a_killed_server(
    studio: Page, uploads_server: ServerProcess, tmp_path: Path
):
    new_video_lesson(studio)
    throttle(studio)
    video = video_file(tmp_path, 30 * MiB)
    creations = requests_in_log(uploads_server, "POST", "/uploads/tus")
    choose_and_upload(studio, video)
    wait_for_progress(studio, 30)

    uploads_server.kill()  # SIGKILL, mid-chunk: no goodbye to the browser
    expect(studio.locator(".upload-progress-text")).to_contain_text("trying again", timeout=FINISH)
    uploads_server.start()

    expect_ready(studio, "talk.mp4")
    assert stored_copy(uploads_server, video)
    assert requests_in_log(uploads_server, "POST", "/uploads/tus") - creations == 1  # resumed
    assert requests_in_log(uploads_server, "HEAD", "/uploads/tus/") >= 1  # asked where it stood


def test_the_upload_waits_out_a_dropped_network(
    studio: Page, uploads_server: ServerProcess, tmp_path: Path
):
    new_video_lesson(studio)
    network = throttle(studio)
    video = video_file(tmp_path, 20 * MiB)
    choose_and_upload(studio, video)
    wait_for_progress(studio, 30)

    network.outage(studio)

    expect_ready(studio, "talk.mp4")
    assert stored_copy(uploads_server, video)


def test_a_closed_tab_resumes_when_the_same_file_is_chosen_again(
    studio: Page, uploads_server: ServerProcess, tmp_path: Path
):
    lesson = new_video_lesson(studio)
    throttle(studio)
    video = video_file(tmp_path, 30 * MiB)
    creations = requests_in_log(uploads_server, "POST", "/uploads/tus")
    choose_and_upload(studio, video)
    wait_for_progress(studio, 30)
    studio.close(run_before_unload=False)
    heads = requests_in_log(uploads_server, "HEAD", "/uploads/tus/")

    tab = studio.context.new_page()
    tab.goto(lesson)
    status = tab.locator("#media-status")
    expect(status.locator(".media-uploading")).to_be_visible()
    expect(
        tab.get_by_text("To resume the upload above, choose the same file again.")
    ).to_be_visible()
    choose_and_upload(tab, video)
    expect_ready(tab, "talk.mp4")
    assert stored_copy(uploads_server, video)
    assert requests_in_log(uploads_server, "POST", "/uploads/tus") - creations == 1
    assert requests_in_log(uploads_server, "HEAD", "/uploads/tus/") - heads >= 1  # asked where


def test_a_file_that_is_not_a_video_is_refused_with_a_reason(studio: Page, tmp_path: Path):
    new_video_lesson(studio)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n" * 1000)
    choose_and_upload(studio, notes)
    error = studio.get_by_role("alert")
    expect(error).to_be_visible()
    expect(error).to_contain_text("video")

    fake = tmp_path / "fake.mp4"
    fake.write_bytes(os.urandom(6 * MiB))  # the right name, the wrong bytes
    choose_and_upload(studio, fake)
    expect(error).to_contain_text("not")
    expect(studio.locator("#media-status .media-ready")).to_have_count(0)


def test_without_javascript_the_form_still_uploads(
    browser: Any, uploads_server: ServerProcess, tmp_path: Path
):
    context = browser.new_context(base_url=uploads_server.server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page)
        new_video_lesson(page)
        video = video_file(tmp_path, 2 * MiB, name="short.mp4")
        choose_and_upload(page, video)
        expect(page.get_by_role("status").first).to_contain_text("File uploaded.")
        deadline = time.monotonic() + FINISH / 1000
        while not page.locator("#media-status .media-ready").count():  # no polling: reload
            assert time.monotonic() < deadline, "the file never became ready"
            page.wait_for_timeout(500)
            page.reload()
        expect(page.locator("#media-status")).to_contain_text("short.mp4")
        assert stored_copy(uploads_server, video)
    finally:
        context.close()


# ------------------------------------------------------------------ straight to the bucket


@pytest.fixture(scope="module")
def s3_uploads_server(
    tmp_path_factory: pytest.TempPathFactory, s3_server: Any
) -> Iterator[tuple[ServerProcess, str]]:
    """The same product with its media in a bucket of the S3-API server (moto)."""
    from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY

    bucket = s3_server.make_bucket()
    settings = {
        "UPLOAD_CHUNK_BYTES": str(CHUNK),
        "S3_BUCKET": bucket,
        "S3_REGION": REGION,
        "S3_ENDPOINT_URL": s3_server.endpoint,
        "S3_ACCESS_KEY_ID": ACCESS_KEY,
        "S3_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    process = serve(tmp_path_factory, "s3-uploads", settings, seed=True)
    try:
        yield process, bucket
    finally:
        process.close()


def bucket_copy(s3_server: Any, bucket: str, source: Path) -> str:
    """The key of the object in the bucket with the same bytes as `source`."""
    client = s3_server.client()
    want, size = digest(source), source.stat().st_size
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Size"] != size:
                continue
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if hashlib.sha256(body).hexdigest() == want:
                return str(item["Key"])
    raise AssertionError(f"no object in {bucket} has the bytes of {source.name}")


def test_with_s3_the_browser_sends_parts_to_the_bucket_and_rides_out_a_dropped_network(
    browser: Any,
    s3_uploads_server: tuple[ServerProcess, str],
    s3_server: Any,
    tmp_path: Path,
    console: Any,
):
    server, bucket = s3_uploads_server
    context = browser.new_context(base_url=server.server.url, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", lambda m: console.errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page)
        new_video_lesson(page)
        network = throttle(page)
        video = video_file(tmp_path, 22 * MiB)  # five parts
        choose_and_upload(page, video)
        wait_for_progress(page, 30)
        network.outage(page)
        expect_ready(page, "talk.mp4")
    finally:
        context.close()

    assert bucket_copy(s3_server, bucket, video)
    assert requests_in_log(server, "POST", "/uploads/s3") == 1
    assert requests_in_log(server, "POST", "/uploads/<upload_id>/complete") == 1
    assert requests_in_log(server, "PATCH", "/uploads/") == 0  # the app never held a byte
    assert not console.csp_violations()


def test_with_s3_a_closed_tab_resumes_from_the_parts_the_bucket_holds(
    browser: Any, s3_uploads_server: tuple[ServerProcess, str], s3_server: Any, tmp_path: Path
):
    server, bucket = s3_uploads_server
    context = browser.new_context(base_url=server.server.url, locale="en-GB")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page)
        lesson = new_video_lesson(page)
        throttle(page)
        video = video_file(tmp_path, 22 * MiB)
        starts = requests_in_log(server, "POST", "/uploads/s3")
        choose_and_upload(page, video)
        wait_for_progress(page, 50)
        page.close(run_before_unload=False)

        tab = context.new_page()
        tab.goto(lesson)
        expect(tab.locator("#media-status .media-uploading")).to_be_visible()
        choose_and_upload(tab, video)
        expect_ready(tab, "talk.mp4")
    finally:
        context.close()
    assert bucket_copy(s3_server, bucket, video)
    assert requests_in_log(server, "POST", "/uploads/s3") - starts == 1  # one upload, resumed


# ------------------------------------------------------------------ watching it


def test_the_video_is_played_from_its_hls_ladder(
    studio: Page, uploads_server: ServerProcess, tmp_path: Path, console: Any
):
    """The media worker (its own process beside gunicorn) made HLS of the upload; the
    lesson page plays it through hls.js, and the video advances."""
    lesson = new_video_lesson(studio)
    from tests.support.videos import make_video

    video = make_video(tmp_path / "lecture.mp4", size=(320, 180), seconds=8.0)
    choose_and_upload(studio, video)
    expect_ready(studio, "lecture.mp4")

    lesson_id = lesson.rstrip("/").rsplit("/", 1)[1]
    slug = lesson.split("/studio/", 1)[1].split("/", 1)[0]
    studio.goto(f"/courses/{slug}/lessons/{lesson_id}")
    player = studio.locator("video.player")
    assert (player.get_attribute("data-hls") or "").startswith("/media/hls/")
    studio.wait_for_timeout(500)  # hls.js attaches
    assert studio.evaluate("document.querySelector('video.player').currentSrc").startswith("blob:")
    studio.evaluate(
        "(() => { const v = document.querySelector('video.player'); v.muted = true; v.play(); })()"
    )
    deadline = time.monotonic() + 20
    while studio.evaluate("document.querySelector('video.player').currentTime") < 1.0:
        assert time.monotonic() < deadline, "the video never advanced"
        studio.wait_for_timeout(200)
    assert not console.page_errors and not console.csp_violations()
