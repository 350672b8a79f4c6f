"""Markdown for course text: rendered, then sanitised by an allowlist (SPEC §9)."""

from __future__ import annotations

import re

import markdown as md
import nh3
from markupsafe import Markup

TAGS = {
    "p",
    "br",
    "hr",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "img",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "del",
    "sup",
    "sub",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_WORD = re.compile(r"[\w][\w+#.-]*", re.UNICODE)


def render_markdown(source: str | None) -> Markup:
    """Safe HTML for Markdown written by a user: scripts, handlers and odd URLs removed."""
    html = md.markdown(source or "", extensions=["extra", "sane_lists"], output_format="html")
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def keywords(*texts: str, limit: int = 300) -> list[str]:
    """Distinct lower-case words of the texts, for prefix search on an indexed list."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall((text or "").lower()):
            word = word.strip(".-")
            if 1 < len(word) <= 40:
                seen.setdefault(word, None)
            if len(seen) >= limit:
                return list(seen)
    return list(seen)


def search_terms(query: str, limit: int = 8) -> list[str]:
    """The words of a search box query, normalised like `keywords`."""
    return keywords(query, limit=limit)


def format_bytes(n: int) -> str:
    """1.2 GB, 340 MB, 12 KB: binary units under decimal-looking names, as file managers do."""
    for unit, size in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def format_duration(seconds: float) -> str:
    """5 h 12 min, 4 h, 3 min 20 s, 12 s: a length of video as a person says it."""
    whole = round(seconds)
    hours, minutes, secs = whole // 3600, whole % 3600 // 60, whole % 60
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{seconds:.1f} s".replace(".0 ", " ") if seconds < 10 else f"{secs} s"
