"""An HTTP proxy that passes requests to an upstream server, except those it is told to
fail: the way tests make S3 answer 503 SlowDown or 500 InternalError on cue.

    proxy = FaultProxy(moto.endpoint).start()
    proxy.fail(2, status=503, code="SlowDown", method="PUT", match="partNumber=")
    ...                                    # point the S3 client at proxy.url
    proxy.seen("PUT", "partNumber=")       # how many such requests arrived
    proxy.stop()

A fault answers the next `times` requests that match (method, and a substring of the
path with its query) with S3's XML error body, without passing them on; with
`forward=True` it passes them on first and then answers with the error anyway, as when
S3 did the work but its answer was lost on the way back. Requests are
read whole (test objects are small), and every answer closes its connection.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
}


@dataclass
class Fault:
    times: int
    status: int
    code: str
    method: str | None
    match: str | None
    forward: bool = False
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.used < self.times
            and (self.method is None or self.method == method)
            and (self.match is None or self.match in path)
        )


def error_body(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>fault-proxy</RequestId></Error>"
    ).encode()


class FaultProxy:
    """A threaded HTTP server on 127.0.0.1 in front of `upstream` (http://host:port)."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail(
        self,
        times: int,
        *,
        status: int = 503,
        code: str = "SlowDown",
        method: str | None = None,
        match: str | None = None,
        forward: bool = False,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` and `code`."""
        fault = Fault(times, status, code, method, match, forward)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def seen(self, method: str | None = None, match: str | None = None) -> int:
        """How many requests (of `method`, with `match` in the path) have arrived."""
        with self._lock:
            return sum(
                1
                for m, path, _ in self.log
                if (method is None or m == method) and (match is None or match in path)
            )

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.used += 1
                    return fault
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # quiet: the log list records what matters

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return bytes(data)
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD" and body:
                    self.wfile.write(body)
                self.close_connection = True

            def _handle(self) -> None:
                body = self._body()
                fault = proxy._fault_for(self.command, self.path)
                if fault is not None:
                    if fault.forward:
                        self._forward(body)  # the work is done; the answer is "lost"
                    proxy._record(self.command, self.path, fault.status)
                    payload = error_body(fault.code, "injected by the fault proxy")
                    headers = [
                        ("Content-Type", "application/xml"),
                        ("Content-Length", str(len(payload))),
                    ]
                    self._answer(fault.status, headers, payload)
                    return
                status, headers, data = self._forward(body)
                proxy._record(self.command, self.path, status)
                self._answer(status, headers, data)

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    forwarded = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                    }
                    if body or self.command in {"PUT", "POST"}:
                        forwarded["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=forwarded)
                    answer = upstream.getresponse()
                    data = answer.read()
                    headers = [
                        (k, v)
                        for k, v in answer.getheaders()
                        if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                    ]
                    length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                    headers.append(("Content-Length", length or str(len(data))))
                    return answer.status, headers, data
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
