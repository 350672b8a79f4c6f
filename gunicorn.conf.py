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

_bus = settings.event_bus or ("kafka" if settings.kafka_bootstrap_servers else "embedded")
EMBEDDED = _bus == "embedded"


def when_ready(server):
    """In the embedded default, run the media worker's jobs in a process of their own
    beside the web worker (never inside it), started again should it die
    (app/media/supervisor.py). With Kafka, `flask --app wsgi worker media` runs them."""
    if EMBEDDED:
        from app.media import supervisor

        supervisor.start(server.log)


def on_exit(server):
    """Stop the media process with the server."""
    if EMBEDDED:
        from app.media import supervisor

        supervisor.stop()
