"""Storage engine tests: both engines, the S3 one against moto_server (tests/support/s3.py),
faults injected by a proxy in front of it (tests/support/fault_proxy.py).

Tests that use an S3-API server (`s3_server`, or test_deploy_aws.py's `iam_server`) are
marked `s3`. Apps here use SQLite only: storage does not touch the relational database,
so PostgreSQL would only double the run time. (tests/media/ tests the upload domain
built on these engines.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from app.media.s3 import PART_MIN, S3Storage, make_client
from app.media.storage import Storage
from tests.support.fault_proxy import FaultProxy
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, boto_session

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path).resolve()
        uses = set(getattr(item, "fixturenames", ())) & {"s3_server", "iam_server"}
        if HERE in path.parents and uses:
            item.add_marker(pytest.mark.s3)


@pytest.fixture
def database_uri(sqlite_url: str) -> str:
    return sqlite_url


def s3_storage(endpoint: str, bucket: str, **options: Any) -> S3Storage:
    """The engine under test on `bucket`, talking to `endpoint` (moto, or a proxy)."""
    attempts = options.pop("max_attempts", 3)
    client = make_client(
        region=REGION,
        endpoint_url=endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        max_attempts=attempts,
        session=boto_session(),
    )
    options.setdefault("part_size", PART_MIN)
    return S3Storage(bucket, client, max_attempts=attempts, **options)


@pytest.fixture
def s3_store(s3_server: MotoServer, s3_bucket: str) -> S3Storage:
    return s3_storage(s3_server.endpoint, s3_bucket)


@pytest.fixture
def fault_proxy(s3_server: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint) as proxy:
        yield proxy


@pytest.fixture
def faulty_store(s3_server: MotoServer, s3_bucket: str, fault_proxy: FaultProxy) -> S3Storage:
    """The engine talking to moto through the fault proxy, with 3 attempts per call."""
    return s3_storage(fault_proxy.url, s3_bucket, max_attempts=3)


@pytest.fixture
def bucket_client(s3_server: MotoServer) -> Any:
    """A boto3 client straight to moto, to look at a bucket behind the engine's back."""
    return s3_server.client()


@dataclass
class Fetched:
    status: int
    body: bytes
    headers: Mapping[str, str]  # case-insensitive, as HTTP header names are


@dataclass
class Engine:
    """A store and a way to fetch its delivery URLs as a client would."""

    name: str
    store: Storage
    fetch: Callable[..., Fetched]
    leftovers: Callable[[], list[str]]  # multipart uploads or partial files left behind


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Each contract test runs on the local folder (through the Flask app, whose media
    route serves the delivery URL) and on a moto bucket (fetched over HTTP)."""
    if request.param == "local":
        app = request.getfixturevalue("app")
        client = app.test_client()
        store = app.extensions["storage"]

        def fetch_local(url: str, headers: dict[str, str] | None = None) -> Fetched:
            with client.get(url, headers=headers or {}) as answer:
                return Fetched(answer.status_code, answer.get_data(), answer.headers)

        def partial_files() -> list[str]:
            root = Path(store.root)
            return [p.name for p in root.rglob(".*")] if root.exists() else []

        with app.app_context():
            yield Engine("local", store, fetch_local, partial_files)
        return
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    store = s3_storage(server.endpoint, bucket)
    raw = server.client()

    def fetch_s3(url: str, headers: dict[str, str] | None = None) -> Fetched:
        answer = requests.get(url, headers=headers or {}, timeout=10)
        return Fetched(answer.status_code, answer.content, answer.headers)

    def open_uploads() -> list[str]:
        return [u["Key"] for u in raw.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    yield Engine("s3", store, fetch_s3, open_uploads)
