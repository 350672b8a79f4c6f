"""Does a large upload leave the web process's memory and other requests alone?
(SPEC §10, issue 9)

It serves a fresh DATA_DIR with gunicorn exactly as `make run` does (the local store,
the embedded bus), signs in as the demo instructor, and then, side by side in one run:

1. idle: a steady stream of other requests (the catalog, a course page, the studio)
   for a while, timing each: half of --idle-seconds before the upload and half after,
   so a machine that drifts during the run does not pass for the upload's doing;
2. upload: the same stream while a file of --size (2 GiB by default) is uploaded
   through the tus endpoint in UPLOAD_CHUNK_BYTES chunks, as the studio's script does,
   from a process of its own at --mib-per-second (25 MiB/s, 210 Mbit/s, by default:
   more than most instructors' uplinks; on this 2-core machine the uploader, its
   hashing and both ends of the loopback share the cores with the server).

It samples the gunicorn worker's resident memory throughout, checks that the stored
file is byte-identical to what was sent (sha256), and prints the figures. Exit status 1
if the worker's memory grew by more than --max-growth-mib while uploading, or if the
other requests' p95 during the upload is more than 25 % above its idle value.

    .venv/bin/python -m bench.uploads                   # 2 GiB
    .venv/bin/python -m bench.uploads --size 256M       # a quick look
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INSTRUCTOR = "instructor@lectern.test"
MiB = 1024 * 1024
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def parse_size(text: str) -> int:
    units = {"": 1, "K": 1024, "M": MiB, "G": 1024 * MiB}
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 2G or 256M)")
    return int(match.group(1)) * units[match.group(2)]


# ------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("GUNICORN_BIND", "FLASK_APP", "DATABASE_URL", "MONGODB_URI", "S3_BUCKET"):
            env.pop(name, None)
        env.update(
            DATA_DIR=str(self.data_dir),
            PORT=str(self.port),
            KAFKA_BOOTSTRAP_SERVERS="",
            REDIS_URL="",
            PUBLIC_URL="",
            SENDGRID_API_KEY="",
            LECTERN_ENV="development",
            EVENT_BUS="embedded",
            RATELIMIT_ENABLED="false",
            LOG_LEVEL="WARNING",
        )
        return env

    def start(self) -> None:
        log = open(self.data_dir.parent / "server.log", "ab")  # noqa: SIM115
        for command in (["db", "upgrade"], ["seed-demo", "--if-empty"]):
            subprocess.run(  # noqa: S603 - our own flask, fixed arguments
                [str(BIN / "flask"), "--app", "wsgi", *command],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=300,
            )
        self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--no-control-socket", "wsgi:app"],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    if self.worker_pid():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start; see server.log")

    def worker_pid(self) -> int | None:
        """The gunicorn worker (the master's child) that serves the requests."""
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        children = path.read_text().split() if path.exists() else []
        return int(children[0]) if children else None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------ a browser's session


class Session:
    """Cookies and the CSRF token over plain http.client (one connection per call)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body=body, headers=sent)  # type: ignore[arg-type]
        response = conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        conn.close()
        return response.status, dict(response.headers), data

    def sign_in(self, email: str, password: str) -> None:
        _, _, page = self.request("GET", "/signin")
        self.token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()  # type: ignore[union-attr]
        form = urllib.parse.urlencode(
            {"email": email, "password": password, "csrf_token": self.token}
        )
        status, _, _ = self.request(
            "POST", "/signin", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status not in (302, 303):
            raise RuntimeError(f"sign-in failed: {status}")
        _, _, page = self.request("GET", "/studio/")
        self.token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()  # type: ignore[union-attr]


def video_lesson(session: Session) -> tuple[str, str]:
    """(course slug, lesson id) of one of the instructor's video lessons."""
    _, _, page = session.request("GET", "/studio/")
    for slug in re.findall(rb'href="/studio/([a-z0-9-]+)"', page):
        _, _, outline = session.request("GET", f"/studio/{slug.decode()}")
        found = re.search(
            rb'kind-video">video</span>\s*<a href="/studio/[^/]+/lessons/([A-Za-z0-9_-]+)"',
            outline,
        )
        if found:
            return slug.decode(), found.group(1).decode()
    raise RuntimeError("the demo instructor has no video lesson")


# ------------------------------------------------------------------ load and upload


@dataclass
class Load:
    """Other requests at a steady pace, each timed."""

    session: Session
    paths: list[str]
    interval: float
    times: list[float] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            path = self.paths[n % len(self.paths)]
            n += 1
            started = time.perf_counter()
            status, _, _ = self.session.request("GET", path)
            self.times.append((time.perf_counter() - started) * 1000)
            if status != 200:
                self.errors += 1
            self.stop.wait(max(0.0, self.interval - (time.perf_counter() - started)))


def idle_for(load: Load, seconds: float) -> None:
    """Run `load` (adding to its times) for `seconds`, with nothing else going on."""
    load.stop.clear()
    thread = threading.Thread(target=load.run)
    thread.start()
    time.sleep(seconds)
    load.stop.set()
    thread.join()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def file_bytes(size: int, digest: hashlib._Hash, mib_per_second: float) -> Iterator[bytes]:
    """`size` bytes that start like an MP4, in 1 MiB pieces, hashed as they go, at most
    `mib_per_second` (0: as fast as the machine goes)."""
    block = os.urandom(MiB)  # incompressible, like video
    first = True
    left = size
    started = time.perf_counter()
    while left:
        if mib_per_second:
            due = started + (size - left) / MiB / mib_per_second
            time.sleep(max(0.0, due - time.perf_counter()))
        piece = (MP4_HEAD + block[len(MP4_HEAD) :]) if first else block
        piece = piece[:left]
        first = False
        digest.update(piece)
        left -= len(piece)
        yield piece


def chunks(pieces: Iterator[bytes], count: int) -> Iterator[bytes]:
    """The next `count` bytes of the stream of pieces (pieces are split where needed)."""
    while count:
        piece = next(pieces)
        if len(piece) > count:
            raise ValueError("chunk size must be a multiple of 1 MiB")
        count -= len(piece)
        yield piece


def upload(
    session: Session, slug: str, lesson: str, size: int, chunk: int, mib_per_second: float
) -> tuple[str, str]:
    """A tus upload, chunk by chunk; returns (upload id, sha256 of what was sent)."""
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"course": slug, "lesson": lesson, "filename": "bench.mp4"}.items()
    )
    common = {"Tus-Resumable": "1.0.0", "X-CSRFToken": session.token}
    status, headers, body = session.request(
        "POST",
        "/uploads/tus",
        headers={**common, "Upload-Length": str(size), "Upload-Metadata": meta},
    )
    if status != 201:
        raise RuntimeError(f"creation failed: {status} {body[:300]!r}")
    location = urllib.parse.urlsplit(headers["Location"]).path
    digest = hashlib.sha256()
    pieces = file_bytes(size, digest, mib_per_second)
    offset = 0
    while offset < size:
        length = min(chunk, size - offset)
        status, headers, body = session.request(
            "PATCH",
            location,
            body=chunks(pieces, length),
            headers={
                **common,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(length),
            },
        )
        if status != 204:
            raise RuntimeError(f"chunk at {offset} failed: {status} {body[:300]!r}")
        offset = int(headers["Upload-Offset"])
    return location.rsplit("/", 1)[1], digest.hexdigest()


def upload_process(
    session: Session,
    slug: str,
    lesson: str,
    size: int,
    chunk: int,
    mib_per_second: float,
    *,
    go: Any,
    results: Any,
) -> None:
    """upload() in a process of its own: waits for `go`, puts ("ok", sha256) or
    ("error", message) on `results`."""
    go.wait()
    try:
        _, sent = upload(session, slug, lesson, size, chunk, mib_per_second)
        results.put(("ok", sent))
    except Exception as exc:  # reported by the parent
        results.put(("error", repr(exc)))


def stored_digest(data_dir: Path, size: int) -> str:
    """sha256 of the lesson file of this size in the local store."""
    for path in (data_dir / "media" / "lessons").iterdir():
        if path.stat().st_size == size:
            digest = hashlib.sha256()
            with path.open("rb") as stored:
                while block := stored.read(8 * MiB):
                    digest.update(block)
            return digest.hexdigest()
    raise RuntimeError("the uploaded file is not in the store")


# ------------------------------------------------------------------ the run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=2 * 1024 * MiB)
    parser.add_argument("--chunk", type=parse_size, default=32 * MiB)
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="half before, half after")
    parser.add_argument("--rate", type=float, default=10.0, help="other requests per second")
    parser.add_argument("--max-growth-mib", type=float, default=64.0)
    parser.add_argument(
        "--mib-per-second",
        type=float,
        default=25.0,
        help="the uploader's line (25 MiB/s is 210 Mbit/s; 0: unlimited)",
    )
    args = parser.parse_args()

    from app.demo import DEMO_PASSWORD

    with tempfile.TemporaryDirectory(prefix="lectern-bench-uploads-") as tmp:
        server = Server(Path(tmp) / "data", _free_port())
        print(f"Serving a fresh DATA_DIR with gunicorn on port {server.port} …", flush=True)
        server.start()
        try:
            session = Session(server.port)
            session.sign_in(INSTRUCTOR, DEMO_PASSWORD)
            slug, lesson = video_lesson(session)
            others = Session(server.port)  # a learner-less visitor's pages, plus the studio
            others.cookies = dict(session.cookies)
            paths = ["/courses", f"/courses/{slug}", "/studio/", f"/studio/{slug}"]
            pid = server.worker_pid()
            assert pid is not None
            for path in paths:  # warm up
                others.request("GET", path)

            samples: list[float] = []
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.is_set():
                    samples.append(rss_mib(pid))
                    sampling.wait(0.1)

            idle = Load(others, paths, 1 / args.rate)
            idle_cpu = cpu_seconds(pid)
            idle_for(idle, args.idle_seconds / 2)  # half now, half after the upload
            per_request = (cpu_seconds(pid) - idle_cpu) / max(1, len(idle.times))
            rss_idle = rss_mib(pid)

            # The uploader is another process, as it is another machine in life: in this
            # one it would share the timing thread's GIL and inflate what it measures.
            fork = multiprocessing.get_context("fork")  # before any thread starts
            results: multiprocessing.Queue[tuple[str, str]] = fork.Queue()
            go = fork.Event()
            uploader = fork.Process(
                target=upload_process,
                args=(session, slug, lesson, args.size, args.chunk, args.mib_per_second),
                kwargs={"go": go, "results": results},
            )
            uploader.start()
            busy = Load(others, paths, 1 / args.rate)
            sampler = threading.Thread(target=sample)
            loader = threading.Thread(target=busy.run)
            sampler.start()
            loader.start()
            started, cpu_before = time.perf_counter(), cpu_seconds(pid)
            go.set()
            outcome, sent = results.get()
            seconds = time.perf_counter() - started
            uploader.join()
            if outcome != "ok":
                raise RuntimeError(sent)
            worker_cpu = cpu_seconds(pid) - cpu_before
            busy.stop.set()
            loader.join()
            sampling.set()
            sampler.join()
            stored = stored_digest(server.data_dir, args.size)
            idle_for(idle, args.idle_seconds / 2)  # the machine's drift, on both sides
        finally:
            server.stop()

    peak = max(samples)
    idle_p95, busy_p95 = p95(idle.times), p95(busy.times)
    ratio = busy_p95 / idle_p95
    print()
    print(f"file                 {args.size / MiB:,.0f} MiB in {args.chunk / MiB:.0f} MiB chunks")
    line = f"{args.mib_per_second:g} MiB/s" if args.mib_per_second else "unlimited"
    print(
        f"upload               {seconds:.1f} s, {args.size / MiB / seconds:,.0f} MiB/s "
        f"(the uploader's line: {line})"
    )
    upload_cpu = max(0.0, worker_cpu - per_request * len(busy.times))
    print(
        f"worker CPU           {worker_cpu:.1f} s while uploading, about {upload_cpu:.1f} s of it "
        f"for the upload ({upload_cpu / (args.size / 1024**3):.1f} s per GiB; other requests "
        f"{per_request * 1000:.1f} ms each)"
    )
    print(f"stored file          {'identical (sha256)' if stored == sent else 'DIFFERENT'}")
    print(
        f"worker RSS           idle {rss_idle:.0f} MiB, peak while uploading {peak:.0f} MiB "
        f"(+{peak - rss_idle:.0f} MiB)"
    )
    print(
        f"other requests       {len(idle.times)} idle, {len(busy.times)} during the upload, "
        f"{idle.errors + busy.errors} errors"
    )
    print(
        f"  p50                idle {statistics.median(idle.times):.1f} ms, "
        f"during {statistics.median(busy.times):.1f} ms"
    )
    print(
        f"  p95                idle {idle_p95:.1f} ms, during {busy_p95:.1f} ms "
        f"({(ratio - 1) * 100:+.0f} %)"
    )
    ok = stored == sent and peak - rss_idle <= args.max_growth_mib and ratio <= 1.25
    print("PASS" if ok else "FAIL", f"(memory growth ≤ {args.max_growth_mib:.0f} MiB, p95 ≤ +25 %)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
