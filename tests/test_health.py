"""Liveness and readiness."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.conftest import require_service


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_the_database(client, app):
    response = client.get("/readyz")
    assert response.status_code == 200
    names = {c["name"]: c for c in response.json["checks"]}
    assert names["database"]["ok"] and names["database"]["detail"] in ("sqlite", "postgresql")
    assert "redis" not in names  # not configured


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readyz_fails_when_a_configured_backend_is_down(app_factory):
    app = app_factory(REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    checks = {c["name"]: c for c in response.json["checks"]}
    assert checks["redis"]["ok"] is False and checks["database"]["ok"] is True


@pytest.fixture
def redis_url():
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def test_rate_limits_are_shared_through_redis(app_factory, redis_url):
    """Two app processes (here: two app instances) share one counter in Redis."""
    config = {
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_REFRESH": "3 per hour",
    }
    one, two = app_factory(**config), app_factory(**config)
    assert one.test_client().get("/readyz").status_code == 200
    for app in (one, two, one):
        app.test_client().post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    blocked = two.test_client().post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
