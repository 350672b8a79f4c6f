"""Moderators' queue: courses in review and reported reviews."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from app.courses import catalog, reviews, workflow
from app.errors import Conflict, ValidationFailed
from app.web import flash_error, guard_blueprint, render
from blueprints.forms import ConfirmForm, NoteForm

bp = Blueprint("moderation", __name__, url_prefix="/moderation")


guard_blueprint(bp, "moderation.use")  # moderators and admins only


@bp.route("/")
def queue() -> Any:
    """What needs a moderator's eye."""
    return render(
        "moderation/queue.html",
        courses=workflow.review_queue(current_user),
        reported=reviews.reported_reviews(current_user),
        confirm=ConfirmForm(),
        note_form=NoteForm(),
    )


@bp.route("/courses/<slug>", methods=["POST"])
def decide(slug: str) -> Any:
    """Approve (publish) a course in review, or send it back with a note."""
    course = catalog.access_course(current_user, slug)
    form = NoteForm()
    if not form.validate_on_submit():
        abort(400)
    action = request.form.get("action")
    try:
        if action == "approve":
            workflow.approve(current_user, course)
            flash(f"“{course.title}” is published.", "success")
        elif action == "reject":
            workflow.reject(current_user, course, form.note.data)
            flash(f"“{course.title}” went back to its instructor.", "info")
        else:
            abort(400)
    except (ValidationFailed, Conflict) as exc:
        flash_error(exc)
    return redirect(url_for("moderation.queue"), 303)


@bp.route("/reviews/<review_id>", methods=["POST"])
def review_action(review_id: str) -> Any:
    """Hide a reported review, or keep it (clearing the reports)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    action = request.form.get("action")
    if action not in ("hide", "keep"):
        abort(400)
    reviews.set_hidden(current_user, review_id, hidden=action == "hide")
    flash("Review hidden." if action == "hide" else "Review kept; reports cleared.", "info")
    return redirect(url_for("moderation.queue"), 303)


@bp.route("/courses/<slug>/unpublish", methods=["GET", "POST"])
def unpublish(slug: str) -> Any:
    """Say what unpublishing does and take a note (GET); take the course out of the
    catalog, the note going to its instructor (POST)."""
    course = catalog.access_course(current_user, slug)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            workflow.unpublish(current_user, course, form.note.data or "")
        except (ValidationFailed, Conflict) as exc:
            flash_error(exc)
        else:
            flash(f"“{course.title}” is unpublished.", "info")
        return redirect(url_for("courses.show", slug=course.slug), 303)
    return render(
        "moderation/confirm_unpublish.html",
        course=course,
        form=form,
        cancel_url=url_for("courses.show", slug=course.slug),
    )
