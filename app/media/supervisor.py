"""The embedded default's media process: `flask --app wsgi media work`, started and
watched by gunicorn's master (gunicorn.conf.py) beside its web worker, never inside it.

The state lives here rather than in gunicorn.conf.py because gunicorn re-reads its
config file as a new module on SIGHUP: a process started before the reload is still
known after it, so it is neither started twice nor left behind at shutdown. The child
lowers its own priority and exits by itself should the master die without stopping it
(app/commands.py `media work`).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

COMMAND = [sys.executable, "-m", "flask", "--app", "wsgi", "media", "work", "--child"]
RESTART_AFTER = 2.0  # seconds before a media process that died is started again

_lock = threading.Lock()
_state: dict[str, Any] = {"process": None, "stopping": False, "watcher": None}


def start(logger: Any = log) -> None:
    """Start the media process and a thread that starts it again should it die; does
    nothing if it already runs."""
    with _lock:
        if _state["watcher"] is not None and _state["watcher"].is_alive():
            return
        _state["stopping"] = False
        _spawn(logger)
        _state["watcher"] = threading.Thread(
            target=_watch, args=(logger,), name="media-watch", daemon=True
        )
        _state["watcher"].start()


def _spawn(logger: Any) -> None:
    process = subprocess.Popen(COMMAND, stdin=subprocess.DEVNULL)  # noqa: S603 - a fixed command
    _state["process"] = process
    logger.info("media process started (pid %s)", process.pid)


def _watch(logger: Any) -> None:
    while True:
        code = _state["process"].wait()
        if _state["stopping"]:
            return
        logger.warning("media process exited (%s); starting it again", code)
        time.sleep(RESTART_AFTER)
        with _lock:
            if _state["stopping"]:
                return
            _spawn(logger)


def stop(timeout: float = 10.0) -> None:
    """Stop the media process (SIGTERM: it finishes nothing half-way that a next run
    could not redo) and its watcher."""
    with _lock:
        _state["stopping"] = True
        process = _state["process"]
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
