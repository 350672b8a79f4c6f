"""Security headers, session timeouts and the client-address proxy depth (SPEC §9)."""

from __future__ import annotations

from flask import Flask, Response, request, session
from flask_login import current_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix

from app.timeutil import utcnow

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# Endpoints that take big uploads, and the setting with their limit. Applied before
# CSRFProtect parses the form, which would otherwise stop at MAX_CONTENT_LENGTH.
LARGE_UPLOADS = {"studio.lesson_media": "LESSON_MEDIA_MAX_BYTES"}


def init_app(app: Flask) -> None:
    @app.before_request
    def upload_limits() -> None:
        setting = LARGE_UPLOADS.get(request.endpoint or "")
        if setting:
            request.max_content_length = app.config[setting]

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
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["ENV_NAME"] == "production":
            h.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        private = current_user.is_authenticated or request.path.startswith("/api/")
        if private and "public" not in h.get("Cache-Control", ""):
            h["Cache-Control"] = "no-store"
        return response


def start_session_clock() -> None:
    """Call right after sign-in: the idle and absolute timeouts start now."""
    now = int(utcnow().timestamp())
    session["_started"] = now
    session["_seen"] = now
