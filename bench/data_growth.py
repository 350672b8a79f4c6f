"""Do database queries per request stay flat as the data grows? (SPEC §10, issue 3)

For the catalog, a course page, the learner dashboard and a lesson page it
builds a small and a large data set, requests each page through the real app
(test client, signed in as a learner) and prints SQL statements and document
operations per request and the median and p95 latency. Exit status 1 if any
count grows with the data.

    .venv/bin/python -m bench.data_growth              # embedded store (litemongo)
    .venv/bin/python -m bench.data_growth --store mongomock --repeat 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.querycount import counting, instrument_documents, instrument_sql

PASSWORD = "benchmark passphrase 1"  # noqa: S105 - a throwaway account in a temp database


@dataclass
class Result:
    scenario: str
    size: str
    sql: int
    documents: int
    median_ms: float
    p95_ms: float


def build_app(store: str, data_dir: Path) -> Any:
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    app = create_app(
        {
            "DATA_DIR": data_dir,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data_dir / 'bench.db'}",
            "DOCUMENT_STORE": store,
            "DOCUMENT_STORE_PATH": str(data_dir / "documents"),
            "BCRYPT_ROUNDS": 4,
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        upgrade()
        instrument_sql(db.engine)
    return app


def make_courses(n: int, lessons: int = 3, instructor: str = "bench-instructor") -> list[Any]:
    """Insert `n` published courses in bulk (the studio would be far too slow for 10,000)."""
    from app.courses.catalog import refresh_facets
    from app.courses.documents import Course, Instructor, Lesson, Section
    from app.timeutil import utcnow

    made = []
    for i in range(n):
        sections = [
            Section(
                title=f"Section {s}",
                lessons=[
                    Lesson(title=f"Lesson {s}.{j}", kind="reading", body="Some **text**. " * 20)
                    for j in range(min(lessons - s * 50, 50))
                ],
            )
            for s in range((lessons + 49) // 50)
        ]
        course = Course(
            slug=f"course-{uuid.uuid4().hex[:12]}",
            title=f"Course number {i}",
            subtitle="A course for the benchmark",
            category=f"Category {i % 12}",
            tags=[f"tag{i % 30}", "bench"],
            level="beginner",
            language="en",
            instructor=Instructor(id=instructor, name="Bench Instructor"),
            status="published",
            sections=sections,
            published_at=utcnow(),
            enrollment_count=i % 97,
            rating_avg=(i % 5) + 0.5,
        )
        course.recount()
        made.append(course)
    for start in range(0, len(made), 1000):
        Course.objects.insert(made[start : start + 1000], load_bulk=False)
    refresh_facets()
    return list(Course.objects.only("id", "slug").order_by("-published_at")[: max(n, 1)])


def enrol(user_id: str, courses: list[Any]) -> None:
    from app.courses.documents import Course, Enrollment

    docs = []
    for course in courses:
        full = Course.objects.get(id=course.id)
        first = full.sections[0].lessons[0].id
        docs.append(
            Enrollment(
                user_id=user_id, course_id=str(full.id), course_slug=full.slug, last_lesson_id=first
            )
        )
    for start in range(0, len(docs), 1000):
        Enrollment.objects.insert(docs[start : start + 1000], load_bulk=False)


def measure(app: Any, client: Any, path: str, repeat: int) -> tuple[int, int, float, float]:
    client.get(path)  # warm up (templates, caches)
    times, sql, docs = [], set(), set()
    for _ in range(repeat):
        with counting() as counts:
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        sql.add(counts.sql)
        docs.add(counts.documents)
    if len(sql) > 1 or len(docs) > 1:
        raise SystemExit(f"{path}: counts vary between identical requests: {sql} {docs}")
    times.sort()
    return sql.pop(), docs.pop(), statistics.median(times), times[int(len(times) * 0.95) - 1]


@dataclass(frozen=True)
class Sizes:
    courses: tuple[int, int] = (100, 10_000)
    lessons: tuple[int, int] = (10, 1_000)
    enrolments: tuple[int, int] = (1, 500)
    learners: int = 500


def run(store: str, repeat: int, sizes: Sizes = Sizes(), quiet: bool = False) -> list[Result]:
    from app.accounts import registration
    from app.courses.documents import Course, Enrollment
    from app.courses.store import drop_all
    from app.extensions import db

    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(store, Path(tmp))
        with app.app_context():
            instrument_documents(type(Course._get_collection()))
            user = registration.do_register("bench@example.com", PASSWORD, "Bench Learner")
            db.session.commit()
            user_id = str(user.id)
        client = app.test_client()
        client.post("/signin", data={"email": "bench@example.com", "password": PASSWORD})

        def scenario(name: str, sizes: list[tuple[str, Callable[[], str]]]) -> None:
            for label, setup in sizes:
                with app.app_context():
                    drop_all()
                    path = setup()
                sql, docs, median, p95 = measure(app, client, path, repeat)
                results.append(Result(name, label, sql, docs, median, p95))
                if not quiet:
                    print(
                        f"  {name:<16} {label:<30} sql={sql:<3} documents={docs:<3} "
                        f"median={median:7.1f} ms  p95={p95:7.1f} ms",
                        flush=True,
                    )

        few, many = sizes.courses
        scenario(
            "catalog",
            [
                (f"{few:,} courses", lambda: (make_courses(few), "/courses?sort=popular")[1]),
                (f"{many:,} courses", lambda: (make_courses(many), "/courses?sort=popular")[1]),
            ],
        )

        def course_page(lessons: int) -> str:
            course = make_courses(1, lessons=lessons)[0]
            return f"/courses/{course.slug}"

        short, long = sizes.lessons
        scenario(
            "course page",
            [
                (f"{short:,} lessons", lambda: course_page(short)),
                (f"{long:,} lessons", lambda: course_page(long)),
            ],
        )

        def dashboard(enrolments: int) -> str:
            enrol(user_id, make_courses(enrolments))
            return "/learn"

        one, lots = sizes.enrolments
        scenario(
            "dashboard",
            [
                (f"{one:,} enrolments", lambda: dashboard(one)),
                (f"{lots:,} enrolments", lambda: dashboard(lots)),
            ],
        )

        def lesson_page(lessons: int, learners: int) -> str:
            course = make_courses(1, lessons=lessons)[0]
            enrol(user_id, [course])
            others = [
                Enrollment(user_id=f"other-{i}", course_id=str(course.id), course_slug=course.slug)
                for i in range(learners)
            ]
            if others:
                Enrollment.objects.insert(others, load_bulk=False)
            full = Course.objects.get(id=course.id)
            lesson = full.sections[-1].lessons[-1]
            return f"/courses/{full.slug}/lessons/{lesson.id}"

        scenario(
            "lesson page",
            [
                (f"{short:,} lessons", lambda: lesson_page(short, 0)),
                (
                    f"{long:,} lessons, {sizes.learners:,} learners",
                    lambda: lesson_page(long, sizes.learners),
                ),
            ],
        )
        with app.app_context():
            drop_all()
            db.session.remove()
            db.engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["litemongo", "mongomock"], default="litemongo")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--quick", action="store_true", help="2,000 instead of 10,000 courses for the large catalog"
    )
    args = parser.parse_args(argv)
    print(f"Data growth benchmark, document store {args.store}, {args.repeat} requests each")
    sizes = Sizes(courses=(100, 2_000)) if args.quick else Sizes()
    results = run(args.store, args.repeat, sizes)
    failed = False
    print("\nscenario          small -> large: SQL statements, document operations")
    for i in range(0, len(results), 2):
        small, large = results[i], results[i + 1]
        flat = (small.sql, small.documents) == (large.sql, large.documents)
        failed |= not flat
        print(
            f"  {small.scenario:<16} sql {small.sql} -> {large.sql}, documents "
            f"{small.documents} -> {large.documents}  {'flat' if flat else 'GROWS'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
