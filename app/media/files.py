"""Lesson files: their type decided by content (`sniff`), the types stored and how each
is served, and the app-signed URLs that expire (the local store's stand-in for
CloudFront signed URLs); the names files are offered under."""

from __future__ import annotations

import codecs
import hashlib
import hmac
import re
import time
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from flask import current_app


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
    (0, b"\xff\xfb", Sniffed("audio", "audio/mpeg", "mp3")),  # an MPEG frame, no ID3 tag
    (0, b"\xff\xf3", Sniffed("audio", "audio/mpeg", "mp3")),
    (0, b"\xff\xf2", Sniffed("audio", "audio/mpeg", "mp3")),
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
        # not final: the head may end in the middle of a character
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        if b"\x00" not in head:
            return TEXT
    except UnicodeDecodeError:
        pass
    return BINARY


# The stored types a browser shows in the page (played, shown, or in a frame), with the
# type they are served as; every other type is offered as a download
# (app/media/delivery.py `present`).
INLINE_TYPES = {
    "pdf": "application/pdf",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
TEXT = Sniffed("text", "text/plain", "txt")
BINARY = Sniffed("binary", "application/octet-stream", "bin")
# The Content-Type each stored type is served with.
CONTENT_TYPES = {s.extension: s.content_type for _, _, s in _SIGNATURES} | {
    TEXT.extension: "text/plain; charset=utf-8",
    BINARY.extension: BINARY.content_type,
}


IMAGE_MAX_BYTES = 20 * 1024 * 1024  # a lesson image is decoded and re-encoded in memory


def _signature(key: str, expires: int, name: str = "") -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    # Keys hold no ":" and `expires` is a number, so the name (if any) is unambiguous; a URL
    # signed without a name keeps its old message.
    message = f"media:{key}:{expires}" + (f":{name}" if name else "")
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def signed_url(key: str, seconds: int = 3600, filename: str | None = None) -> str:
    """A URL for `key` that stops working after `seconds`; `filename` is the name the file
    is offered under, signed with it so that nobody can swap it."""
    expires = int(time.time()) + seconds
    name = download_name(filename, key.rsplit(".", 1)[-1]) if filename else ""
    query: dict[str, str | int] = {"expires": expires}
    if name:
        query["name"] = name
    query["signature"] = _signature(key, expires, name)
    return f"/media/{key}?{urlencode(query, quote_via=quote)}"


def check_signature(
    key: str, expires: str | None, signature: str | None, name: str | None = None
) -> bool:
    try:
        when = int(expires or "")
    except ValueError:
        return False
    if when < time.time() or not signature or not signature.isascii():
        return False
    return hmac.compare_digest(_signature(key, when, name or ""), signature)


# ---------------------------------------------------------------- HLS

_HLS_NAME = re.compile(r"^[0-9a-f]{32}$")


def hls_token(name: str, expires: int) -> str:
    """A token that opens every HLS file of one video (`renditions/<name>/hls/...`)
    until `expires`: it sits in the URL's path, so the relative URIs inside the
    playlists work as they are (the local store's stand-in for CloudFront's cookies)."""
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(secret, f"hls:{name}:{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}-{digest}"


def check_hls_token(name: str, token: str) -> bool:
    if not _HLS_NAME.fullmatch(name) or not token.isascii():
        return False
    expires, _, _ = token.partition("-")
    if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
        return False
    if int(expires) < time.time():
        return False
    return hmac.compare_digest(hls_token(name, int(expires)), token)


def token_expires(token: str) -> int:
    """The expiry (unix time) of a token check_hls_token accepted."""
    return int(token.partition("-")[0])


def hls_url(master_key: str, seconds: int) -> str:
    """The signed URL of a video's master playlist (`renditions/<name>/hls/master.m3u8`)."""
    name = master_key.split("/")[1]
    return f"/media/hls/{name}/{hls_token(name, int(time.time()) + seconds)}/master.m3u8"


# ---------------------------------------------------------------- download names

NAME_MAX = 150
_ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9 !#$&'()+,\-.;=@\[\]^_`{}~]")


def download_name(name: str | None, extension: str) -> str:
    """The name a file is offered under: the last part of an uploaded name, without path
    separators, control or format characters (CR, LF, right-to-left overrides) or double
    quotes, at most NAME_MAX characters; `lesson.<extension>` when nothing is left."""
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    text = " ".join(text.replace('"', "_").split()).strip(" .")
    if len(text) > NAME_MAX:
        stem, dot, ext = text.rpartition(".")
        tail = f".{ext}" if dot and stem and len(ext) <= 10 else ""
        text = text[: NAME_MAX - len(tail)].rstrip(" .") + tail
    return text or f"lesson.{extension}"


def content_disposition(kind: str, name: str) -> str:
    """A Content-Disposition value (RFC 6266) offering `name` (a download_name()): a plain
    ASCII `filename` for old clients and, when that had to change it, `filename*` in
    UTF-8 (RFC 5987) for every current browser."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    fallback = _ASCII_UNSAFE.sub("_", plain)
    stem, dot, ext = fallback.rpartition(".")
    if not re.search(r"[A-Za-z0-9]", stem if dot else fallback):
        fallback = f"download.{ext}" if dot and ext else "download"
    value = f'{kind}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value
