"""Learning pages: "My learning", the lesson player, progress, quizzes, certificates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.courses import catalog, learning
from app.errors import ValidationFailed
from app.text import render_markdown
from app.web import render
from blueprints.auth.forms import ConfirmForm

bp = Blueprint("learn", __name__)


@bp.route("/learn")
@login_required
def dashboard() -> Any:
    """The learner's courses with progress and a "continue" link for each."""
    return render("learn/dashboard.html", items=learning.my_enrollments(current_user))


@bp.route("/courses/<slug>/continue")
@login_required
def resume(slug: str) -> Any:
    """Go to where the learner left off."""
    course = catalog.access_course(current_user, slug)
    point = learning.resume_point(course, learning.get_enrollment(current_user, course))
    if point is None:
        flash("This course has no lessons yet.", "info")
        return redirect(url_for("courses.show", slug=slug))
    return redirect(url_for("learn.lesson", slug=slug, lesson_id=point[1].id))


def _lesson_context(view: learning.LessonView, **extra: Any) -> dict[str, Any]:
    lesson = view.lesson
    media_url = learning.media_url(lesson)
    progress = view.enrollment.progress.get(lesson.id) if view.enrollment else None
    attempts = (
        learning.attempts_for(current_user, view.course, lesson)
        if lesson.kind == "quiz" and view.enrollment
        else []
    )
    return {
        "view": view,
        "course": view.course,
        "lesson": lesson,
        "media_url": media_url,
        "progress": progress,
        "body_html": render_markdown(lesson.body),
        "attempts": attempts,
        "confirm": ConfirmForm(),
        "graded": None,
        **extra,
    }


@bp.route("/courses/<slug>/lessons/<lesson_id>")
def lesson(slug: str, lesson_id: str) -> Any:
    """The lesson player for any kind of lesson."""
    course = catalog.access_course(current_user, slug)
    view = learning.access_lesson(current_user, course, lesson_id)
    learning.record_visit(view)
    return render("learn/lesson.html", **_lesson_context(view))


@bp.route("/courses/<slug>/lessons/<lesson_id>/complete", methods=["POST"])
@login_required
def complete(slug: str, lesson_id: str) -> Any:
    """Mark a lesson complete or not complete."""
    course = catalog.access_course(current_user, slug)
    if ConfirmForm().validate_on_submit():
        done = request.form.get("completed", "1") == "1"
        learning.record_progress(current_user, course, lesson_id, completed=done)
        # The status region itself says when the course is complete (no flash: an htmx
        # answer would not show it, and it would pop up later on another page).
        view = learning.access_lesson(current_user, course, lesson_id)
        return render(
            "learn/lesson.html", "learn/partials/lesson_status.html", **_lesson_context(view)
        )
    return redirect(url_for("learn.lesson", slug=slug, lesson_id=lesson_id), 303)


@bp.route("/courses/<slug>/lessons/<lesson_id>/quiz", methods=["POST"])
@login_required
def quiz(slug: str, lesson_id: str) -> Any:
    """Grade a quiz attempt and show the feedback."""
    course = catalog.access_course(current_user, slug)
    view = learning.access_lesson(current_user, course, lesson_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("learn.lesson", slug=slug, lesson_id=lesson_id), 303)
    answers = {q.id: request.form.getlist(f"q-{q.id}") for q in view.lesson.questions}
    answers = {k: v for k, v in answers.items() if v}
    try:
        attempt, graded = learning.submit_quiz(current_user, course, lesson_id, answers)
    except ValidationFailed as exc:
        flash(next(iter(exc.fields.values()), exc.message), "error")
        return redirect(url_for("learn.lesson", slug=slug, lesson_id=lesson_id), 303)
    view = learning.access_lesson(current_user, course, lesson_id)
    return render(
        "learn/lesson.html",
        "learn/partials/quiz_response.html",
        **_lesson_context(view, graded=graded, attempt=attempt),
    )


@bp.route("/courses/<slug>/certificate")
@login_required
def my_certificate(slug: str) -> Any:
    """The learner's certificate of this course, if earned."""
    course = catalog.access_course(current_user, slug)
    enrollment = learning.get_enrollment(current_user, course)
    if enrollment is None or not enrollment.certificate_code:
        flash("Finish every lesson to earn the certificate.", "info")
        return redirect(url_for("courses.show", slug=slug))
    return redirect(url_for("courses.certificate", code=enrollment.certificate_code))


@bp.route("/courses/<slug>/lessons/<lesson_id>/position", methods=["POST"])
@login_required
def position(slug: str, lesson_id: str) -> Any:
    """Remember where the video is (sent by static/js/player.js while it plays)."""
    course = catalog.access_course(current_user, slug)
    if not ConfirmForm().validate_on_submit():
        return "", 400
    try:
        seconds = int(float(request.form.get("position_seconds", "")))
    except (ValueError, OverflowError):  # "abc", "inf", "1e400"
        return "", 422
    try:
        learning.record_progress(current_user, course, lesson_id, position_seconds=seconds)
    except ValidationFailed:
        return "", 422
    return "", 204
