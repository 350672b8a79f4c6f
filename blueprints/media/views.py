"""Serves locally stored media with safe headers: avatars and covers publicly, lesson
files only through a signed, expiring URL."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request, send_file

from app.media.files import check_signature, content_disposition, download_name
from app.media.storage import storage

bp = Blueprint("media", __name__, url_prefix="/media")

_TYPES = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg"}


@bp.route("/avatars/<name>")
def avatar(name: str) -> Response:
    """A profile picture by its random key."""
    return _serve_public(f"avatars/{name}")


_LESSON_TYPES = {
    "pdf": "application/pdf",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "png": "image/png",
    "jpg": "image/jpeg",
}


@bp.route("/covers/<name>")
def cover(name: str) -> Response:
    """A course cover image by its random key."""
    return _serve_public(f"covers/{name}")


def _serve_public(key: str) -> Response:
    store = storage()
    if not store.exists(key):
        abort(404)
    ext = key.rsplit(".", 1)[-1]
    response = send_file(
        store.path_for(key),
        mimetype=_TYPES.get(ext, "application/octet-stream"),
        max_age=86400,
        conditional=True,
    )
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "public, max-age=86400, immutable"
    return response


@bp.route("/lessons/<name>")
def lesson_file(name: str) -> Response:
    """A lesson's file, if the URL's signature (over the key, the expiry and the name it is
    offered under) is valid and not expired. Range requests work, so videos can seek."""
    key = f"lessons/{name}"
    offered = request.args.get("name", "")
    args = request.args
    if not check_signature(key, args.get("expires"), args.get("signature"), offered):
        abort(403)
    store = storage()
    if not store.exists(key):
        abort(404)
    ext = name.rsplit(".", 1)[-1]
    mimetype = _LESSON_TYPES.get(ext, "application/octet-stream")
    response = send_file(store.path_for(key), mimetype=mimetype, conditional=True)
    # The uploaded file's name (never the storage key); other types download, never render.
    kind = "inline" if ext in _LESSON_TYPES else "attachment"
    response.headers["Content-Disposition"] = content_disposition(kind, download_name(offered, ext))
    response.headers["Cache-Control"] = "private, max-age=300"
    if ext == "pdf":  # shown in the lesson page's frame, so allow that one framing
        response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
