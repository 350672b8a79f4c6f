"""The URLs a learner gets for a lesson's file: the original, signed and expiring, and
a video's HLS master playlist, whose token opens that video's files. Both live long
enough that a learner who pauses is not cut off. Callers have already checked that the
actor may open the lesson (`learning.access_lesson`)."""

from __future__ import annotations

from app.courses.documents import Lesson


def media_url(lesson: Lesson, absolute: bool = False) -> str | None:
    """A signed, expiring URL for the lesson's file once it is ready, else None. Callers
    have already checked that the actor may open the lesson.

    It lives for MEDIA_URL_HOURS, or three times the lesson's length if that is longer,
    so a learner who pauses is not cut off mid-lesson (a page load signs a new one).
    `absolute` for the API: a mobile client uses it as it is."""
    from flask import current_app

    from app.media.storage import storage

    media = lesson.media
    if not (media and media.key and media.status == "ready"):
        return None
    url = storage().delivery_url(media.key, seconds=_url_seconds(lesson), filename=media.filename)
    if absolute and url.startswith("/"):
        url = current_app.config["PUBLIC_URL"] + url
    return url


def hls_url(lesson: Lesson, absolute: bool = False) -> str | None:
    """A signed, expiring URL for a ready video's HLS master playlist (None before the
    media worker made one); it opens that video's playlists and segments and no other.
    Callers have already checked that the actor may open the lesson."""
    from flask import current_app

    from app.media.files import hls_url as signed

    media = lesson.media
    if not (media and media.status == "ready" and media.hls_master):
        return None
    url = signed(media.hls_master, _url_seconds(lesson))
    return current_app.config["PUBLIC_URL"] + url if absolute else url


def _url_seconds(lesson: Lesson) -> int:
    """MEDIA_URL_HOURS, or three times the lesson's length if that is longer."""
    from flask import current_app

    media = lesson.media
    length = max((media.duration_seconds if media else 0) or 0, (lesson.duration_minutes or 0) * 60)
    return max(int(current_app.config["MEDIA_URL_HOURS"]) * 3600, 3 * length)
