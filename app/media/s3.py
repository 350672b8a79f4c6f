"""The S3 engine of `Storage`, and the multipart primitives browser uploads are built on.

Objects stay private (no ACLs; the bucket blocks public access): every read is through
a presigned GET or, with CloudFront configured, a CloudFront signed URL. Browsers send
large files straight to the bucket as presigned multipart parts (`sign_part`), or a
presigned POST form without JavaScript (`presigned_post`); the app only signs, lists
and completes, so it never holds the bytes.

Every call goes through botocore's "standard" retry mode (S3_MAX_ATTEMPTS attempts, with
backoff) so a 500, 503 or SlowDown now and then costs a little time, not a failure. When
the store keeps failing, the caller gets `StorageUnavailable`, and a streamed put that
failed half-way aborts its multipart upload, so nothing is left behind.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from app.media.cloudfront import CloudFrontSigning, expiry, read_private_key
from app.media.delivery import DOWNLOAD_TYPE, present
from app.media.s3_client import (
    COPY_PART,
    DEFAULT_ATTEMPTS,
    PART_MIN,
    PART_SIZE,
    PARTS_MAX,
    POST_MAX,
    PRESIGN_MAX_SECONDS,
    Etags,
    IncompleteUpload,
    MiB,
    Part,
    PartsRejected,
    UploadNotFound,
    _check_seconds,
    _fill,
    _translated,
    make_client,
)
from app.media.s3_uploads import S3Uploads
from app.media.storage import (
    CHUNK,
    Readable,
    Storage,
    StorageError,
    StoredObject,
    TooLarge,
    check_key,
    check_prefix,
)


class S3Storage(S3Uploads):
    """A private bucket. `client` does the work; `presign_client` signs the URLs that
    browsers use (the same client unless the browser reaches the store at another
    address, S3_PUBLIC_ENDPOINT_URL)."""

    engine = "s3"

    def __init__(
        self,
        bucket: str,
        client: Any,
        *,
        presign_client: Any = None,
        cloudfront: CloudFrontSigning | None = None,
        part_size: int = PART_SIZE,
        max_attempts: int = DEFAULT_ATTEMPTS,
    ):
        if part_size < PART_MIN:
            raise ValueError("S3 parts are at least 5 MiB")
        self.bucket = bucket
        self.client = client
        self.presign_client = presign_client or client
        self.cloudfront = cloudfront
        self.part_size = part_size
        self.max_attempts = max_attempts
        self.copy_single_max = POST_MAX  # CopyObject's limit, as for a single PUT
        self.copy_part_size = COPY_PART

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> S3Storage:
        """The engine for a Flask config (S3_*, CLOUDFRONT_*; see app/config.py)."""
        attempts = int(config.get("S3_MAX_ATTEMPTS") or DEFAULT_ATTEMPTS)

        def client_for(endpoint_url: str) -> Any:
            return make_client(
                region=config.get("S3_REGION") or "us-east-1",
                endpoint_url=endpoint_url,
                access_key_id=config.get("S3_ACCESS_KEY_ID") or "",
                secret_access_key=config.get("S3_SECRET_ACCESS_KEY") or "",
                max_attempts=attempts,
            )

        client = client_for(config.get("S3_ENDPOINT_URL") or "")
        presign_client = None
        if config.get("S3_PUBLIC_ENDPOINT_URL"):
            presign_client = client_for(config["S3_PUBLIC_ENDPOINT_URL"])
        cloudfront = None
        if config.get("CLOUDFRONT_DOMAIN"):
            key = read_private_key(
                config.get("CLOUDFRONT_PRIVATE_KEY") or "",
                config.get("CLOUDFRONT_PRIVATE_KEY_FILE") or "",
            )
            cloudfront = CloudFrontSigning(
                config["CLOUDFRONT_DOMAIN"], config["CLOUDFRONT_KEY_ID"], key
            )
        return cls(
            config["S3_BUCKET"],
            client,
            presign_client=presign_client,
            cloudfront=cloudfront,
            max_attempts=attempts,
        )

    @property
    def browser_origins(self) -> dict[str, tuple[str, ...]]:
        """Where browsers go for this store, for the Content-Security-Policy
        (app/security.py): the bucket's address for uploads (parts, the plain form) and,
        for media, the bucket and the CloudFront domain."""
        url = self.presign_client.generate_presigned_url(  # offline: only signs
            "get_object", Params={"Bucket": self.bucket, "Key": "x"}, ExpiresIn=60
        )
        parts = urlsplit(url)
        bucket = f"{parts.scheme}://{parts.netloc}"
        delivery = (bucket, f"https://{self.cloudfront.domain}") if self.cloudfront else (bucket,)
        return {"upload": (bucket,), "delivery": delivery}

    # ------------------------------------------------------------------ calls

    def _call(self, operation: str, **params: Any) -> Any:
        """One S3 operation on this bucket; every failure becomes a StorageError."""
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise _translated(exc, operation, self.max_attempts) from exc

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        try:
            yield from self.client.get_paginator(operation).paginate(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError) as exc:
            raise _translated(exc, operation, self.max_attempts) from exc

    def ping(self) -> None:
        """Raise StorageError unless the bucket answers (for readiness checks). A
        one-key listing rather than HeadBucket: it needs only s3:ListBucket, which the
        app has anyway."""
        self._call("list_objects_v2", MaxKeys=1)

    # ------------------------------------------------------------------ Storage

    def put(self, key: str, data: bytes, content_type: str = "") -> None:
        self._call(
            "put_object", Key=check_key(key), Body=data, ContentType=content_type or DOWNLOAD_TYPE
        )

    def _part_size(self, max_bytes: int | None) -> int:
        """Parts big enough that `max_bytes` fits in S3's 10,000 parts, in whole MiB."""
        if max_bytes is None:
            return self.part_size
        return max(self.part_size, math.ceil(max_bytes / PARTS_MAX / MiB) * MiB)

    def put_stream(
        self, key: str, stream: Readable, content_type: str = "", max_bytes: int | None = None
    ) -> int:
        """One PUT when the stream fits in a part, else a multipart upload holding one
        part in memory at a time. TooLarge (or any failure) aborts the upload."""
        check_key(key)
        part_size = self._part_size(max_bytes)
        limit = None if max_bytes is None else max_bytes + 1  # one byte more shows excess
        buffer = _fill(stream, part_size if limit is None else min(part_size, limit))
        if max_bytes is not None and len(buffer) > max_bytes:
            raise TooLarge(f"more than {max_bytes} bytes")
        if len(buffer) < part_size:
            self.put(key, buffer, content_type)
            return len(buffer)
        upload_id = self.create_multipart(key, content_type)
        try:
            parts: Etags = []
            size = 0
            while buffer:
                if len(parts) == PARTS_MAX:
                    raise TooLarge(f"more than {PARTS_MAX} parts of {part_size} bytes")
                answer = self._call(
                    "upload_part",
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=len(parts) + 1,
                    Body=buffer,
                )
                parts.append((len(parts) + 1, answer["ETag"]))
                size += len(buffer)
                want = part_size if limit is None else min(part_size, limit - size)
                buffer = _fill(stream, want) if want > 0 else b""
                if max_bytes is not None and size + len(buffer) > max_bytes:
                    raise TooLarge(f"more than {max_bytes} bytes")
            self.complete_multipart(key, upload_id, parts)
        except BaseException:
            self._abort_quietly(key, upload_id)
            raise
        return size

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        """Abort after a failure, keeping the failure as the error the caller sees.
        Should the abort fail too, the bucket's AbortIncompleteMultipartUpload rule and
        `incomplete_uploads` sweeps remove the parts later."""
        try:
            self.abort_multipart(key, upload_id)
        except StorageError:
            pass

    def read(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from `start` to `end` (exclusive) through one ranged GET."""
        check_key(key)
        if start < 0 or (end is not None and end < start):
            raise ValueError("bad byte range")
        if end == start:
            return
        params: dict[str, Any] = {"Key": key}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            answer = self._call("get_object", **params)
        except StorageError as exc:
            if exc.code in {"NoSuchKey", "404"}:
                raise FileNotFoundError(key) from exc
            if exc.code == "InvalidRange":  # starts past the end: nothing there
                return
            raise
        body = answer["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        except BotoCoreError as exc:
            raise _translated(exc, "get_object (body)", 1) from exc
        finally:
            body.close()

    def size(self, key: str) -> int | None:
        try:
            answer = self._call("head_object", Key=check_key(key))
        except ValueError:
            return None
        except StorageError as exc:
            if exc.code in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return int(answer["ContentLength"])

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def delete(self, key: str) -> None:
        # S3 answers 204 whether or not the object was there.
        self._call("delete_object", Key=check_key(key))

    def copy(self, source: str, target: str) -> None:
        """A copy made inside S3 (the bytes never come to the app): one CopyObject up to
        5 GiB, above that a multipart upload whose parts are copied ranges."""
        check_key(source)
        check_key(target)
        size = self.size(source)
        if size is None:
            raise FileNotFoundError(source)
        origin = {"Bucket": self.bucket, "Key": source}
        if size <= self.copy_single_max:
            self._call("copy_object", Key=target, CopySource=origin, MetadataDirective="COPY")
            return
        content_type = self._call("head_object", Key=source).get("ContentType", "")
        upload_id = self.create_multipart(target, content_type)
        try:
            parts: Etags = []
            for number, start in enumerate(range(0, size, self.copy_part_size), start=1):
                end = min(start + self.copy_part_size, size) - 1
                answer = self._call(
                    "upload_part_copy",
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=origin,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append((number, answer["CopyPartResult"]["ETag"]))
            self.complete_multipart(target, upload_id, parts)
        except BaseException:
            self._abort_quietly(target, upload_id)
            raise

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Objects under `prefix`, in key order; keys Lectern could not have made (other
        tools' objects in a shared bucket) are left out."""
        check_prefix(prefix)
        for page in self._pages("list_objects_v2", Prefix=prefix):
            for item in page.get("Contents", []):
                try:
                    key = check_key(item["Key"])
                except ValueError:
                    continue
                yield StoredObject(key, int(item["Size"]), item["LastModified"])

    def delivery_url(
        self, key: str, *, seconds: int, filename: str | None = None, inline: bool = True
    ) -> str:
        """A CloudFront signed URL when CloudFront is configured, else a presigned GET.
        Either way the URL carries the Content-Type and Content-Disposition to answer
        with (covered by its signature), so the object's own metadata does not matter.
        A presigned GET lives at most 7 days (SigV4's limit): longer asks are cut to
        that, rather than failing a page."""
        check_key(key)
        shown = present(key, filename, inline)
        if self.cloudfront is not None:
            if seconds < 1:
                raise ValueError("a delivery URL lives at least 1 s")
            query = {
                "response-content-disposition": shown.disposition,
                "response-content-type": shown.content_type,
            }
            # A long-lived URL's expiry is rounded up to the hour, so every process signs
            # the same URL for that hour and the edge caches one copy.
            step = 3600 if seconds >= 3 * 3600 else 1
            return self.cloudfront.signed_url(key, expiry(seconds, step=step), query)
        return str(
            self.presign_client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": shown.disposition,
                    "ResponseContentType": shown.content_type,
                },
                ExpiresIn=_check_seconds(min(seconds, PRESIGN_MAX_SECONDS)),
            )
        )

    def signed_cookies(self, path_prefix: str, seconds: int) -> dict[str, str]:
        """CloudFront cookies (name → value) that open every object under `path_prefix`
        for `seconds`. Only with CloudFront: S3 has no equivalent."""
        if self.cloudfront is None:
            raise RuntimeError("signed cookies need CloudFront (CLOUDFRONT_DOMAIN)")
        if not check_prefix(path_prefix) or not path_prefix.endswith("/"):
            raise ValueError("signed cookies open one folder: a non-empty prefix ending in /")
        return self.cloudfront.signed_cookies(path_prefix, expiry(seconds))


if TYPE_CHECKING:  # mypy checks that the engine keeps to the interface

    def _keeps_to_the_interface(engine: S3Storage) -> Storage:
        return engine


__all__ = [  # what callers and tests take from here
    "PART_MIN",
    "IncompleteUpload",
    "Part",
    "PartsRejected",
    "S3Storage",
    "UploadNotFound",
    "make_client",
]
