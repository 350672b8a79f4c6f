"""Geometry for the dashboard's server-rendered SVG charts (no JavaScript needed)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    max_value: int
    horizontal: bool


def column_chart(points: list[tuple[str, int]], width: int = 640, height: int = 180) -> Chart:
    """Vertical bars, one per point, scaled to the largest value."""
    top = max([v for _, v in points] + [1])
    step = width / max(len(points), 1)
    bars = [
        Bar(
            x=i * step + 1,
            y=height - v / top * (height - 4),
            width=max(step - 2, 1),
            height=v / top * (height - 4),
            label=label,
            value=v,
        )
        for i, (label, v) in enumerate(points)
    ]
    return Chart(width, height, bars, top, horizontal=False)


def bar_chart(points: list[tuple[str, int]], width: int = 640, row: int = 26) -> Chart:
    """Horizontal bars with room for a label on the left."""
    top = max([v for _, v in points] + [1])
    label_width, usable = 240, width - 240 - 40
    bars = [
        Bar(
            x=label_width,
            y=i * row + 3,
            width=max(v / top * usable, 0),
            height=row - 8,
            label=label,
            value=v,
        )
        for i, (label, v) in enumerate(points)
    ]
    return Chart(width, max(row * len(points), row), bars, top, horizontal=True)
