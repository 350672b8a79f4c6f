"""The instructor studio: courses, their outline, lessons and files, review workflow
and dashboard (instructors and admins only)."""

from __future__ import annotations

from flask import Blueprint

from app.web import guard_blueprint

bp = Blueprint("studio", __name__, url_prefix="/studio")
guard_blueprint(bp, "studio.use")  # instructors and admins only

from blueprints.studio import media, views  # noqa: E402,F401  (their routes)
