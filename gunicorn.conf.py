"""gunicorn settings for `make run` and production, from the app's own settings
(app/config.py: the environment and `.env`, each setting declared once).

The embedded default (SQLite, file-backed stores, in-process event bus) runs as
one worker process with threads, because its file-backed stores are not safe
for writes from several processes. With production engines, set
WEB_CONCURRENCY to the number of processes you want.
"""

from app.config import Settings

settings = Settings.from_env()

bind = settings.gunicorn_bind or f"127.0.0.1:{settings.port}"
workers = settings.web_concurrency
worker_class = "gthread"
threads = settings.gunicorn_threads
timeout = settings.gunicorn_timeout
graceful_timeout = 20
keepalive = settings.gunicorn_keepalive
max_requests = settings.gunicorn_max_requests
max_requests_jitter = 100
accesslog = None  # the app logs every request as JSON with its request id
errorlog = "-"
forwarded_allow_ips = settings.forwarded_allow_ips
# gunicorn's control socket would live at one fixed path per user, so two servers on one
# machine (say `make run` and the browser tests) would fight over it. We do not use it.
control_socket_disable = True


def post_worker_init(worker):
    """Start the embedded event bus inside the worker (one worker in the embedded default)."""
    flask_app = worker.wsgi
    if flask_app.config.get("EVENT_BUS") == "embedded":
        from app.events.bus import EmbeddedBus

        bus = EmbeddedBus(flask_app)
        bus.start()
        flask_app.extensions["event_bus"] = bus
        worker.log.info("embedded event bus started")


# ---------------------------------------------------------------- the media process

_media = {"process": None, "stopping": False}
_bus = settings.event_bus or ("kafka" if settings.kafka_bootstrap_servers else "embedded")
EMBEDDED = _bus == "embedded"


def _start_media(server):
    """`flask --app wsgi media work`, at a lower CPU priority than the web process."""
    import os
    import subprocess
    import sys

    from app.media.rules import WORKER_NICENESS

    _media["process"] = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "media", "work"],
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.nice(WORKER_NICENESS),  # noqa: PLW1509 - before any thread
    )
    server.log.info("media process started (pid %s)", _media["process"].pid)


def when_ready(server):
    """In the embedded default, run the media worker's jobs in a process of their own
    beside the web worker (never inside it), and start it again should it die. With
    Kafka, `flask --app wsgi worker media` runs them."""
    if not EMBEDDED:
        return
    import threading
    import time

    _start_media(server)

    def watch():
        while True:
            code = _media["process"].wait()
            if _media["stopping"]:
                return
            server.log.warning("media process exited (%s); starting it again", code)
            time.sleep(2)
            if _media["stopping"]:
                return
            _start_media(server)

    threading.Thread(target=watch, name="media-watch", daemon=True).start()


def on_exit(server):
    """Stop the media process with the server."""
    _media["stopping"] = True
    process = _media["process"]
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()
