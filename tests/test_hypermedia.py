"""One URL, two answers: the whole page, or for htmx the region's partial (app/web.py).

Back and Forward after a live search must give the whole page back: htmx asks for it
with `HX-History-Restore-Request`, and a browser or proxy cache must not hand a stored
fragment to a normal navigation (`Vary`).
"""

from __future__ import annotations

import pytest

HTMX = {"HX-Request": "true"}
RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}


def _vary(response):
    return {v.strip().lower() for v in response.headers.get("Vary", "").split(",") if v.strip()}


def _is_whole_page(body: str) -> bool:
    return "<html" in body and 'class="site-header"' in body and "</html>" in body


@pytest.fixture
def admin(auth):
    return auth.login("admin", name="Ada Admin")


SEARCHES = {
    "catalog": ("/courses?q=zebra", 'id="catalog-search"', '<section id="results"'),
    "admin users": ("/admin/users?q=ada", 'action="/admin/users" role="search"', '<div id="rows">'),
}


@pytest.mark.parametrize("where", list(SEARCHES))
def test_live_search_gets_the_fragment_and_a_restore_gets_the_page(client, admin, where):
    url, search_form, fragment = SEARCHES[where]

    live = client.get(url, headers=HTMX).get_data(as_text=True)
    assert live.lstrip().startswith(fragment) and "<html" not in live

    restored = client.get(url, headers=RESTORE)
    body = restored.get_data(as_text=True)
    assert restored.status_code == 200
    assert _is_whole_page(body), body[:300]
    assert search_form in body and fragment in body

    boosted = client.get(url, headers=BOOSTED).get_data(as_text=True)
    assert _is_whole_page(boosted)


@pytest.mark.parametrize("where", list(SEARCHES))
def test_both_answers_say_they_vary_by_the_htmx_headers(client, admin, where):
    url = SEARCHES[where][0]
    for headers in ({}, HTMX, RESTORE):
        vary = _vary(client.get(url, headers=headers))
        assert {"hx-request", "hx-history-restore-request"} <= vary, (headers, vary)


def test_a_guest_catalog_page_varies_too(client):
    # Guests get no `no-store`: this is the answer a browser's back/forward cache keeps.
    response = client.get("/courses?q=zebra")
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert "hx-request" in _vary(response)


def test_redirects_vary_by_hx_request(client):
    # htmx gets a 204 with HX-Redirect where a browser gets the 302 (app/web.py).
    page = client.get("/account/profile")  # not signed in: a redirect to /signin
    assert page.status_code == 302 and "hx-request" in _vary(page)
    htmx = client.get("/account/profile", headers=HTMX)
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/signin")
    assert "hx-request" in _vary(htmx)


def test_a_page_without_a_partial_does_not_vary(client):
    response = client.get("/signin")
    assert response.status_code == 200 and "hx-request" in _vary(response)  # has a partial
    about = client.get("/")
    assert "hx-request" not in _vary(about)
