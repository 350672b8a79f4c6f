"""Talking to S3: the boto3 client (retries, addressing), its errors translated into
StorageError, the types of multipart uploads, and the checks on what is signed.
app/media/s3.py builds the storage engine on these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from app.media import rules
from app.media.rules import MiB
from app.media.storage import (
    CHUNK,
    Readable,
    StorageError,
    StorageUnavailable,
)

PART_MIN = rules.S3_PART_MIN  # S3's smallest part, except the last
PART_SIZE = 8 * MiB  # put_stream's parts: one is held in memory at a time
PARTS_MAX = rules.S3_PARTS_MAX
POST_MAX = rules.S3_FORM_MAX  # S3 takes at most 5 GiB in one POST (or PUT)
PRESIGN_MAX_SECONDS = rules.PRESIGN_MAX_HOURS * 3600  # SigV4's limit
COPY_PART = 512 * MiB  # a 20 GB copy in 40 UploadPartCopy calls
DEFAULT_ATTEMPTS = 4
# Answers that mean "try again later" rather than "no".
_TRANSIENT = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503"}


class UploadNotFound(LookupError):
    """No multipart upload with that id for that key (never started, completed or
    aborted)."""


class PartsRejected(ValueError):
    """S3 refused to assemble the parts (a part is missing, has another ETag, or is
    smaller than 5 MiB and not the last)."""


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str


PartList = list[Part]  # `list` is a method of S3Storage, so these are named outside it
Etags = list[tuple[int, str]]


class IncompleteUpload(NamedTuple):
    key: str
    upload_id: str
    initiated: datetime


def _code(exc: ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(error.get("Code", "")), int(status or 0)


def _translated(exc: Exception, operation: str, attempts: int) -> StorageError:
    """A StorageError saying what failed, with `code` and `status` for callers that
    tell a missing object from a broken store."""
    if isinstance(exc, ClientError):
        code, status = _code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if status >= 500 or code in _TRANSIENT:
            text = f"S3 {operation} still failing after {attempts} attempts: {status} {code}"
            return StorageUnavailable(f"{text} {message}".rstrip(), code, status)
        text = f"S3 {operation} refused: {status} {code} {message}".rstrip()
        return StorageError(text, code, status)
    # BotoCoreError: no connection, timeouts, a body cut short
    text = f"S3 {operation} failed after {attempts} attempts: {exc}"
    return StorageUnavailable(text, type(exc).__name__)


def _fill(stream: Readable, size: int) -> bytes:
    """Up to `size` bytes from `stream` (fewer only at its end)."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(CHUNK, size - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return bytes(buffer)


def _check_part_number(number: int) -> int:
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= PARTS_MAX:
        raise ValueError(f"part numbers go from 1 to {PARTS_MAX}")
    return number


def _check_seconds(seconds: int) -> int:
    if not 1 <= seconds <= PRESIGN_MAX_SECONDS:
        raise ValueError(f"a presigned URL lives 1 s to {PRESIGN_MAX_SECONDS} s")
    return seconds


def _check_upload_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or not 0 < len(upload_id) <= 1024:
        raise ValueError("malformed upload id")
    if not upload_id.isprintable() or " " in upload_id:
        raise ValueError("malformed upload id")
    return upload_id


def make_client(
    *,
    region: str,
    endpoint_url: str = "",
    access_key_id: str = "",
    secret_access_key: str = "",
    max_attempts: int = DEFAULT_ATTEMPTS,
    session: Any = None,
) -> Any:
    """A boto3 S3 client. Without an endpoint it talks to AWS's regional endpoint with
    virtual-hosted URLs (the global endpoint redirects for new buckets, and a browser's
    CORS preflight does not follow redirects); with one (MinIO, moto, …) it uses
    path-style URLs, which every S3-compatible store understands."""
    config = Config(
        region_name=region,
        signature_version="s3v4",
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path" if endpoint_url else "virtual"},
    )
    credentials: dict[str, str] = {}
    if access_key_id:  # else boto3's chain: environment, shared files, instance role
        credentials = {
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
    session = session or boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url or f"https://s3.{region}.amazonaws.com",
        config=config,
        **credentials,
    )
