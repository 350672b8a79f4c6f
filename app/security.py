"""Security headers, session timeouts and the client-address proxy depth (SPEC §9)."""

from __future__ import annotations

import logging
from typing import IO
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request, session
from flask_login import current_user, logout_user
from htmx_flask.requests import HtmxAwareRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from app.errors import Forbidden
from app.timeutil import utcnow

log = logging.getLogger(__name__)


def content_security_policy(delivery: tuple[str, ...] = (), upload: tuple[str, ...] = ()) -> str:
    """No inline script or style, nothing from elsewhere, except where media lives: the
    bucket or CDN that serves lesson files (`delivery`: images, video, a PDF's frame) and
    the bucket the browser sends uploads to (`upload`: the script's parts, a plain form)."""
    media = " ".join(("'self'", *delivery))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media} data:",
            "font-src 'self'",
            " ".join(("connect-src 'self'", *upload, *delivery)),  # hls.js fetches segments
            f"media-src {media} blob:",
            f"frame-src {media}",
            "object-src 'none'",
            "base-uri 'self'",
            " ".join(("form-action 'self'", *upload)),
            "frame-ancestors 'none'",
        ]
    )


CSP = content_security_policy()  # with the local store: everything from this origin


def app_csp(app: Flask) -> str:
    """This app's policy: the storage engine says which origins the browser reaches."""
    if "csp" not in app.extensions:
        store = app.extensions.get("storage")
        origins = getattr(store, "browser_origins", None) or {}
        app.extensions["csp"] = content_security_policy(
            tuple(origins.get("delivery", ())), tuple(origins.get("upload", ()))
        )
    return str(app.extensions["csp"])


class Request(HtmxAwareRequest):
    """htmx-flask's request (app/__init__.py installs it after htmx-flask's), except that
    a view which sets `staging` has the files of its form
    streamed into staging files under DATA_DIR/uploads (app/media/uploads/), where
    they are moved into storage, instead of into /tmp and then copied: a form's
    upload of gigabytes is written once, never held in memory."""

    staging = False
    staged: list[str]

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if not self.staging:
            return super()._get_file_stream(
                total_content_length, content_type, filename, content_length
            )
        from app.media.uploads import new_staging_file

        path = new_staging_file()
        if not hasattr(self, "staged"):
            self.staged = []
        self.staged.append(str(path))  # removed at teardown unless moved into storage
        return path.open("w+b")


def stage_uploads() -> None:
    """Have this request's form files streamed to staging files (see Request)."""
    request.staging = True  # type: ignore[attr-defined]


def remove_staged_files(_exc: BaseException | None = None) -> None:
    """What a form streamed to staging and the view did not take (a refused or cut-off
    upload) goes at the end of the request."""
    from pathlib import Path

    for name in getattr(request, "staged", ()):
        Path(name).unlink(missing_ok=True)


_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased, default ports dropped; None if odd."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def trusted_origins() -> set[str]:
    """Where a cookie-authenticated change may come from: this request's own host,
    PUBLIC_URL and ALLOWED_ORIGINS."""
    found = {_origin_of(request.host_url), _origin_of(current_app.config["PUBLIC_URL"])}
    found.update(_origin_of(o) for o in current_app.config.get("ALLOWED_ORIGINS", ()))
    found.discard(None)
    return found  # type: ignore[return-value]


def check_request_origin() -> None:
    """Refuse a cookie-authenticated change sent from another site, even with a valid
    CSRF token (SPEC §9): `Origin`, or `Referer` when a browser sends no `Origin`.
    Clients that send neither (not a browser) still need the CSRF token."""
    if request.method not in _UNSAFE or request.path.startswith("/api/"):
        return  # the API reads no cookies; bearer tokens cannot be sent by another site
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if not referer:
            return
        origin = referer
    if _origin_of(origin) not in trusted_origins():
        log.warning("cross-origin change refused", extra={"origin": origin[:200]})
        raise Forbidden("This request came from another site. Go back, reload the page and retry.")


def init_app(app: Flask) -> None:
    app.before_request(check_request_origin)

    app.teardown_request(remove_staged_files)
    depth = int(app.config.get("TRUSTED_PROXY_COUNT", 0))
    if depth > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=depth, x_proto=depth, x_host=depth, x_prefix=depth
        )

    @app.before_request
    def enforce_session_timeouts() -> None:
        if request.path.startswith(("/static/", "/api/")):
            return
        if not current_user.is_authenticated:
            return
        now = int(utcnow().timestamp())
        started = int(session.get("_started", now))
        seen = int(session.get("_seen", now))
        idle = app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
        absolute = app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds()
        if now - seen > idle or now - started > absolute:
            logout_user()
            session.clear()
            session["_expired"] = True
            return
        session["_seen"] = now

    @app.after_request
    def security_headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("Content-Security-Policy", app_csp(app))
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["ENV_NAME"] == "production":
            h.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        private = current_user.is_authenticated or request.path.startswith("/api/")
        # HLS files are opened by the signed token in their path, not by the session:
        # the Cache-Control they answer with (segments: as long as the token) stands.
        capability = request.endpoint == "media.hls" and response.status_code in (200, 206, 304)
        if private and not capability and "public" not in h.get("Cache-Control", ""):
            h["Cache-Control"] = "no-store"
        return response


def start_session_clock() -> None:
    """Call right after sign-in: the idle and absolute timeouts start now."""
    now = int(utcnow().timestamp())
    session["_started"] = now
    session["_seen"] = now
