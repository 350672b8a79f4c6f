"""The home page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.courses import catalog
from app.web import render

bp = Blueprint("main", __name__)


@bp.route("/")
def index() -> Any:
    """Front page: what Lectern is, and the newest and most popular courses."""
    newest = catalog.search_catalog(catalog.CatalogQuery(per_page=6))
    popular = catalog.search_catalog(catalog.CatalogQuery(per_page=6, sort="popular"))
    return render("main/index.html", newest=newest.items, popular=popular.items)
