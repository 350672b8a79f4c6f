"""Glue for the HTML side: the user loader, template helpers, partial-or-page, error pages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from htmx_flask import request as hx_request
from markupsafe import escape
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from app.accounts import lookup
from app.accounts.guessing import Client, issue_device_token
from app.accounts.serializers import avatar_url
from app.courses import rules as course_rules
from app.errors import Conflict, LecternError, RateLimited, Unauthenticated, ValidationFailed
from app.extensions import client_address, db, login_manager
from app.media.storage import StorageUnavailable
from app.policies import can
from app.security import start_session_clock

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(lookup.load_session_user)

    @app.after_request
    def htmx_redirects(response: Response) -> Response:
        # An XHR follows a 302 by itself and htmx would swap the next page into a
        # fragment; tell htmx to navigate instead.
        if response.status_code in (301, 302, 303, 307, 308):
            if hx_request.htmx:
                # Changed in place, so the cookies the view set (a new session, a device
                # cookie) still reach the browser.
                location = _reloading(response.headers.pop("Location"), hx_request.htmx.current_url)
                response.status_code = 204
                response.set_data(b"")
                response.headers.pop("Content-Type", None)
                response.headers["HX-Redirect"] = location
            response.vary.add("HX-Request")  # 301 and 308 may be cached
        return response

    from app.text import format_bytes, render_markdown

    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["filesize"] = format_bytes

    @app.context_processor
    def template_helpers() -> dict[str, Any]:
        return {"can": can, "avatar_url": avatar_url, "rules": course_rules}


# The request headers is_partial_request() reads: a response that depends on them says so,
# so that no cache (the browser's back/forward cache included) hands a stored fragment to
# a whole-page navigation, or a stored page to a live search.
PARTIAL_REQUEST_HEADERS = ("HX-Request", "HX-Boosted", "HX-History-Restore-Request")


def _reloading(location: str, current_url: str | None) -> str:
    """htmx follows HX-Redirect with `location.href = …`, and a URL that differs from the
    page's own only in its #fragment would merely scroll, showing neither the change nor
    its flash message: drop the fragment so that the page loads again."""
    target = urlsplit(location)
    if not target.fragment or not current_url:
        return location
    here = urlsplit(current_url)
    if (target.path, target.query) == (here.path, here.query) and target.netloc in (
        "",
        here.netloc,
    ):
        return urlunsplit(target._replace(fragment=""))
    return location


def is_partial_request() -> bool:
    """True when htmx asked for a fragment: not a boosted whole-page navigation, and not a
    history restore (Back or Forward that missed htmx's cache), which replaces the body."""
    htmx = hx_request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(
    full_template: str, partial_template: str | None = None, status: int = 200, **context: Any
) -> Response:
    """One URL, two answers: the whole page, or for htmx the region's partial."""
    template = full_template
    if partial_template and is_partial_request():
        template = partial_template
    response = make_response(render_template(template, **context), status)
    if partial_template:
        for header in PARTIAL_REQUEST_HEADERS:
            response.vary.add(header)
    return response


def fragment_or_redirect(
    partial_template: str, target: str, status: int = 200, **context: Any
) -> Response:
    """The answer to a form post: htmx gets the changed region's fragment; a plain
    browser is redirected (303, post/redirect/get), so a reload never posts again."""
    if is_partial_request():
        response = make_response(render_template(partial_template, **context), status)
        for header in PARTIAL_REQUEST_HEADERS:
            response.vary.add(header)
        return response
    return redirect(target, 303)  # type: ignore[return-value]


def signed_in_user() -> Any:
    """The signed-in user object itself (not flask-login's proxy), for services."""
    return current_user._get_current_object()  # type: ignore[attr-defined]


def guard_blueprint(bp: Blueprint, action: str | None = None) -> None:
    """Every page of `bp` needs a signed-in user (guests are sent to sign in; a script's
    JSON request gets a 401) and, with `action`, one who may do it (others get 403)."""

    @bp.before_request
    def guard() -> Any:
        if not current_user.is_authenticated:
            if wants_json():  # a script's request: it says so, a redirect would not
                raise Unauthenticated("Sign in again to continue.")
            return login_manager.unauthorized()
        if action is not None and not can(current_user, action):
            abort(403)
        return None


def submit_form(form: Any, action: Callable[[], Any]) -> tuple[Any | None, int]:
    """Run a form post through a service: `action()` (which commits and returns the
    response) when the form is valid. Otherwise, or when the service refuses the change
    (its changes rolled back, its field errors shown on the form), None and the status
    to show the form again with: 200 before it is sent, 422 when it is not valid, or the
    service's own status (401 for wrong credentials, 409 for a conflict)."""
    if form.validate_on_submit():
        try:
            return action(), 200
        except (ValidationFailed, Conflict, Unauthenticated) as exc:
            db.session.rollback()
            form_errors(form, exc)
            return None, exc.status
    return None, 422 if form.is_submitted() else 200


def flash_error(exc: LecternError) -> None:
    """Tell the user why a service refused: the first field's message, or the general one."""
    flash(next(iter(exc.fields.values()), exc.message) if exc.fields else exc.message, "error")


def start_session(user: Any) -> None:
    """A fresh session for `user`: nothing of the previous one carries over, and the idle
    and absolute timeouts start now."""
    session.clear()
    login_user(user)
    start_session_clock()


def end_session() -> None:
    """Sign this browser out and forget its session."""
    logout_user()
    session.clear()


def form_errors(form: Any, exc: LecternError) -> None:
    """Show a service's field errors on the WTForms fields they belong to."""
    for name, message in exc.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message] if isinstance(field.errors, list) else [message]
        else:
            flash(message, "error")
    if not exc.fields:
        flash(exc.message, "error")


def request_client() -> Client:
    """Who is asking, for the password-guessing buckets: address and device cookie."""
    return Client(client_address(), request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"]))


def remember_device(response: BaseResponse, user: Any) -> BaseResponse:
    """Mark this browser as one that signed in to `user` (OWASP device cookie), so
    strangers' failed guesses never keep it out of the account."""
    days = int(current_app.config["DEVICE_COOKIE_DAYS"])
    response.set_cookie(
        current_app.config["DEVICE_COOKIE_NAME"],
        issue_device_token(str(user.id)),
        max_age=days * 86400,
        path="/",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        httponly=True,
        samesite="Lax",
    )
    return response


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go to after sign-in; anything else becomes `default`."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return default
    target = target.strip()
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


# ---------------------------------------------------------------- errors

_TITLES = {
    400: ("Bad request", "We could not understand that request."),
    401: ("Sign in needed", "Sign in to continue."),
    403: ("Not allowed", "You do not have permission to see this."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "That method is not allowed here."),
    409: ("Conflict", "That conflicts with the current state."),
    413: ("Too large", "What you sent is larger than we accept."),
    415: ("Unsupported type", "We do not accept that kind of content here."),
    422: ("Not valid", "Some of what you sent is not valid."),
    429: ("Slow down", "Too many attempts. Wait a little and try again."),
    500: ("Something went wrong", "We have been told. Please try again in a moment."),
    503: ("Unavailable", "Part of the site is not answering just now. Try again in a moment."),
}
_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


JSON_PATHS = ("/api/", "/uploads/")  # the mobile API, and the upload script's endpoints


def wants_json() -> bool:
    return request.path.startswith(JSON_PATHS)


def error_response(
    status: int,
    message: str | None = None,
    code: str | None = None,
    fields: dict[str, str] | None = None,
    retry_after: int | None = None,
) -> Response:
    """The one place an error becomes a JSON envelope or a friendly page."""
    title, default_message = _TITLES.get(status, _TITLES[500 if status >= 500 else 400])
    message = message or default_message
    if wants_json():
        body: dict[str, Any] = {"code": code or _CODES.get(status, "error"), "message": message}
        if fields:
            body["fields"] = fields
        response = jsonify({"error": body})
    else:
        try:
            page = render_template("errors/error.html", status=status, title=title, message=message)
        except Exception:  # the page itself failed (say, the database is down): stay plain
            log.exception("error page failed to render")
            page = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{escape(message)}</p>"
        response = Response(page, mimetype="text/html")
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if status == 401 and wants_json():
        response.headers["WWW-Authenticate"] = 'Bearer realm="lectern"'
    return response


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(LecternError)
    def domain_error(exc: LecternError) -> Response:
        retry = exc.retry_after if isinstance(exc, RateLimited) else None
        return error_response(exc.status, exc.message, exc.code, exc.fields, retry)

    @app.errorhandler(StorageUnavailable)
    def storage_unavailable(exc: StorageUnavailable) -> Response:
        log.warning("storage unavailable", extra={"error": str(exc)[:300]})
        return error_response(
            503, "File storage is not answering just now. Try again in a moment.", retry_after=30
        )

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        return error_response(
            400,
            "The form expired or was not sent from this site. Reload the page and try again.",
            "csrf_failed",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        retry = None
        if status == 429:
            retry = _retry_after_from(exc)
        message = None
        if status == 413:
            from app.text import format_bytes

            limit = request.max_content_length or 0  # this route's limit, if it has its own
            message = f"What you sent is larger than the {format_bytes(limit)} we accept here."
        response = error_response(status, message, retry_after=retry)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500)


def _retry_after_from(exc: HTTPException) -> int:
    limit = getattr(exc, "limit", None)
    if limit is not None:
        try:
            return int(limit.limit.get_expiry())
        except Exception:  # noqa: S110 - fall back to a minute
            pass
    return 60
