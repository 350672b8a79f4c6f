"""An HTTP server standing in for the SendGrid v3 mail-send API.

    with SendGridStandin(api_key="SG.test-key") as sg:
        sg.script(503, Answer(429, retry_after=2), "hang")   # then 202s
        SendGridAPIClient(api_key="SG.test-key", host=sg.url).client.mail.send.post(
            request_body={...})
        sg.wait_for(1)
        sg.requests[0].body["personalizations"]

Like SendGrid it answers 202 with an empty body and an X-Message-Id header,
and errors with {"errors": [{"message": ..., "field": ..., "help": ...}]}.
Every request it answers is recorded in `.requests`; `.received` counts every
request that arrived, including ones it never answered ("hang").

Answers to `script()`, consumed one per request to POST /v3/mail/send:
  202, 400, 401, 403, 413, 500, 502, 503 ... - that status (SendGrid-like error body)
  429 or Answer(429, retry_after=S)         - also Retry-After / X-RateLimit-* headers
  (429, S)                                   - the same as Answer(429, retry_after=S)
  "hang"                                     - read the request, never answer; the
                                               connection is closed (still unanswered)
                                               by release(), reset() or stop()
Whatever the script says (except "hang"), a request whose Authorization header is not
"Bearer <api_key>" is answered 401. With the queue empty the answer is 202, or 400
when the body is not JSON or lacks what SendGrid requires (personalizations[].to,
from.email, a subject and a content block unless template_id; validate=False turns
that off). Other paths answer 404 and other methods on /v3/mail/send 405, without
using the script.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAIL_SEND = "/v3/mail/send"
HANG = "hang"

_REASONS = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
}


@dataclass(frozen=True)
class Answer:
    """One scripted answer: a status, or "hang"."""

    status: int | str = 202
    retry_after: float | None = None
    message: str | None = None

    @classmethod
    def of(cls, value: Answer | int | str | tuple[int, float]) -> Answer:
        if isinstance(value, Answer):
            return value
        if isinstance(value, tuple):
            return cls(value[0], retry_after=value[1])
        if value == HANG or isinstance(value, int):
            return cls(value)
        raise ValueError(f"not an answer: {value!r} (an HTTP status, (429, seconds) or 'hang')")


class Headers(dict[str, str]):
    """The request's headers as sent; lookups ignore case."""

    def _find(self, name: str) -> str | None:
        if dict.__contains__(self, name):
            return name
        lowered = name.lower()
        return next((k for k in self if k.lower() == lowered), None)

    def __getitem__(self, name: str) -> str:
        key = self._find(name)
        if key is None:
            raise KeyError(name)
        return dict.__getitem__(self, key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def get(self, name: str, default: Any = None) -> Any:
        key = self._find(name)
        return default if key is None else dict.__getitem__(self, key)


_now = time.time


@dataclass
class RecordedRequest:
    """A request the stand-in answered. `time` is time.monotonic() on arrival."""

    method: str
    path: str
    headers: Headers
    body: Any
    raw: bytes
    status: int
    time: float
    wall_time: float = field(default_factory=_now)


_REQUIRED = {
    "personalizations": "The personalization block is required.",
    "personalizations.0.to": (
        "The to array is required for all personalization objects, and must have at least "
        "one email object with a valid email address."
    ),
    "from.email": "The from object must be provided for every email send.",
    "subject": (
        "The subject is required. You can get around this requirement if you use a template "
        "with a subject defined or if every personalization has a subject defined."
    ),
    "content": (
        "Unless a valid template_id is provided, the content parameter is required. "
        "There must be at least one defined content block."
    ),
}


def _missing_fields(body: Any) -> list[str]:
    """The fields SendGrid would reject in a mail-send body (keys of _REQUIRED)."""
    if not isinstance(body, dict):
        return ["personalizations"]
    problems: list[str] = []
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append("personalizations")
        personalizations = []
    elif not all(isinstance(p, dict) and p.get("to") for p in personalizations):
        problems.append("personalizations.0.to")
    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        problems.append("from.email")
    if not body.get("template_id"):
        has_subject = bool(body.get("subject")) or any(
            isinstance(p, dict) and p.get("subject") for p in personalizations
        )
        if not has_subject:
            problems.append("subject")
        content = body.get("content")
        if not isinstance(content, list) or not any(
            isinstance(c, dict) and c.get("type") and c.get("value") for c in content
        ):
            problems.append("content")
    return problems


class _Server(ThreadingHTTPServer):
    # Handler threads are joined by server_close(), so nothing outlives stop().
    daemon_threads = False
    block_on_close = True
    standin: SendGridStandin


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 30  # an idle client connection does not hold a thread for ever

    def setup(self) -> None:
        super().setup()
        self.server.standin._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.standin._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        self.server.standin.log.append(format % args)

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def do_PUT(self) -> None:  # noqa: N802
        self._serve()

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        standin = self.server.standin
        standin._set_busy(self.connection, True)
        try:
            self._answer(standin)
        finally:
            standin._set_busy(self.connection, False)

    def _answer(self, standin: SendGridStandin) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        arrived = time.monotonic()
        standin._arrived()
        path = self.path.split("?", 1)[0]
        try:
            body = json.loads(raw) if raw else None
            bad_json = False
        except ValueError:
            body, bad_json = None, True

        answer: Answer | None = None
        status: int
        message: str | None
        field_: str | None
        if path != MAIL_SEND:
            status, message, field_ = 404, "Not Found", None
        elif self.command != "POST":
            status, message, field_ = 405, "Method Not Allowed", None
        else:
            answer = standin._next_answer()
            if answer is not None and answer.status == HANG:
                standin._hang(self.connection)
                self.close_connection = True
                return
            authorization = self.headers.get("Authorization", "")
            if authorization != f"Bearer {standin.api_key}":
                status, message, field_ = 401, _REASONS[401], None
            elif answer is not None:
                status, message, field_ = int(answer.status), answer.message, None
            elif bad_json and standin.validate:
                status, message, field_ = 400, "Bad Request", None
            else:
                problems = _missing_fields(body) if standin.validate else []
                if problems:
                    status, message, field_ = 400, _REQUIRED[problems[0]], problems[0]
                else:
                    status, message, field_ = 202, None, None

        # Recorded before the answer is written: once a client has its answer, the
        # request is in .requests already (no need to wait_for() after a synchronous call).
        standin._record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers=Headers(self.headers.items()),
                body=body,
                raw=raw,
                status=status,
                time=arrived,
            )
        )
        self._respond(status, message, field_, answer)

    def _respond(
        self, status: int, message: str | None, field_: str | None, answer: Answer | None
    ) -> None:
        self.send_response(status)
        if status == 202:
            message_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
            self.send_header("X-Message-Id", message_id[:22])
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            return
        if status < 300:
            payload = b""
        else:
            error = {
                "message": message or _REASONS.get(status, "error"),
                "field": field_,
                "help": None,
            }
            payload = json.dumps({"errors": [error]}).encode()
        if status == 429:
            retry_after = answer.retry_after if answer and answer.retry_after is not None else 1
            self.send_header("Retry-After", f"{retry_after:g}")
            self.send_header("X-RateLimit-Limit", "600")
            self.send_header("X-RateLimit-Remaining", "0")
            self.send_header("X-RateLimit-Reset", str(int(time.time() + retry_after)))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True


class SendGridStandin:
    """The SendGrid v3 mail-send API on 127.0.0.1:<free port>, answers scripted."""

    def __init__(
        self, api_key: str = "SG.test-key", host: str = "127.0.0.1", *, validate: bool = True
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.validate = validate
        self.requests: list[RecordedRequest] = []
        self.received = 0
        self.log: list[str] = []
        self._answers: collections.deque[Answer] = collections.deque()
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._hung: set[socket.socket] = set()
        self._connections: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the SendGrid stand-in is not running: call start()")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, for SendGridAPIClient(host=...): "http://127.0.0.1:PORT"."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SendGridStandin:
        if self._server is not None:
            return self
        server = _Server((self.host, 0), _Handler)
        server.standin = self
        self._server = server
        self._release = threading.Event()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sendgrid-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release hung requests, close every connection, join threads."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        self.release()
        with self._cond:
            idle = list(self._connections - self._busy)
        for conn in idle:  # wakes handlers blocked reading from idle clients
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> SendGridStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ scripting

    def script(self, *answers: Answer | int | str | tuple[int, float]) -> None:
        """Queue answers for the next requests to POST /v3/mail/send, in order."""
        parsed = [Answer.of(a) for a in answers]
        with self._cond:
            self._answers.extend(parsed)

    @property
    def pending_answers(self) -> int:
        with self._cond:
            return len(self._answers)

    def release(self) -> None:
        """Close the connections of every hung request now (they stay unanswered)."""
        with self._cond:
            event, self._release = self._release, threading.Event()
        event.set()

    def reset(self) -> None:
        """Forget recorded requests and scripted answers; release hung requests."""
        self.release()
        with self._cond:
            self.requests.clear()
            self.received = 0
            self._answers.clear()
            self.log.clear()

    # ------------------------------------------------------------------ waiting

    def wait_for(self, n: int = 1, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least `n` requests were answered; a copy of .requests."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(
                    f"SendGrid stand-in: waited {timeout}s for {n} answered request(s), "
                    f"got {len(self.requests)} ({self.received} arrived)"
                )
            return list(self.requests)

    def wait_received(self, n: int = 1, timeout: float = 5.0) -> int:
        """Wait until at least `n` requests arrived, answered or not."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.received >= n, timeout):
                raise AssertionError(
                    f"SendGrid stand-in: waited {timeout}s for {n} request(s) to arrive, "
                    f"got {self.received}"
                )
            return self.received

    @property
    def hung(self) -> int:
        """How many requests are being held without an answer right now."""
        with self._cond:
            return len(self._hung)

    # ------------------------------------------------------------------ handler side

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _set_busy(self, conn: socket.socket, busy: bool) -> None:
        with self._cond:
            if busy:
                self._busy.add(conn)
            else:
                self._busy.discard(conn)

    def _arrived(self) -> None:
        with self._cond:
            self.received += 1
            self._cond.notify_all()

    def _next_answer(self) -> Answer | None:
        with self._cond:
            return self._answers.popleft() if self._answers else None

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def _hang(self, conn: socket.socket) -> None:
        with self._cond:
            event = self._release
            self._hung.add(conn)
        try:
            event.wait()
        finally:
            with self._cond:
                self._hung.discard(conn)
