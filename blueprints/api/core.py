"""The API's plumbing: routes that declare their schemas, JSON body parsing, bearer auth.

Every route is declared with `route(...)`, which records its request and
response schemas; the same schemas validate requests and make the OpenAPI
document, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Response, g, request
from jsonschema import Draft202012Validator
from werkzeug.exceptions import RequestEntityTooLarge

from app.accounts import sessions
from app.accounts.guessing import Client
from app.accounts.tokens import decode_access_token
from app.errors import (
    Malformed,
    TooLarge,
    Unauthenticated,
    ValidationFailed,
    WrongMediaType,
)
from app.extensions import client_address
from app.ratelimits import address_limit

MAX_JSON_BYTES = 64 * 1024
# No body of this API nests more than a few levels; a bound far below the interpreter's
# recursion limit keeps the parser, the validator and every later walk of the data safe.
MAX_JSON_DEPTH = 32


NOT_JSON = "The request body is not valid JSON."
TOO_LARGE = f"The request body is larger than {MAX_JSON_BYTES // 1024} KB."


@dataclass
class Operation:
    path: str
    method: str
    endpoint: str
    summary: str
    body: dict[str, Any] | None
    responses: dict[int, tuple[str, dict[str, Any] | None]]
    auth: bool
    tags: list[str] = field(default_factory=list)
    parameters: list[dict[str, Any]] = field(default_factory=list)
    optional_auth: bool = False
    limit: str | None = None  # the config key of its per-address rate limit, if it has one


OPERATIONS: list[Operation] = []


def route(
    bp: Any,
    path: str,
    method: str,
    *,
    summary: str,
    body: dict[str, Any] | None = None,
    responses: dict[int, tuple[str, dict[str, Any] | None]],
    auth: bool = True,
    tag: str,
    parameters: list[dict[str, Any]] | None = None,
    limit: str | None = None,
    optional_auth: bool = False,
) -> Callable[..., Any]:
    """Register a view on `bp` and describe it for the OpenAPI document.

    `limit` names a config key holding a per-address rate limit for this route.
    """
    validator = Draft202012Validator(body) if body else None

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if auth:
                g.api_user = authenticated_user()
            elif optional_auth:
                g.api_user = optional_user()
            if validator is not None:
                g.body = parse_body(validator)
            return view(*args, **kwargs)

        endpoint: Callable[..., Any] = wrapper
        if limit is not None:
            endpoint = address_limit(limit)(wrapper)
        flask_path = path.replace("{", "<").replace("}", ">")
        bp.add_url_rule(flask_path, view.__name__, endpoint, methods=[method])
        OPERATIONS.append(
            Operation(
                path,
                method.lower(),
                view.__name__,
                summary,
                body,
                responses,
                auth,
                [tag],
                parameters or [],
                optional_auth,
                limit,
            )
        )
        return wrapper

    return decorate


def no_content_without_a_type(response: Response) -> Response:
    """An answer without content says so: 204, and no Content-Type (Flask's own answer to
    OPTIONS and a view's `"", 204` would otherwise claim to be text/html)."""
    if request.method == "OPTIONS" and response.status_code == 200 and not response.get_data():
        response.status_code = 204
    if response.status_code == 204:
        response.headers.pop("Content-Type", None)
    return response


def parse_body(validator: Draft202012Validator) -> dict[str, Any]:
    """The request's JSON object, checked against the route's schema."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise WrongMediaType("Send the body as application/json.")
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise TooLarge(TOO_LARGE)
    # A chunked body has no Content-Length: werkzeug stops reading at the limit and hands
    # over what it read, cut short. Read one byte past the limit to tell the two apart.
    request.max_content_length = MAX_JSON_BYTES + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise TooLarge(TOO_LARGE) from exc
    if len(raw) > MAX_JSON_BYTES:
        raise TooLarge(TOO_LARGE)
    try:
        # What json.loads does with bytes (RFC 8259 encodings), so the depth scan reads text.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass") if raw else "null"
    except (UnicodeDecodeError, LookupError) as exc:
        raise Malformed(NOT_JSON) from exc
    if _nested_deeper_than(text, MAX_JSON_DEPTH):
        raise Malformed(f"The request body nests more than {MAX_JSON_DEPTH} levels deep.")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise Malformed(NOT_JSON) from exc
    if not isinstance(data, dict):
        raise Malformed("The request body must be a JSON object.")
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates such as "\ud800"
        raise Malformed("The request body holds text that is not valid Unicode.") from exc
    problems: dict[str, str] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
        if error.validator == "additionalProperties":
            for name in sorted(set(data) - set(validator.schema.get("properties", {}))):
                problems[name] = "This field is not allowed here."
        elif error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "body"
            problems[missing] = "This field is required."
        else:
            name = ".".join(str(p) for p in error.path) or "body"
            problems.setdefault(name, _friendly(error))
    if problems:
        raise ValidationFailed(fields=problems)
    return data


_JSON_STRUCTURE = re.compile(r'["\\\[\]{}]')


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in `text` nest more than `limit` deep.

    One pass over the quotes, backslashes and brackets, without recursion, so it is
    safe on any input; strings are skipped. Invalid JSON is left to the parser.
    """
    depth = 0
    in_string = False
    escaped = -1  # the index of the character a backslash escapes
    for match in _JSON_STRUCTURE.finditer(text):
        at = match.start()
        if at == escaped:
            continue
        char = text[at]
        if in_string:
            if char == "\\":
                escaped = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _friendly(error: Any) -> str:
    if error.validator == "type":
        return f"Must be of type {error.validator_value}."
    if error.validator == "maxLength":
        return f"Use at most {error.validator_value} characters."
    if error.validator == "minLength":
        return (
            "This field cannot be empty."
            if error.validator_value == 1
            else (f"Use at least {error.validator_value} characters.")
        )
    return "This value is not valid."


def api_client(device_token: Any = None) -> Client:
    """Who is asking, for the password-guessing buckets. The API reads no cookies; a
    device that signed in before sends its device_token in the sign-in body instead."""
    return Client(client_address(), device_token if isinstance(device_token, str) else None)


def optional_user() -> Any:
    """The token's user if an Authorization header is sent (401 if it is bad), else a guest."""
    if "Authorization" not in request.headers:
        from flask_login import AnonymousUserMixin

        return AnonymousUserMixin()
    return authenticated_user()


def authenticated_user() -> Any:
    """The user of a valid `Authorization: Bearer` access token, or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send an access token: Authorization: Bearer <token>.")
    claims = decode_access_token(token.strip())
    user = sessions.user_for_access_claims(claims) if claims else None
    if user is None:
        raise Unauthenticated("The access token is invalid or has expired.")
    return user
