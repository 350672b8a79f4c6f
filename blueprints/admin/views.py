"""Admin pages: find users, change their roles and storage quotas; event health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from app.accounts import administration, lookup
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.events.admin import (
    clear_stopped_workers,
    dead_events,
    event_health,
    replay_dead_letter,
    retry_dead_event,
)
from app.extensions import db
from app.media.rules import QUOTA_MAX_GB, GiB
from app.roles import Role
from app.web import flash_error, guard_blueprint, render, submit_form
from blueprints.forms import ConfirmForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r.value, r.value.title()) for r in Role])


class QuotaForm(FlaskForm):
    quota = IntegerField(
        "Storage quota (GB)",
        validators=[Optional(), NumberRange(min=0, max=QUOTA_MAX_GB)],
        description="Leave empty for the default for everyone.",
    )


guard_blueprint(bp, "admin.use")  # admins only; everyone else gets 403


@bp.route("/users")
def users() -> Any:
    """Search users by name or email (live with htmx, a plain GET form without)."""
    query = request.args.get("q", "", type=str)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    result = administration.search_users(current_user, query, page)
    return render(
        "admin/users.html", "admin/partials/rows.html", q=query, result=result, role_form=RoleForm
    )


@bp.route("/users/<user_id>/role", methods=["POST"])
def set_role(user_id: str) -> Any:
    """Change one user's role."""
    target = lookup.get_user(user_id)
    if target is None:
        raise NotFound("No such user.")
    form = RoleForm()
    if form.validate_on_submit():
        try:
            administration.set_role(current_user, target, form.role.data)
        except (Forbidden, ValidationFailed) as exc:
            db.session.rollback()
            flash_error(exc)
        else:
            db.session.commit()
            flash(f"{target.name} is now {target.role}.", "success")
    else:
        flash("Choose a valid role.", "error")
    return redirect(url_for("admin.users", q=request.args.get("q", "")), 303)


@bp.route("/users/<user_id>/storage", methods=["GET", "POST"])
def storage(user_id: str) -> Any:
    """What an instructor stores, and their own quota."""
    from app.media.uploads import quota_for, usage

    target = lookup.get_user(user_id)
    if target is None:
        raise NotFound("No such user.")
    form = QuotaForm()
    if request.method == "GET" and target.storage_quota_bytes is not None:
        form.quota.data = target.storage_quota_bytes // GiB

    def save() -> Any:
        administration.set_storage_quota(current_user, target, form.quota.data)
        db.session.commit()
        flash(f"Storage quota of {target.name} saved.", "success")
        return redirect(url_for("admin.storage", user_id=target.id), 303)

    done, status = submit_form(form, save)
    uid = str(target.id)
    return done or render(
        "admin/storage.html",
        target=target,
        form=form,
        used=usage(uid),
        quota=quota_for(uid),
        default=current_app.config["STORAGE_QUOTA_BYTES"],
        status=status,
    )


@bp.route("/events")
def events() -> Any:
    """Outbox backlog and age, consumer groups' backlog, workers with their lag, dead
    letters with a replay button."""
    return render(
        "admin/events.html",
        health=event_health(groups=True),
        dead_events=dead_events(),
        confirm=ConfirmForm(),
        heartbeat_retention_hours=int(
            current_app.config["WORKER_HEARTBEAT_RETENTION"].total_seconds() // 3600
        ),
    )


@bp.route("/events/dead-letters/<int:letter_id>/replay", methods=["POST"])
def replay(letter_id: int) -> Any:
    """Publish a dead letter to its original topic again."""
    if ConfirmForm().validate_on_submit():
        try:
            replay_dead_letter(letter_id)
        except (Conflict, NotFound) as exc:
            flash(exc.message, "error")
        else:
            flash("Replayed: the workers will handle the message again.", "success")
    return redirect(url_for("admin.events"), 303)


@bp.route("/events/workers/clear", methods=["POST"])
def clear_workers() -> Any:
    """Forget the workers that are stopped or silent."""
    if ConfirmForm().validate_on_submit():
        cleared = clear_stopped_workers()
        db.session.commit()
        flash(
            f"Cleared {cleared} stopped or silent worker{'' if cleared == 1 else 's'}.", "success"
        )
    return redirect(url_for("admin.events"), 303)


@bp.route("/events/outboxes/<outbox>/<event_id>/retry", methods=["POST"])
def retry(outbox: str, event_id: str) -> Any:
    """Give a dead event of one outbox another round of attempts."""
    if ConfirmForm().validate_on_submit():
        retry_dead_event(outbox, event_id)
        flash("The event will be delivered again.", "success")
    return redirect(url_for("admin.events"), 303)
