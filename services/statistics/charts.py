"""Geometry of the pages' bar charts, drawn by the template as inline SVG (the tables beside them
are the accessible source of truth). A suppressed figure gets no bar, only its "<5"."""
from __future__ import annotations

from dataclasses import dataclass

from services.statistics.records import SUPPRESSED

WIDTH = 640
LABEL_WIDTH = 220
ROW = 22
BAR = 16


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the figure as shown
    y: int
    width: int  # 0: no bar (zero or suppressed)


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    height: int
    width: int = WIDTH
    label_width: int = LABEL_WIDTH
    bar_height: int = BAR

    @property
    def text_y_offset(self) -> int:
        return BAR - 4


def bar_chart(items: list[tuple[str, float | int | None]], *, missing: str = SUPPRESSED) -> Chart:
    """Horizontal bars, one per (label, value), scaled to the largest value shown; ``missing`` is
    the text for a value of None."""
    largest = max((v for _, v in items if v is not None), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 60
    bars = [Bar(label, missing if value is None else _number(value), i * ROW,
                0 if value is None else round(room * value / largest))
            for i, (label, value) in enumerate(items)]
    return Chart(bars, max(len(bars), 1) * ROW)


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
