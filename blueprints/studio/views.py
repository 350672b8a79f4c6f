"""The instructor studio: courses, sections and lessons in order, workflow, dashboard
(a lesson's file: blueprints/studio/media.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.courses import outline, quizzes, stats, studio, trash, workflow
from app.courses.documents import Course
from app.courses.rules import KINDS
from app.errors import Conflict, NotFound, ValidationFailed
from app.media import uploads
from app.media.images import ImageRejected, read_limited
from app.media.rules import UPLOAD_KINDS
from app.policies import can
from app.web import flash_error, render, submit_form
from blueprints.forms import ConfirmForm
from blueprints.studio import bp
from blueprints.studio.charts import bar_chart, column_chart
from blueprints.studio.forms import (
    CourseForm,
    LessonForm,
    MediaForm,
    SectionForm,
    parse_quiz_text,
    quiz_text,
)
from blueprints.studio.media import media_panel


def _back(slug: str, anchor: str | None = None) -> Any:
    return redirect(url_for("studio.edit", slug=slug, _anchor=anchor), 303)


@bp.route("/")
def index() -> Any:
    """The instructor's courses."""
    me = str(current_user.id)
    return render(
        "studio/index.html",
        courses=studio.instructor_courses(current_user),
        used=uploads.usage(me),
        quota=uploads.quota_for(me),
    )


@bp.route("/new", methods=["GET", "POST"])
def create() -> Any:
    """Start a new course (a draft)."""
    form = CourseForm()

    def start() -> Any:
        course = studio.create_course(current_user, form.data)
        flash("Course created. Add sections and lessons next.", "success")
        return _back(course.slug)

    done, status = submit_form(form, start)
    return done or render("studio/course_form.html", form=form, course=None, status=status)


@bp.route("/<slug>", methods=["GET", "POST"])
def edit(slug: str) -> Any:
    """Edit a course's details and see its outline."""
    course = studio.access_editable(current_user, slug)
    form = CourseForm(obj=course)
    if request.method == "GET":
        form.tags.data = ", ".join(course.tags)  # the list, as the text field shows it

    def save() -> Any:
        studio.update_course(current_user, course, form.data)
        flash("Course details saved.", "success")
        return _back(course.slug)

    done, status = submit_form(form, save)
    return done or render(
        "studio/edit.html",
        form=form,
        course=course,
        section_form=SectionForm(prefix="section"),
        confirm=ConfirmForm(),
        media_form=MediaForm(),
        trash=trash.trash_entries(current_user, course),
        status=status,
    )


@bp.route("/<slug>/cover", methods=["POST"])
def cover(slug: str) -> Any:
    """Upload the course's cover image."""
    course = studio.access_editable(current_user, slug)
    form = MediaForm()
    if form.validate_on_submit() and form.file.data:
        try:
            data = read_limited(form.file.data.stream, current_app.config["AVATAR_MAX_BYTES"] * 2)
            studio.set_cover(current_user, course, data)
        except ImageRejected as exc:
            flash(str(exc), "error")
        except ValidationFailed as exc:
            flash_error(exc)
        else:
            flash("Cover image updated.", "success")
    return _back(course.slug)


@bp.route("/<slug>/sections", methods=["POST"])
def add_section(slug: str) -> Any:
    course = studio.access_editable(current_user, slug)
    form = SectionForm(prefix="section")
    if form.validate_on_submit():
        try:
            section = studio.add_section(current_user, course, form.title.data)
        except ValidationFailed as exc:
            flash_error(exc)
        else:
            return _back(course.slug, f"section-{section.id}")
    else:
        flash("Give the section a title.", "error")
    return _back(course.slug)


def _change(slug: str, anchor: str, change: Callable[..., Any], *args: Any) -> Any:
    """A small change posted from the course page (rename, move, submit): the service
    `change(actor, course, *args)`, then back to the course page at `anchor`, with the
    service's complaint if it refused."""
    course = studio.access_editable(current_user, slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        change(current_user, course, *args)
    except (ValidationFailed, Conflict) as exc:
        flash_error(exc)
    return _back(course.slug, anchor)


@bp.route("/<slug>/sections/<section_id>/rename", methods=["POST"])
def rename_section(slug: str, section_id: str) -> Any:
    """Give a section a new title."""
    title = request.form.get("title")
    return _change(slug, f"section-{section_id}", studio.rename_section, section_id, title)


@bp.route("/<slug>/sections/<section_id>/move", methods=["POST"])
def move_section(slug: str, section_id: str) -> Any:
    """Move a section up or down."""
    direction = request.form.get("direction")
    return _change(slug, f"section-{section_id}", studio.move_section, section_id, direction)


@bp.route("/<slug>/sections/<section_id>/delete", methods=["GET", "POST"])
def delete_section(slug: str, section_id: str) -> Any:
    """Say what a section holds and ask (GET); move it, its lessons and files to the
    course's trash (POST)."""
    course = studio.access_editable(current_user, slug)
    section = outline.find_section(course, section_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        studio.delete_section(current_user, course, section.id)
        flash(f"Section “{section.title}” moved to the trash. You can restore it.", "info")
        return _back(course.slug, "trash")
    return render(
        "studio/confirm_delete_section.html",
        course=course,
        section=section,
        form=form,
        cancel_url=url_for("studio.edit", slug=course.slug, _anchor=f"section-{section.id}"),
    )


@bp.route("/<slug>/sections/<section_id>/lessons/new", methods=["GET", "POST"])
def new_lesson(slug: str, section_id: str) -> Any:
    """Add a lesson to a section."""
    course = studio.access_editable(current_user, slug)
    section = next((s for s in course.sections if s.id == section_id), None)
    if section is None:
        abort(404)
    form = LessonForm()
    if request.method == "GET" and request.args.get("kind") in KINDS:
        form.kind.data = request.args["kind"]

    def add() -> Any:
        lesson = studio.add_lesson(current_user, course, section_id, _lesson_data(form))
        flash("Lesson added.", "success")
        return redirect(url_for("studio.edit_lesson", slug=slug, lesson_id=lesson.id), 303)

    done, status = submit_form(form, add)
    return done or render(
        "studio/lesson_form.html",
        form=form,
        course=course,
        section=section,
        lesson=None,
        status=status,
    )


def _lesson_data(form: LessonForm) -> dict[str, Any]:
    data = dict(form.data)
    data["questions"] = parse_quiz_text(form.questions.data or "")
    return data


@bp.route("/<slug>/lessons/<lesson_id>", methods=["GET", "POST"])
def edit_lesson(slug: str, lesson_id: str) -> Any:
    """Edit a lesson; attach its video or file."""
    course = studio.access_editable(current_user, slug)
    found = course.find_lesson(lesson_id)
    if found is None:
        abort(404)
    section, lesson = found
    form = LessonForm(obj=lesson)
    if request.method == "GET":
        form.questions.data = quiz_text(lesson.questions)

    def save() -> Any:
        studio.update_lesson(current_user, course, lesson_id, _lesson_data(form))
        flash("Lesson saved.", "success")
        return redirect(url_for("studio.edit_lesson", slug=slug, lesson_id=lesson_id), 303)

    done, status = submit_form(form, save)
    return done or render(
        "studio/lesson_form.html",
        form=form,
        course=course,
        section=section,
        lesson=lesson,
        media=media_panel(course, lesson) if lesson.kind in UPLOAD_KINDS else None,
        confirm=ConfirmForm(),
        status=status,
    )


@bp.route("/<slug>/lessons/<lesson_id>/move", methods=["POST"])
def move_lesson(slug: str, lesson_id: str) -> Any:
    """Move a lesson up or down (past the end of its section, into the next one)."""
    direction = request.form.get("direction")
    return _change(slug, "outline", studio.move_lesson, lesson_id, direction)


@bp.route("/<slug>/lessons/<lesson_id>/attempts")
def quiz_attempts(slug: str, lesson_id: str) -> Any:
    """Who has attempted a quiz, with their scores; reset one learner's attempts."""
    course = studio.access_editable(current_user, slug)
    rows = quizzes.learners_attempts(current_user, course, lesson_id)  # checks the lesson
    _, lesson = course.find_lesson(lesson_id)  # type: ignore[misc]
    return render(
        "studio/quiz_attempts.html", course=course, lesson=lesson, rows=rows, confirm=ConfirmForm()
    )


@bp.route("/<slug>/lessons/<lesson_id>/attempts/reset", methods=["POST"])
def reset_quiz_attempts(slug: str, lesson_id: str) -> Any:
    """Give one learner a fresh set of attempts at a quiz."""
    course = studio.access_editable(current_user, slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    quizzes.reset_attempts(current_user, course, lesson_id, request.form.get("learner_id"))
    flash("Their attempts are reset: they can take the quiz again.", "success")
    return redirect(url_for("studio.quiz_attempts", slug=slug, lesson_id=lesson_id), 303)


@bp.route("/<slug>/lessons/<lesson_id>/delete", methods=["GET", "POST"])
def delete_lesson(slug: str, lesson_id: str) -> Any:
    """Say what goes and ask (GET); move the lesson and its file to the trash (POST)."""
    course = studio.access_editable(current_user, slug)
    section, lesson = outline.find_lesson(course, lesson_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        studio.delete_lesson(current_user, course, lesson.id)
        flash(f"Lesson “{lesson.title}” moved to the trash. You can restore it.", "info")
        return _back(course.slug, "trash")
    return render(
        "studio/confirm_delete_lesson.html",
        course=course,
        section=section,
        lesson=lesson,
        form=form,
        cancel_url=url_for("studio.edit_lesson", slug=course.slug, lesson_id=lesson.id),
    )


@bp.route("/<slug>/trash/<item_id>/restore", methods=["POST"])
def restore(slug: str, item_id: str) -> Any:
    """Put a deleted section or lesson back into the outline."""
    course = studio.access_editable(current_user, slug)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        item = trash.restore_from_trash(
            current_user, course, item_id, request.form.get("section") or None
        )
    except (NotFound, Conflict, ValidationFailed) as exc:
        flash_error(exc)
        return _back(course.slug, "trash")
    flash(f"“{item.title}” is back in the course.", "success")
    anchor = f"section-{item.section.id}" if item.section else "outline"
    return _back(course.slug, anchor)


@bp.route("/<slug>/submit", methods=["POST"])
def submit(slug: str) -> Any:
    """Ask the moderators to publish the course."""

    def submit_course(actor: Any, course: Course) -> None:
        workflow.submit_for_review(actor, course)
        flash("Submitted. A moderator will review the course.", "success")

    return _change(slug, "workflow", submit_course)


@bp.route("/<slug>/withdraw", methods=["POST"])
def withdraw(slug: str) -> Any:
    """Take a submission back to edit the course."""

    def withdraw_course(actor: Any, course: Course) -> None:
        workflow.withdraw(actor, course)
        flash("Submission withdrawn; the course is a draft again.", "info")

    return _change(slug, "workflow", withdraw_course)


@bp.route("/<slug>/unpublish", methods=["GET", "POST"])
def unpublish(slug: str) -> Any:
    """Say what unpublishing does and ask (GET); take the course out of the catalog (POST)."""
    course = studio.access_editable(current_user, slug)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            workflow.unpublish(current_user, course)
        except Conflict as exc:
            flash_error(exc)
        else:
            flash("The course is unpublished.", "info")
        return _back(course.slug)
    return render(
        "studio/confirm_unpublish.html",
        course=course,
        form=form,
        cancel_url=url_for("studio.edit", slug=course.slug),
    )


@bp.route("/<slug>/delete", methods=["GET", "POST"])
def delete_course(slug: str) -> Any:
    """Say what deleting a course does and ask (GET); delete it for good (POST)."""
    course = studio.access_editable(current_user, slug)
    form = ConfirmForm()
    allowed = can(current_user, "course.delete", course)
    if allowed and form.validate_on_submit():
        files = workflow.delete_course(current_user, course)
        flash(
            f"“{course.title}” is deleted"
            + (f", and its {files} file{'' if files == 1 else 's'} with it." if files else "."),
            "success",
        )
        return redirect(url_for("studio.index"), 303)
    return render(
        "studio/confirm_delete_course.html",
        course=course,
        form=form,
        allowed=allowed,
        cancel_url=url_for("studio.edit", slug=course.slug),
        status=403 if request.method == "POST" and not allowed else 200,
    )


@bp.route("/<slug>/dashboard")
def dashboard(slug: str) -> Any:
    """Enrolments over time, completion rate, and where learners stop."""
    course = studio.access_editable(current_user, slug)
    figures = stats.course_dashboard(current_user, course)
    per_day = column_chart([(day[5:], n) for day, n in figures.per_day])
    stops = bar_chart([(title, n) for _, title, n in figures.stops])
    return render(
        "studio/dashboard.html", course=course, stats=figures, per_day=per_day, stops=stops
    )
