"""Liveness and readiness probes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.courses.store import ping as ping_documents
from app.events.admin import event_health
from app.extensions import db, limiter

bp = Blueprint("health", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz() -> Any:
    """Liveness: the process answers."""
    return jsonify(status="ok")


def _check(name: str, fn: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = fn()
        result: dict[str, Any] = {"name": name, "ok": True}
        if detail is not None:
            result["detail"] = detail
    except Exception as exc:
        result = {"name": name, "ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database() -> str:
    db.session.execute(text("SELECT 1"))
    return db.engine.dialect.name


def _redis() -> None:
    import redis

    redis.Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=2).ping()


def _data_dir() -> None:
    path = Path(current_app.config["DATA_DIR"])
    if not os.access(path, os.W_OK):
        raise PermissionError("DATA_DIR is not writable")


def _outbox() -> dict[str, Any]:
    health = event_health(limit=0)
    return {
        "bus": health.bus,
        "pending": health.pending,
        "dead": health.dead_events,
        "oldest_pending_seconds": health.oldest_pending_seconds,
        "outboxes": {
            name: {"pending": b.pending, "dead": b.dead} for name, b in health.outboxes.items()
        },
        "dead_letters": health.dead_letter_count,
        "workers": [{"id": w["id"], "alive": w["alive"], "lag": w["lag"]} for w in health.workers],
    }


def _kafka() -> dict[str, Any]:
    from app.events.admin import consumer_groups
    from app.events.cluster import admin_client

    admin = admin_client(current_app)
    try:
        metadata = admin.list_topics(timeout=2)
        groups = consumer_groups(admin, timeout=2)
    finally:
        admin.poll(0)  # hand the client's log lines to the log
    return {
        "brokers": len(metadata.brokers),
        "groups": [{k: g[k] for k in ("group", "lag", "live")} for g in groups],
    }


@bp.route("/readyz")
@limiter.exempt
def readyz() -> Any:
    """Readiness: every configured backend answers."""
    checks = [
        _check("database", _database),
        _check("documents", ping_documents),
        _check("data_dir", _data_dir),
        _check("outbox", _outbox),
    ]
    if current_app.config.get("REDIS_URL"):
        checks.append(_check("redis", _redis))
    if current_app.config.get("KAFKA_BOOTSTRAP_SERVERS"):
        # Events wait in the outbox while the broker is away, so this is reported
        # but does not make the web process unready.
        kafka = _check("kafka", _kafka)
        kafka["required"] = False
        checks.append(kafka)
    db.session.rollback()
    ready = all(c["ok"] for c in checks if c.get("required", True))
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503
