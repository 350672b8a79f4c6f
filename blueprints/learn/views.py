"""Learning pages: "My learning", the lesson player, progress, quizzes, certificates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.courses import catalog, learning, lesson_media, quizzes
from app.errors import Conflict, RateLimited, ValidationFailed
from app.text import render_markdown
from app.web import fragment_or_redirect, is_partial_request, render
from blueprints.forms import ConfirmForm

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
    progress = view.enrollment.progress.get(lesson.id) if view.enrollment else None
    context: dict[str, Any] = {
        "view": view,
        "course": view.course,
        "lesson": lesson,
        "media_url": lesson_media.media_url(lesson),
        "hls_url": lesson_media.hls_url(lesson),
        "progress": progress,
        "body_html": render_markdown(lesson.body),
        "confirm": ConfirmForm(),
        "result": None,
        "answer_errors": {},
        "picked": {},
    }
    if lesson.kind == "quiz":
        context.update(
            questions=quizzes.presented_questions(view, current_user),
            quiz_state=quizzes.quiz_state(lesson, view.enrollment),
            attempts=quizzes.recent_attempts(current_user, view) if view.enrollment else [],
        )
    context.update(extra)
    return context


def _lesson_url(slug: str, lesson_id: str, **args: Any) -> str:
    return url_for("learn.lesson", slug=slug, lesson_id=lesson_id, **args)


def _back_to_lesson(slug: str, lesson_id: str, **args: Any) -> Any:
    """Post/redirect/get: a reload after a form post shows the page, never posts again."""
    return redirect(_lesson_url(slug, lesson_id, **args), 303)


@bp.route("/courses/<slug>/lessons/<lesson_id>")
def lesson(slug: str, lesson_id: str) -> Any:
    """The lesson player for any kind of lesson (with an attempt's result: ?attempt=<id>)."""
    view = learning.open_lesson(current_user, slug, lesson_id)
    result = None
    if view.lesson.kind == "quiz" and request.args.get("attempt"):
        result = quizzes.attempt_result(current_user, view, request.args["attempt"])
    return render("learn/lesson.html", **_lesson_context(view, result=result))


@bp.route("/courses/<slug>/lessons/<lesson_id>/complete", methods=["POST"])
@login_required
def complete(slug: str, lesson_id: str) -> Any:
    """Mark a lesson complete or not complete."""
    course = catalog.access_course(current_user, slug)
    if ConfirmForm().validate_on_submit():
        done = request.form.get("completed", "1") == "1"
        learning.record_progress(current_user, course, lesson_id, completed=done)
        # The status region says when the course is complete (no flash: an htmx answer
        # would not show it); the outline's ticks follow out of band.
        view = learning.access_lesson(current_user, course, lesson_id)
        return fragment_or_redirect(
            "learn/partials/status_response.html",
            _lesson_url(slug, lesson_id),
            **_lesson_context(view),
        )
    return _back_to_lesson(slug, lesson_id)


@bp.route("/courses/<slug>/lessons/<lesson_id>/quiz", methods=["POST"])
@login_required
def quiz(slug: str, lesson_id: str) -> Any:
    """Grade a quiz attempt and show what the quiz's rules let the learner see."""
    course = catalog.access_course(current_user, slug)
    view = learning.access_lesson(current_user, course, lesson_id)
    if not ConfirmForm().validate_on_submit():
        return _back_to_lesson(slug, lesson_id)
    picked = {q.id: request.form.getlist(f"q-{q.id}") for q in view.lesson.questions}
    answers = {k: v for k, v in picked.items() if v}
    try:
        result = quizzes.submit_quiz(current_user, course, lesson_id, answers)
    except (ValidationFailed, Conflict, RateLimited) as exc:
        if not is_partial_request():
            flash(exc.message, "error")
        view = learning.access_lesson(current_user, course, lesson_id)
        context = _lesson_context(view, answer_errors=exc.fields, picked=picked, notice=exc.message)
        return fragment_or_redirect(
            "learn/partials/quiz.html",
            _lesson_url(slug, lesson_id, _anchor="quiz"),
            # htmx swaps 409 and 422 answers (base.html's responseHandling) but not a 429.
            exc.status if exc.status in (409, 422) else 200,
            **context,
        )
    view = learning.access_lesson(current_user, course, lesson_id)
    return fragment_or_redirect(
        "learn/partials/quiz_response.html",
        _lesson_url(slug, lesson_id, attempt=str(result.attempt.id), _anchor="quiz"),
        **_lesson_context(view, result=result),
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
