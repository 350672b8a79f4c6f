"""A lesson video becomes HLS in storage (remuxed, or transcoded when browsers cannot
play it as it is), served to those who may watch through a token that opens that
video's files and no other."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import Outbox
from tests.support.videos import make_video

pytestmark = pytest.mark.usefixtures("app")


def _video(**options) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        settings = {"size": (64, 64), "seconds": 2.0, **options}
        return make_video(Path(folder) / "v.mp4", **settings).read_bytes()


def _ready(studio, app, data: bytes):
    studio.upload(data)
    Outbox(app).deliver()
    media = studio.lesson(studio.video).media
    assert media.status == "ready" and media.hls_master, media.to_mongo()
    return media


def _hls_url(studio) -> str:
    page = studio.client.get(f"/courses/{studio.course.slug}/lessons/{studio.video.id}")
    assert page.status_code == 200
    found = re.search(r'data-hls="([^"]+)"', page.get_data(as_text=True))
    assert found, "the lesson page offers no HLS"
    return found[1].replace("&amp;", "&")


def _stored(app, prefix: str) -> dict[str, int]:
    with app.app_context():
        from app.media.storage import storage

        return {item.key: item.size for item in storage().list(prefix)}


def test_a_browser_safe_video_is_remuxed_into_hls_and_served(studio, app):
    media = _ready(studio, app, _video())
    prefix = media.hls_master.rsplit("/", 1)[0] + "/"
    stored = _stored(app, prefix)
    assert media.hls_master in stored and media.renditions_bytes == sum(stored.values())
    assert media.duration_seconds == 2

    url = _hls_url(studio)
    master = studio.client.get(url)
    assert master.status_code == 200 and master.mimetype == "application/vnd.apple.mpegurl"
    assert "max-age=10" in master.headers["Cache-Control"]
    text = master.get_data(as_text=True)
    master.close()
    assert text.startswith("#EXTM3U") and "#EXT-X-STREAM-INF" in text
    rung = next(line for line in text.splitlines() if line and not line.startswith("#"))
    base = url.rsplit("/", 1)[0]
    playlist = studio.client.get(f"{base}/{rung}")
    assert playlist.status_code == 200
    body = playlist.get_data(as_text=True)
    playlist.close()
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', body)[1]
    segment = next(line for line in body.splitlines() if line.endswith(".m4s"))
    folder = rung.rsplit("/", 1)[0]
    for name, kind in ((init, "video/mp4"), (segment, "video/iso.segment")):
        answer = studio.client.get(f"{base}/{folder}/{name}")
        assert answer.status_code == 200 and answer.mimetype == kind
        assert "immutable" in answer.headers["Cache-Control"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.get_data()
        answer.close()


def test_a_video_browsers_cannot_play_as_it_is_is_transcoded(studio, app):
    media = _ready(studio, app, _video(pix_fmt="yuv444p"))  # 4:4:4: not browser-safe
    master = _stored(app, media.hls_master)
    assert master
    with app.app_context():
        from app.media.storage import storage

        text = b"".join(storage().read(media.hls_master)).decode()
    # H.264 in a profile browsers play (Baseline 42, Main 4d, High 64), not the 4:4:4
    # source's (f4) copied as it was; its own size, never upscaled
    assert re.search(r'CODECS="avc1\.(42|4d|64)', text), text
    assert "RESOLUTION=64x64" in text


def test_the_token_opens_one_video_until_it_expires(studio, app):
    _ready(studio, app, _video())
    url = _hls_url(studio)
    _, _, _, name, token, _ = url.split("/", 5)
    first = studio.client.get(url)
    first.close()
    assert first.status_code == 200
    with app.test_request_context():
        from app.media.files import hls_token

        expired = hls_token(name, int(time.time()) - 1)
        other = "0" * 32
        forged = hls_token(other, int(time.time()) + 3600)
    expires, digest = token.split("-")
    cases = {
        f"/media/hls/{name}/{expires}-{digest[:-1]}{'1' if digest[-1] == '0' else '0'}"
        "/master.m3u8": 403,  # tampered
        f"/media/hls/{name}/{int(expires) + 60}-{digest}/master.m3u8": 403,  # longer life
        f"/media/hls/{name}/{expired}/master.m3u8": 403,
        f"/media/hls/{other}/{token}/master.m3u8": 403,  # another video with this token
        f"/media/hls/{other}/{forged}/master.m3u8": 404,  # a valid token, no such video
        f"/media/hls/{name}/{token}/../../lessons/x.mp4": 404,
        f"/media/hls/{name}/{token}/master.txt": 404,
        f"/media/hls/{name.upper()}/{token}/master.m3u8": 403,
    }
    for path, status in cases.items():
        answer = studio.client.get(path)
        answer.close()
        assert answer.status_code == status, path


def test_a_replaced_video_takes_its_hls_with_it(studio, app):
    first = _ready(studio, app, _video())
    prefix = first.hls_master.rsplit("/", 1)[0] + "/"
    assert _stored(app, prefix)
    second = _ready(studio, app, _video(seconds=1.0))  # delivers media.discarded too
    assert not _stored(app, prefix)
    assert _stored(app, second.hls_master)


def test_the_api_gives_a_mobile_client_the_absolute_hls_url(studio, app, api):
    _ready(studio, app, _video())
    tokens = api.login(studio.course.owner.email)
    answer = api.call(
        "GET",
        f"/courses/{studio.course.slug}/lessons/{studio.video.id}",
        tokens["access_token"],
    )
    assert answer.status_code == 200, answer.json
    media = answer.json["lesson"]["media"]
    public = app.config["PUBLIC_URL"]
    assert media["hls_url"].startswith(f"{public}/media/hls/")
    assert media["url"].startswith(public)
    master = studio.client.get(media["hls_url"].removeprefix(public))
    master.close()
    assert master.status_code == 200
