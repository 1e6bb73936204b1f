"""The connection timeline as cells: one lane per connection, requests marked over time.

Pure layout, no rich: the terminal renderer styles the cells.  Time runs from the run's
start (t=0) to its last event, scaled to the columns available, so a healthy run is one
long lane dotted with requests and churn is a staircase of short lanes.

A probe is bursts of milliseconds separated by idle gaps of seconds; drawn to one
linear scale, every burst would fall into a single column.  So a quiet gap (no request
in flight) much longer than a request is folded to a few columns, and the axis marks
it with its length; everything else keeps one linear scale.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from reusecheck.analysis.model import Analysis, ConnectionRow, RequestRow

Cell = Literal["blank", "idle", "start", "busy", "server-close", "client-close"]

GLYPHS: Final[dict[Cell, str]] = {
    "blank": " ",
    "idle": "─",
    "start": "●",
    "busy": "━",
    "server-close": "✕",
    "client-close": "┤",
}

LEGEND: Final[tuple[tuple[Cell, str], ...]] = (
    ("start", "request"),
    ("busy", "in flight"),
    ("idle", "open"),
    ("server-close", "closed by server"),
    ("client-close", "closed by client"),
)

_RANK: Final[dict[Cell, int]] = {
    "blank": 0,
    "idle": 1,
    "busy": 2,
    "client-close": 3,
    "server-close": 3,
    "start": 4,
}

GAP_COLUMNS: Final = 7  # a folded gap's width, room for its label ("≈5.9s")
GAP_FACTOR: Final = 5.0  # fold gaps longer than this many median request durations


@dataclass(frozen=True, slots=True)
class Lane:
    conn_id: int
    cells: tuple[Cell, ...]
    requests: int

    @property
    def text(self) -> str:
        return "".join(GLYPHS[c] for c in self.cells)


@dataclass(frozen=True, slots=True)
class Gap:
    """A folded stretch of time: columns ``first``..``last`` stand for ``seconds``."""

    first: int
    last: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Timeline:
    lanes: tuple[Lane, ...]
    width: int
    end_s: float
    hidden: int  # connections beyond max_lanes, not drawn
    gaps: tuple[Gap, ...] = ()

    @property
    def axis(self) -> str:
        """'0 s' under the first column, the run's length under the last, folded gaps
        labelled with their length where they have room."""
        cells = [" "] * self.width
        end = f"{self.end_s:.2f} s"

        def write(at: int, text: str) -> None:
            if (
                at >= 0
                and at + len(text) <= self.width
                and not "".join(cells[at : at + len(text)]).strip()
            ):
                cells[at : at + len(text)] = list(text)

        write(0, "0 s")
        write(self.width - len(end), end)
        for g in self.gaps:
            label = f"≈{g.seconds:.1f}s" if g.seconds < 10 else f"≈{g.seconds:.0f}s"
            room = g.last - g.first + 1
            write(g.first + max(0, (room - len(label)) // 2), label if len(label) <= room else "≈")
        return "".join(cells)


class TimeScale:
    """Seconds -> column, linear except across folded gaps."""

    def __init__(self, width: int, end_s: float, gaps: Sequence[tuple[float, float]]) -> None:
        self.width = width
        self.end_s = end_s
        folded = sum(b - a for a, b in gaps)
        linear_cols = max(1, width - 1 - GAP_COLUMNS * len(gaps))
        linear_s = end_s - folded
        self._per_s = linear_cols / linear_s if linear_s > 0 else 0.0
        self._gaps = sorted(gaps)
        self.gaps = tuple(
            Gap(self.col(a) + 1, max(self.col(a) + 1, self.col(b) - 1), b - a) for a, b in gaps
        )

    def x(self, t: float) -> float:
        x = 0.0
        at = 0.0
        for a, b in self._gaps:
            if t <= a:
                break
            x += (a - at) * self._per_s
            if t < b:
                return x + (t - a) / (b - a) * GAP_COLUMNS
            x += GAP_COLUMNS
            at = b
        return x + (t - at) * self._per_s

    def col(self, t: float) -> int:
        if self.end_s <= 0:
            return 0
        return max(0, min(self.width - 1, round(self.x(t))))


def quiet_gaps(rows: Sequence[RequestRow], end_s: float, width: int) -> list[tuple[float, float]]:
    """Stretches with no request in flight worth folding: long next to a request, and
    wider than a folded gap would be on a linear scale."""
    spans = sorted(
        (r.started_at_s, r.ended_at_s if r.ended_at_s is not None else end_s) for r in rows
    )
    if not spans or end_s <= 0:
        return []
    typical = statistics.median(b - a for a, b in spans) or end_s / 1000
    gaps: list[tuple[float, float]] = []
    busy_until = spans[0][1]
    for a, b in spans[1:]:
        if a > busy_until:
            gaps.append((busy_until, a))
        busy_until = max(busy_until, b)
    if end_s > busy_until:
        gaps.append((busy_until, end_s))
    linear_cols_per_s = (width - 1) / end_s
    return [
        (a, b)
        for a, b in gaps
        if b - a > GAP_FACTOR * typical and (b - a) * linear_cols_per_s > GAP_COLUMNS + 2
    ]


def _lane(analysis: Analysis, conn: ConnectionRow, scale: TimeScale) -> Lane:
    width, col = scale.width, scale.col
    cells: list[Cell] = ["blank"] * width

    def put(i: int, cell: Cell) -> None:
        if _RANK[cell] >= _RANK[cells[i]]:
            cells[i] = cell

    last = col(conn.closed_at_s if conn.closed_at_s is not None else scale.end_s)
    for i in range(col(conn.opened_at_s), last + 1):
        put(i, "idle")
    for r in analysis.requests:
        if r.conn_id != conn.id:
            continue
        start = col(max(r.started_at_s, conn.opened_at_s))
        stop = min(last, col(r.ended_at_s if r.ended_at_s is not None else scale.end_s))
        for i in range(start, stop + 1):
            put(i, "busy")
        put(start, "start")
    if conn.closed_at_s is not None and conn.close_reason != "end-of-run":
        mark: Cell = "server-close" if conn.closed_by == "server" else "client-close"
        # The close usually lands in the column of the last request's mark: draw it next to it.
        at = last + 1 if cells[last] == "start" and last + 1 < width else last
        if cells[at] != "start":
            cells[at] = mark
    return Lane(conn.id, tuple(cells), conn.requests)


def layout(analysis: Analysis, width: int, max_lanes: int = 40) -> Timeline:
    """Lanes ``width`` cells wide for the opened connections, in the order they opened."""
    width = max(8, width)
    end_s = analysis.summary.duration_s
    gaps = quiet_gaps(analysis.requests, end_s, width)
    # Folding needs room: keep at least half the width on the linear scale.
    while gaps and GAP_COLUMNS * len(gaps) > width // 2:
        gaps.remove(min(gaps, key=lambda g: g[1] - g[0]))
    scale = TimeScale(width, end_s, gaps)
    conns = sorted(
        (c for c in analysis.connections if c.error is None),
        key=lambda c: (c.opened_at_s, c.id),
    )
    lanes = tuple(_lane(analysis, c, scale) for c in conns[:max_lanes])
    return Timeline(lanes, width, end_s, max(0, len(conns) - max_lanes), scale.gaps)
