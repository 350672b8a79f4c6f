"""A person's first visit: sign up, confirm the email, sign out and in, edit the profile."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

PASSWORD = "a quiet river at dawn"
VERIFY_LINK = re.compile(r"(https?://\S+?/verify-email/[A-Za-z0-9_\-]+)")


def _header(page: Page) -> Any:
    return page.get_by_role("banner")


def _sign_up(page: Page, name: str, email: str) -> None:
    page.goto("/")
    _header(page).get_by_role("link", name="Sign up", exact=True).click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Your name", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {name}!")
    expect(_header(page).get_by_role("link", name=name, exact=True)).to_be_visible()


def _sign_out(page: Page) -> None:
    _header(page).get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    expect(_header(page).get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    expect(_header(page).get_by_role("button", name="Sign out")).to_have_count(0)


def test_sign_up_confirm_sign_in_and_edit_profile(page: Page, live_server: Any, console: Any):
    name = "Ada Lovelace"
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"

    _sign_up(page, name, email)

    # The verification email arrives through the embedded event bus.
    message = live_server.wait_for_mail(email, subject="Confirm your email")
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = VERIFY_LINK.search(text)
    assert match, f"no /verify-email/ link in the email:\n{text}"
    link = match.group(1)
    assert link.startswith(f"{live_server.url}/verify-email/"), link

    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    page.get_by_role("button", name="Confirm my email").click()
    expect(page.get_by_role("status")).to_contain_text("Your email address is confirmed.")
    expect(page).to_have_url(f"{live_server.url}/")

    # The link works once.
    page.goto(link)
    expect(
        page.get_by_text("This confirmation link is invalid, already used or expired.")
    ).to_be_visible()

    _sign_out(page)

    _header(page).get_by_role("link", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    profile_link = _header(page).get_by_role("link", name=name, exact=True)
    expect(profile_link).to_be_visible()

    profile_link.click()
    expect(page).to_have_url(f"{live_server.url}/account/profile")
    expect(page.get_by_text("confirmed", exact=True)).to_be_visible()
    new_name = "Ada King"
    bio = "Writes notes on the Analytical Engine & <other> machines."
    page.get_by_label("Name", exact=True).fill(new_name)
    page.get_by_label("About you", exact=True).fill(bio)
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("status")).to_contain_text("Your profile is saved.")

    page.reload()
    expect(_header(page).get_by_role("link", name=new_name, exact=True)).to_be_visible()
    expect(_header(page).get_by_role("link", name=name, exact=True)).to_have_count(0)
    expect(page.get_by_label("Name", exact=True)).to_have_value(new_name)
    expect(page.get_by_label("About you", exact=True)).to_have_value(bio)

    _sign_out(page)
    assert console.page_errors == []


def test_pages_load_htmx_without_csp_violations(page: Page, live_server: Any, console: Any):
    name = "Grace Hopper"
    email = f"grace-{uuid.uuid4().hex[:8]}@example.com"

    _sign_up(page, name, email)
    assert page.evaluate("typeof htmx") == "object"

    page.goto("/account/profile")
    assert page.evaluate("typeof htmx") == "object"
    page.get_by_label("About you", exact=True).fill("Compilers, and nanoseconds.")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("status")).to_contain_text("Your profile is saved.")

    _sign_out(page)
    _header(page).get_by_role("link", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("typeof htmx") == "object"

    assert console.csp_violations() == []
    assert console.page_errors == []
