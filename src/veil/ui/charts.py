"""Charts as tables: each chart is a table of figures the page always shows, and the vendored
Chart.js (``static/charts.js``) draws a chart from that same table when JavaScript runs.

So a page reads the same without JavaScript, a screen reader reads the table, and the chart can
never disagree with the figures beside it. A chart here is data only: the labels of its rows
(weeks, reasons, groups), one series per column, and how to draw it.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("bar", "hbar", "line")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | int | None]


@dataclass(frozen=True)
class Chart:
    """One chart: ``labels[i]`` names row ``i``; ``series[j].values[i]`` is its figure in
    column ``j``. ``percent``: values are shares in [0, 1], shown as percentages."""

    id: str  # the table's DOM id (unique on its page)
    kind: str  # bar | hbar (horizontal bars) | line
    caption: str
    label_header: str
    labels: list[str]
    series: list[Series]
    percent: bool = False
    stacked: bool = False
    note: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"chart kind {self.kind!r} is not one of {KINDS}")
        for s in self.series:
            if len(s.values) != len(self.labels):
                raise ValueError(f"series {s.name!r} has {len(s.values)} values for "
                                 f"{len(self.labels)} labels")

    def rows(self) -> list[tuple[str, list[float | int | None]]]:
        """The table's rows: (label, the value of each series)."""
        return [(label, [s.values[i] for s in self.series]) for i, label in
                enumerate(self.labels)]

    def text(self, value: float | int | None) -> str:
        """A figure as the table shows it."""
        if value is None:
            return "-"
        if self.percent:
            return f"{100 * value:.1f}%"
        if isinstance(value, float) and not value.is_integer():
            return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"
        return f"{int(value):,}"

    @property
    def empty(self) -> bool:
        return not self.labels or all(v in (None, 0) for s in self.series for v in s.values)


__all__ = ["KINDS", "Chart", "Series"]
