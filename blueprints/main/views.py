"""The home page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.web import render

bp = Blueprint("main", __name__)


@bp.route("/")
def index() -> Any:
    """Front page: what Lectern is and where to go next."""
    return render("main/index.html")
