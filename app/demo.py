"""Demo content for a newcomer's first `make run`: accounts, and a living catalog of
published courses that use every lesson kind, with enrolments, progress and reviews."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from app.accounts import lookup, registration
from app.accounts.models import User
from app.courses import learning, quizzes, reviews, studio, workflow
from app.courses.documents import Course
from app.demo_media import demo_pdf, demo_video
from app.extensions import db
from app.media import uploads
from app.roles import Role

DEMO_PASSWORD = "lectern-demo-2026"  # noqa: S105 - documented demo credential, never in production
DEMO_USERS = [
    ("admin@lectern.test", "Ada Admin", Role.ADMIN),
    ("moderator@lectern.test", "Mo Moderator", Role.MODERATOR),
    ("instructor@lectern.test", "Ines Instructor", Role.INSTRUCTOR),
    ("omar@lectern.test", "Omar Okafor", Role.INSTRUCTOR),
    ("learner@lectern.test", "Lee Learner", Role.LEARNER),
    ("sam@lectern.test", "Sam Student", Role.LEARNER),
]


@dataclass
class Actor:
    """How the course side sees a user."""

    id: str
    role: str
    name: str
    is_authenticated: bool = True


def _actor(user: User) -> Actor:
    return Actor(str(user.id), user.role, user.name)


QUIZ_PYTHON = [
    {
        "prompt": "What does print(2 + 3) show?",
        "explanation": "2 + 3 is 5, and print shows it.",
        "choices": [{"text": "23"}, {"text": "5", "correct": True}, {"text": "2 + 3"}],
    },
    {
        "prompt": "Which of these are valid variable names?",
        "multiple": True,
        "explanation": "Names start with a letter or underscore and have no spaces.",
        "choices": [
            {"text": "total", "correct": True},
            {"text": "_count", "correct": True},
            {"text": "2nd_place"},
            {"text": "my name"},
        ],
    },
    {
        "prompt": "What type is the value 3.0?",
        "explanation": "A number with a point is a float.",
        "choices": [{"text": "int"}, {"text": "float", "correct": True}, {"text": "str"}],
    },
]

COURSES: list[dict[str, Any]] = [
    {
        "instructor": "instructor@lectern.test",
        "fields": {
            "title": "Python for Absolute Beginners",
            "subtitle": "Write your first programs, one small step at a time.",
            "category": "Programming",
            "tags": "python, beginners, programming",
            "level": "beginner",
            "language": "en",
            "description": "No experience needed. You will install Python, learn "
            "**values, variables and functions**, and finish with a small project.\n\n"
            "- Short videos and readings\n- A quiz after each part\n"
            "- A printable cheat sheet",
        },
        "sections": [
            (
                "Getting started",
                [
                    {
                        "title": "Welcome to the course",
                        "kind": "video",
                        "preview": True,
                        "duration_minutes": 2,
                        "body": "A short hello and what we will build.",
                    },
                    {
                        "title": "Installing Python",
                        "kind": "reading",
                        "duration_minutes": 6,
                        "preview": True,
                        "body": "## Installing Python\n\nGo to python.org, download "
                        "the installer for your system and run it. Then open a terminal "
                        "and type:\n\n"
                        "```\npython3 --version\n```\n\nYou should see a version number.",
                    },
                ],
            ),
            (
                "The basics",
                [
                    {
                        "title": "Values and variables",
                        "kind": "reading",
                        "duration_minutes": 8,
                        "body": "A **variable** is a name for a value:\n\n```python\nprice = 4\n"
                        "count = 3\nprint(price * count)\n```\n\nThis prints `12`.",
                    },
                    {
                        "title": "Check your basics",
                        "kind": "quiz",
                        "pass_mark": 60,
                        "max_attempts": 3,
                        "shuffle": True,
                        "questions": QUIZ_PYTHON,
                    },
                ],
            ),
            (
                "Resources",
                [
                    {
                        "title": "Cheat sheet (PDF)",
                        "kind": "file",
                        "duration_minutes": 1,
                        "body": "Print it and keep it next to your keyboard.",
                        "pdf": (
                            "Python cheat sheet",
                            [
                                "print(value) - show a value",
                                "name = value - make a variable",
                                "def f(x): - define a function",
                                "for item in items: - repeat",
                            ],
                        ),
                    },
                ],
            ),
        ],
    },
    {
        "instructor": "omar@lectern.test",
        "fields": {
            "title": "Design Thinking Essentials",
            "subtitle": "Solve the right problem before you solve the problem right.",
            "category": "Design",
            "tags": "design, ux, creativity",
            "level": "intermediate",
            "language": "en",
            "description": "Five stages, practised on a real brief: empathise, define, "
            "ideate, prototype and test.",
        },
        "sections": [
            (
                "Empathise",
                [
                    {
                        "title": "Why empathy first",
                        "kind": "video",
                        "duration_minutes": 3,
                        "preview": True,
                        "body": "Watch, then list three assumptions you hold.",
                    },
                    {
                        "title": "Interviewing users",
                        "kind": "reading",
                        "duration_minutes": 10,
                        "body": "Ask open questions. *Why* matters more than *what*.",
                    },
                ],
            ),
            (
                "Define and ideate",
                [
                    {
                        "title": "Point-of-view statements",
                        "kind": "reading",
                        "duration_minutes": 7,
                        "body": "[User] needs [need] because [insight].",
                    },
                    {
                        "title": "Quick check",
                        "kind": "quiz",
                        "pass_mark": 50,
                        "questions": [
                            {
                                "prompt": "Which stage comes first?",
                                "choices": [
                                    {"text": "Prototype"},
                                    {"text": "Empathise", "correct": True},
                                    {"text": "Test"},
                                ],
                            }
                        ],
                    },
                ],
            ),
        ],
    },
    {
        "instructor": "instructor@lectern.test",
        "fields": {
            "title": "Data Analysis with Spreadsheets",
            "subtitle": "Sort, filter, chart and summarise data you already have.",
            "category": "Data",
            "tags": "data, spreadsheets, beginners",
            "level": "beginner",
            "language": "en",
            "description": "From a messy table to a clear chart in one afternoon.",
        },
        "sections": [
            (
                "Tables",
                [
                    {
                        "title": "Clean data in five steps",
                        "kind": "reading",
                        "duration_minutes": 9,
                        "preview": True,
                        "body": "1. One header row\n2. One kind of value per column"
                        "\n3. No merged cells\n4. Dates as dates\n5. Remove duplicates",
                    },
                    {"title": "Pivot tables, explained", "kind": "video", "duration_minutes": 4},
                ],
            ),
        ],
    },
    {
        "instructor": "omar@lectern.test",
        "fields": {
            "title": "Introducción a la fotografía",
            "subtitle": "Luz, encuadre y exposición con cualquier cámara.",
            "category": "Photography",
            "tags": "fotografía, principiantes",
            "level": "beginner",
            "language": "es",
            "description": "Un curso corto para aprender a mirar antes de disparar.",
        },
        "sections": [
            (
                "Primeros pasos",
                [
                    {
                        "title": "La regla de los tercios",
                        "kind": "reading",
                        "duration_minutes": 5,
                        "preview": True,
                        "body": "Divide la imagen en nueve partes iguales...",
                    },
                    {
                        "title": "Exposición",
                        "kind": "quiz",
                        "pass_mark": 50,
                        "reveal": "after_each_attempt",
                        "questions": [
                            {
                                "prompt": "¿Qué controla la apertura?",
                                "choices": [
                                    {"text": "La cantidad de luz", "correct": True},
                                    {"text": "El color"},
                                ],
                            }
                        ],
                    },
                ],
            ),
        ],
    },
]

DRAFTS = [
    ("instructor@lectern.test", "Web Accessibility Basics", "in_review"),
    ("omar@lectern.test", "Sketching for Everyone", "draft"),
]


def seed_accounts() -> dict[str, User]:
    users = {}
    for email, name, role in DEMO_USERS:
        user = lookup.find_user_by_email(email)
        if user is None:
            user = registration.do_register(email, DEMO_PASSWORD, name, role, verified=True)
        users[email] = user
    db.session.commit()
    return users


def seed_courses(users: dict[str, User]) -> int:
    """Create the demo courses once (skipped if any course exists); returns how many."""
    if Course.objects.count():
        return 0
    moderator = _actor(users["moderator@lectern.test"])
    video = demo_video()
    made = 0
    for spec in COURSES:
        author = _actor(users[spec["instructor"]])
        course = studio.create_course(author, spec["fields"])
        for title, lessons in spec["sections"]:
            section = studio.add_section(author, course, title)
            for lesson_spec in lessons:
                data = {k: v for k, v in lesson_spec.items() if k != "pdf"}
                lesson = studio.add_lesson(author, course, section.id, data)
                if lesson.kind == "video":
                    uploads.receive_stream(
                        author, course, lesson.id, io.BytesIO(video), "welcome.mp4", len(video)
                    )
                elif "pdf" in lesson_spec:
                    title_text, lines = lesson_spec["pdf"]
                    pdf = demo_pdf(title_text, lines)
                    uploads.receive_stream(
                        author, course, lesson.id, io.BytesIO(pdf), "cheat-sheet.pdf", len(pdf)
                    )
        workflow.submit_for_review(author, course)
        workflow.approve(moderator, course)
        made += 1
    for email, title, status in DRAFTS:
        author = _actor(users[email])
        course = studio.create_course(author, {"title": title, "category": "Misc"})
        section = studio.add_section(author, course, "Introduction")
        studio.add_lesson(
            author,
            course,
            section.id,
            {"title": "Overview", "kind": "reading", "body": "Coming soon."},
        )
        if status == "in_review":
            workflow.submit_for_review(author, course)
        made += 1
    _seed_learning(users)
    return made


def _seed_learning(users: dict[str, User]) -> None:
    lee, sam = _actor(users["learner@lectern.test"]), _actor(users["sam@lectern.test"])
    python = Course.objects.get(slug="python-for-absolute-beginners")
    design = Course.objects.get(slug="design-thinking-essentials")
    for learner in (lee, sam):
        learning.do_enroll(learner, python)
    learning.do_enroll(sam, design)
    first, second = [lesson for _, lesson in python.lessons()][:2]
    learning.record_progress(lee, python, first.id, completed=True)
    learning.record_progress(lee, python, second.id, completed=False)
    for _, lesson in design.lessons():
        if lesson.kind == "quiz":
            answers = {q.id: q.correct for q in lesson.questions}
            quizzes.submit_quiz(sam, design, lesson.id, answers)
        else:
            learning.record_progress(sam, design, lesson.id, completed=True)
    reviews.check_review(sam, python, 5, "Clear and friendly. The quiz helped a lot.")
    reviews.check_review(lee, python, 4, "Good pace so far.")
    reviews.check_review(sam, design, 4, "Practical exercises, loved the brief.")
