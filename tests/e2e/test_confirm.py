"""Deleting in the studio asks first, with JavaScript (the browser's confirm dialog) and
without (a confirm page), and what was deleted comes back from the trash."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Browser, Page, expect

PASSWORD = "a quiet river at dawn"


def _flash(page: Page) -> Any:
    return page.locator("#flashes")


def _sign_in(page: Page, email: str) -> None:
    page.goto("/signin")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("banner").get_by_role("link", name="Studio")).to_be_visible()


def _instructor_with_course(page: Page, live_server: Any) -> tuple[str, str]:
    """Sign up, become an instructor, and build a course with two sections of one lesson
    each; returns (email, studio URL)."""
    email = f"instructor-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/signup")
    page.get_by_label("Your name", exact=True).fill("Maria Montessori")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(_flash(page)).to_contain_text("Welcome, Maria Montessori!")
    live_server.flask("users", "set-role", email, "instructor")
    page.goto("/studio/new")
    page.get_by_label("Title", exact=True).fill(f"Hands and minds {uuid.uuid4().hex[:6]}")
    page.get_by_role("button", name="Create course").click()
    expect(_flash(page)).to_contain_text("Course created.")
    studio_url = page.url.split("#")[0]
    for section, lesson in (("Practical life", "Pouring water"), ("Sensorial", "Pink tower")):
        form = page.locator("form").filter(has=page.get_by_role("button", name="Add section"))
        form.get_by_label("Section title", exact=True).fill(section)
        form.get_by_role("button", name="Add section").click()
        page.locator(".studio-section").last.get_by_role("link", name="reading").click()
        page.get_by_label("Lesson title", exact=True).fill(lesson)
        page.get_by_role("button", name="Add lesson").click()
        expect(_flash(page)).to_contain_text("Lesson added.")
        page.goto(studio_url)
    expect(page.locator(".studio-section")).to_have_count(2)
    return email, studio_url


def test_delete_asks_with_javascript_and_the_trash_gives_it_back(
    page: Page, live_server: Any, console: Any
) -> None:
    _, studio_url = _instructor_with_course(page, live_server)
    asked: list[str] = []

    # First the person changes their mind: nothing is deleted.
    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Delete section Practical life").click()
    page.wait_for_timeout(500)  # time enough for a request, had one been sent
    assert (
        asked and "Delete the section “Practical life” with its 1 lesson and 0 files?" in asked[0]
    )
    assert "restore it from the trash for 30 days" in asked[0]
    expect(page.locator(".studio-section")).to_have_count(2)
    expect(page).to_have_url(studio_url)

    # Then they mean it.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete section Practical life").click()
    expect(_flash(page)).to_contain_text("Section “Practical life” moved to the trash.")
    expect(page.locator(".studio-section")).to_have_count(1)
    trash = page.locator("#trash")
    expect(trash).to_contain_text("Section “Practical life”")
    expect(trash).to_contain_text("by Maria Montessori")

    trash.get_by_role("button", name="Restore section Practical life").click()
    expect(_flash(page)).to_contain_text("“Practical life” is back in the course.")
    expect(page.locator(".studio-section")).to_have_count(2)
    expect(page.locator(".studio-section").first).to_contain_text("Pouring water")
    expect(page.locator("#trash")).to_contain_text("The trash is empty.")
    assert console.page_errors == [] and console.csp_violations() == []


def test_delete_asks_on_a_page_without_javascript(
    page: Page, browser: Browser, live_server: Any
) -> None:
    email, studio_url = _instructor_with_course(page, live_server)
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", java_script_enabled=False
    )
    try:
        plain = context.new_page()
        _sign_in(plain, email)
        plain.goto(studio_url)

        plain.get_by_role("button", name="Delete Pink tower").click()
        expect(plain.get_by_role("heading", name="Delete the lesson “Pink tower”?")).to_be_visible()
        expect(plain.get_by_role("main")).to_contain_text("section “Sensorial”")
        plain.get_by_role("link", name="Cancel").click()
        expect(plain.get_by_role("heading", name="Pink tower", level=1)).to_be_visible()
        plain.goto(studio_url)
        expect(plain.get_by_role("link", name="Pink tower")).to_be_visible()  # still there

        plain.get_by_role("button", name="Delete section Sensorial").click()
        expect(plain.get_by_role("heading", name="Delete the section “Sensorial”?")).to_be_visible()
        expect(plain.get_by_role("main")).to_contain_text("1 lesson and 0 files")
        expect(plain.get_by_role("main")).to_contain_text("Pink tower")
        plain.get_by_role("button", name="Move the section to the trash").click()
        expect(_flash(plain)).to_contain_text("Section “Sensorial” moved to the trash.")
        expect(plain.locator(".studio-section")).to_have_count(1)
        expect(plain.get_by_role("link", name="Pink tower")).to_have_count(0)

        plain.locator("#trash").get_by_role("button", name="Restore section Sensorial").click()
        expect(_flash(plain)).to_contain_text("“Sensorial” is back in the course.")
        expect(plain.get_by_role("link", name="Pink tower")).to_be_visible()
    finally:
        context.close()
