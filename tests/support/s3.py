"""A real S3-API server for tests: moto's `moto_server`, as a subprocess on a free port.

    server = MotoServer(log_dir).start()
    bucket = server.make_bucket()          # unique name, CORS for browser uploads
    server.client().put_object(Bucket=bucket, Key="a/b", Body=b"x")
    server.stop()

A subprocess rather than moto's in-process decorators: the code under test talks HTTP
to it exactly as it would to S3 (signing, retries, streaming bodies, presigned URLs that
a browser or `requests` fetches), and a crash in it cannot take the test process along.

What moto checks and what it does not (moto 5.x; tests/storage/ rely on this list):
- it answers CORS preflights from the bucket's CORS rules (an origin not allowed gets
  403) and exposes the headers the rule names, so a browser can read a part's ETag;
- it does NOT verify presigned URLs: neither their signature nor their expiry;
- it does NOT enforce a presigned POST's policy: not content-length-range, not the key,
  not the signature (tests assert on the signed policy document instead);
- it enforces S3's 5 MiB minimum for every part but the last on completion.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

HOST = "127.0.0.1"
REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # noqa: S105 - moto accepts any credentials
START_TIMEOUT = 20.0

BROWSER_CORS = {
    "CORSRules": [
        {
            # PUT: presigned multipart parts; POST: the presigned form; GET: media.
            "AllowedMethods": ["PUT", "POST", "GET"],
            "AllowedOrigins": ["*"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3000,
        }
    ]
}


class MotoError(RuntimeError):
    """moto_server is missing, or did not start in time."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def moto_binary() -> str | None:
    """The moto_server script installed next to this Python, or None."""
    path = Path(sys.executable).parent / "moto_server"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


_SESSION: Any = None


def boto_session() -> Any:
    """One boto3 session for the test process: a new one reads botocore's service models
    from disk again (about half a second); clients made from it are thread-safe."""
    global _SESSION
    if _SESSION is None:
        _SESSION = boto3.session.Session()
    return _SESSION


def unique_bucket(prefix: str = "lectern-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class MotoServer:
    """One moto_server process on 127.0.0.1; everything it stores is in its memory."""

    def __init__(self, log_dir: Path, binary: str | None = None):
        self.binary = binary or moto_binary()
        self.log_path = Path(log_dir) / "moto.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._client: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> MotoServer:
        if self.running:
            return self
        if not self.binary:
            raise MotoError("moto_server is not installed (the moto[server] test dependency)")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        self._proc = subprocess.Popen(
            [self.binary, "-H", HOST, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        atexit.register(self._proc.kill)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.stop()
                raise MotoError(f"moto_server exited:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.endpoint}/moto-api/", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise MotoError(f"moto_server did not answer within {START_TIMEOUT} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            atexit.unregister(proc.kill)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no moto log)"

    def client(self, endpoint: str | None = None, **config: Any) -> Any:
        """A plain boto3 client for arranging and inspecting, outside the code under test
        (the default one is made once: clients are thread-safe)."""
        if endpoint is None and not config:
            if self._client is None:
                self._client = self.client(self.endpoint)
            return self._client
        return boto_session().client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, **config),
        )

    def make_bucket(self, name: str | None = None, cors: dict[str, Any] | None = None) -> str:
        """A new bucket (unique name) with BROWSER_CORS unless `cors` says otherwise
        ({} for none)."""
        name = name or unique_bucket()
        client = self.client()
        client.create_bucket(Bucket=name)
        rules = BROWSER_CORS if cors is None else cors
        if rules:
            client.put_bucket_cors(Bucket=name, CORSConfiguration=rules)
        return name

    def storage_environ(self, bucket: str, endpoint: str | None = None) -> dict[str, str]:
        """The settings that point an app at `bucket` on this server."""
        return {
            "S3_BUCKET": bucket,
            "S3_REGION": REGION,
            "S3_ENDPOINT_URL": endpoint or self.endpoint,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
