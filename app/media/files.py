"""Lesson files: type decided by content, stored under a random key, delivered through
app-signed URLs that expire (the embedded stand-in for CloudFront signed URLs)."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import time
from dataclasses import dataclass
from typing import IO

from flask import current_app

from app.media.storage import storage


class FileRejected(ValueError):
    """The upload is not acceptable; the message is safe to show."""


@dataclass(frozen=True)
class Sniffed:
    kind: str  # video, pdf, audio, image, archive, text, binary
    content_type: str
    extension: str


PNG = Sniffed("image", "image/png", "png")
JPEG = Sniffed("image", "image/jpeg", "jpg")
_SIGNATURES: list[tuple[int, bytes, Sniffed]] = [
    (0, b"%PDF-", Sniffed("pdf", "application/pdf", "pdf")),
    (4, b"ftyp", Sniffed("video", "video/mp4", "mp4")),
    (0, b"\x1a\x45\xdf\xa3", Sniffed("video", "video/webm", "webm")),
    (0, b"OggS", Sniffed("audio", "audio/ogg", "ogg")),
    (0, b"ID3", Sniffed("audio", "audio/mpeg", "mp3")),
    (0, b"\x89PNG\r\n\x1a\n", PNG),
    (0, b"\xff\xd8\xff", JPEG),
    (0, b"PK\x03\x04", Sniffed("archive", "application/zip", "zip")),
]


def sniff(head: bytes) -> Sniffed:
    """What a file is, from its first bytes (never from its name or the browser's claim)."""
    for offset, magic, result in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return result
    try:
        head.decode("utf-8")
        if b"\x00" not in head:
            return Sniffed("text", "text/plain", "txt")
    except UnicodeDecodeError:
        pass
    return Sniffed("binary", "application/octet-stream", "bin")


IMAGE_MAX_BYTES = 20 * 1024 * 1024  # a lesson image is decoded and re-encoded in memory


def _store_image(head: bytes, stream: IO[bytes]) -> tuple[str, Sniffed, int]:
    """Images are re-encoded, so their metadata (a phone photo's GPS position, say) never
    reaches a learner."""
    from app.media.images import ImageRejected, clean_image

    data = head + stream.read(IMAGE_MAX_BYTES + 1 - len(head))
    if len(data) > IMAGE_MAX_BYTES:
        raise FileRejected(f"An image may be at most {IMAGE_MAX_BYTES // (1024 * 1024)} MB.")
    try:
        encoded, fmt = clean_image(data)
    except ImageRejected as exc:
        raise FileRejected(str(exc)) from exc
    kept = JPEG if fmt == "JPEG" else PNG
    store = storage()
    key = store.new_key("lessons", kept.extension)
    store.put(key, encoded)
    return key, kept, len(encoded)


def store_upload(stream: IO[bytes], max_bytes: int, allowed: set[str]) -> tuple[str, Sniffed, int]:
    """Copy an upload to storage in chunks (never whole in memory); returns (key, type, size)."""
    head = stream.read(512)
    sniffed = sniff(head)
    if sniffed.kind not in allowed:
        raise FileRejected(f"This kind of file is not accepted here ({sniffed.kind}).")
    if sniffed.kind == "image":
        return _store_image(head, stream)
    store = storage()
    key = store.new_key("lessons", sniffed.extension)
    path = store.path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    size = len(head)
    try:
        with partial.open("wb") as out:
            out.write(head)
            while chunk := stream.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise FileRejected(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
                out.write(chunk)
        if size == 0:
            raise FileRejected("The file is empty.")
        shutil.move(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return key, sniffed, size


def _signature(key: str, expires: int) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"media:{key}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(key: str, seconds: int = 3600) -> str:
    """A URL for `key` that stops working after `seconds`."""
    expires = int(time.time()) + seconds
    return f"/media/{key}?expires={expires}&signature={_signature(key, expires)}"


def check_signature(key: str, expires: str | None, signature: str | None) -> bool:
    try:
        when = int(expires or "")
    except ValueError:
        return False
    if when < time.time() or not signature:
        return False
    return hmac.compare_digest(_signature(key, when), signature)
