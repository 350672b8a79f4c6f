"""The multipart and form primitives browser uploads are built on (S3Storage has
them): create, sign a part, list the parts, complete, abort, the unfinished uploads
of a prefix, and the presigned POST form. The app only signs, lists and completes:
the browser sends the bytes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from app.media.delivery import DOWNLOAD_TYPE
from app.media.s3_client import (
    POST_MAX,
    Etags,
    IncompleteUpload,
    Part,
    PartList,
    PartsRejected,
    UploadNotFound,
    _check_part_number,
    _check_seconds,
    _check_upload_id,
)
from app.media.storage import (
    StorageError,
    check_key,
    check_prefix,
)


class S3Uploads:
    """Mixed into S3Storage, which provides the clients, the bucket and the calls."""

    presign_client: Any
    bucket: str

    def _call(self, operation: str, **params: Any) -> Any:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def create_multipart(self, key: str, content_type: str) -> str:
        """Start a multipart upload; returns its id."""
        answer = self._call(
            "create_multipart_upload",
            Key=check_key(key),
            ContentType=content_type or DOWNLOAD_TYPE,
        )
        return str(answer["UploadId"])

    def sign_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        *,
        seconds: int,
        size: int | None = None,
    ) -> str:
        """A presigned PUT URL for one part. With `size`, Content-Length is signed too,
        so S3 refuses a part of any other size."""
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": check_key(key),
            "UploadId": _check_upload_id(upload_id),
            "PartNumber": _check_part_number(part_number),
        }
        if size is not None:
            if not 0 < size <= POST_MAX:
                raise ValueError("a part holds 1 byte to 5 GiB")
            params["ContentLength"] = size
        return str(
            self.presign_client.generate_presigned_url(
                "upload_part", Params=params, ExpiresIn=_check_seconds(seconds)
            )
        )

    def list_parts(self, key: str, upload_id: str) -> PartList:
        """The parts S3 holds for the upload, in order."""
        parts: PartList = []
        try:
            for page in self._pages(
                "list_parts", Key=check_key(key), UploadId=_check_upload_id(upload_id)
            ):
                parts.extend(
                    Part(int(p["PartNumber"]), int(p["Size"]), str(p["ETag"]))
                    for p in page.get("Parts", [])
                )
        except StorageError as exc:
            if exc.code == "NoSuchUpload":
                raise UploadNotFound(upload_id) from exc
            raise
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: Etags) -> None:
        """Assemble the parts (number, ETag) into the object."""
        numbers = [_check_part_number(number) for number, _ in parts]
        if not parts or len(set(numbers)) != len(numbers):
            raise PartsRejected("at least one part, each number once")
        ordered = sorted(parts)
        try:
            self._call(
                "complete_multipart_upload",
                Key=check_key(key),
                UploadId=_check_upload_id(upload_id),
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in ordered]},
            )
        except StorageError as exc:
            code = exc.code
            if code == "NoSuchUpload":
                # A retried completion whose first answer was lost finds the upload gone
                # and the object there (keys are never reused, so it is this upload's).
                if self.exists(key):
                    return
                raise UploadNotFound(upload_id) from exc
            if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}:
                raise PartsRejected(str(exc)) from exc
            raise

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; nothing happens if it is already gone."""
        try:
            self._call(
                "abort_multipart_upload", Key=check_key(key), UploadId=_check_upload_id(upload_id)
            )
        except StorageError as exc:
            if exc.code != "NoSuchUpload":
                raise

    def incomplete_uploads(
        self, prefix: str, started_before: datetime
    ) -> Iterator[IncompleteUpload]:
        """Multipart uploads under `prefix` started before `started_before` (aware)."""
        if started_before.tzinfo is None:
            raise ValueError("started_before must be timezone-aware")
        check_prefix(prefix)
        for page in self._pages("list_multipart_uploads", Prefix=prefix):
            for item in page.get("Uploads", []):
                if item["Initiated"] < started_before:
                    yield IncompleteUpload(item["Key"], item["UploadId"], item["Initiated"])

    def presigned_post(
        self,
        key: str,
        *,
        max_bytes: int,
        success_redirect: str,
        seconds: int,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """A form upload straight to the bucket, for browsers without JavaScript: POST
        multipart/form-data to `url` with every one of `fields`, then the file last (a
        field named `file`). S3 refuses a file over `max_bytes` (content-length-range)
        or under another key, then redirects to `success_redirect` with `bucket`, `key`
        and `etag` appended."""
        check_key(key)
        if not 0 < max_bytes <= POST_MAX:
            raise ValueError("a POST upload holds 1 byte to 5 GiB")
        fields: dict[str, str] = {"success_action_redirect": success_redirect}
        conditions: list[Any] = [
            ["content-length-range", 0, max_bytes],
            {"success_action_redirect": success_redirect},
        ]
        if content_type:
            fields["Content-Type"] = content_type
            conditions.append({"Content-Type": content_type})
        post = self.presign_client.generate_presigned_post(
            self.bucket,
            key,
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=_check_seconds(seconds),
        )
        return {"url": post["url"], "fields": dict(post["fields"])}

    # ------------------------------------------------------------------ CloudFront
