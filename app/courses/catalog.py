"""Finding courses: catalog search with facets, and fetching one course for a reader."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mongoengine import DictField, Document, IntField, Q, StringField

from app.courses.documents import Course, object_id
from app.courses.rules import LEVELS, MAX_PAGE, MAX_PER_PAGE, PER_PAGE, SORTS, TEXT_PARAM_MAX
from app.errors import NotFound, ValidationFailed
from app.pagination import Page
from app.policies import can
from app.text import search_terms
from app.validation import SLUG_MAX

# Everything a catalog card needs; never the sections (which can be large).
SUMMARY_FIELDS = (
    "slug",
    "title",
    "subtitle",
    "category",
    "tags",
    "level",
    "language",
    "cover_key",
    "instructor",
    "status",
    "lesson_count",
    "duration_minutes",
    "enrollment_count",
    "rating_count",
    "rating_avg",
    "published_at",
)


@dataclass(frozen=True)
class CatalogQuery:
    q: str = ""
    category: str = ""
    level: str = ""
    language: str = ""
    tag: str = ""
    sort: str = "newest"
    page: int = 1
    per_page: int = PER_PAGE

    def params(self, **changes: Any) -> dict[str, Any]:
        """URL parameters for this query with `changes`, leaving out the defaults."""
        data = {**self.__dict__, **changes}
        defaults = CatalogQuery().__dict__
        return {k: v for k, v in data.items() if v not in ("", None) and v != defaults[k]}


def _one_string(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(fields={name: "Must be text."})
    if len(value) > TEXT_PARAM_MAX:
        raise ValidationFailed(fields={name: f"Use at most {TEXT_PARAM_MAX} characters."})
    return value.strip()


# A whole number in ASCII digits: no sign, space or `_` (which int() would take), and as in
# JSON Schema, where 2.0 is an integer, a fraction of zeros is allowed.
_WHOLE_NUMBER = re.compile(r"([0-9]+)(?:\.0+)?")


def _one_int(args: Mapping[str, Any], name: str, default: int, hi: int) -> int:
    """A whole number from 1 to `hi`; empty is the default, as for every parameter."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    match = _WHOLE_NUMBER.fullmatch(raw) if isinstance(raw, str) else None
    if match:
        try:
            value = int(match.group(1))
        except ValueError:  # more digits than int() converts
            value = None
    if value is None or not 1 <= value <= hi:
        raise ValidationFailed(fields={name: f"Use a whole number from 1 to {hi}."})
    return value


def parse_catalog_query(args: Mapping[str, Any]) -> CatalogQuery:
    """Validate catalog parameters (query string or JSON); bad values are a 422."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in ("q", "category", "language", "tag"):
        try:
            values[name] = _one_string(args, name)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    level = args.get("level", "") or ""
    if level and level not in LEVELS:
        errors["level"] = f"Choose one of: {', '.join(LEVELS)}."
    sort = args.get("sort", "") or "newest"
    if sort not in SORTS:
        errors["sort"] = f"Choose one of: {', '.join(SORTS)}."
    for name, default, hi in (("page", 1, MAX_PAGE), ("per_page", 12, MAX_PER_PAGE)):
        try:
            values[name] = _one_int(args, name, default, hi)
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed(fields=errors)
    return CatalogQuery(level=level, sort=sort, **values)


class CatalogFacets(Document):
    """Facet counts over published courses, recomputed when the catalog changes,
    so a catalog page never aggregates over every course."""

    key = StringField(primary_key=True, default="catalog")
    category = DictField()
    level = DictField()
    language = DictField()
    tag = DictField()
    course_count = IntField(default=0)

    meta = {"collection": "catalog_facets", "strict": False}


# Each facet a catalog query filters on, with the course field behind it.
FACETS = {"category": "category", "level": "level", "language": "language", "tag": "tags"}


def refresh_facets() -> CatalogFacets:
    """Recount the facets; call after a course enters or leaves the catalog or changes."""
    published = {"$match": {"status": "published"}}
    counts: dict[str, dict[str, int]] = {}
    for name, field_name in FACETS.items():
        pipeline: list[dict[str, Any]] = [published]
        if field_name == "tags":
            pipeline.append({"$unwind": "$tags"})
        pipeline.append({"$group": {"_id": f"${field_name}", "n": {"$sum": 1}}})
        counts[name] = {
            row["_id"]: row["n"] for row in Course.objects.aggregate(pipeline) if row["_id"]
        }
    facets = CatalogFacets(
        key="catalog", course_count=Course.objects(status="published").count(), **counts
    )
    facets.save()
    return facets


def current_facets() -> CatalogFacets:
    return CatalogFacets.objects(key="catalog").first() or CatalogFacets()


@dataclass(frozen=True)
class CatalogPage(Page):
    """A page of the catalog, with the query that made it and the facet counts."""

    query: CatalogQuery = field(default_factory=CatalogQuery)
    facets: CatalogFacets | None = None


def search_catalog(query: CatalogQuery) -> CatalogPage:
    """Published courses matching the query, one page of them, and the facet counts."""
    condition = Q(status="published")
    for name, field_name in FACETS.items():
        value = getattr(query, name)
        if value:
            condition &= Q(**{field_name: value})
    for term in search_terms(query.q):
        # Prefix match on an indexed list of words: "pyth" finds "python".
        condition &= Q(keywords__startswith=term)
    courses = Course.objects(condition)
    total = courses.count()
    items = list(
        courses.only(*SUMMARY_FIELDS)
        .order_by(*SORTS[query.sort])
        .skip((query.page - 1) * query.per_page)
        .limit(query.per_page)
    )
    return CatalogPage(
        items, query.page, query.per_page, total, query=query, facets=current_facets()
    )


def access_course(actor: Any, slug: Any) -> Course:
    """The course with `slug` if the actor may see it; drafts of others are NotFound."""
    if not isinstance(slug, str) or not 0 < len(slug) <= SLUG_MAX:
        raise NotFound("No such course.")
    course = Course.objects(slug=slug).first()
    if course is None or not can(actor, "course.see", course):
        raise NotFound("No such course.")
    return course


def access_course_by_id(actor: Any, course_id: Any) -> Course:
    """Like `access_course`, by database id."""
    oid = object_id(course_id)
    course = Course.objects(id=oid).first() if oid else None
    if course is None or not can(actor, "course.see", course):
        raise NotFound("No such course.")
    return course
