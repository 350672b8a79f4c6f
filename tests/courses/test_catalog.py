"""Catalog search, facets, sorting and paging, through the page and the API."""

from __future__ import annotations

import pytest


@pytest.fixture
def shelf(courses, users):
    teacher = users.create("instructor", name="Grace Hopper")
    made = {
        "python": courses.published(
            teacher,
            title="Python Basics",
            category="Programming",
            tags="python, beginners",
            level="beginner",
        ),
        "pandas": courses.published(
            teacher,
            title="Data with Pandas",
            category="Data",
            tags="python, data",
            level="intermediate",
            language="de",
        ),
        "design": courses.published(
            teacher, title="Design Systems", category="Design", tags="design", level="advanced"
        ),
        "draft": courses.draft(teacher, title="Python Secrets Draft", category="Programming"),
    }
    return made


def titles(response):
    return sorted(item["title"] for item in response.json["items"])


def test_only_published_courses_are_listed(client, shelf):
    response = client.get("/api/v1/courses")
    assert response.json["total"] == 3
    assert "Python Secrets Draft" not in titles(response)
    page = client.get("/courses").get_data(as_text=True)
    assert "Design Systems" in page and "Python Secrets Draft" not in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=pyth", ["Data with Pandas", "Python Basics"]),  # prefix, and tags count
        ("q=PYTHON basics", ["Python Basics"]),  # every word must match
        ("q=hopper", ["Data with Pandas", "Design Systems", "Python Basics"]),  # instructor
        ("q=nothing-like-this", []),
        ("category=Data", ["Data with Pandas"]),
        ("level=advanced", ["Design Systems"]),
        ("language=de", ["Data with Pandas"]),
        ("tag=python", ["Data with Pandas", "Python Basics"]),
        ("tag=python&level=beginner", ["Python Basics"]),
    ],
)
def test_search_and_filters(client, shelf, query, expected):
    assert titles(client.get(f"/api/v1/courses?{query}")) == expected


def test_regex_and_operator_input_is_plain_text(client, shelf):
    # Regex characters inside a word are literal: "p.thon" is not a pattern for "python".
    assert titles(client.get("/api/v1/courses?q=p.thon")) == []
    # No word at all is no filter, like an empty box.
    assert client.get("/api/v1/courses?q=.*").json["total"] == 3
    # Bracketed "operator" parameters are just unknown names and are ignored.
    for query in ["q[$ne]=x", "category[$ne]=", "level[$gt]="]:
        response = client.get(f"/api/v1/courses?{query}")
        assert response.status_code == 200 and response.json["total"] == 3, query


def test_sorting_and_paging(client, shelf, courses, users):
    learner = users.create()
    from app.courses import learning

    with client.application.app_context():
        learning.do_enroll(courses.actor(learner), shelf["design"])
    popular = client.get("/api/v1/courses?sort=popular").json["items"]
    assert popular[0]["title"] == "Design Systems"
    by_title = [c["title"] for c in client.get("/api/v1/courses?sort=title").json["items"]]
    assert by_title == sorted(by_title)
    first = client.get("/api/v1/courses?sort=title&per_page=2&page=1").json
    second = client.get("/api/v1/courses?sort=title&per_page=2&page=2").json
    assert (first["total"], len(first["items"]), len(second["items"])) == (3, 2, 1)
    assert {c["slug"] for c in first["items"]}.isdisjoint({c["slug"] for c in second["items"]})


@pytest.mark.parametrize(
    "query", ["sort=random", "level=expert", "page=0", "page=abc", "per_page=500", "per_page=-1"]
)
def test_bad_catalog_parameters(client, shelf, query):
    response = client.get(f"/api/v1/courses?{query}")
    assert response.status_code == 422 and response.json["error"]["fields"]
    page = client.get(f"/courses?{query}")
    assert page.status_code == 200 and "were not valid" in page.get_data(as_text=True)


def test_facets_count_published_courses(client, shelf):
    html = client.get("/courses").get_data(as_text=True)
    assert "Programming (1)" in html and "Data (1)" in html and "python (2)" in html
    assert "de (1)" in html


def test_live_search_returns_the_results_region(client, shelf):
    response = client.get("/courses?q=design", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="results"') and "<html" not in body
    assert "Design Systems" in body and "Python Basics" not in body


def test_empty_state_offers_to_clear(client, shelf):
    body = client.get("/courses?q=zzzz").get_data(as_text=True)
    assert "No course matches" in body and 'href="/courses"' in body


def test_course_detail_has_outline_but_no_private_content(client, courses):
    course = courses.published(lessons=["reading", "quiz"])
    detail = client.get(f"/api/v1/courses/{course.slug}").json["course"]
    assert [len(s["lessons"]) for s in detail["sections"]] == [2]
    text = str(detail)
    assert "Body of lesson" not in text and "correct" not in text and "questions" not in text


def test_drafts_are_not_found_for_others_but_visible_to_their_instructor(client, courses, api):
    course = courses.draft()
    assert client.get(f"/courses/{course.slug}").status_code == 404
    assert client.get(f"/api/v1/courses/{course.slug}").status_code == 404
    token = api.login(course.owner.email)["access_token"]
    own = api.call("GET", f"/courses/{course.slug}", token)
    assert own.status_code == 200 and own.json["course"]["status"] == "draft"
    assert api.call("GET", f"/courses/{course.slug}", "bad-token").status_code == 401
