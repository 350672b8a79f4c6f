"""The JSON API for the mobile client, version 1 (SPEC §4), under /api/v1.

Bearer tokens only: cookies are never read here, so CSRF does not apply.
"""

from __future__ import annotations

from flask import Blueprint

from app.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

from blueprints.api import auth, courses, openapi, projects, users  # noqa: E402,F401
from blueprints.api.core import no_content_without_a_type  # noqa: E402

bp.after_request(no_content_without_a_type)
