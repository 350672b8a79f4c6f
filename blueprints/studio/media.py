"""A lesson's file in the studio: the panel on the lesson page (what learners get, the
upload on its way, limits and quota), its status polled by htmx, cancelling, and the
plain form's upload without JavaScript (to the app, or to the bucket and back)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from app.courses import studio
from app.courses.documents import Course
from app.courses.outline import find_lesson
from app.errors import LecternError, NotFound, TooLarge
from app.extensions import csrf
from app.media import uploads
from app.media.documents import MediaUpload
from app.media.rules import UPLOAD_KINDS, VIDEO_TYPES
from app.media.storage import storage
from app.security import stage_uploads
from app.text import format_bytes
from app.web import flash_error, is_partial_request, render
from blueprints.studio import bp

FORM_OVERHEAD = 64 * 1024  # a form's other fields and part headers, around its file


def upload_lesson(course: Course, lesson_id: str) -> Any:
    """The lesson, if it takes files (a video or file lesson); else NotFound."""
    _, lesson = find_lesson(course, lesson_id)
    if lesson.kind not in UPLOAD_KINDS:
        raise NotFound("This lesson takes no file.")
    return lesson


def media_panel(course: Course, lesson: Any, with_form: bool = True) -> dict[str, Any]:
    """What the lesson page's file panel shows, and what its upload form and script need:
    the file learners get, the one on its way (polled while it moves), the limits, and
    how the bytes travel (tus to the app, or parts and a plain form to the bucket)."""
    owner = course.instructor.id
    used, quota = uploads.usage(owner), uploads.quota_for(owner)
    engine = storage().engine
    panel: dict[str, Any] = status_panel(course, lesson) | {
        "limit": uploads.max_bytes(lesson.kind),
        "used": used,
        "quota": quota,
        "engine": engine,
        "accept": ",".join(f".{ext}" for ext in VIDEO_TYPES) if lesson.kind == "video" else "",
        "form_action": url_for("studio.lesson_media", slug=course.slug, lesson_id=lesson.id),
        "form_fields": {},
    }
    if engine == "s3" and with_form:  # a plain form posts straight to the bucket

        def back_here(token: str) -> str:
            return url_for(
                "studio.media_returned",
                slug=course.slug,
                lesson_id=lesson.id,
                token=token,
                _external=True,
            )

        post = uploads.form_fields(current_user, course, lesson, back_here)
        panel["form_action"], panel["form_fields"] = post["url"], post["fields"]
    return panel


def status_panel(course: Course, lesson: Any) -> dict[str, Any]:
    """What the status region needs: the upload on its way and the bytes it has (the
    polled fragment asks for nothing more: no quota scan, no presigned form)."""
    upload = uploads.lesson_upload(course, lesson)
    return {"upload": upload, "received": uploads.received_bytes(upload) if upload else 0}


@bp.route("/<slug>/lessons/<lesson_id>/media/status")
def media_status(slug: str, lesson_id: str) -> Any:
    """The file panel's status, polled by htmx while an upload or its processing moves
    (the answer stops the polling once nothing does)."""
    course = studio.access_editable(current_user, slug)
    lesson = upload_lesson(course, lesson_id)
    if not is_partial_request():
        return redirect(url_for("studio.edit_lesson", slug=slug, lesson_id=lesson_id))
    return render(
        "studio/_media_status.html",
        course=course,
        lesson=lesson,
        media=status_panel(course, lesson),
    )


@bp.route("/<slug>/lessons/<lesson_id>/media/cancel", methods=["POST"])
def cancel_upload(slug: str, lesson_id: str) -> Any:
    """Stop the upload on its way into the lesson (the script cancels through
    /uploads; this is the same for a page without it)."""
    course = studio.access_editable(current_user, slug)
    lesson = upload_lesson(course, lesson_id)
    upload = uploads.lesson_upload(course, lesson)
    if upload is not None:
        uploads.cancel(upload)
        flash("Upload cancelled. The lesson keeps its previous file, if it had one.", "success")
    return redirect(url_for("studio.edit_lesson", slug=slug, lesson_id=lesson_id), 303)


@bp.route("/<slug>/lessons/<lesson_id>/media/retry", methods=["POST"])
def retry_media(slug: str, lesson_id: str) -> Any:
    """Hand a file the media worker failed on, for a reason of its own, to it again."""
    course = studio.access_editable(current_user, slug)
    lesson = upload_lesson(course, lesson_id)
    try:
        uploads.retry(current_user, course, lesson)
    except LecternError as exc:
        flash_error(exc)
    else:
        flash("Trying again. The status below follows it.", "success")
    return redirect(url_for("studio.edit_lesson", slug=slug, lesson_id=lesson_id), 303)


@bp.route("/<slug>/lessons/<lesson_id>/media/returned")
def media_returned(slug: str, lesson_id: str) -> Any:
    """Where the bucket sends the browser back after a plain form's upload (S3 can only
    redirect with a GET). The signed token names the file, so the request cannot name
    another; recording it twice changes nothing."""
    course = studio.access_editable(current_user, slug)
    upload_lesson(course, lesson_id)
    key = uploads.form_key(current_user, course, lesson_id, request.args.get("token"))
    _received(lambda: uploads.form_returned(current_user, course, lesson_id, key))
    return redirect(url_for("studio.edit_lesson", slug=slug, lesson_id=lesson_id), 303)


@bp.route("/<slug>/lessons/<lesson_id>/media", methods=["POST"])
@csrf.exempt  # checked below, once the request's size limit is known
def lesson_media(slug: str, lesson_id: str) -> Any:
    """Upload a lesson's file with a plain form (the page's script uses the resumable
    transports instead): streamed to a staging file, never held in memory, then checked
    and stored like any upload."""
    course = studio.access_editable(current_user, slug)
    lesson = upload_lesson(course, lesson_id)
    back = redirect(url_for("studio.edit_lesson", slug=slug, lesson_id=lesson_id), 303)
    limit, why = uploads.form_limit(course, lesson)
    request.max_content_length = limit + FORM_OVERHEAD
    stage_uploads()
    try:
        csrf.protect()  # reads the form: the file streams to staging, 413 past the limit
    except RequestEntityTooLarge as exc:
        raise TooLarge(f"The file is larger than {format_bytes(limit)}, {why}.") from exc
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        flash("Choose a file to upload.", "error")
        return back
    sent.stream.close()
    path = Path(sent.stream.name)
    _received(lambda: uploads.receive_file(current_user, course, lesson_id, path, sent.filename))
    return back


def _received(receive: Callable[[], MediaUpload]) -> None:
    """Take a plain form's file, and say how it went."""
    try:
        upload = receive()
    except LecternError as exc:
        flash_error(exc)
        return
    if upload.state == "complete":
        flash("File uploaded. It will be ready for learners in a moment.", "success")
    else:
        flash(upload.error or "The file could not be used.", "error")
