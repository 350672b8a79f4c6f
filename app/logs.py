"""Structured JSON logs with a request id on every line.

The request id comes from a trusted `X-Request-ID` (if it looks like one) or
is generated, is echoed in the response, and is attached to every record
logged while the request runs. Secrets never reach a log: records are built
from explicit `extra` fields, and known-sensitive keys are redacted anyway.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

from app.timeutil import utcnow

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_SENSITIVE = re.compile(r"pass|token|secret|hash|authorization|cookie", re.I)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": utcnow().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            entry[key] = "[redacted]" if _SENSITIVE.search(key) else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _LibrdkafkaLine(logging.Filter):
    """confluent-kafka hands each librdkafka line over as `"%s [%s] %s"` (facility, client
    name, text); keep the three apart so the JSON line has them as fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "%s [%s] %s" and isinstance(record.args, tuple) and len(record.args) == 3:
            facility, client, text = record.args
            record.msg, record.args = str(text), ()
            record.kafka_facility, record.kafka_client = facility, client
        return True


# The Kafka clients' own log (librdkafka), passed as `logger` in every client's config
# (app/events/kafka.py), so it comes out as JSON on stderr like everything else.
KAFKA_LOG = logging.getLogger("lectern.kafka")
KAFKA_LOG.addFilter(_LibrdkafkaLine())

_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Stamp every record made during a request with its id and client address."""
    record = _base_factory(*args, **kwargs)
    if has_request_context():
        record.request_id = g.get("request_id")
        record.remote_addr = request.remote_addr
    return record


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "(no route)"


def configure_logging(app: Flask) -> None:
    logging.setLogRecordFactory(_record_factory)
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.handlers = [handler]
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    access = logging.getLogger("lectern.access")

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def log_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.path.startswith("/static/"):
            return response
        access.info(
            "request",
            # The route pattern, not the path: paths carry secrets such as
            # /reset-password/<token>.
            extra={"method": request.method, "route": _route(), "status": response.status_code},
        )
        return response
