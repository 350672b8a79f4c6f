"""Lectern's own processes (`flask --app wsgi worker …`, gunicorn) started by the tests,
with an environment that points them at this test's broker, databases and stand-ins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def process_env(
    tmp_path: Path, database_url: str, broker: Any, standin: Any = None, **extra: str
) -> dict[str, str]:
    """This environment without Lectern's settings, plus the ones a child process needs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "LECTERN",
                "DATABASE_",
                "MONGODB",
                "DOCUMENT_",
                "KAFKA_",
                "SENDGRID_",
                "REDIS_",
                "PUBLIC_URL",
                "DATA_DIR",
                "PORT",
            )
        )
    }
    env.update(
        {
            "DATA_DIR": str(tmp_path / "proc-data"),
            "DATABASE_URL": database_url,
            "DOCUMENT_STORE": "litemongo",
            "DOCUMENT_STORE_PATH": str(tmp_path / "proc-docs"),
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "PUBLIC_URL": "http://lectern.test",
            "BCRYPT_ROUNDS": "4",
            "LOG_LEVEL": "INFO",
            "RATELIMIT_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if standin is not None:
        from tests.integration.conftest import SENDGRID_KEY

        env.update({"SENDGRID_API_KEY": SENDGRID_KEY, "SENDGRID_API_HOST": standin.url})
    env.update(extra)
    return env


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log_path = log
        self.log = log.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603
            args,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self) -> str:
        return self.output()[-3000:]


def worker(name: str, env: dict[str, str], tmp_path: Path, tag: str = "") -> Proc:
    """`flask --app wsgi worker NAME` as a child process, its output in tmp_path."""
    return Proc(
        [str(BIN / "flask"), "--app", "wsgi", "worker", name],
        env,
        tmp_path / f"worker-{name}{tag}.log",
    )


def wait_until(check: Any, timeout: float, what: str, procs: tuple[Proc, ...] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    logs = "\n".join(p.tail() for p in procs)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")
