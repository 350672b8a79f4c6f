"""Serves locally stored media with safe headers: avatars and covers publicly, lesson
files only through a signed, expiring URL."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, request, send_file

from app.media.files import check_signature, content_disposition, download_name
from app.media.storage import LocalStorage, Storage, check_key, storage

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


PUBLIC_URL_SECONDS = 24 * 3600


def _local(store: Storage, key: str) -> LocalStorage | None:
    """The local engine (404 if the object is missing), or None when the bytes live
    elsewhere and the caller should redirect to the engine's delivery URL."""
    try:
        check_key(key)
    except ValueError:
        abort(404)
    if not isinstance(store, LocalStorage):
        return None
    if not store.exists(key):
        abort(404)
    return store


def _serve_public(key: str) -> Response:
    store = storage()
    local = _local(store, key)
    if local is None:
        return redirect(store.delivery_url(key, seconds=PUBLIC_URL_SECONDS))  # type: ignore[return-value]
    ext = key.rsplit(".", 1)[-1]
    response = send_file(
        local.path_for(key),
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
    ext = name.rsplit(".", 1)[-1]
    store = storage()
    local = _local(store, key)
    if local is None:
        inline = ext in _LESSON_TYPES
        url = store.delivery_url(key, seconds=300, filename=offered or None, inline=inline)
        return redirect(url)  # type: ignore[return-value]
    mimetype = _LESSON_TYPES.get(ext, "application/octet-stream")
    response = send_file(local.path_for(key), mimetype=mimetype, conditional=True)
    # The uploaded file's name (never the storage key); other types download, never render.
    kind = "inline" if ext in _LESSON_TYPES else "attachment"
    response.headers["Content-Disposition"] = content_disposition(kind, download_name(offered, ext))
    response.headers["Cache-Control"] = "private, max-age=300"
    if ext == "pdf":  # shown in the lesson page's frame, so allow that one framing
        response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
