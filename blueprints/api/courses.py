"""Courses for the mobile client: catalog, course, enrolment, lessons, progress, quizzes."""

from __future__ import annotations

from typing import Any

from flask import g, request

from app.courses import catalog, learning, lesson_media, quizzes, rules
from app.courses.documents import ID_PATTERN
from app.courses.rules import LEVELS
from app.courses.serializers import (
    attempt_dict,
    course_detail,
    course_summary,
    enrollment_dict,
    lesson_detail,
    progress_dict,
)
from app.validation import SLUG_PATTERN
from blueprints.api import bp
from blueprints.api import schemas as s
from blueprints.api.core import route

E = s.ERROR
SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": SLUG_PATTERN},
}
LESSON_ID = {
    "name": "lesson_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ID_PATTERN},
}


def _query_param(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": f"{text}. Empty is the same as leaving it out.",
        # The catalog page's form sends its empty fields, and both share one parser.
        "allowEmptyValue": True,
    }


def _text_param(name: str, text: str) -> dict[str, Any]:
    schema = {"type": "string", "maxLength": rules.TEXT_PARAM_MAX}
    return _query_param(name, schema, f"{text}; longer than {rules.TEXT_PARAM_MAX} is a 422")


CATALOG_PARAMS = [
    _text_param("q", "Words to search for (prefixes)"),
    _text_param("category", "Exact category"),
    _query_param("level", {"enum": list(LEVELS)}, "Level"),
    _text_param("language", "Language code, e.g. en"),
    _text_param("tag", "One tag"),
    _query_param("sort", {"enum": list(rules.SORTS)}, "Order; default newest"),
    _query_param("page", {"type": "integer", "minimum": 1, "maximum": rules.MAX_PAGE}, "Default 1"),
    _query_param(
        "per_page",
        {"type": "integer", "minimum": 1, "maximum": rules.MAX_PER_PAGE},
        f"Default {rules.PER_PAGE}",
    ),
]


@route(
    bp,
    "/courses",
    "GET",
    tag="courses",
    auth=False,
    parameters=CATALOG_PARAMS,
    summary="Published courses, searched, filtered, sorted and paged",
    responses={200: ("A page of courses", s.COURSE_PAGE), 422: ("Bad parameters", E)},
)
def list_courses() -> Any:
    query = catalog.parse_catalog_query(request.args)
    page = catalog.search_catalog(query)
    return {
        "items": [course_summary(c) for c in page.items],
        "page": query.page,
        "per_page": query.per_page,
        "total": page.total,
    }


@route(
    bp,
    "/courses/{slug}",
    "GET",
    tag="courses",
    auth=False,
    optional_auth=True,
    parameters=[SLUG],
    summary="A course with its sections and lesson outlines",
    responses={200: ("The course", s.COURSE_ENVELOPE), 404: ("Unknown or not published", E)},
)
def get_course(slug: str) -> Any:
    return {"course": course_detail(catalog.access_course(g.api_user, slug))}


@route(
    bp,
    "/courses/{slug}/enrollment",
    "POST",
    tag="courses",
    parameters=[SLUG],
    summary="Enrol in a course (free); enrolling again changes nothing",
    responses={
        201: ("Enrolled", s.ENROLLMENT_ENVELOPE),
        200: ("Already enrolled", s.ENROLLMENT_ENVELOPE),
        404: ("Unknown course", E),
        409: ("Not open for enrolment", E),
    },
)
def enroll(slug: str) -> Any:
    course = catalog.access_course(g.api_user, slug)
    enrollment, created = learning.do_enroll(g.api_user, course)
    return {"enrollment": enrollment_dict(enrollment, course)}, 201 if created else 200


@route(
    bp,
    "/me/enrollments",
    "GET",
    tag="courses",
    summary="The user's enrolments with course summaries and progress",
    responses={200: ("Enrolments", s.ENROLLMENT_LIST)},
)
def my_enrollments() -> Any:
    items = learning.my_enrollments(g.api_user)
    return {"items": [enrollment_dict(i.enrollment, i.course) for i in items]}


@route(
    bp,
    "/courses/{slug}/lessons/{lesson_id}",
    "GET",
    tag="courses",
    parameters=[SLUG, LESSON_ID],
    summary="A lesson's content; media as a signed URL that expires. Enrolled learners, "
    "the instructor and staff (and anyone signed in, for free previews)",
    responses={
        200: ("The lesson", s.LESSON_ENVELOPE),
        403: ("Not enrolled", E),
        404: ("Unknown course or lesson", E),
    },
)
def get_lesson(slug: str, lesson_id: str) -> Any:
    view = learning.open_lesson(g.api_user, slug, lesson_id)
    url = lesson_media.media_url(view.lesson, absolute=True)  # a mobile client uses it as it is
    hls = lesson_media.hls_url(view.lesson, absolute=True)
    return {"lesson": lesson_detail(view, g.api_user, url, hls)}


@route(
    bp,
    "/courses/{slug}/lessons/{lesson_id}/progress",
    "PUT",
    tag="courses",
    parameters=[SLUG, LESSON_ID],
    body=s.PROGRESS_UPDATE,
    summary="Mark a lesson complete or not, and/or save the video position",
    responses={
        200: ("Progress", s.PROGRESS_ENVELOPE),
        403: ("Not enrolled", E),
        404: ("Unknown course or lesson", E),
        409: (
            "`completed: true` on a quiz lesson not passed yet, or the progress kept "
            "changing in another window",
            E,
        ),
    },
)
def put_progress(slug: str, lesson_id: str) -> Any:
    course = catalog.access_course(g.api_user, slug)
    entry = learning.record_progress(
        g.api_user,
        course,
        lesson_id,
        completed=g.body.get("completed"),
        position_seconds=g.body.get("position_seconds"),
    )
    return {"progress": progress_dict(lesson_id, entry)}


@route(
    bp,
    "/courses/{slug}/lessons/{lesson_id}/quiz-attempts",
    "POST",
    tag="courses",
    parameters=[SLUG, LESSON_ID],
    body=s.QUIZ_ATTEMPT_CREATE,
    summary="Answer a quiz: {question id: choice id or [choice ids]} for every question. "
    "Returns the score; the correct choices and explanations only once the learner has "
    "passed (or after each attempt, if the quiz says so). Attempts are spaced by the quiz's "
    "cool-down and may be capped",
    responses={
        201: ("Graded", s.ATTEMPT_ENVELOPE),
        403: ("Not enrolled", E),
        404: ("Unknown course, lesson or quiz", E),
        409: ("Every attempt allowed has been used; the instructor can reset them", E),
        422: ("A question is unanswered, or an answer names an unknown choice", E),
        429: ("The cool-down between attempts is running; see Retry-After", E),
    },
)
def post_attempt(slug: str, lesson_id: str) -> Any:
    course = catalog.access_course(g.api_user, slug)
    result = quizzes.submit_quiz(g.api_user, course, lesson_id, g.body["answers"])
    return {"attempt": attempt_dict(result)}, 201
