"""Sign-up's inline validation checks the field the person just left and never clears the
password they typed; the form still works with JavaScript off."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Browser, Page, expect

PASSWORD = "a quiet river at dawn"


def _field(page: Page, name: str) -> Any:
    return page.locator(f"#{name}-field")


def test_inline_validation_keeps_the_typed_password(page: Page, console: Any) -> None:
    page.goto("/signup")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    password = page.get_by_label("Password", exact=True)
    email = page.get_by_label("Email", exact=True)

    page.get_by_label("Your name", exact=True).fill("Rosalind Franklin")
    password.fill(PASSWORD)
    email.fill("rosalind-at-example")  # leaving the password validates it
    email.press("Tab")

    expect(_field(page, "email")).to_contain_text("Enter a valid email address.")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_value(PASSWORD)
    expect(_field(page, "password").locator(".error")).to_have_count(0)
    expect(page.locator(".error")).to_have_count(1)

    # A password that breaks a rule: the error shows next to it, and it is still there to fix.
    password.fill("short")
    password.press("Tab")
    expect(_field(page, "password").locator(".error")).to_have_text("Use at least 12 characters.")
    expect(password).to_have_value("short")
    expect(email).to_have_value("rosalind-at-example")
    expect(_field(page, "email")).to_contain_text("Enter a valid email address.")

    password.fill(PASSWORD)
    password.press("Tab")
    expect(_field(page, "password").locator(".error")).to_have_count(0)
    expect(password).to_have_value(PASSWORD)
    email.fill(f"rosalind-{uuid.uuid4().hex[:8]}@example.com")
    email.press("Tab")
    expect(_field(page, "email").locator(".error")).to_have_count(0)
    expect(password).to_have_value(PASSWORD)

    # The password survived, so the account is created without typing it again.
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("Welcome, Rosalind Franklin!")
    assert console.page_errors == [] and console.csp_violations() == []


def test_sign_up_without_javascript(browser: Browser, live_server: Any) -> None:
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.goto("/signup")
        page.get_by_label("Your name", exact=True).fill("Barbara McClintock")
        page.get_by_label("Email", exact=True).fill("barbara-at-example")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(_field(page, "email")).to_contain_text("Enter a valid email address.")
        page.get_by_label("Email", exact=True).fill(f"barbara-{uuid.uuid4().hex[:8]}@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("status")).to_contain_text("Welcome, Barbara McClintock!")
    finally:
        context.close()
