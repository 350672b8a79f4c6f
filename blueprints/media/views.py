"""Serves stored media with safe headers: avatars and covers publicly, lesson files only
through a signed, expiring URL.

With the local store the app sends the bytes itself, or (MEDIA_ACCEL_REDIRECT) checks
the request and hands the sending to nginx with `X-Accel-Redirect`, so a long video
download does not hold a web worker. With S3 it redirects to a presigned or CloudFront
signed URL.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, abort, current_app, redirect, request, send_file

from app.media.delivery import Presentation, UrlMemo, extension, present
from app.media.files import check_hls_token, check_signature, token_expires
from app.media.rules import HLS_TYPES
from app.media.storage import LocalStorage, Storage, check_key, storage

bp = Blueprint("media", __name__, url_prefix="/media")

PUBLIC_URL_SECONDS = 24 * 3600
# A public object's delivery URL is reused for an hour, so browsers and CDNs can cache
# the image behind it (app/media/delivery.py UrlMemo).
PUBLIC_URL_REUSE = 3600
# The lifetime of the URL a lesson file redirects to (S3, CloudFront). A video element
# keeps using the URL it was redirected to for its later range requests, so this must
# outlast a long lesson with pauses, or seeking would fail half-way through.
LESSON_URL_SECONDS = 4 * 3600


def _public_urls() -> UrlMemo:
    memo = current_app.extensions.get("public_media_urls")
    if memo is None:
        memo = current_app.extensions["public_media_urls"] = UrlMemo(
            PUBLIC_URL_SECONDS, PUBLIC_URL_REUSE
        )
    return memo  # type: ignore[no-any-return]


@bp.route("/avatars/<name>")
def avatar(name: str) -> Response:
    """A profile picture by its random key."""
    return _serve_public(f"avatars/{name}")


@bp.route("/covers/<name>")
def cover(name: str) -> Response:
    """A course cover image by its random key."""
    return _serve_public(f"covers/{name}")


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


def _send(local: LocalStorage, key: str, shown: Presentation, **options: object) -> Response:
    """The file's bytes, or with MEDIA_ACCEL_REDIRECT an empty answer telling nginx which
    file to send (its `internal` location maps the prefix onto the media folder)."""
    accel = current_app.config.get("MEDIA_ACCEL_REDIRECT")
    if accel:
        response = Response(b"", mimetype=shown.content_type)
        response.headers["X-Accel-Redirect"] = f"{accel}{key}"
    else:
        response = send_file(
            local.path_for(key),
            mimetype=shown.content_type,
            conditional=True,
            **options,  # type: ignore[arg-type]
        )
    response.headers["Content-Disposition"] = shown.disposition
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _serve_public(key: str) -> Response:
    store = storage()
    local = _local(store, key)
    if local is None:
        url, fresh_for = _public_urls().get(
            key, lambda seconds: store.delivery_url(key, seconds=seconds)
        )
        response = redirect(url)
        # The redirect may be cached as long as its target is reused, no longer.
        response.headers["Cache-Control"] = f"public, max-age={fresh_for}"
        return response  # type: ignore[return-value]
    response = _send(local, key, present(key), max_age=86400)
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
    local = _local(store, key)
    # The uploaded file's name (never the storage key); types not shown inline download.
    shown = present(key, offered, inline=True)
    if local is None:
        url = store.delivery_url(
            key, seconds=LESSON_URL_SECONDS, filename=offered, inline=shown.inline
        )
        response = redirect(url)
        response.headers["Cache-Control"] = "no-store"  # the URL inside expires soon
        return response  # type: ignore[return-value]
    response = _send(local, key, shown)
    response.headers["Cache-Control"] = "private, max-age=300"
    if extension(key) == "pdf":  # shown in the lesson page's frame, so allow that one framing
        response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.route("/hls/<name>/<token>/<path:file>")
def hls(name: str, token: str, file: str) -> Response:
    """A lesson video's HLS files. The token in the path, signed over the video's name
    and an expiry, opens its playlists and segments and nothing else, so the relative
    URIs inside the playlists work as they are. Segments never change: cached for as
    long as the token lives; playlists briefly. With S3, segments redirect to presigned
    URLs that live as long as the token (the redirect itself is not cached)."""
    if not check_hls_token(name, token):
        abort(403)
    key = f"renditions/{name}/hls/{file}"
    content_type = HLS_TYPES.get(extension(key))
    try:
        check_key(key)
    except ValueError:
        abort(404)
    if content_type is None:
        abort(404)
    playlist = content_type == HLS_TYPES["m3u8"]
    left = max(60, token_expires(token) - int(time.time()))
    store = storage()
    local = _local(store, key)
    if local is not None:
        response = _send(local, key, Presentation(content_type, "inline"))
        cache = "private, max-age=10" if playlist else f"private, max-age={left}, immutable"
    elif playlist:  # small, and its relative URIs must stay on this path
        if store.size(key) is None:
            abort(404)
        response = Response(b"".join(store.read(key)), mimetype=content_type)
        cache = "private, max-age=10"
    else:
        url = store.delivery_url(key, seconds=left, inline=True)
        response = redirect(url)  # type: ignore[assignment]
        cache = "no-store"  # the URL inside is presigned; the next load signs a new one
    response.headers["Cache-Control"] = cache
    return response  # type: ignore[return-value]
