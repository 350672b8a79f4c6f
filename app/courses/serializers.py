"""Public JSON shapes of course objects for the API. Never correct answers, never
private media keys."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.courses.documents import Course, Enrollment, Lesson, LessonProgress
from app.courses.learning import LessonView
from app.courses.quizzes import AttemptResult, QuizState, public_questions, quiz_state
from app.text import render_markdown


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def cover_url(course: Course) -> str | None:
    if not course.cover_key:
        return None
    return f"{current_app.config['PUBLIC_URL']}/media/{course.cover_key}"


def course_summary(course: Course) -> dict[str, Any]:
    return {
        "slug": course.slug,
        "title": course.title,
        "subtitle": course.subtitle,
        "category": course.category,
        "tags": list(course.tags),
        "level": course.level,
        "language": course.language,
        "cover_url": cover_url(course),
        "instructor": {"id": course.instructor.id, "name": course.instructor.name},
        "lesson_count": course.lesson_count,
        "duration_minutes": course.duration_minutes,
        "enrollment_count": course.enrollment_count,
        "rating": {"average": course.rating_avg, "count": course.rating_count},
        "published_at": _iso(course.published_at),
    }


def lesson_outline(lesson: Lesson) -> dict[str, Any]:
    return {
        "id": lesson.id,
        "title": lesson.title,
        "kind": lesson.kind,
        "preview": bool(lesson.preview),
        "duration_minutes": lesson.duration_minutes,
    }


def course_detail(course: Course) -> dict[str, Any]:
    return {
        **course_summary(course),
        "status": course.status,
        "description_html": str(render_markdown(course.description)),
        "sections": [
            {
                "id": s.id,
                "title": s.title,
                "lessons": [lesson_outline(lesson) for lesson in s.lessons],
            }
            for s in course.sections
        ],
    }


def lesson_detail(
    view: LessonView, actor: Any, media_url: str | None, hls_url: str | None = None
) -> dict[str, Any]:
    lesson = view.lesson
    data: dict[str, Any] = {
        **lesson_outline(lesson),
        "body_html": str(render_markdown(lesson.body)),
    }
    if lesson.kind in ("video", "file"):
        data["media"] = {
            "status": lesson.media.status,
            "url": media_url,
            "hls_url": hls_url,
            "filename": lesson.media.filename,
            "content_type": lesson.media.content_type,
        }
    if lesson.kind == "quiz":
        data["quiz"] = {
            "pass_mark": lesson.pass_mark,
            "reveal": lesson.reveal,
            "cooldown_minutes": lesson.cooldown_minutes,
            "shuffle": bool(lesson.shuffle),
            "questions": public_questions(view, actor),
        }
        if view.enrollment is not None:
            data["quiz"]["attempts"] = quiz_state_dict(quiz_state(lesson, view.enrollment))
    return data


def quiz_state_dict(state: QuizState) -> dict[str, Any]:
    return {
        "used": state.attempts_used,
        "max": state.max_attempts or None,
        "left": state.attempts_left,
        "passed": state.passed,
        "retry_after_seconds": state.retry_after_seconds,
        "next_attempt_at": _iso(state.next_attempt_at),
        "answers_revealed": state.reveal,
    }


def progress_dict(lesson_id: str, entry: LessonProgress) -> dict[str, Any]:
    return {
        "lesson_id": lesson_id,
        "completed": bool(entry.completed),
        "position_seconds": entry.position_seconds or 0,
        "completed_at": _iso(entry.completed_at),
        "last_visited_at": _iso(entry.last_visited_at),
    }


def enrollment_dict(enrollment: Enrollment, course: Course | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "course_slug": enrollment.course_slug,
        "enrolled_at": _iso(enrollment.enrolled_at),
        "progress_percent": enrollment.percent,
        "completed_lessons": enrollment.completed_count,
        "last_lesson_id": enrollment.last_lesson_id,
        "completed_at": _iso(enrollment.completed_at),
        "certificate_code": enrollment.certificate_code,
    }
    if course is not None:
        data["course"] = course_summary(course)
    return data


def attempt_dict(result: AttemptResult) -> dict[str, Any]:
    """An attempt's score; the answer key only once the quiz's rule allows it."""
    attempt = result.attempt
    questions: list[dict[str, Any]] = []
    for g in result.graded:
        item: dict[str, Any] = {"id": g.question.id, "picked": g.picked}
        if result.reveal:
            item.update(
                correct=g.correct,
                correct_choices=list(g.question.correct),
                explanation=g.question.explanation,
            )
        questions.append(item)
    return {
        "id": str(attempt.id),
        "lesson_id": attempt.lesson_id,
        "score": attempt.score,
        "passed": attempt.passed,
        "created_at": _iso(attempt.created_at),
        "answers_revealed": result.reveal,
        "questions": questions,
        "attempts": quiz_state_dict(result.state),
    }
