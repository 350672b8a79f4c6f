"""GET /openapi.json: the OpenAPI 3.1 document, built from the registered routes."""

from __future__ import annotations

from typing import Any

from flask import current_app

from blueprints.api import bp
from blueprints.api.core import OPERATIONS, Operation
from blueprints.api.schemas import ERROR

COMMON_ERRORS = {
    400: "Malformed JSON, or nested too deep",
    413: "Body too large",
    415: "Not application/json",
    422: "Fields missing, unknown or invalid",
}
RATE_LIMITED = "Too many requests; wait Retry-After seconds"
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.endpoint,
        "summary": op.summary,
        "tags": op.tags,
        "responses": {},
    }
    if op.parameters:
        doc["parameters"] = op.parameters
    if op.body:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body}},
        }
        for status, text in COMMON_ERRORS.items():
            doc["responses"][str(status)] = _response(text, ERROR)
    if op.optional_auth:
        # A token is optional here; a bad one is still a 401.
        doc["security"] = [{}, {"bearer": []}]
        doc["responses"]["401"] = _response("Invalid or expired access token", ERROR)
    elif op.auth:
        doc["security"] = [{"bearer": []}]
        doc["responses"]["401"] = _response("Missing, invalid or expired access token", ERROR)
    else:
        doc["security"] = []
    if op.limit:
        doc["responses"]["429"] = _response(RATE_LIMITED, ERROR)
    for status, (text, schema) in op.responses.items():
        doc["responses"][str(status)] = _response(text, schema)
    for status, response in doc["responses"].items():
        if status == "429":
            response["headers"] = RETRY_AFTER
    return doc


def _response(text: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {"description": text}
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def build_document() -> dict[str, Any]:
    """The whole OpenAPI document for the API as registered right now."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lectern API",
            "version": "1",
            "description": "JSON API of Lectern for the mobile client. Every error is "
            '`{"error": {"code", "message", "fields?"}}`.',
        },
        "servers": [{"url": f"{current_app.config['PUBLIC_URL']}/api/v1"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": {"Error": ERROR},
        },
    }


@bp.route("/openapi.json")
def openapi_document() -> Any:
    """The OpenAPI document, generated from the same schemas the API validates with."""
    return build_document()
