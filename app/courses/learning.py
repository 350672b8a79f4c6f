"""Learning: enrolment, lessons, progress, quizzes and certificates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mongoengine import Q
from mongoengine.errors import NotUniqueError

from app.courses import policies
from app.courses.catalog import access_course
from app.courses.documents import (
    Certificate,
    Course,
    Enrollment,
    Lesson,
    LessonProgress,
    QuizAttempt,
    Section,
)
from app.courses.outbox import record_course_event
from app.courses.rules import POSITION_MAX
from app.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from app.policies import can
from app.timeutil import utcnow

# ---------------------------------------------------------------- enrolment


def get_enrollment(actor: Any, course: Course) -> Enrollment | None:
    user_id = policies.uid(actor)
    if user_id is None:
        return None
    return Enrollment.objects(user_id=user_id, course_id=str(course.id)).first()


def do_enroll(actor: Any, course: Course) -> tuple[Enrollment, bool]:
    """Enrol the actor (free); returns (enrolment, created). Enrolling twice changes nothing."""
    user_id = policies.uid(actor)
    if user_id is None:
        raise Unauthenticated("Sign in to enrol.")
    if course.status != "published":
        raise Conflict("This course is not open for enrolment.")
    existing = get_enrollment(actor, course)
    if existing is not None:
        return existing, False
    enrollment = Enrollment(
        user_id=user_id, user_name=actor.name, course_id=str(course.id), course_slug=course.slug
    )
    try:
        enrollment.save(force_insert=True)
    except NotUniqueError:  # a double click that raced us
        return Enrollment.objects.get(user_id=user_id, course_id=str(course.id)), False
    Course.objects(id=course.id).update_one(inc__enrollment_count=1)
    course.enrollment_count += 1
    record_course_event(
        "course.enrolled",
        {
            "user_id": user_id,
            "course_id": str(course.id),
            "slug": course.slug,
            "title": course.title,
        },
        key=user_id,
    )
    return enrollment, True


@dataclass
class EnrolledCourse:
    enrollment: Enrollment
    course: Course

    @property
    def resume(self) -> tuple[Section, Lesson] | None:
        return resume_point(self.course, self.enrollment)


def my_enrollments(actor: Any, limit: int = 100) -> list[EnrolledCourse]:
    """The actor's courses, most recently visited first: two queries however many."""
    user_id = policies.uid(actor)
    if user_id is None:
        raise Unauthenticated()
    enrollments = list(
        Enrollment.objects(user_id=user_id)
        .order_by("-last_visited_at", "-enrolled_at")
        .limit(limit)
    )
    ids = [e.course_id for e in enrollments]
    courses = {str(c.id): c for c in Course.objects(id__in=ids).exclude("description", "keywords")}
    return [EnrolledCourse(e, courses[e.course_id]) for e in enrollments if e.course_id in courses]


def resume_point(course: Course, enrollment: Enrollment | None) -> tuple[Section, Lesson] | None:
    """Where to continue: the last lesson visited if unfinished, else the first unfinished."""
    lessons = course.lessons()
    if not lessons:
        return None
    progress = enrollment.progress if enrollment else {}
    if enrollment and enrollment.last_lesson_id:
        found = course.find_lesson(enrollment.last_lesson_id)
        if found and not _done(progress, found[1].id):
            return found
    for pair in lessons:
        if not _done(progress, pair[1].id):
            return pair
    return lessons[0]


def _done(progress: dict[str, LessonProgress], lesson_id: str) -> bool:
    entry = progress.get(lesson_id)
    return bool(entry and entry.completed)


# ---------------------------------------------------------------- lessons


@dataclass
class LessonView:
    course: Course
    section: Section
    lesson: Lesson
    enrollment: Enrollment | None
    previous: Lesson | None
    next: Lesson | None


def access_lesson(actor: Any, course: Course, lesson_id: Any) -> LessonView:
    """A lesson the actor may open (SPEC §4: enrolled, the instructor, staff, or a preview)."""
    found = course.find_lesson(lesson_id) if isinstance(lesson_id, str) else None
    if found is None:
        raise NotFound("No such lesson.")
    section, lesson = found
    enrollment = get_enrollment(actor, course)
    if not can(actor, "lesson.open", (course, lesson, enrollment is not None)):
        if policies.uid(actor) is None:
            raise Unauthenticated("Sign in and enrol to open this lesson.")
        raise Forbidden("Enrol in the course to open this lesson.")
    ordered = [item for _, item in course.lessons()]
    index = next(i for i, item in enumerate(ordered) if item.id == lesson.id)
    return LessonView(
        course,
        section,
        lesson,
        enrollment,
        ordered[index - 1] if index > 0 else None,
        ordered[index + 1] if index + 1 < len(ordered) else None,
    )


def open_lesson(actor: Any, slug: Any, lesson_id: Any) -> LessonView:
    """Open a lesson to read, watch or answer it, for the lesson page and the API alike:
    the course as the actor may see it, their right to the lesson, and the visit
    remembered as the place to continue from."""
    view = access_lesson(actor, access_course(actor, slug), lesson_id)
    record_visit(view)
    return view


def record_visit(view: LessonView) -> None:
    """Remember the lesson as the place to continue from (one atomic update). Opening a
    page changes nothing else: certificates come from the change that completes a course."""
    if view.enrollment is None:
        return
    now = utcnow()
    Enrollment.objects(id=view.enrollment.id).update_one(
        set__last_lesson_id=view.lesson.id,
        set__last_visited_at=now,
        **{f"set__progress__{view.lesson.id}__last_visited_at": now},
    )


def counted_lessons(course: Course) -> list[str]:
    """The lessons that count towards completion: the required ones, or every lesson when
    none is marked required. A course without lessons can never be completed."""
    lessons = [lesson for _, lesson in course.lessons()]
    required = [lesson.id for lesson in lessons if lesson.required]
    return required or [lesson.id for lesson in lessons]


def _recompute(enrollment: Enrollment, course: Course) -> None:
    required = counted_lessons(course)
    done = sum(1 for lesson_id in required if _done(enrollment.progress, lesson_id))
    enrollment.completed_count = done
    enrollment.percent = int(done * 100 / len(required)) if required else 0
    if enrollment.percent == 100 and enrollment.completed_at is None:
        enrollment.completed_at = utcnow()


def _save_versioned(enrollment: Enrollment, **extra: Any) -> bool:
    """Write the enrolment only if nobody else wrote it since we read it."""
    version = enrollment.version or 0
    unchanged = Q(id=enrollment.id) & (
        Q(version=version) | (Q(version__exists=False) if version == 0 else Q(version=version))
    )
    return bool(
        Enrollment.objects(unchanged).update_one(
            set__progress=enrollment.progress,
            set__completed_count=enrollment.completed_count,
            set__percent=enrollment.percent,
            set__completed_at=enrollment.completed_at,
            set__last_lesson_id=enrollment.last_lesson_id,
            set__last_visited_at=enrollment.last_visited_at,
            set__version=version + 1,
            **extra,
        )
    )


def record_progress(
    actor: Any,
    course: Course,
    lesson_id: Any,
    *,
    completed: Any = None,
    position_seconds: Any = None,
    best_score: int | None = None,
) -> LessonProgress:
    """Mark a lesson complete (or not) and/or remember the video position, and issue the
    course's certificate when this change completes the course.

    Two requests at once cannot lose each other's change: each reads the enrolment,
    computes, and writes only if it is still the version it read (else it tries again).
    A quiz lesson is completed by passing it, not by asking.
    """
    view = access_lesson(actor, course, lesson_id)
    if view.enrollment is None:
        raise Forbidden("Enrol in the course to track progress.")
    if completed is not None and not isinstance(completed, bool):
        raise ValidationFailed(fields={"completed": "Must be true or false."})
    if isinstance(position_seconds, float) and position_seconds.is_integer():
        position_seconds = int(position_seconds)  # 42.0 is a whole number, as in JSON Schema
    if position_seconds is not None and (
        isinstance(position_seconds, bool)
        or not isinstance(position_seconds, int)
        or not 0 <= position_seconds <= POSITION_MAX
    ):
        raise ValidationFailed(fields={"position_seconds": f"Use 0 to {POSITION_MAX}."})
    lesson = view.lesson
    enrollment = view.enrollment
    for _ in range(10):
        now = utcnow()
        entry = enrollment.progress.get(lesson.id) or LessonProgress()
        if best_score is not None:
            entry.best_score = max(entry.best_score or 0, best_score)
        if completed is True and lesson.kind == "quiz" and not lesson.passed_with(entry.best_score):
            raise Conflict("Pass the quiz to complete this lesson.")
        if completed is not None and completed != entry.completed:
            entry.completed = completed
            entry.completed_at = now if completed else None
        if position_seconds is not None:
            entry.position_seconds = position_seconds
        entry.last_visited_at = now
        enrollment.progress[lesson.id] = entry
        enrollment.last_lesson_id = lesson.id
        enrollment.last_visited_at = now
        _recompute(enrollment, course)
        if _save_versioned(enrollment):
            break
        enrollment = Enrollment.objects.get(id=enrollment.id)  # changed meanwhile: read again
    else:
        raise Conflict("Your progress changed in another window; try again.")
    if enrollment.percent == 100 and not enrollment.certificate_code:
        issue_certificate(course, enrollment, actor.name)
    view.enrollment = enrollment
    return entry


def refresh_course_progress(course: Course) -> int:
    """Recompute every enrolment's progress after the course's lessons changed (added,
    removed, made required or optional). Learners whom the change completes get their
    certificate now; certificates already issued stay."""
    changed = 0
    for enrollment in Enrollment.objects(course_id=str(course.id)):
        before = (enrollment.percent, enrollment.completed_count)
        _recompute(enrollment, course)
        if (enrollment.percent, enrollment.completed_count) != before:
            Enrollment.objects(id=enrollment.id).update_one(
                set__percent=enrollment.percent,
                set__completed_count=enrollment.completed_count,
                set__completed_at=enrollment.completed_at if enrollment.percent == 100 else None,
                inc__version=1,
            )
            changed += 1
        # Enrolments from before names were kept on them wait for the learner's next change.
        if enrollment.percent == 100 and not enrollment.certificate_code and enrollment.user_name:
            issue_certificate(course, enrollment, enrollment.user_name)
    return changed


# ---------------------------------------------------------------- certificates


def issue_certificate(course: Course, enrollment: Enrollment, learner_name: str) -> Certificate:
    """The certificate for a completed course, issued once, in the learner's name."""
    if enrollment.percent < 100:
        raise Conflict("Finish every required lesson first.")
    existing = Certificate.objects(user_id=enrollment.user_id, course_id=str(course.id)).first()
    if existing is not None:
        return existing
    certificate = Certificate(
        user_id=enrollment.user_id,
        user_name=learner_name,
        course_id=str(course.id),
        course_slug=course.slug,
        course_title=course.title,
        instructor_name=course.instructor.name,
    )
    try:
        certificate.save(force_insert=True)
    except NotUniqueError:
        return Certificate.objects.get(user_id=enrollment.user_id, course_id=str(course.id))
    Enrollment.objects(id=enrollment.id).update_one(set__certificate_code=certificate.code)
    enrollment.certificate_code = certificate.code
    return certificate


def verify_certificate(code: Any) -> Certificate:
    """A certificate by its public code (for the verification page)."""
    if not isinstance(code, str) or not code.isalnum() or len(code) > 32:
        raise NotFound("No certificate has this code.")
    certificate = Certificate.objects(code=code.upper()).first()
    if certificate is None:
        raise NotFound("No certificate has this code.")
    return certificate


def export_learning_data(user_id: str) -> dict[str, Any]:
    """Everything the course side holds about a user, for "download my data"."""
    from app.courses.documents import Review

    def plain(doc: Any) -> dict[str, Any]:
        data = doc.to_mongo().to_dict()
        data.pop("_id", None)
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}

    enrollments = []
    revealed: set[tuple[str, str]] = set()  # (course id, lesson id) whose key may be shown
    mine = list(Enrollment.objects(user_id=user_id))
    outlines = {
        str(c.id): c for c in Course.objects(id__in=[e.course_id for e in mine]).only("sections")
    }
    for enrollment in mine:
        course = outlines.get(enrollment.course_id)
        for lesson_id, entry in enrollment.progress.items():
            found = course.find_lesson(lesson_id) if course else None
            if found and found[1].reveals_answers(entry.best_score):
                revealed.add((enrollment.course_id, lesson_id))
        item = plain(enrollment)
        item["progress"] = {
            lesson_id: {
                k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in entry.to_mongo().to_dict().items()
            }
            for lesson_id, entry in enrollment.progress.items()
        }
        enrollments.append(item)
    return {
        "enrollments": enrollments,
        # Which questions an attempt got right tells the answer key: only where the quiz
        # would show it on its page.
        "quiz_attempts": [
            {
                k: v
                for k, v in plain(a).items()
                if k != "correct" or (a.course_id, a.lesson_id) in revealed
            }
            for a in QuizAttempt.objects(user_id=user_id)
        ],
        # Who reported a review is other people's data: left out.
        "reviews": [
            {k: v for k, v in plain(r).items() if k not in ("reported_by",)}
            for r in Review.objects(user_id=user_id)
        ],
        "certificates": [plain(c) for c in Certificate.objects(user_id=user_id)],
    }
