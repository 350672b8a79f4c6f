"""The catalog, course pages, enrolment, reviews and certificate verification."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.courses import catalog, learning, reviews
from app.errors import LecternError, ValidationFailed
from app.web import flash_error, render
from blueprints.courses.forms import ReviewForm
from blueprints.forms import ConfirmForm

bp = Blueprint("courses", __name__)


@bp.route("/courses")
def index() -> Any:
    """Search and browse published courses (live search with htmx; a GET form without)."""
    try:
        query = catalog.parse_catalog_query(request.args)
    except ValidationFailed as exc:
        query = catalog.CatalogQuery()
        flash(
            "Some search options were not valid and were reset: " + ", ".join(exc.fields), "error"
        )
    page = catalog.search_catalog(query)
    return render(
        "courses/index.html",
        "courses/partials/results.html",
        page=page,
        query=query,
    )


@bp.route("/courses/<slug>")
def show(slug: str) -> Any:
    """A course page: description, syllabus, instructor, rating and reviews, enrol button."""
    course = catalog.access_course(current_user, slug)
    enrollment = learning.get_enrollment(current_user, course)
    mine = reviews.my_review(current_user, course)
    form = ReviewForm(
        obj=None, rating=str(mine.rating) if mine else None, body=mine.body if mine else ""
    )
    return render(
        "courses/show.html",
        course=course,
        enrollment=enrollment,
        reviews=reviews.course_reviews(course),
        my_review=mine,
        review_form=form,
        confirm=ConfirmForm(),
        resume=learning.resume_point(course, enrollment),
        preview=request.args.get("preview") == "1",
    )


@bp.route("/courses/<slug>/enroll", methods=["POST"])
@login_required
def enroll(slug: str) -> Any:
    """Enrol for free, then start learning."""
    course = catalog.access_course(current_user, slug)
    if ConfirmForm().validate_on_submit():
        _, created = learning.do_enroll(current_user, course)
        flash(
            "You are enrolled. Enjoy the course!" if created else "You were already enrolled.",
            "success",
        )
        return redirect(url_for("learn.resume", slug=course.slug), 303)
    return redirect(url_for("courses.show", slug=course.slug), 303)


@bp.route("/courses/<slug>/review", methods=["POST"])
@login_required
def review(slug: str) -> Any:
    """Write or edit one's review (enrolled learners only)."""
    course = catalog.access_course(current_user, slug)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            reviews.check_review(current_user, course, form.rating.data, form.body.data)
        except ValidationFailed as exc:
            flash_error(exc)
        else:
            flash("Thank you for your review.", "success")
    else:
        flash("Choose a rating from 1 to 5 stars.", "error")
    return redirect(url_for("courses.show", slug=course.slug, _anchor="reviews"), 303)


@bp.route("/courses/<slug>/review/delete", methods=["GET", "POST"])
@login_required
def delete_review(slug: str) -> Any:
    """Show one's own review and ask (GET); remove it (POST)."""
    course = catalog.access_course(current_user, slug)
    form = ConfirmForm()
    if form.validate_on_submit():
        reviews.delete_my_review(current_user, course)
        flash("Your review is removed.", "info")
        return redirect(url_for("courses.show", slug=course.slug, _anchor="reviews"), 303)
    return render(
        "courses/confirm_delete_review.html",
        course=course,
        review=reviews.access_my_review(current_user, course),
        form=form,
        cancel_url=url_for("courses.show", slug=course.slug, _anchor="reviews"),
    )


@bp.route("/reviews/<review_id>/report", methods=["POST"])
@login_required
def report_review(review_id: str) -> Any:
    """Flag a review for the moderators."""
    if ConfirmForm().validate_on_submit():
        try:
            review = reviews.report_review(current_user, review_id)
        except LecternError as exc:
            if exc.status == 404:
                raise
            flash(exc.message, "error")
            return redirect(request.referrer or url_for("courses.index"), 303)
        flash("Thanks. A moderator will look at this review.", "info")
        return redirect(url_for("courses.show_by_id", course_id=review.course_id), 303)
    return redirect(url_for("courses.index"), 303)


@bp.route("/courses/by-id/<course_id>")
def show_by_id(course_id: str) -> Any:
    """Redirect from a course id to its page (used after actions that know only the id)."""
    course = catalog.access_course_by_id(current_user, course_id)
    return redirect(url_for("courses.show", slug=course.slug, _anchor="reviews"), 303)


@bp.route("/certificates/<code>")
def certificate(code: str) -> Any:
    """Public verification page of a certificate."""
    return render("courses/certificate.html", certificate=learning.verify_certificate(code))
