"""Courses end to end: an instructor builds a course, a moderator publishes it, a learner
finds it, takes it and earns the certificate.

All course data is written through the browser: the server's embedded document store
is file-backed and not safe for writes from this process. Roles are given with the
CLI, which touches only SQLite.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

PASSWORD = "a quiet river at dawn"

DESCRIPTION = """\
## What you will learn

- Why there are **two** high tides a day
- How to read a tide table
"""

READING_BODY = """\
## The moon pulls twice

The ocean bulges towards the moon *and* away from it, so most coasts see
two high tides a day.

1. Spring tides: sun and moon in line.
2. Neap tides: at right angles.
"""

QUIZ_QUESTIONS = [
    # (prompt, multiple, [(choice, correct)], explanation)
    (
        "How many high tides do most coasts see in a day?",
        False,
        [("One", False), ("Two", True), ("Four", False)],
        "The water bulges on both sides of the Earth.",
    ),
    (
        "Which bodies raise the tides?",
        True,
        [("The moon", True), ("The sun", True), ("Mars", False)],
        "",
    ),
]


def _quiz_text() -> str:
    blocks = []
    for prompt, multiple, choices, explanation in QUIZ_QUESTIONS:
        lines = [("?? " if multiple else "? ") + prompt]
        lines += [("* " if right else "- ") + text for text, right in choices]
        if explanation:
            lines.append("> " + explanation)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


@dataclass(frozen=True)
class PublishedCourse:
    title: str
    slug: str
    keyword: str  # a word only this course has, for the search box
    instructor: str
    reading_title: str
    quiz_title: str


# ------------------------------------------------------------------ helpers


@contextmanager
def _new_page(browser: Browser, live_server: Any) -> Iterator[Page]:
    """A fresh context of its own (for a second person, or outside the `page` fixture)."""
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _header(page: Page) -> Any:
    return page.get_by_role("banner")


def _flash(page: Page) -> Any:
    return page.locator("#flashes")


def _fill_sign_up(page: Page, name: str, email: str) -> None:
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Your name", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(_flash(page)).to_contain_text(f"Welcome, {name}!")
    expect(_header(page).get_by_role("link", name=name, exact=True)).to_be_visible()


def _sign_up(page: Page, name: str, email: str) -> None:
    page.goto("/")
    _header(page).get_by_role("link", name="Sign up", exact=True).click()
    _fill_sign_up(page, name, email)


def _email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@example.com"


def _promote(page: Page, live_server: Any, email: str, role: str, nav_link: str) -> None:
    out = live_server.flask("users", "set-role", email, role)
    assert f"is now {role}" in out, out
    page.reload()
    expect(_header(page).get_by_role("link", name=nav_link, exact=True)).to_be_visible()


def _add_section(page: Page, title: str) -> None:
    form = page.locator("form").filter(has=page.get_by_role("button", name="Add section"))
    form.get_by_label("Section title", exact=True).fill(title)
    form.get_by_role("button", name="Add section").click()
    # The new section comes last, its rename box holding its title.
    rename = page.locator(".studio-section").last.get_by_role("textbox", name="Section title")
    expect(rename).to_have_value(title)


def _back_to_course(page: Page, title: str) -> None:
    page.get_by_role("link", name="Back to the course").click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def publish_course(browser: Browser, live_server: Any, topic: str) -> PublishedCourse:
    """Journey 1: an instructor builds and submits a course; a moderator publishes it."""
    keyword = f"{topic}{uuid.uuid4().hex[:6]}"
    title = f"Tides and the Moon {keyword}"
    instructor_name = "Rachel Carson"
    moderator_name = "Ida Tarbell"
    reading_title = "Why two tides a day"
    quiz_title = "Check your tides"

    with _new_page(browser, live_server) as page:
        # ---- the instructor signs up and becomes an instructor
        instructor_email = _email("instructor")
        _sign_up(page, instructor_name, instructor_email)
        expect(_header(page).get_by_role("link", name="Studio")).to_have_count(0)
        _promote(page, live_server, instructor_email, "instructor", "Studio")

        # ---- a new course
        _header(page).get_by_role("link", name="Studio", exact=True).click()
        expect(page.get_by_role("heading", name="Studio", level=1)).to_be_visible()
        page.get_by_role("link", name="New course").click()
        expect(page.get_by_role("heading", name="New course")).to_be_visible()
        page.get_by_label("Title", exact=True).fill(title)
        page.get_by_label("Subtitle", exact=True).fill("Read the sea like a sailor")
        page.get_by_label("Description", exact=True).fill(DESCRIPTION)
        page.get_by_label("Category", exact=True).fill("Science")
        page.get_by_label("Tags", exact=True).fill("oceans, astronomy")
        page.get_by_label("Level", exact=True).select_option("beginner")
        page.get_by_role("button", name="Create course").click()
        expect(_flash(page)).to_contain_text("Course created.")
        expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
        expect(page.get_by_text("draft", exact=True)).to_be_visible()
        studio_url = page.url.split("#")[0]
        slug = studio_url.rstrip("/").rsplit("/", 1)[1]

        # ---- two sections
        _add_section(page, "The basics")
        _add_section(page, "Test yourself")
        expect(page.locator(".studio-section")).to_have_count(2)

        # ---- a reading lesson in the first section
        sections = page.locator(".studio-section")
        sections.first.get_by_role("link", name="reading", exact=True).click()
        expect(page.get_by_role("heading", name="New lesson")).to_be_visible()
        page.get_by_label("Lesson title", exact=True).fill(reading_title)
        page.get_by_label("Kind", exact=True).select_option("reading")
        page.get_by_label("Duration in minutes", exact=True).fill("5")
        page.get_by_label("Text", exact=True).fill(READING_BODY)
        page.get_by_role("button", name="Add lesson").click()
        expect(_flash(page)).to_contain_text("Lesson added.")
        expect(page.get_by_role("heading", name=reading_title, level=1)).to_be_visible()
        _back_to_course(page, title)

        # ---- a quiz lesson in the second section
        sections.last.get_by_role("link", name="quiz", exact=True).click()
        expect(page.get_by_role("heading", name="New lesson")).to_be_visible()
        page.get_by_label("Lesson title", exact=True).fill(quiz_title)
        page.get_by_label("Kind", exact=True).select_option("quiz")
        page.get_by_label("Pass mark (%)", exact=True).fill("80")
        page.get_by_label("Questions", exact=True).fill(_quiz_text())
        page.get_by_role("button", name="Add lesson").click()
        expect(_flash(page)).to_contain_text("Lesson added.")
        expect(page.get_by_role("heading", name=quiz_title, level=1)).to_be_visible()
        # The editor reads the stored quiz back in the same plain-text format.
        expect(page.get_by_label("Questions", exact=True)).to_have_value(_quiz_text())
        expect(page.get_by_label("Pass mark (%)", exact=True)).to_have_value("80")
        _back_to_course(page, title)

        first, second = sections.all()
        expect(first.get_by_role("link", name=reading_title)).to_be_visible()
        expect(second.get_by_role("link", name=quiz_title)).to_be_visible()
        expect(second.get_by_text("2 questions")).to_be_visible()

        # ---- submit for review
        page.get_by_role("button", name="Submit for review").click()
        expect(_flash(page)).to_contain_text("Submitted. A moderator will review the course.")
        expect(page.get_by_text("in review", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Withdraw to edit")).to_be_visible()

    # Not in the catalog yet, and hidden from guests.
    with _new_page(browser, live_server) as guest:
        guest.goto(f"/courses?q={keyword}")
        expect(guest.get_by_role("region", name="Search results")).to_contain_text("0 courses")
        response = guest.goto(f"/courses/{slug}")
        assert response is not None and response.status == 404

    with _new_page(browser, live_server) as page:
        # ---- the moderator signs up, becomes a moderator, and approves
        moderator_email = _email("moderator")
        _sign_up(page, moderator_name, moderator_email)
        _promote(page, live_server, moderator_email, "moderator", "Moderation")
        _header(page).get_by_role("link", name="Moderation", exact=True).click()
        expect(page.get_by_role("heading", name="Moderation", level=1)).to_be_visible()
        card = page.get_by_role("article").filter(
            has=page.get_by_role("heading", name=title, exact=True)
        )
        expect(card).to_contain_text(f"By {instructor_name} · 2 lessons")
        card.get_by_role("button", name="Approve and publish").click()
        expect(_flash(page)).to_contain_text(f"“{title}” is published.")
        expect(page.get_by_role("heading", name=title, exact=True)).to_have_count(0)

        # ---- the course is in the public catalog
        _header(page).get_by_role("link", name="Courses", exact=True).click()
        results = page.get_by_role("region", name="Search results")
        expect(results.get_by_role("link", name=title, exact=True)).to_be_visible()

    return PublishedCourse(
        title=title,
        slug=slug,
        keyword=keyword,
        instructor=instructor_name,
        reading_title=reading_title,
        quiz_title=quiz_title,
    )


@pytest.fixture(scope="module")
def published() -> list[PublishedCourse]:
    """Courses this module has published so far (journey 1 runs once when run in full)."""
    return []


@pytest.fixture
def published_course(
    published: list[PublishedCourse], browser: Browser, live_server: Any
) -> PublishedCourse:
    """A published course: journey 1's if it ran, else one published here the same way."""
    if not published:
        published.append(publish_course(browser, live_server, "lunar"))
    return published[-1]


# ------------------------------------------------------------------ journeys


def test_instructor_builds_a_course_and_a_moderator_publishes_it(
    browser: Browser,
    live_server: Any,
    page: Page,
    console: Any,
    published: list[PublishedCourse],
) -> None:
    course = publish_course(browser, live_server, "neap")
    published.append(course)

    # A guest sees it in the catalog, with its Markdown description and syllabus.
    page.goto("/courses")
    results = page.get_by_role("region", name="Search results")
    card = results.get_by_role("article").filter(
        has=page.get_by_role("link", name=course.title, exact=True)
    )
    expect(card).to_contain_text(course.instructor)
    expect(card).to_contain_text("2 lessons")
    card.get_by_role("link", name=course.title, exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/courses/{course.slug}")
    expect(page.get_by_role("heading", name=course.title, level=1)).to_be_visible()
    expect(page.get_by_text("Science · Beginner · en")).to_be_visible()
    expect(page.get_by_role("heading", name="What you will learn")).to_be_visible()
    expect(page.locator(".prose-md strong", has_text="two")).to_be_visible()
    expect(page.get_by_text("The basics")).to_be_visible()
    expect(page.get_by_text("Test yourself")).to_be_visible()
    # Lessons are listed but not open to a guest.
    expect(page.get_by_text(course.reading_title)).to_be_visible()
    expect(page.get_by_role("link", name=course.reading_title)).to_have_count(0)
    expect(page.get_by_role("link", name="Sign in to enrol")).to_be_visible()

    assert console.page_errors == []


def test_learner_finds_takes_and_completes_a_course(
    published_course: PublishedCourse,
    browser: Browser,
    page: Page,
    live_server: Any,
    console: Any,
) -> None:
    course = published_course
    learner = "Marie Tharp"

    # ---- a guest searches the catalog; htmx swaps the results in place
    page.goto("/courses")
    expect(page.get_by_role("heading", name="Courses", level=1)).to_be_visible()
    page.evaluate("window.__samePage = true")
    results = page.get_by_role("region", name="Search results")
    page.get_by_label("Search", exact=True).fill(course.keyword)
    expect(page).to_have_url(re.compile(rf"/courses\?(.*&)?q={course.keyword}(&|$)"))
    expect(results).to_contain_text(f"1 course for “{course.keyword}”")
    expect(results.get_by_role("article")).to_have_count(1)
    page.get_by_label("Search", exact=True).fill(f"{course.keyword}zzz")
    expect(results).to_contain_text("0 courses")
    expect(results.get_by_text("No course matches these choices.")).to_be_visible()
    page.get_by_label("Search", exact=True).fill(course.keyword[:5])  # a prefix finds it too
    expect(results.get_by_role("link", name=course.title, exact=True)).to_be_visible()
    assert page.evaluate("window.__samePage") is True, "the search reloaded the whole page"

    results.get_by_role("link", name=course.title, exact=True).click()
    expect(page.get_by_role("heading", name=course.title, level=1)).to_be_visible()
    course_url = f"{live_server.url}/courses/{course.slug}"
    expect(page).to_have_url(course_url)

    # ---- "Sign in to enrol" leads to sign-in, coming back here; sign up instead
    page.get_by_role("link", name="Sign in to enrol").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    back_here = rf"/signin\?next=(/|%2F)courses(/|%2F){re.escape(course.slug)}$"
    expect(page).to_have_url(re.compile(back_here))
    page.go_back()
    expect(page).to_have_url(course_url)
    page.get_by_role("link", name="or create a free account").click()
    _fill_sign_up(page, learner, _email("learner"))

    # ---- back on the course page: enrol
    page.goto(course_url)
    page.get_by_role("button", name="Enrol for free").click()
    expect(_flash(page)).to_contain_text("You are enrolled. Enjoy the course!")
    expect(page.get_by_role("heading", name=course.reading_title, level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="The moon pulls twice")).to_be_visible()
    expect(page.locator(".prose-md em", has_text="and")).to_be_visible()

    # ---- mark the reading complete: htmx swaps #lesson-status only
    status = page.locator("#lesson-status")
    expect(status).to_contain_text("Not completed yet.")
    expect(status).to_contain_text("Course progress: 0%")
    page.evaluate("window.__samePage = true")
    status.get_by_role("button", name="Mark as completed").click()
    expect(status.get_by_text("Completed", exact=True)).to_be_visible()
    expect(status).to_contain_text("Course progress: 50%")
    expect(status.get_by_role("button", name="Mark as not completed")).to_be_visible()
    assert page.evaluate("window.__samePage") is True, "marking complete reloaded the page"

    # ---- the next lesson is the quiz: answer it right
    page.get_by_role("navigation", name="Lessons").get_by_role(
        "link", name=f"{course.quiz_title} →"
    ).click()
    expect(page.get_by_role("heading", name=course.quiz_title, level=1)).to_be_visible()
    quiz = page.locator("#quiz")
    expect(quiz).to_contain_text("pass mark 80%")
    for prompt, _, choices, _ in QUIZ_QUESTIONS:
        group = quiz.get_by_role("group", name=prompt)
        for text, right in choices:
            if right:
                group.get_by_label(text, exact=True).check()
    page.evaluate("window.__samePage = true")
    quiz.get_by_role("button", name="Submit answers").click()
    verdict = quiz.get_by_role("status")
    expect(verdict).to_contain_text("You scored 100%")
    expect(verdict).to_contain_text("Passed, well done!")
    expect(quiz.get_by_text("— correct")).to_have_count(len(QUIZ_QUESTIONS))
    expect(quiz.get_by_text(QUIZ_QUESTIONS[0][3])).to_be_visible()
    assert page.evaluate("window.__samePage") is True, "submitting the quiz reloaded the page"

    # The answer also swaps the status box (out of band): the course is complete now,
    # without a reload.
    status = page.locator("#lesson-status")
    expect(status.get_by_text("Completed", exact=True)).to_be_visible()
    expect(status).to_contain_text("Course progress: 100%")
    expect(status).to_contain_text("Course complete!")
    # ...and the outline beside the lesson ticks the quiz off, too.
    expect(page.locator("#lesson-outline li[aria-current=page] .done")).to_be_visible()
    assert page.evaluate("window.__samePage") is True
    # Opened again, the lesson keeps it and lists the score.
    page.reload()
    expect(status).to_contain_text("Course complete!")
    expect(page.locator("#quiz")).to_contain_text("Your recent scores: 100%")

    # ---- the public certificate
    status.get_by_role("link", name="See your certificate").click()
    expect(page).to_have_url(re.compile(r"/certificates/[0-9A-F]+$"))
    certificate_url = page.url
    certificate = page.get_by_role("article")
    expect(certificate.get_by_role("heading", name=learner, level=1)).to_be_visible()
    expect(certificate.get_by_role("link", name=course.title, exact=True)).to_be_visible()
    expect(certificate).to_contain_text(f"taught by {course.instructor}")

    # ---- "My learning"
    _header(page).get_by_role("link", name="My learning", exact=True).click()
    expect(page.get_by_role("heading", name="My learning", level=1)).to_be_visible()
    item = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name=course.title, exact=True)
    )
    expect(item).to_contain_text("100% complete · 2 of 2 lessons")
    expect(item.get_by_role("progressbar")).to_have_attribute("value", "100")
    item.get_by_role("link", name="View certificate").click()
    expect(page).to_have_url(certificate_url)

    # Anyone can verify the certificate, signed in or not.
    with _new_page(browser, live_server) as guest:
        guest.goto(certificate_url)
        expect(guest.get_by_role("heading", name=learner, level=1)).to_be_visible()
        expect(guest.get_by_role("link", name=course.title, exact=True)).to_be_visible()

    assert console.csp_violations() == []
    assert console.page_errors == []
