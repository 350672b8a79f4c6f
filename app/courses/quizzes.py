"""Quizzes: attempts, grading, and when a learner may see the answer key.

The rules that make a certificate mean something, in one place for the lesson
page and the API:

- every question must be answered;
- attempts are spaced out (a cool-down, answered 429 with Retry-After) and may
  be capped by the instructor (answered 409), counted atomically on the
  learner's enrolment so parallel submissions cannot slip past either rule;
- the correct choices, explanations and which questions were right are shown
  only once the learner has passed, unless the instructor chose to show them
  after each attempt; before that an attempt shows its score;
- choices may come in a new order for each attempt;
- the instructor can reset one learner's attempts.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mongoengine import Q

from app.courses import policies
from app.courses.documents import (
    Choice,
    Course,
    Enrollment,
    Lesson,
    LessonProgress,
    Question,
    QuizAttempt,
)
from app.courses.learning import LessonView, access_lesson, record_progress
from app.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from app.policies import can
from app.timeutil import as_utc, utcnow

# ---------------------------------------------------------------- the learner's standing


@dataclass(frozen=True)
class QuizState:
    """Where a learner stands with one quiz."""

    attempts_used: int
    max_attempts: int  # 0: no maximum
    passed: bool
    next_attempt_at: datetime | None  # the cool-down's end, if it is running
    reveal: bool  # may see the answer key now

    @property
    def attempts_left(self) -> int | None:
        return None if not self.max_attempts else max(0, self.max_attempts - self.attempts_used)

    @property
    def retry_after_seconds(self) -> int:
        if self.next_attempt_at is None:
            return 0
        return max(0, math.ceil((self.next_attempt_at - utcnow()).total_seconds()))


def _entry(enrollment: Enrollment | None, lesson: Lesson) -> LessonProgress:
    found = enrollment.progress.get(lesson.id) if enrollment else None
    return found or LessonProgress()


def quiz_state(lesson: Lesson, enrollment: Enrollment | None) -> QuizState:
    """The learner's attempts, cool-down and whether the answer key is theirs to see."""
    entry = _entry(enrollment, lesson)
    passed = lesson.passed_with(entry.best_score)
    next_at = None
    if entry.last_attempt_at and lesson.cooldown_minutes:
        candidate = as_utc(entry.last_attempt_at) + timedelta(minutes=lesson.cooldown_minutes)
        next_at = candidate if candidate > utcnow() else None
    return QuizState(
        attempts_used=entry.attempts or 0,
        max_attempts=lesson.max_attempts or 0,
        passed=passed,
        next_attempt_at=next_at,
        reveal=lesson.reveals_answers(entry.best_score),
    )


# ---------------------------------------------------------------- questions


def shuffled_choices(question: Question, seed: str) -> list[Choice]:
    """The question's choices in the order of one attempt (`seed`); stable until the next."""
    digest = hashlib.sha256(f"{seed}:{question.id}".encode()).digest()
    choices = list(question.choices)
    random.Random(digest).shuffle(choices)  # noqa: S311 - an order, not a secret
    return choices


def presented_questions(view: LessonView, actor: Any) -> list[tuple[Question, list[Choice]]]:
    """The questions with their choices in the order this learner's attempt shows them."""
    lesson = view.lesson
    if not lesson.shuffle:
        return [(q, list(q.choices)) for q in lesson.questions]
    state = quiz_state(lesson, view.enrollment)
    seed = f"{policies.uid(actor)}:{lesson.id}:{state.attempts_used}"
    return [(q, shuffled_choices(q, seed)) for q in lesson.questions]


def public_questions(view: LessonView, actor: Any) -> list[dict[str, Any]]:
    """The questions as a learner sees them before answering: never the answer key."""
    return [
        {
            "id": q.id,
            "prompt": q.prompt,
            "multiple": bool(q.multiple),
            "choices": [{"id": c.id, "text": c.text} for c in choices],
        }
        for q, choices in presented_questions(view, actor)
    ]


def _clean_answers(lesson: Lesson, raw: Any) -> dict[str, list[str]]:
    """{question id: [choice ids]} for every question, or the fields that are wrong."""
    if not isinstance(raw, dict):
        raise ValidationFailed(fields={"answers": "Give answers as {question id: [choice ids]}."})
    questions = {q.id: q for q in lesson.questions}
    unknown = [key for key in raw if key not in questions]
    if unknown:
        raise ValidationFailed(fields={"answers": "An answer names an unknown question."})
    answers: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for question in lesson.questions:
        picked = raw.get(question.id)
        if isinstance(picked, str):
            picked = [picked]
        valid = {c.id for c in question.choices}
        if picked in (None, []):
            errors[f"answers.{question.id}"] = "Answer this question."
        elif not isinstance(picked, list) or not all(
            isinstance(p, str) and p in valid for p in picked
        ):
            errors[f"answers.{question.id}"] = "Unknown choice."
        elif not question.multiple and len(set(picked)) > 1:
            errors[f"answers.{question.id}"] = "Pick one choice."
        else:
            answers[question.id] = sorted(set(picked))
    if errors:
        message = "Answer every question before you submit."
        raise ValidationFailed(message, fields=errors)
    return answers


# ---------------------------------------------------------------- attempts


@dataclass
class GradedQuestion:
    question: Question
    picked: list[str]
    correct: bool


@dataclass
class AttemptResult:
    """A graded attempt and what of it the learner may see."""

    attempt: QuizAttempt
    graded: list[GradedQuestion]
    state: QuizState  # after this attempt

    @property
    def reveal(self) -> bool:
        return self.state.reveal


def grade(lesson: Lesson, answers: dict[str, list[str]]) -> tuple[int, list[GradedQuestion]]:
    graded = [
        GradedQuestion(q, answers.get(q.id, []), sorted(answers.get(q.id, [])) == sorted(q.correct))
        for q in lesson.questions
    ]
    score = round(100 * sum(g.correct for g in graded) / len(graded)) if graded else 0
    return score, graded


def _claim_attempt(enrollment: Enrollment, lesson: Lesson) -> None:
    """Count one attempt if the cool-down is over and the maximum not reached, in one
    conditional update, so that parallel submissions cannot both get through."""
    now = utcnow()
    prefix = f"progress__{lesson.id}__"
    allowed = Q(id=enrollment.id)
    if lesson.max_attempts:
        allowed &= Q(**{f"{prefix}attempts__lt": lesson.max_attempts}) | Q(
            **{f"{prefix}attempts__exists": False}
        )
    if lesson.cooldown_minutes:
        allowed &= Q(
            **{f"{prefix}last_attempt_at__lte": now - timedelta(minutes=lesson.cooldown_minutes)}
        ) | Q(**{f"{prefix}last_attempt_at__exists": False})
    claimed = Enrollment.objects(allowed).update_one(
        **{f"inc__{prefix}attempts": 1, f"set__{prefix}last_attempt_at": now},
        inc__version=1,  # a progress write that read the enrolment before must read again
    )
    if claimed:
        return
    state = quiz_state(lesson, Enrollment.objects.get(id=enrollment.id))
    if state.attempts_left == 0:
        raise Conflict(
            f"You have used all {state.max_attempts} attempts at this quiz. "
            "Your instructor can give you more."
        )
    wait = max(1, state.retry_after_seconds)
    raise RateLimited(wait, f"Take a moment to look over the lesson: try again in {_span(wait)}.")


def _span(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


def _quiz_view(actor: Any, course: Course, lesson_id: Any) -> LessonView:
    view = access_lesson(actor, course, lesson_id)
    if view.lesson.kind != "quiz" or not view.lesson.questions:
        raise NotFound("This lesson has no quiz.")
    return view


def submit_quiz(actor: Any, course: Course, lesson_id: Any, raw_answers: Any) -> AttemptResult:
    """Grade an attempt within the quiz's rules; a pass completes the lesson."""
    view = _quiz_view(actor, course, lesson_id)
    lesson = view.lesson
    if view.enrollment is None:
        raise Forbidden("Enrol in the course to take the quiz.")
    answers = _clean_answers(lesson, raw_answers)
    _claim_attempt(view.enrollment, lesson)
    score, graded = grade(lesson, answers)
    passed = score >= lesson.pass_mark
    attempt = QuizAttempt(
        user_id=policies.uid(actor),
        course_id=str(course.id),
        lesson_id=lesson.id,
        answers=answers,
        correct=[g.question.id for g in graded if g.correct],
        score=score,
        passed=passed,
    )
    attempt.save()
    record_progress(actor, course, lesson.id, best_score=score, completed=True if passed else None)
    after = access_lesson(actor, course, lesson.id)
    return AttemptResult(attempt, graded, quiz_state(lesson, after.enrollment))


def attempt_result(actor: Any, view: LessonView, attempt_id: Any) -> AttemptResult | None:
    """One of the actor's own attempts at this quiz, graded as it was, or None."""
    from app.courses.documents import object_id

    oid = object_id(attempt_id)
    if oid is None or view.enrollment is None:
        return None
    attempt = QuizAttempt.objects(
        id=oid, user_id=policies.uid(actor), course_id=str(view.course.id), lesson_id=view.lesson.id
    ).first()
    if attempt is None:
        return None
    right = set(attempt.correct or [])
    graded = [
        GradedQuestion(q, list(attempt.answers.get(q.id, [])), q.id in right)
        for q in view.lesson.questions
    ]
    return AttemptResult(attempt, graded, quiz_state(view.lesson, view.enrollment))


def recent_attempts(actor: Any, view: LessonView, limit: int = 5) -> list[QuizAttempt]:
    return list(
        QuizAttempt.objects(
            user_id=policies.uid(actor), course_id=str(view.course.id), lesson_id=view.lesson.id
        )
        .order_by("-created_at")
        .limit(limit)
    )


# ---------------------------------------------------------------- the instructor's side


@dataclass(frozen=True)
class LearnerAttempts:
    user_id: str
    name: str
    attempts: int
    best_score: int | None
    passed: bool
    last_attempt_at: datetime | None


def learners_attempts(actor: Any, course: Course, lesson_id: Any) -> list[LearnerAttempts]:
    """Every learner who has attempted the quiz, most recent first (the instructor's list)."""
    if not can(actor, "course.edit", course):
        raise Forbidden("Only the course's instructor can see its learners' attempts.")
    view = _quiz_view(actor, course, lesson_id)
    lesson = view.lesson
    enrollments = Enrollment.objects(
        course_id=str(course.id), **{f"progress__{lesson.id}__attempts__gt": 0}
    ).only("user_id", "user_name", "progress")
    rows = []
    for enrollment in enrollments:
        entry = _entry(enrollment, lesson)
        rows.append(
            LearnerAttempts(
                enrollment.user_id,
                enrollment.user_name or "A learner",
                entry.attempts or 0,
                entry.best_score,
                lesson.passed_with(entry.best_score),
                as_utc(entry.last_attempt_at) if entry.last_attempt_at else None,
            )
        )
    epoch = utcnow() - timedelta(days=365 * 100)
    return sorted(rows, key=lambda r: r.last_attempt_at or epoch, reverse=True)


def reset_attempts(actor: Any, course: Course, lesson_id: Any, learner_id: Any) -> None:
    """Give one learner a fresh set of attempts (their scores and past attempts stay)."""
    if not can(actor, "course.edit", course):
        raise Forbidden("Only the course's instructor can reset attempts.")
    lesson = _quiz_view(actor, course, lesson_id).lesson
    if not isinstance(learner_id, str):
        raise NotFound("No such learner.")
    prefix = f"progress__{lesson.id}__"
    updated = Enrollment.objects(course_id=str(course.id), user_id=learner_id).update_one(
        **{f"set__{prefix}attempts": 0, f"unset__{prefix}last_attempt_at": True},
        inc__version=1,
    )
    if not updated:
        raise NotFound("No such learner.")
