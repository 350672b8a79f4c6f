"""Projects: pages and API, owner only (anyone else gets 404, never 403)."""

from __future__ import annotations

from tests.conftest import PASSWORD


def test_project_pages_crud(client, auth):
    auth.login()
    assert "No projects yet" in client.get("/projects/").get_data(as_text=True)
    created = client.submit(
        "/projects/new",
        {"name": "Bird feeder", "description": "Wood", "course_slug": "woodwork-101"},
    )
    assert created.status_code == 302
    url = created.headers["Location"]
    page = client.get(url).get_data(as_text=True)
    assert "Bird feeder" in page and "woodwork-101" in page
    edited = client.submit(f"{url}/edit", {"name": "Bat box", "description": "", "course_slug": ""})
    assert edited.status_code == 302
    assert "Bat box" in client.get("/projects/").get_data(as_text=True)
    assert client.submit(f"{url}/delete").status_code == 303
    assert client.get(url).status_code == 404


def test_project_page_validation(client, auth):
    auth.login()
    for data in [
        {"name": ""},
        {"name": "<i>x</i>"},
        {"name": "ok", "course_slug": "Not A Slug"},
        {"name": "ok", "course_slug": "../../x"},
    ]:
        assert client.submit("/projects/new", data).status_code == 422, data
    assert "No projects yet" in client.get("/projects/").get_data(as_text=True)


def test_someone_elses_project_is_not_found(client, app, users, api):
    owner = users.create(email="owner@example.com")
    owner_client = app.test_client()
    owner_client.submit("/signin", {"email": owner.email, "password": PASSWORD})
    url = owner_client.submit("/projects/new", {"name": "Private"}).headers["Location"]
    project_id = url.rstrip("/").rsplit("/", 1)[-1]

    intruder = users.create(email="intruder@example.com")
    client.submit("/signin", {"email": intruder.email, "password": PASSWORD})
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/edit").status_code == 404
    assert client.submit(f"{url}/edit", {"name": "Mine now"}).status_code == 404
    assert client.submit(f"{url}/delete").status_code == 404
    assert "Private" not in client.get("/projects/").get_data(as_text=True)

    token = api.login(intruder.email)["access_token"]
    for method, kwargs in [("GET", {}), ("PUT", {"json": {"name": "Mine now"}}), ("DELETE", {})]:
        response = api.call(method, f"/projects/{project_id}", token, **kwargs)
        assert response.status_code == 404, method
        assert response.json["error"]["code"] == "not_found"
    assert api.call("GET", "/projects", token).json["items"] == []
    # Untouched for the owner.
    assert "Private" in owner_client.get(url).get_data(as_text=True)


def test_project_api_crud(api, users):
    token = api.login(users.create().email)["access_token"]
    created = api.call(
        "POST",
        "/projects",
        token,
        json={"name": "Robot", "description": "Arduino", "course_slug": None},
    )
    assert created.status_code == 201
    project = created.json["project"]
    assert project["name"] == "Robot" and project["course_slug"] is None
    pid = project["id"]
    got = api.call("GET", f"/projects/{pid}", token).json["project"]
    assert got == project
    put = api.call("PUT", f"/projects/{pid}", token, json={"course_slug": "robotics"})
    assert put.status_code == 200
    assert put.json["project"]["course_slug"] == "robotics"
    assert put.json["project"]["name"] == "Robot"
    cleared = api.call("PUT", f"/projects/{pid}", token, json={"course_slug": None})
    assert cleared.json["project"]["course_slug"] is None
    bad = api.call("PUT", f"/projects/{pid}", token, json={"course_slug": "NOT OK"})
    assert bad.status_code == 422 and "course_slug" in bad.json["error"]["fields"]
    assert [p["id"] for p in api.call("GET", "/projects", token).json["items"]] == [pid]
    assert api.call("DELETE", f"/projects/{pid}", token).status_code == 204
    assert api.call("GET", f"/projects/{pid}", token).status_code == 404


def test_deleting_a_project_asks_first(client, auth, app, users):
    auth.login()
    url = client.submit("/projects/new", {"name": "Bird feeder", "description": "Wood"}).headers[
        "Location"
    ]
    page = client.get(url).get_data(as_text=True)
    # Without JavaScript the button opens a confirm page; htmx asks in the browser.
    assert f'<form method="get" action="{url}/delete"' in page
    assert 'hx-confirm="Delete the project “Bird feeder”? This cannot be undone."' in page
    asked = client.get(f"{url}/delete")
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Delete the project “Bird feeder”?" in text
    assert 'name="csrf_token"' in text and "Cancel" in text
    assert client.get(url).status_code == 200  # a GET deletes nothing
    assert client.post(f"{url}/delete").status_code == 400  # nor a POST without CSRF
    done = client.submit(f"{url}/delete", follow_redirects=True)
    assert "Project “Bird feeder” deleted." in done.get_data(as_text=True)
    assert client.get(url).status_code == 404

    owner_url = url
    intruder = app.test_client()
    stranger = users.create()
    intruder.submit("/signin", {"email": stranger.email, "password": PASSWORD})
    assert intruder.get(f"{owner_url}/delete").status_code == 404
