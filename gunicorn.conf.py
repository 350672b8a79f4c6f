"""gunicorn settings for `make run` and production; every value comes from the environment.

The embedded default (SQLite, file-backed stores, in-process event bus) runs as
one worker process with threads, because its file-backed stores are not safe
for writes from several processes. With production engines, set
WEB_CONCURRENCY to the number of processes you want.
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = 100
accesslog = None  # the app logs every request as JSON with its request id
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
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
