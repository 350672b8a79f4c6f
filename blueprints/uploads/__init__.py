"""Resumable uploads of lesson media, for the studio's upload script: tus 1.0 to the app
(the local store) and presigned multipart parts straight to the bucket (S3)."""

from __future__ import annotations

from flask import Blueprint, abort, request

from app.extensions import csrf
from app.media.rules import CHUNK_MAX
from app.web import guard_blueprint

bp = Blueprint("uploads", __name__, url_prefix="/uploads")
guard_blueprint(bp, "studio.use")  # instructors and admins, signed in
csrf.exempt(bp)  # checked below, once the request's size limit is set
JSON_MAX = 64 * 1024


@bp.before_request
def limit_then_check_csrf() -> None:
    """A chunk may be up to CHUNK_MAX; anything else is a small JSON body. The limit is
    set before anything reads the body (CSRF checking would), so a larger chunk is a 413
    at once."""
    if request.endpoint == "uploads.tus_patch":
        request.max_content_length = CHUNK_MAX
    else:
        request.max_content_length = JSON_MAX
    if request.method in ("POST", "PATCH", "DELETE", "PUT"):
        csrf.protect()  # the script sends the token in X-CSRFToken
    if request.method not in ("GET", "HEAD", "OPTIONS", "POST", "PATCH", "DELETE"):
        abort(405)


from blueprints.uploads import tus, views  # noqa: E402,F401
