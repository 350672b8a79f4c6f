"""The instructor dashboard: figures and SVG charts, for the course's instructor only."""

from __future__ import annotations

from app.courses import learning, stats
from tests.conftest import PASSWORD


def test_dashboard_figures(app, users, courses):
    course = courses.published(lessons=["reading", "reading"])
    first, second = [lesson for _, lesson in course.lessons()]
    with app.app_context():
        actors = [courses.actor(users.create()) for _ in range(4)]
        for actor in actors:
            learning.do_enroll(actor, course)
        for lesson in (first, second):
            learning.record_progress(actors[0], course, lesson.id, completed=True)
        learning.record_progress(actors[1], course, first.id, completed=True)
        learning.record_progress(actors[2], course, second.id, completed=False)
        figures = stats.course_dashboard(course.owner, course)
    assert (figures.enrolled, figures.completed, figures.completion_rate) == (4, 1, 25)
    assert sum(n for _, n in figures.per_day) == 4 and len(figures.per_day) == 30
    stops = {title: n for _, title, n in figures.stops}
    assert stops == {"Not started": 1, "Lesson 1": 1, "Lesson 2": 1}


def test_dashboard_page_draws_charts(app, client, courses):
    course = courses.published()
    client.submit("/signin", {"email": course.owner.email, "password": PASSWORD})
    page = client.get(f"/studio/{course.slug}/dashboard").get_data(as_text=True)
    assert page.count("<svg") == 2 and "<rect" in page and "completion rate" in page
    assert "<script" not in page.replace('<script src="/static/vendor/htmx.min.js" defer>', "")
