"""Charts as SVG geometry computed on the server; templates/_charts.html draws them (escaped,
no script). Each bar keeps its value, shown as text next to it and in `data-value`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LABEL_WIDTH = 220
BAR_AREA = 360
ROW_HEIGHT = 24
COLUMN_AREA_HEIGHT = 160


@dataclass(frozen=True)
class Segment:
    series: int  # colour index (CSS class seg-N)
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Row:
    label: str
    total: float
    shown: str  # the value as printed
    y: float
    segments: list[Segment]


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one row per label, stacked by series."""

    title: str
    series: list[str]
    rows: list[Row]
    width: int
    height: int
    label_width: int = LABEL_WIDTH


def bar_chart(
    title: str,
    series: Sequence[str],
    rows: Sequence[tuple[str, Sequence[float]]],
    unit: str = "",
) -> BarChart:
    """`rows`: (label, one value per series)."""
    largest = max((sum(values) for _, values in rows), default=0) or 1
    scale = BAR_AREA / largest
    drawn = []
    for i, (label, values) in enumerate(rows):
        y, x, segments = i * ROW_HEIGHT, float(LABEL_WIDTH), []
        for s, value in enumerate(values):
            width = value * scale
            segments.append(Segment(s, series[s], value, x, y + 4, width, ROW_HEIGHT - 8))
            x += width
        total = sum(values)
        drawn.append(Row(label, total, f"{_number(total)}{unit}", y, segments))
    height = max(ROW_HEIGHT, len(rows) * ROW_HEIGHT)
    return BarChart(title, list(series), drawn, LABEL_WIDTH + BAR_AREA + 90, height)


@dataclass(frozen=True)
class Column:
    label: str
    total: float
    x: float
    width: float
    segments: list[Segment]


@dataclass(frozen=True)
class ColumnChart:
    """Vertical columns over time (one per day), stacked by series."""

    title: str
    series: list[str]
    columns: list[Column]
    width: int
    height: int
    largest: float


def column_chart(
    title: str, series: Sequence[str], columns: Sequence[tuple[str, Sequence[float]]]
) -> ColumnChart:
    largest = max((sum(values) for _, values in columns), default=0) or 1
    scale = COLUMN_AREA_HEIGHT / largest
    step = max(4.0, min(24.0, 640 / max(1, len(columns))))
    drawn = []
    for i, (label, values) in enumerate(columns):
        x, bottom, segments = 40 + i * step, float(COLUMN_AREA_HEIGHT), []
        for s, value in enumerate(values):
            height = value * scale
            bottom -= height
            segments.append(Segment(s, series[s], value, x, bottom, step * 0.8, height))
        drawn.append(Column(label, sum(values), x, step * 0.8, segments))
    width = int(40 + len(columns) * step + 20)
    return ColumnChart(
        title, list(series), drawn, max(width, 200), COLUMN_AREA_HEIGHT + 30, largest
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"
