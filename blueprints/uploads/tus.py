"""tus 1.0 (https://tus.io/protocols/resumable-upload): core, creation, termination and
expiration, for uploads to the local store.

- OPTIONS /uploads/tus       what this server speaks and the largest file it takes
- POST    /uploads/tus       creation: Upload-Length and Upload-Metadata (filename,
                             course, lesson; fingerprint, the script's word for the
                             file) start an upload; 201 with its Location
- HEAD    /uploads/tus/<id>  how many bytes arrived (Upload-Offset): where to resume
- PATCH   /uploads/tus/<id>  a chunk at Upload-Offset (application/offset+octet-stream),
                             streamed to disk; 204 with the new offset
- DELETE  /uploads/tus/<id>  termination: the upload and what arrived are removed

Each request is checked like any other here (a signed-in instructor, CSRF token in
X-CSRFToken, same origin); an upload answers only to who started it. The services do
the work (app/media/uploads.py); this module only translates headers.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, timedelta
from email.utils import format_datetime

from flask import Response, current_app, request, url_for
from flask_login import current_user

from app.courses.studio import access_editable
from app.errors import LecternError, Malformed, NotFound, ValidationFailed, WrongMediaType
from app.media import uploads
from app.media.documents import MediaUpload
from blueprints.uploads import bp

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
CHUNK_TYPE = "application/offset+octet-stream"
METADATA_MAX = 4096


def _tus(response: Response) -> Response:
    response.headers["Tus-Resumable"] = VERSION
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def tus_headers(response: Response) -> Response:
    """Every answer of the tus endpoints (errors too) says which version it speaks."""
    if request.endpoint and request.endpoint.startswith("uploads.tus"):
        response.headers.setdefault("Tus-Resumable", VERSION)
    return response


def _check_version() -> None:
    if request.headers.get("Tus-Resumable") != VERSION:
        raise _Precondition()


class _Precondition(LecternError):
    status = 412
    code = "tus_version"
    message = f"This server speaks tus {VERSION}; send Tus-Resumable: {VERSION}."


def _expires(upload: MediaUpload) -> str:
    hours = current_app.config["UPLOAD_ABANDON_HOURS"]
    when = upload.expires_at(timedelta(hours=hours)).astimezone(UTC)
    return format_datetime(when, usegmt=True)


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs."""
    if len(header) > METADATA_MAX:
        raise Malformed("Upload-Metadata is too long.")
    found: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            found[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Malformed(f"Upload-Metadata {key[:40]!r} is not base64 UTF-8.") from exc
    return found


def _number(name: str) -> int:
    raw = request.headers.get(name, "")
    if not re.fullmatch(r"[0-9]{1,15}", raw):  # not isdigit(): "²" is a digit to it
        raise Malformed(f"{name} must be a whole number of bytes.")
    return int(raw)


@bp.route("/tus", methods=["OPTIONS"], endpoint="tus_options")
def tus_options() -> Response:
    """What this server speaks (no version check: clients ask before they know)."""
    response = _tus(Response(status=204))
    response.headers["Tus-Version"] = VERSION
    response.headers["Tus-Extension"] = EXTENSIONS
    response.headers["Tus-Max-Size"] = str(uploads.largest_upload())
    return response


@bp.route("/tus", methods=["POST"], endpoint="tus_create")
def tus_create() -> Response:
    """Creation: the size and the metadata say what is coming and where it goes."""
    _check_version()
    if "Upload-Defer-Length" in request.headers:
        raise Malformed("Send Upload-Length: this server needs the size up front.")
    size = _number("Upload-Length")
    meta = _metadata(request.headers.get("Upload-Metadata", ""))
    course = access_editable(current_user, meta.get("course"))
    upload = uploads.start(
        current_user,
        course,
        meta.get("lesson"),
        filename=meta.get("filename"),
        size=size,
        transport="tus",
        fingerprint=meta.get("fingerprint", ""),
    )
    response = _tus(Response(status=201))
    response.headers["Location"] = url_for("uploads.tus_head", upload_id=upload.id, _external=True)
    response.headers["Upload-Expires"] = _expires(upload)
    return response


def _upload(upload_id: str) -> MediaUpload:
    upload = uploads.get(current_user, upload_id)
    if upload.transport != "tus" or upload.state in ("aborted", "failed"):
        # tus: a terminated or expired upload is gone; a failed one cannot take bytes
        raise NotFound(upload.error or "This upload is gone; start it again.")
    return upload


@bp.route("/tus/<upload_id>", methods=["HEAD"], endpoint="tus_head")
def tus_head(upload_id: str) -> Response:
    """Where to resume: the bytes stored so far (an upload whose bytes are all in but
    which failed to finish is finished now, or answers the error to retry later)."""
    _check_version()
    upload = _upload(upload_id)
    uploads.finish_if_whole(upload)
    response = _tus(Response(status=200))
    response.headers["Upload-Offset"] = str(uploads.received_bytes(upload))
    response.headers["Upload-Length"] = str(upload.size)
    if upload.state == "uploading":
        response.headers["Upload-Expires"] = _expires(upload)
    return response


@bp.route("/tus/<upload_id>", methods=["PATCH"], endpoint="tus_patch")
def tus_patch(upload_id: str) -> Response:
    """A chunk at Upload-Offset, streamed to the staging file as it arrives."""
    _check_version()
    if request.mimetype != CHUNK_TYPE:
        raise WrongMediaType(f"Send chunks as {CHUNK_TYPE}.")
    upload = _upload(upload_id)
    offset = _number("Upload-Offset")
    offset = uploads.append(upload, offset, request.stream, request.content_length)
    if upload.state == "failed":  # the last chunk is in, and the content is refused
        raise ValidationFailed(upload.error, fields={"file": upload.error})
    response = _tus(Response(status=204))
    response.headers["Upload-Offset"] = str(offset)
    response.headers["Upload-Expires"] = _expires(upload)
    return response


@bp.route("/tus/<upload_id>", methods=["DELETE"], endpoint="tus_delete")
def tus_delete(upload_id: str) -> Response:
    """Termination: the uploader gave up; what arrived is removed."""
    _check_version()
    uploads.cancel(_upload(upload_id))
    return _tus(Response(status=204))
