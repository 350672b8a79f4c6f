"""Uploads straight to the bucket (S3), and every upload's state and cancelling.

- POST   /uploads/s3                 start: {course, lesson, filename, size, and optionally
                                     fingerprint}; 201 with the upload's id, part size
                                     and number of parts
- POST   /uploads/<id>/parts         presigned URLs for {numbers: [...]} (at most 100)
- GET    /uploads/<id>/parts         the parts the bucket holds (to resume)
- POST   /uploads/<id>/complete      every part is sent: join them and check the file
- GET    /uploads/<id>               state, bytes received, the reason if it failed
- DELETE /uploads/<id>               cancel: what arrived is removed

The browser PUTs each part to its URL and never sends the app a byte of the file.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_login import current_user

from app.courses.studio import access_editable
from app.errors import Malformed
from app.media import uploads
from app.media.documents import MediaUpload
from blueprints.uploads import bp


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Malformed("Send a JSON object.")
    return data


def status_json(upload: MediaUpload) -> dict[str, Any]:
    """An upload's state as the upload script shows it: the upload's own, and its
    lesson's file's (`uploaded` once checked)."""
    return {
        "id": upload.id,
        "state": upload.state,
        "received": uploads.received_bytes(upload),
        "size": upload.size,
        "error": upload.error or None,
        "media_status": uploads.lesson_file_status(upload),
    }


@bp.route("/s3", methods=["POST"])
def s3_start() -> Any:
    """Start a multipart upload into a lesson; the size, type and quota are checked now."""
    data = _body()
    course = access_editable(current_user, data.get("course"))
    upload = uploads.start(
        current_user,
        course,
        data.get("lesson"),
        filename=data.get("filename"),
        size=data.get("size"),
        transport="s3-multipart",
        fingerprint=data.get("fingerprint", ""),
    )
    body = status_json(upload) | {
        "part_size": upload.part_size,
        "parts": uploads.part_count(upload),
    }
    return jsonify(body), 201


@bp.route("/<upload_id>/parts", methods=["POST"])
def s3_sign(upload_id: str) -> Any:
    """Presigned URLs for some of the upload's parts."""
    upload = uploads.get(current_user, upload_id)
    urls = uploads.sign_parts(upload, _body().get("numbers"))
    return jsonify({"urls": {str(n): url for n, url in urls.items()}})


@bp.route("/<upload_id>/parts", methods=["GET"])
def s3_parts(upload_id: str) -> Any:
    """The parts already in the bucket, so a resumed upload sends only the rest."""
    upload = uploads.get(current_user, upload_id)
    return jsonify({"parts": uploads.uploaded_parts(upload), "part_size": upload.part_size})


@bp.route("/<upload_id>/complete", methods=["POST"])
def s3_complete(upload_id: str) -> Any:
    """Every part is in: the bucket joins them, then the file is checked by content."""
    upload = uploads.complete_parts(uploads.get(current_user, upload_id))
    return jsonify(status_json(upload))


@bp.route("/<upload_id>", methods=["GET"])
def status(upload_id: str) -> Any:
    return jsonify(status_json(uploads.get(current_user, upload_id)))


@bp.route("/<upload_id>", methods=["DELETE"])
def cancel(upload_id: str) -> Response:
    """The uploader gave up: what arrived is removed, the lesson keeps its old file."""
    uploads.cancel(uploads.get(current_user, upload_id))
    return Response(status=204)
