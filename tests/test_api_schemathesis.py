"""Schemathesis against the API's own OpenAPI document (marker `fuzz`).

The module serves a seeded app (SQLite, mongomock, bcrypt at 4 rounds, rate limits off)
with werkzeug's HTTP server in a thread, and runs schemathesis' engine, the one behind
`schemathesis run`, against `/api/v1/openapi.json`: every phase (examples, which this
module adds from the seeded data; coverage of each schema's edges; fuzzing; stateful
sequences) and every check, twice:

- anonymous, as the mobile app before sign-in;
- signed in: schemathesis signs in itself (its Web Fuzzing Commons login) as a learner
  enrolled in a published course with a video, a reading and two quizzes (one with the
  default cool-down between attempts, one without), and owning two projects.
  Path parameters come from those objects most of the time (dictionaries), so lessons,
  progress, quiz attempts and projects answer 200 and not only 404. A second learner is
  the peer for `object_level_authorization`: what the first one reads, the second must not.

The seed is fixed and generation deterministic, so a run repeats exactly; FUZZ_EXAMPLES
raises the number of examples per operation for a longer hunt. Why the engine and a
live server rather than schemathesis' pytest plugin: docs/decisions/0019.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import events, from_schema

from app import create_app
from tests.conftest import PASSWORD, Courses, Users, _prepare_schema, base_config

pytestmark = pytest.mark.fuzz

SEED = 20260407
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
LESSON = "/courses/{slug}/lessons/{lesson_id}"

# Schema-valid bodies these operations refuse (422) by rules that depend on stored data,
# which no schema can state: a common password, or one equal to the email or name, and
# the address syntax of email-validator (register); the account's own password (account
# deletion); every question answered, with the quiz's choices (quiz attempts).
STORED_DATA_RULES = [
    ("POST", "/auth/register"),
    ("DELETE", "/users/account"),
    ("POST", f"{LESSON}/quiz-attempts"),
]
# Operations that must succeed at least once in each run, so the run is known to reach
# real objects. The others cannot without a secret (a password, a refresh token).
MUST_SUCCEED = {
    "anonymous": {"GET /courses", "GET /courses/{slug}", "POST /auth/logout"},
    "signed_in": {
        "GET /courses",
        "GET /courses/{slug}",
        "POST /courses/{slug}/enrollment",
        "GET /me/enrollments",
        f"GET {LESSON}",
        f"PUT {LESSON}/progress",
        f"POST {LESSON}/quiz-attempts",
        "GET /users/profile",
        "PUT /users/profile",
        "GET /projects",
        "POST /projects",
        "GET /projects/{project_id}",
        "PUT /projects/{project_id}",
        "DELETE /projects/{project_id}",
    },
}

# Answers each run must have seen, so the documented refusals are checked against real
# ones: progress `completed: true` on a quiz not passed yet, and a quiz's cool-down.
MUST_ANSWER = {
    "anonymous": set(),
    "signed_in": {(f"PUT {LESSON}/progress", 409), (f"POST {LESSON}/quiz-attempts", 429)},
}


@dataclass
class World:
    url: str
    auth_file: Path
    slug: str
    lesson_ids: list[str]
    quiz_ids: list[str]  # the first one has no cool-down
    project_ids: list[str]
    answers: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(base_config(tmp, f"sqlite:///{tmp / 'fuzz.sqlite3'}"), environ={})
    _prepare_schema(app)
    users = Users(app)
    learner = users.create(email="learner@fuzz.example.com", name="Fuzz Learner")
    peer = users.create(email="peer@fuzz.example.com", name="Fuzz Peer")
    course = Courses(app, users).published(lessons=["video", "reading", "quiz", "quiz"])
    lessons = [lesson for section in course.sections for lesson in section.lessons]
    quiz, paced = (lesson for lesson in lessons if lesson.kind == "quiz")
    with app.app_context():
        # One quiz answers every attempt (and shows the answers each time), so attempts
        # succeed and their answers are checked; the other keeps its cool-down, so 429
        # and its Retry-After are checked too.
        quiz.cooldown_minutes = 0
        quiz.reveal = "after_each_attempt"
        course.save()

    client = app.test_client()
    token = client.post(
        "/api/v1/auth/login", json={"email": learner.email, "password": PASSWORD}
    ).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    enrolled = client.post(f"/api/v1/courses/{course.slug}/enrollment", headers=headers)
    assert enrolled.status_code == 201, enrolled.json
    projects = [
        client.post("/api/v1/projects", json={"name": name}, headers=headers).json["project"]["id"]
        for name in ("Fuzzed", "Also fuzzed")
    ]

    auth_file = tmp / "wfc-auth.json"
    auth_file.write_text(json.dumps({"auth": [_wfc_user(learner.email), _wfc_user(peer.email)]}))

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield World(
            url=f"http://127.0.0.1:{server.server_port}/api/v1",
            auth_file=auth_file,
            slug=course.slug,
            lesson_ids=[lesson.id for lesson in lessons],
            quiz_ids=[quiz.id, paced.id],
            project_ids=projects,
            answers={
                **_answers("free", quiz),
                **_answers("paced", paced),
            },
        )
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def _answers(name: str, quiz: Any) -> dict[str, dict[str, Any]]:
    """Every question of `quiz` answered right, and answered wrong."""
    return {
        f"{name} right": {
            q.id: list(q.correct) if q.multiple else q.correct[0] for q in quiz.questions
        },
        f"{name} wrong": {
            q.id: next(c.id for c in q.choices if c.id not in q.correct) for q in quiz.questions
        },
    }


def _wfc_user(email: str) -> dict[str, Any]:
    """Sign in through the API's own login, as the mobile app does."""
    return {
        "name": email.split("@")[0],
        "loginEndpointAuth": {
            "endpoint": "/api/v1/auth/login",
            "verb": "POST",
            "contentType": "application/json",
            "payloadUserPwd": {
                "username": email,
                "usernameField": "email",
                "password": PASSWORD,
                "passwordField": "password",
            },
            "token": {
                "extractFrom": "body",
                "extractSelector": "/access_token",
                "sendIn": "header",
                "sendName": "Authorization",
                "sendTemplate": "Bearer {token}",
            },
        },
    }


def _config(world: World, signed_in: bool) -> schemathesis.Config:
    positive_with_422 = {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
        }
    }
    data: dict[str, Any] = {
        "base-url": world.url,
        "seed": SEED,
        "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES},
        "dictionaries": {
            "slugs": {"values": [world.slug]},
            "lessons": {"values": world.lesson_ids},
            "quizzes": {"values": world.quiz_ids},
            "projects": {"values": world.project_ids},
        },
        "parameters": {
            "path.slug": {"dictionary": "slugs", "probability": 0.8},
            "path.lesson_id": {"dictionary": "lessons", "probability": 0.8},
            "path.project_id": {"dictionary": "projects", "probability": 0.8},
        },
        "operations": [
            *(
                {"include-path": path, "include-method": method, "checks": positive_with_422}
                for method, path in STORED_DATA_RULES
            ),
            {
                "include-path": f"{LESSON}/quiz-attempts",
                "parameters": {"path.lesson_id": {"dictionary": "quizzes", "probability": 0.8}},
            },
        ],
    }
    if signed_in:
        data["auth"] = {
            "wfc": {
                "path": str(world.auth_file),
                "user": "learner",
                "peers": ["learner", "peer"],
                "refresh_interval": 60,
            }
        }
    return schemathesis.Config.from_dict(data)


def _add_examples(doc: dict[str, Any], world: World) -> None:
    """Examples from the seeded data (the served document has none): both quizzes
    answered right and wrong, and progress on them, so those succeed, not only fail."""
    for path, method, bodies in [
        (
            f"{LESSON}/quiz-attempts",
            "post",
            {name: {"answers": answers} for name, answers in world.answers.items()},
        ),
        (
            f"{LESSON}/progress",
            "put",
            {"done": {"completed": True}, "at": {"position_seconds": 42}},
        ),
    ]:
        operation = doc["paths"][path][method]
        for parameter in operation["parameters"]:
            values = {"slug": [world.slug], "lesson_id": world.quiz_ids}[parameter["name"]]
            parameter["examples"] = {value: {"value": value} for value in values}
        content = operation["requestBody"]["content"]["application/json"]
        content["examples"] = {name: {"value": body} for name, body in bodies.items()}


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    checks: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        operations = {k: v for k, v in self.statuses.items() if " on " not in k}
        others: Counter[int] = Counter()
        for label, statuses in self.statuses.items():
            if " on " in label:
                others.update(statuses)
        lines = [
            f"{len(operations)} operations, {self.requests} requests, "
            f"{sum(self.checks.values())} checks in {self.seconds:.0f} s",
            "checks: " + ", ".join(sorted(self.checks)),
        ]
        lines += [
            f"  {label}: {dict(sorted(c.items()))}" for label, c in sorted(operations.items())
        ]
        lines.append(f"  methods the document does not list: {dict(sorted(others.items()))}")
        return "\n".join(lines)


def _run(world: World, signed_in: bool) -> Report:
    config = _config(world, signed_in)
    schema = schemathesis.openapi.from_url(f"{world.url}/openapi.json", config=config)
    _add_examples(schema.raw_schema, world)
    report = Report()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(report, event.recorder)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            report.failures.append(f"schemathesis error: {event!r}"[:3000])
        elif isinstance(event, events.EngineFinished):
            report.seconds = event.running_time
    return report


def _record(report: Report, recorder: Any) -> None:
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is None:
            continue
        report.requests += 1
        case = recorder.cases[case_id].value
        # Other methods on the same path (the unsupported_method check) count apart.
        label = case.operation.label
        if case.method.upper() != case.operation.method.upper():
            label = f"{case.method.upper()} on {case.operation.path}"
        report.statuses.setdefault(label, Counter())[interaction.response.status_code] += 1
    for checks in recorder.checks.values():
        for check in checks:
            report.checks[check.name] += 1
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            report.failures.append(
                f"{check.name}: {failure.title}\n{failure.message}\n"
                f"  {check.failure_info.code_sample}"
            )


@pytest.mark.filterwarnings(
    # Hypothesis warns while it prints a large generated value for schemathesis' report;
    # the value is what was sent, and the warning says nothing about the API.
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)
@pytest.mark.parametrize("identity", ["anonymous", "signed_in"])
def test_the_api_keeps_to_its_openapi_document(world: World, identity: str) -> None:
    report = _run(world, signed_in=identity == "signed_in")
    print(report.summary())  # shown with -s, and below any failure
    assert not report.failures, "\n\n".join(report.failures) + "\n\n" + report.summary()
    succeeded = {
        label
        for label, statuses in report.statuses.items()
        if any(200 <= s < 300 for s in statuses)
    }
    assert MUST_SUCCEED[identity] <= succeeded, report.summary()
    answered = {
        (label, status) for label, statuses in report.statuses.items() for status in statuses
    }
    assert MUST_ANSWER[identity] <= answered, report.summary()
