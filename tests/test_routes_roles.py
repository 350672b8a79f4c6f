"""Every route × every role, generated from app.url_map, against the written policy.

A new route without an entry in ACCESS fails this test: deny by default means
someone has to decide who may use it.
"""

from __future__ import annotations

import re
import uuid

import pytest

ROLES = ["guest", "learner", "instructor", "moderator", "admin"]

# endpoint -> who may use it
ACCESS = {
    "static": "public",
    "main.index": "public",
    "health.healthz": "public",
    "health.readyz": "public",
    "media.avatar": "public",
    "auth.register": "public",
    "auth.validate_signup": "public",
    "auth.login": "public",
    "auth.verify_email": "public",
    "auth.forgot_password": "public",
    "auth.reset_password": "public",
    "auth.logout": "signed_in",
    "auth.resend_verification": "signed_in",
    "account.profile": "signed_in",
    "account.avatar": "signed_in",
    "account.delete_avatar": "signed_in",
    "account.change_password": "signed_in",
    "account.export": "signed_in",
    "account.delete": "signed_in",
    "projects.index": "signed_in",
    "projects.create": "signed_in",
    "projects.show": "owner",
    "projects.edit": "owner",
    "projects.delete": "owner",
    "admin.users": "admin",
    "admin.set_role": "admin",
    "admin.events": "admin",
    "admin.replay": "admin",
    "admin.retry": "admin",
    "admin.clear_workers": "admin",
    "admin.storage": "admin",
    "api.openapi_document": "public",
    "api.register": "public",
    "api.login": "public",
    "api.refresh": "public",
    "api.logout": "public",
    "api.get_profile": "token",
    "api.put_profile": "token",
    "api.delete_account": "token",
    "api.list_projects": "token",
    "api.create_project": "token",
    "api.get_project": "token_owner",
    "api.put_project": "token_owner",
    "api.delete_project": "token_owner",
    # courses
    "courses.index": "public",
    "courses.show": "public",
    "courses.show_by_id": "public",
    "courses.certificate": "public",
    "learn.lesson": "public",  # free previews; the rest is checked per course (test_idor)
    "media.cover": "public",
    "media.lesson_file": "signed_url",
    "media.hls": "signed_url",
    "studio.retry_media": "author",  # the token in the path opens one video's files
    "courses.enroll": "signed_in",
    "courses.review": "signed_in",
    "courses.delete_review": "signed_in",
    "courses.report_review": "signed_in",
    "learn.dashboard": "signed_in",
    "learn.resume": "signed_in",
    "learn.complete": "signed_in",
    "learn.quiz": "signed_in",
    "learn.position": "signed_in",
    "learn.my_certificate": "signed_in",
    "studio.index": "author",
    "studio.create": "author",
    "studio.edit": "author",
    "studio.cover": "author",
    "studio.add_section": "author",
    "studio.rename_section": "author",
    "studio.move_section": "author",
    "studio.new_lesson": "author",
    "studio.edit_lesson": "author",
    "studio.lesson_media": "author",
    "studio.move_lesson": "author",
    "studio.submit": "author",
    "studio.withdraw": "author",
    "studio.unpublish": "author",
    "studio.delete_section": "author",
    "studio.delete_lesson": "author",
    "studio.restore": "author",
    "studio.dashboard": "author",
    "studio.quiz_attempts": "author",
    "studio.reset_quiz_attempts": "author",
    "studio.media_status": "author",
    "studio.cancel_upload": "author",
    "studio.media_returned": "author",
    "studio.delete_course": "author",
    # the upload script's endpoints answer in JSON: a guest gets 401, not a redirect
    "uploads.tus_options": "author_json",
    "uploads.tus_create": "author_json",
    "uploads.tus_head": "author_json",
    "uploads.tus_patch": "author_json",
    "uploads.tus_delete": "author_json",
    "uploads.s3_start": "author_json",
    "uploads.s3_sign": "author_json",
    "uploads.s3_parts": "author_json",
    "uploads.s3_complete": "author_json",
    "uploads.status": "author_json",
    "uploads.cancel": "author_json",
    "moderation.queue": "staff",
    "moderation.decide": "staff",
    "moderation.unpublish": "staff",
    "moderation.review_action": "staff",
    "api.list_courses": "public",
    "api.get_course": "public",
    "api.enroll": "token",
    "api.my_enrollments": "token",
    "api.get_lesson": "token",
    "api.put_progress": "token",
    "api.post_attempt": "token",
}

ARGS = {
    "project_id": str(uuid.uuid4()),
    "token": "x" * 43,
    "user_id": str(uuid.uuid4()),
    "name": "0" * 32 + ".webp",
    "filename": "css/app.css",
    "file": "master.m3u8",
    "slug": "no-such-course",
    "lesson_id": "0" * 32,
    "section_id": "0" * 32,
    "review_id": "0" * 24,
    "course_id": "0" * 24,
    "letter_id": "999999",
    "event_id": "0" * 36,
    "seq": "999999",
    "outbox": "accounts",
    "code": "ABCDEF0123456789",
    "item_id": "0" * 32,
    "upload_id": "0" * 32,
}


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            url = rule.rule
            for arg in rule.arguments:
                url = re.sub(rf"<(?:\w+:)?{arg}>", ARGS[arg], url)
            yield rule.endpoint, method, url


def test_every_route_has_a_policy(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(ACCESS) == set(), "decide who may use these routes"
    assert set(ACCESS) - endpoints == set(), "stale policy entries"


def _expected(policy, role, method, endpoint):
    """The set of acceptable status codes."""
    signed_in = role != "guest"
    denied_html = {302}  # to the sign-in page
    if policy == "public":
        return None  # anything but an auth failure
    if policy in ("signed_in", "owner"):
        if not signed_in:
            return denied_html
        return {404} if policy == "owner" else None
    if policy == "admin":
        if not signed_in:
            return denied_html
        return None if role == "admin" else {403}
    if policy in ("author", "staff"):
        if not signed_in:
            return denied_html
        allowed = {"author": ("instructor", "admin"), "staff": ("moderator", "admin")}[policy]
        return None if role in allowed else {403}
    if policy == "author_json":
        if not signed_in:
            return {401}
        return None if role in ("instructor", "admin") else {403}
    if policy == "signed_url":
        return {403}
    if policy in ("token", "token_owner"):
        if not signed_in:
            return {401}
        return {404} if policy == "token_owner" else None
    raise AssertionError(policy)


@pytest.mark.parametrize("role", ROLES)
def test_route_role_matrix(role, app, users, api):
    client = app.test_client()
    token = None
    if role != "guest":
        user = users.create(role)
        assert (
            client.submit(
                "/signin", {"email": user.email, "password": "a quiet river at dawn"}
            ).status_code
            == 302
        )
        token = api.login(user.email)["access_token"]
    failures = []
    for endpoint, method, url in _routes(app):
        if endpoint in ("auth.logout", "account.delete", "api.delete_account", "api.logout"):
            continue  # they end the session; covered in their own tests
        policy = ACCESS[endpoint]
        headers = {}
        kwargs = {}
        if endpoint.startswith("api."):
            if token:
                headers["Authorization"] = f"Bearer {token}"
            if method in ("POST", "PUT", "DELETE"):
                kwargs["json"] = {}
        elif method == "POST":
            kwargs["data"] = {"csrf_token": client.csrf_token()}
        response = client.open(url, method=method, headers=headers, **kwargs)
        response.close()
        expected = _expected(policy, role, method, endpoint)
        status = response.status_code
        if expected is None:
            ok = status not in (401, 403) and not (
                status == 302 and "/signin" in response.headers.get("Location", "")
            )
            ok = ok and status < 500
        else:
            ok = status in expected
            if status == 302:
                ok = ok and "/signin" in response.headers["Location"]
        if not ok:
            failures.append(f"{role} {method} {url} ({policy}) -> {status}")
    assert failures == []
