"""A large upload through the studio in Chromium, against a server you are running
(`make run`, with or without S3_BUCKET), with the network dropped halfway. (issue 9)

It signs in as the demo instructor, makes a course with a video lesson, picks a file of
--size (a real MP4 padded with random bytes; made once under --workdir and reused), and
clicks Upload. At --drop-at per cent it takes the browser offline for --offline
seconds, then brings it back; the upload must go on from where it was and finish. It
prints the time, the throughput and what the page said, and exits 1 if the upload did
not finish.

    make run &                                            # http://127.0.0.1:8000
    .venv/bin/python -m bench.studio_upload               # 2 GiB, local store
    .venv/bin/python -m bench.studio_upload --size 256M --url http://127.0.0.1:8000

With `--restart-after` the script does not drop the network but waits that many seconds
after --drop-at for you to kill and restart the server (Ctrl-C `make run`, run it
again); the upload resumes once the server answers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.uploads import MiB, parse_size

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def video_file(directory: Path, size: int) -> Path:
    """A real MP4 padded to `size` (made once under `directory` and reused)."""
    from tests.support.videos import padded_mp4

    path = directory / f"studio-upload-{size}.mp4"
    if path.exists() and path.stat().st_size == size:
        return path
    return padded_mp4(path, size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--size", type=parse_size, default=2 * 1024 * MiB)
    parser.add_argument("--drop-at", type=int, default=50, help="per cent")
    parser.add_argument("--offline", type=float, default=5.0, help="seconds offline")
    parser.add_argument("--restart-after", type=float, default=0.0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()

    from playwright.sync_api import expect, sync_playwright

    from app.demo import DEMO_PASSWORD

    file = video_file(args.workdir, args.size)
    print(f"file      {file} ({args.size / MiB:,.0f} MiB)", flush=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(base_url=args.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto("/signin")
        page.get_by_label("Email").fill("instructor@lectern.test")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("main").get_by_role("button", name="Sign in").click()
        page.goto("/studio/new")
        page.get_by_label("Title", exact=True).fill(f"Large upload {uuid.uuid4().hex[:6]}")
        page.get_by_role("button", name="Create course").click()
        page.get_by_label("Section title").fill("Part one")
        page.get_by_role("button", name="Add section").click()
        page.get_by_role("link", name="video", exact=True).click()
        page.get_by_label("Lesson title").fill("A long lecture")
        page.get_by_role("button", name="Add lesson").click()
        print(f"lesson    {page.url}", flush=True)

        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")

        def offline(value: bool) -> None:
            cdp.send(
                "Network.emulateNetworkConditions",
                {"offline": value, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            )

        bar = page.locator(".upload-progress progress")
        text = page.locator(".upload-progress-text")
        page.get_by_label("Upload a video").set_input_files(str(file))
        started = time.monotonic()
        page.get_by_role("button", name="Upload", exact=True).click()
        seen: list[str] = []

        def note() -> None:
            line = text.text_content() or ""
            if line and not line[0].isdigit() and (not seen or seen[-1] != line):
                seen.append(line)
                print(f"{time.monotonic() - started:7.1f} s  page says: {line}", flush=True)

        while int(bar.get_attribute("value") or 0) < args.drop_at:
            note()
            page.wait_for_timeout(200)
        at = time.monotonic() - started
        print(f"{at:7.1f} s  {bar.get_attribute('value')}% sent", flush=True)
        if args.restart_after:
            print(
                f"          kill and restart the server now ({args.restart_after:g} s)", flush=True
            )
            deadline = time.monotonic() + args.restart_after
            while time.monotonic() < deadline:
                note()
                page.wait_for_timeout(500)
        else:
            offline(True)
            print(f"{time.monotonic() - started:7.1f} s  network off", flush=True)
            deadline = time.monotonic() + args.offline
            while time.monotonic() < deadline:
                note()
                page.wait_for_timeout(200)
            offline(False)
            print(f"{time.monotonic() - started:7.1f} s  network on", flush=True)
        ready = page.locator("#media-status .media-ready")
        deadline = time.monotonic() + 3600
        while not ready.count():
            note()
            error = page.locator(".upload-error")
            if error.is_visible():
                print(f"FAIL: {error.text_content()}")
                return 1
            if time.monotonic() > deadline:
                print("FAIL: not ready within an hour")
                return 1
            page.wait_for_timeout(500)
        seconds = time.monotonic() - started
        expect(page.locator("#media-status")).to_contain_text(file.name[:20])
        print(
            f"{seconds:7.1f} s  ready: {page.locator('#media-status').inner_text().splitlines()[0]}"
        )
        print(f"throughput {args.size / MiB / seconds:,.0f} MiB/s overall, the outage included")
        if args.screenshot:
            page.screenshot(path=str(args.screenshot), full_page=True)
        browser.close()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
