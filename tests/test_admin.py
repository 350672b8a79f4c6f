"""Admin pages and the users CLI."""

from __future__ import annotations

from tests.conftest import PASSWORD


def test_admin_lists_and_searches_users(client, auth, users):
    auth.login("admin", name="The Admin")
    users.create(email="zed@example.com", name="Zed Zebra")
    users.create(email="amy@example.com", name="Amy 100%_match")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "zed@example.com" in page and "amy@example.com" in page and "3 users" in page
    found = client.get("/admin/users?q=ZEBRA").get_data(as_text=True)
    assert "zed@example.com" in found and "amy@example.com" not in found
    # LIKE wildcards in the query are literal.
    assert "1 user" in client.get("/admin/users?q=100%25_").get_data(as_text=True)
    assert "0 users" in client.get("/admin/users?q=%25%25").get_data(as_text=True)
    partial = client.get("/admin/users?q=zed", headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="rows">') and "<html" not in body


def test_admin_changes_a_role(client, auth, users):
    auth.login("admin")
    target = users.create(email="t@example.com")
    response = client.submit(f"/admin/users/{target.id}/role", {"role": "instructor"})
    assert response.status_code == 303
    assert users.get(target.id).role == "instructor"
    bad = client.submit(
        f"/admin/users/{target.id}/role", {"role": "superuser"}, follow_redirects=True
    )
    assert "valid role" in bad.get_data(as_text=True)
    assert users.get(target.id).role == "instructor"


def test_admin_cannot_change_their_own_role(client, auth, users):
    admin = auth.login("admin")
    response = client.submit(
        f"/admin/users/{admin.id}/role", {"role": "learner"}, follow_redirects=True
    )
    assert "cannot change your own role" in response.get_data(as_text=True)
    assert users.get(admin.id).role == "admin"


def test_non_admins_cannot_change_roles(app, users):
    target = users.create(email="t@example.com")
    for role in ["learner", "instructor", "moderator"]:
        client = app.test_client()
        actor = users.create(role)
        client.submit("/signin", {"email": actor.email, "password": PASSWORD})
        response = client.submit(f"/admin/users/{target.id}/role", {"role": "admin"})
        assert response.status_code == 403, role
        assert client.get("/admin/users").status_code == 403
        assert "Users</a>" not in client.get("/").get_data(as_text=True)
    assert users.get(target.id).role == "learner"


def test_cli_create_admin_and_set_role(runner, users, app):
    result = runner.invoke(
        args=[
            "users",
            "create-admin",
            "root@example.com",
            "--name",
            "Root",
            "--password",
            "root password long",
        ]
    )
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert (
        client.submit(
            "/signin", {"email": "root@example.com", "password": "root password long"}
        ).status_code
        == 302
    )
    assert client.get("/admin/users").status_code == 200

    weak = runner.invoke(
        args=["users", "create-admin", "weak@example.com", "--password", "password1234"]
    )
    assert weak.exit_code != 0 and "too common" in weak.output

    learner = users.create(email="learner@example.com")
    result = runner.invoke(args=["users", "set-role", "LEARNER@example.com", "moderator"])
    assert result.exit_code == 0 and "moderator" in result.output
    assert users.get(learner.id).role == "moderator"
    assert runner.invoke(args=["users", "set-role", "x@example.com", "admin"]).exit_code != 0
    assert runner.invoke(args=["users", "set-role", "learner@example.com", "king"]).exit_code != 0


def test_seed_demo_is_idempotent(runner, users):
    first = runner.invoke(args=["seed-demo", "--if-empty"])
    assert first.exit_code == 0 and "admin@lectern.test" in first.output
    assert users.count() == 6
    second = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "skipped" in second.output and users.count() == 6


def test_dead_course_events_are_shown_and_can_be_retried(client, auth, app):
    from app.courses.outbox import DocOutboxEvent, record_course_event

    with app.app_context():
        event = record_course_event(
            "course.enrolled",
            {"user_id": "u", "course_id": "c", "slug": "s", "title": "t"},
            key="u",
        )
        DocOutboxEvent.objects(id=event.id).update_one(
            set__status="dead", set__attempts=8, set__last_error="KeyError: boom"
        )
    auth.login("admin")
    page = client.get("/admin/events").get_data(as_text=True)
    assert "course.enrolled" in page and "KeyError: boom" in page
    client.submit(f"/admin/events/outboxes/courses/{event.event_id}/retry")
    assert DocOutboxEvent.objects.get(id=event.id).status == "pending"
    assert client.submit("/admin/events/outboxes/courses/nope/retry").status_code == 404
    assert client.submit(f"/admin/events/outboxes/nope/{event.event_id}/retry").status_code == 404


def _heartbeats(app, **last_seen_ago):
    """One heartbeat row per worker id, last seen that long ago (a timedelta); a name
    starting with "stopped" is marked stopped."""
    from app.events.models import WorkerHeartbeat
    from app.extensions import db
    from app.timeutil import utcnow

    with app.app_context():
        for worker_id, ago in last_seen_ago.items():
            db.session.add(
                WorkerHeartbeat(
                    worker_id=worker_id,
                    name="email",
                    group="lectern-email",
                    last_seen=utcnow() - ago,
                    stopped=worker_id.startswith("stopped"),
                )
            )
        db.session.commit()


def test_an_admin_clears_stopped_and_silent_workers(client, auth, app):
    from datetime import timedelta

    _heartbeats(
        app,
        **{
            "alive@web-1:10": timedelta(seconds=3),
            "stopped@web-1:11": timedelta(minutes=2),
            "silent@web-1:12": timedelta(minutes=5),
        },
    )
    auth.login("admin")
    page = client.get("/admin/events").get_data(as_text=True)
    assert all(w in page for w in ("alive@web-1:10", "stopped@web-1:11", "silent@web-1:12"))
    assert "Clear stopped workers" in page and "leave this list by themselves" in page

    forged = client.post("/admin/events/workers/clear", data={"csrf_token": "forged"})
    assert forged.status_code == 400  # CSRF checked: nothing cleared
    assert "silent@web-1:12" in client.get("/admin/events").get_data(as_text=True)

    response = client.submit("/admin/events/workers/clear")  # a plain form post, no htmx
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/events")
    page = client.get("/admin/events").get_data(as_text=True)
    assert "Cleared 2 stopped or silent workers." in page
    assert "alive@web-1:10" in page
    assert "stopped@web-1:11" not in page and "silent@web-1:12" not in page
    assert "Clear stopped workers" not in page  # nothing left to clear


def test_only_admins_clear_workers(client, auth, app):
    from datetime import timedelta

    _heartbeats(app, **{"stopped@web-1:11": timedelta(minutes=2)})
    auth.login("moderator")
    assert client.submit("/admin/events/workers/clear").status_code == 403
    auth.logout()
    auth.login("admin")
    assert "stopped@web-1:11" in client.get("/admin/events").get_data(as_text=True)
