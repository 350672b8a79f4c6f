"""The instructor dashboard: enrolments over time, completion, and where learners stop.

Each figure is one aggregation over the course's enrolments, so the number of
queries does not grow with the number of learners.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from app.courses.documents import Course, Enrollment
from app.courses.policies import EDIT_ONLY
from app.policies import require
from app.timeutil import as_utc, utcnow


@dataclass
class Dashboard:
    enrolled: int
    completed: int
    per_day: list[tuple[str, int]]  # last `days` days, oldest first
    stops: list[tuple[str, str, int]]  # (lesson id, title, learners who stopped there)

    @property
    def completion_rate(self) -> int:
        return round(100 * self.completed / self.enrolled) if self.enrolled else 0


def course_dashboard(actor: Any, course: Course, days: int = 30) -> Dashboard:
    """The course's figures over the last `days` days, for its instructor (or an admin)."""
    require(actor, "course.edit", course, EDIT_ONLY)
    course_id = str(course.id)
    since = utcnow() - timedelta(days=days - 1)
    start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    totals = list(
        Enrollment.objects(course_id=course_id).aggregate(
            [
                {
                    "$group": {
                        "_id": None,
                        "n": {"$sum": 1},
                        "done": {"$sum": {"$cond": [{"$eq": ["$percent", 100]}, 1, 0]}},
                    }
                }
            ]
        )
    )
    enrolled, completed = (totals[0]["n"], totals[0]["done"]) if totals else (0, 0)
    recent = Enrollment.objects(course_id=course_id, enrolled_at__gte=start).only("enrolled_at")
    counts: dict[str, int] = {}
    for row in recent.as_pymongo():
        day = as_utc(row["enrolled_at"]).date().isoformat()
        counts[day] = counts.get(day, 0) + 1
    per_day = [((start + timedelta(days=i)).date().isoformat(), 0) for i in range(days)]
    per_day = [(day, counts.get(day, 0)) for day, _ in per_day]
    stopped: dict[Any, int] = {
        row["_id"]: row["n"]
        for row in Enrollment.objects(course_id=course_id, percent__lt=100).aggregate(
            [{"$group": {"_id": "$last_lesson_id", "n": {"$sum": 1}}}]
        )
    }
    stops = [(lesson.id, lesson.title, stopped.get(lesson.id, 0)) for _, lesson in course.lessons()]
    if stopped.get(None):
        stops.insert(0, ("", "Not started", stopped[None]))
    return Dashboard(enrolled, completed, per_day, stops)
