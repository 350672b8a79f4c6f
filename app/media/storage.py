"""Where Lectern keeps files: one interface, two engines.

- `LocalStorage`: a folder under DATA_DIR (the embedded default); the app signs its own
  expiring URLs and serves the bytes (blueprints/media/views.py), or hands the sending to
  a front proxy.
- `S3Storage` (app/media/s3.py): a bucket, when S3_BUCKET is set; delivery by presigned
  GET, or by CloudFront signed URLs when CLOUDFRONT_* is set.

Avatars, covers, lesson files and renditions all go through `storage()`. Keys are random
(never derived from a user's file name), so they cannot be guessed or made to escape
the storage root.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

CHUNK = 1024 * 1024
# prefix/…/name.ext: lower-case names, no empty or dot-only part, nothing to climb out with.
_KEY = re.compile(r"^[a-z0-9]+(?:/[a-z0-9][a-z0-9_-]*)*/[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9]{1,8})?$")
KEY_MAX = 300


def derived_prefix(key: str) -> str | None:
    """Where the files made from a lesson file live (renditions, posters, captions:
    renditions/<its name>/), so they go when it goes."""
    prefix, _, name = key.partition("/")
    if prefix != "lessons" or not name:
        return None
    return f"renditions/{name.split('.')[0]}/"


class Readable(Protocol):
    """Anything with a file's read(): an upload, a socket body, a file on disk."""

    def read(self, size: int = -1, /) -> bytes: ...


class TooLarge(ValueError):
    """A stream went past the size it was allowed; nothing was stored."""


class StorageError(RuntimeError):
    """The store refused an operation (access denied, no such bucket, …): a fault of
    configuration or of the store, never of the caller's input. `code` and `status` are
    the store's own (S3's error code and HTTP status), for logs and for engines that
    must tell "not there" from "broken"."""

    def __init__(self, message: str, code: str = "", status: int = 0):
        super().__init__(message)
        self.code, self.status = code, status


class StorageUnavailable(StorageError):
    """The store kept failing (5xx, SlowDown, timeouts) through every retry. Nothing
    half-written was left behind; trying again later may work."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime


def check_key(key: str) -> str:
    """`key` if it is one Lectern could have made, else ValueError (never a path)."""
    if not isinstance(key, str) or len(key) > KEY_MAX or not _KEY.fullmatch(key):
        raise ValueError("malformed storage key")
    return key


# Each part ends in "/" except perhaps the last, so the pattern cannot backtrack.
_PREFIX = re.compile(r"^(?:[a-z0-9][a-z0-9_.-]*/)*(?:[a-z0-9][a-z0-9_.-]*)?$")


def check_prefix(prefix: str) -> str:
    """`prefix` if it could start a key ("", "lessons/", "renditions/ab12"), else
    ValueError."""
    if not isinstance(prefix, str) or len(prefix) > KEY_MAX or not _PREFIX.fullmatch(prefix):
        raise ValueError("malformed storage key prefix")
    if ".." in prefix:
        raise ValueError("malformed storage key prefix")
    return prefix


def new_key(prefix: str, extension: str = "") -> str:
    """A fresh, unguessable key under `prefix` (128 random bits)."""
    name = secrets.token_hex(16)
    return check_key(f"{prefix}/{name}.{extension}" if extension else f"{prefix}/{name}")


class Storage(Protocol):
    """What every engine does; callers never learn where the bytes are."""

    engine: str  # "local" or "s3"

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` (replacing what was there)."""

    def put_stream(
        self, key: str, stream: Readable, content_type: str, max_bytes: int | None = None
    ) -> int:
        """Store a stream in chunks, never whole in memory; raise TooLarge (storing
        nothing) past `max_bytes`. Returns the size."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from `start` to `end` (exclusive; None: to the end), in chunks.
        FileNotFoundError if there is no such object."""
        ...

    def size(self, key: str) -> int | None:
        """The object's size, or None if there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; nothing happens if it is not there."""

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with `prefix` (ValueError if no key could)."""
        ...

    def copy(self, source: str, target: str) -> None:
        """Copy an object within the store (S3: a server-side copy, up to 5 GB)."""

    def delivery_url(
        self, key: str, *, seconds: int, filename: str | None = None, inline: bool = True
    ) -> str:
        """A URL that serves the object for `seconds` and then stops working, offering
        it under `filename` (inline, or as a download)."""
        ...


class LocalStorage:
    """A folder under DATA_DIR. Delivery URLs are the app's own, signed with SECRET_KEY."""

    engine = "local"

    def __init__(self, root: Path):
        self.root = root

    def path_for(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str = "") -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def put_stream(
        self, key: str, stream: Readable, content_type: str = "", max_bytes: int | None = None
    ) -> int:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        size = 0
        try:
            with tmp.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise TooLarge(f"more than {max_bytes} bytes")
                    out.write(chunk)
            shutil.move(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return size

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self.path_for(key)
        with path.open("rb") as source:
            source.seek(start)
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                chunk = source.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def size(self, key: str) -> int | None:
        try:
            return self.path_for(key).stat().st_size
        except (FileNotFoundError, ValueError):
            return None

    def exists(self, key: str) -> bool:
        try:
            return self.path_for(key).is_file()
        except ValueError:
            return False

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def copy(self, source: str, target: str) -> None:
        path = self.path_for(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            shutil.copyfile(self.path_for(source), tmp)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def adopt(self, path: Path, key: str) -> int:
        """Move a finished file (a tus upload's staging file) under `key`: a rename on
        the same disk, so a 20 GB upload is not copied again. Returns its size."""
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size
        shutil.move(path, target)
        target.chmod(0o644)  # like every stored file (a staging file is the owner's only)
        return size

    def list(self, prefix: str) -> Iterator[StoredObject]:
        check_prefix(prefix)
        base = self.root / prefix.split("/")[0] if prefix else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue  # hidden names are files being written
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                yield StoredObject(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def delivery_url(
        self, key: str, *, seconds: int, filename: str | None = None, inline: bool = True
    ) -> str:
        from app.media.files import signed_url

        # The media route decides inline or download by the file's type.
        return signed_url(check_key(key), seconds, filename)


def init_app(app: Flask) -> None:
    """S3 when S3_BUCKET is set, else a folder under DATA_DIR."""
    if app.config.get("S3_BUCKET"):
        from app.media.s3 import S3Storage

        app.extensions["storage"] = S3Storage.from_config(app.config)
    else:
        app.extensions["storage"] = LocalStorage(Path(app.config["DATA_DIR"]) / "media")


def storage() -> Storage:
    """The configured storage of the current app."""
    return current_app.extensions["storage"]  # type: ignore[no-any-return]
