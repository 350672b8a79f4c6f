"""Back and Forward after a live search give the whole page back, never the bare results.

Two ways the browser comes back to a URL that a live search pushed:
- inside the same page, htmx restores it: its history cache is off (`historyCacheSize: 0`
  in base.html), so it asks the server with `HX-History-Restore-Request`;
- after leaving for another page, the browser loads the URL itself, from its own cache if
  it can; the fragment it fetched for the live search must not be served from there.
"""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Page, expect

PASSWORD = "a quiet river at dawn"


def _watch_restores(page: Page) -> list[str]:
    restores: list[str] = []
    page.on(
        "request",
        lambda r: restores.append(r.url) if r.headers.get("hx-history-restore-request") else None,
    )
    return restores


def _expect_whole_page(page: Page, search_box: Any, value: str, fragment: str) -> None:
    expect(page.get_by_role("banner")).to_be_visible()
    expect(page.get_by_role("contentinfo")).to_be_visible()
    expect(search_box).to_be_visible()
    expect(search_box).to_have_value(value)
    expect(page.locator(fragment)).to_have_count(1)


def _search(page: Page, search_box: Any, words: str) -> None:
    search_box.fill(words)
    page.wait_for_url(f"**q={words}**")


def test_back_and_forward_after_a_catalog_search(page: Page, console: Any) -> None:
    # Words no course has (other tests share this server's catalog).
    tides, moons, stars = (f"{w}{uuid.uuid4().hex[:6]}" for w in ("tides", "moons", "stars"))
    restores = _watch_restores(page)
    page.goto("/courses")
    box = page.get_by_role("searchbox", name="Search")
    _search(page, box, tides)
    expect(page.locator("#results")).to_contain_text(f"0 courses for “{tides}”")

    # Leave for another page, then come back: the browser loads the URL itself (from
    # its cache, where the live search left the fragment, unless the answer varies).
    page.get_by_role("banner").get_by_role("link", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.go_back()
    page.wait_for_url(f"**q={tides}**")
    box = page.get_by_role("searchbox", name="Search")
    _expect_whole_page(page, box, tides, "#results")
    page.go_forward()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.go_back()
    page.wait_for_url(f"**q={tides}**")
    _expect_whole_page(page, box, tides, "#results")
    assert not restores  # so far the browser did it all

    # Back and Forward inside the page: htmx restores each search from the server.
    _search(page, box, moons)
    expect(page.locator("#results")).to_contain_text(f"0 courses for “{moons}”")
    _search(page, box, stars)
    expect(page.locator("#results")).to_contain_text(f"0 courses for “{stars}”")
    page.go_back()
    page.wait_for_url(f"**q={moons}**")
    _expect_whole_page(page, box, moons, "#results")
    expect(page.locator("#results")).to_contain_text(f"for “{moons}”")
    assert restores, "Back did not make a history-restore request"
    page.go_forward()
    page.wait_for_url(f"**q={stars}**")
    _expect_whole_page(page, box, stars, "#results")
    expect(page.locator("#results")).to_contain_text(f"for “{stars}”")
    assert console.page_errors == []


def test_back_and_forward_after_an_admin_user_search(
    page: Page, live_server: Any, console: Any
) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    mine, nobody = email.split("@")[0], f"nobody{uuid.uuid4().hex[:6]}"
    page.goto("/signup")
    page.get_by_label("Your name", exact=True).fill("Grace Hopper")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("banner").get_by_role("link", name="Grace Hopper")).to_be_visible()
    live_server.flask("users", "set-role", email, "admin")

    restores = _watch_restores(page)
    page.goto("/admin/users")
    box = page.get_by_role("searchbox", name="Search by name or email")
    _search(page, box, mine)
    expect(page.locator("#rows")).to_contain_text("1 user")
    page.get_by_role("banner").get_by_role("link", name="Events", exact=True).click()
    expect(page.get_by_role("heading", name="Events", level=1)).to_be_visible()
    page.go_back()
    page.wait_for_url(f"**q={mine}**")
    _expect_whole_page(page, box, mine, "#rows")
    assert not restores

    _search(page, box, nobody)
    expect(page.locator("#rows")).to_contain_text("0 users")

    page.go_back()
    page.wait_for_url(f"**q={mine}**")
    box = page.get_by_role("searchbox", name="Search by name or email")
    _expect_whole_page(page, box, mine, "#rows")
    expect(page.locator("#rows")).to_contain_text(email)
    assert restores, "Back did not make a history-restore request"

    page.go_forward()
    page.wait_for_url(f"**q={nobody}**")
    _expect_whole_page(page, box, nobody, "#rows")
    assert console.page_errors == []
