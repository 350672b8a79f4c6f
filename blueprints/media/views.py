"""Serves locally stored public media (avatars) with safe headers."""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_file

from app.media.storage import storage

bp = Blueprint("media", __name__, url_prefix="/media")

_TYPES = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg"}


@bp.route("/avatars/<name>")
def avatar(name: str) -> Response:
    """A profile picture by its random key."""
    key = f"avatars/{name}"
    store = storage()
    if not store.exists(key):
        abort(404)
    ext = name.rsplit(".", 1)[-1]
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
