"""Browser tier: the real server (migrations, gunicorn, embedded event bus) driven by Chromium.

The session starts `flask db upgrade` and then gunicorn exactly as `make run`
does, on a free port and a throw-away DATA_DIR, and a headless Debian Chromium
through Playwright. Every test here is marked `e2e`. Without /usr/bin/chromium
the tests skip, or fail under CI=true (run `make browser` to install it).
"""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() == "true"
STARTUP_TIMEOUT = 30.0

# Settings that would point the server at something other than its embedded
# default. They are set empty (not removed) so a developer's .env cannot fill them in.
_EXTERNAL_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "PUBLIC_URL",
    "MONGODB_URI",
    "KAFKA_BOOTSTRAP_SERVERS",
    "S3_BUCKET",
    "SENDGRID_API_KEY",
    "TRUSTED_PROXY_COUNT",
    "GOOGLE_CLIENT_ID",
    "GITHUB_CLIENT_ID",
)


# ------------------------------------------------------------------ marking


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failure, show the end of the server's log next to the traceback."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            server = value.server if isinstance(value, ServerProcess) else value
            if isinstance(server, LiveServer):
                report.sections.append(("lectern server log (tail)", server.log_tail()))
    return report


# ------------------------------------------------------------------ the server


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    log_path: Path
    outbox: Path = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = self.data_dir / "outbox"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_mail(
        self, to: str, subject: str = "", timeout: float = 10.0
    ) -> email.message.EmailMessage:
        """The newest message to `to` (with `subject` in its subject), polling the outbox."""
        deadline = time.monotonic() + timeout
        while True:
            # File names start with a UTC timestamp, so name order is send order.
            for path in sorted(self.outbox.glob("*.eml"), reverse=True):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if to.lower() in str(message["To"]).lower() and subject in str(message["Subject"]):
                    return message  # type: ignore[return-value]
            if time.monotonic() > deadline:
                found = sorted(p.name for p in self.outbox.glob("*"))
                pytest.fail(
                    f"no email to {to} in {self.outbox} after {timeout:.0f} s "
                    f"(files there: {found})\n--- server log ---\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def flask(self, *args: str, timeout: float = 60.0) -> str:
        """Run `flask --app wsgi ARGS` against this server's DATA_DIR; returns its output.

        Only for commands that touch SQLite (say `users set-role`): the embedded
        document store is not safe for writes from a second process.
        """
        port = int(self.url.rsplit(":", 1)[1])
        result = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=_server_env(self.data_dir, port),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"flask {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(data_dir: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("GUNICORN_BIND", "FLASK_APP", "FLASK_DEBUG"):
        env.pop(name, None)
    for name in _EXTERNAL_SETTINGS:
        env[name] = ""
    env.update(
        DATA_DIR=str(data_dir),
        PORT=str(port),
        BCRYPT_ROUNDS="4",
        LECTERN_ENV="development",
        RATELIMIT_ENABLED="true",
        EVENT_BUS="embedded",
        WEB_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _gunicorn_extra_args() -> list[str]:
    # gunicorn 27 opens a control socket at ~/.gunicorn/gunicorn.ctl by default, shared by
    # every gunicorn of the user (say, a `make run` next to this test server): opt out.
    import gunicorn

    return ["--no-control-socket"] if gunicorn.version_info >= (27,) else []


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class ServerProcess:
    """gunicorn as `make run` starts it, on a fixed port and DATA_DIR, that a test can
    kill outright and start again (the same database, files and secrets)."""

    def __init__(self, server: LiveServer, extra_env: dict[str, str] | None = None):
        self.server = server
        port = int(server.url.rsplit(":", 1)[1])
        self.env = _server_env(server.data_dir, port) | (extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._log = open(server.log_path, "ab")  # noqa: SIM115 - closed by close()

    def run(self, *args: str) -> None:
        """A one-off `flask --app wsgi ARGS` (migrations, seeding) into the server's log."""
        done = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(
                f"flask {' '.join(args)} failed ({done.returncode}):\n{self.server.log_tail()}"
            )

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", *_gunicorn_extra_args(), "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(self.server.url):
            if self.process.poll() is not None:
                pytest.fail(
                    f"gunicorn exited with {self.process.returncode} before answering:\n"
                    f"{self.server.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{self.server.url}/healthz did not answer within {STARTUP_TIMEOUT:.0f} s:\n"
                    f"{self.server.log_tail()}"
                )
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL the whole server (arbiter and workers): a crash, not a shutdown."""
        if self.process is not None and self.process.poll() is None:
            for pid in _children(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait(timeout=5)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)

    def close(self) -> None:
        self.stop()
        self._log.close()


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def serve(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    extra_env: dict[str, str] | None = None,
    seed: bool = False,
) -> ServerProcess:
    """Migrate a fresh DATA_DIR (and seed the demo content), then start gunicorn on it."""
    require_chromium()  # no point starting a server nobody can drive
    base = tmp_path_factory.mktemp(name)
    port = _free_port()
    server = LiveServer(
        url=f"http://127.0.0.1:{port}", data_dir=base / "data", log_path=base / "server.log"
    )
    process = ServerProcess(server, extra_env)
    try:
        process.run("db", "upgrade")
        if seed:
            process.run("seed-demo", "--if-empty")
        return process.start()
    except BaseException:
        process.close()
        raise


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Migrate a fresh DATA_DIR and serve it with gunicorn; yields URL and data dir."""
    process = serve(tmp_path_factory, "e2e")
    try:
        yield process.server
    finally:
        process.close()


# ------------------------------------------------------------------ the browser


# require_chromium() and the session's `browser` live in tests/conftest.py, shared with
# the integration tier (one Playwright instance per session).


@dataclass
class ConsoleLog:
    """What the page said on the console, and the uncaught errors it threw."""

    errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [m for m in self.errors if re.search(r"Content[- ]Security[- ]Policy", m, re.I)]


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser: Any, live_server: LiveServer, console: ConsoleLog) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the live server."""
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda msg: console.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console.page_errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
