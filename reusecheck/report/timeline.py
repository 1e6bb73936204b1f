"""The connection timeline as cells: one lane per connection, requests marked over time.

Pure layout, no rich: the terminal renderer styles the cells.  Time runs from the run's
start (t=0) to its last event, scaled to the columns available, so a healthy run is one
long lane dotted with requests and churn is a staircase of short lanes.

A probe is bursts of milliseconds separated by idle gaps of seconds; drawn to one
linear scale, every burst would fall into a single column.  So a quiet gap (no request
in flight) much longer than a request is folded to a few columns, and the axis marks
it with its length; everything else keeps one linear scale.

HTTP/2 multiplexing shows on the lane itself: a column where several of the
connection's streams were in flight at the same moment holds their number (``4``, or
``+`` for ten or more) instead of the in-flight bar, so a burst sharing one connection
reads as ``c1 ●4444━─`` and the same burst spread over four connections as four lanes.
Only true overlap counts (stream intervals, ``RequestRow.got_conn_at_s``), never two
requests that merely fall into one column.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from reusecheck.analysis.model import Analysis, ConnectionRow, RequestRow
from reusecheck.analysis.requests import stream_span

Cell = Literal["blank", "idle", "start", "busy", "streams", "server-close", "client-close"]

GLYPHS: Final[dict[Cell, str]] = {
    "blank": " ",
    "idle": "─",
    "start": "●",
    "busy": "━",
    "streams": "2",  # stands for the digit of the count: see ``glyph``
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
    "streams": 5,
}

GAP_COLUMNS: Final = 7  # a folded gap's width, room for its label ("≈5.9s")
GAP_FACTOR: Final = 5.0  # fold gaps longer than this many median request durations


def glyph(cell: Cell, streams: int = 0) -> str:
    """A cell's character; a ``streams`` cell shows how many (``+`` for ten or more)."""
    if cell == "streams":
        return str(streams) if streams < 10 else "+"
    return GLYPHS[cell]


@dataclass(frozen=True, slots=True)
class Lane:
    conn_id: int
    cells: tuple[Cell, ...]
    requests: int
    streams: tuple[int, ...] = ()  # per column: most streams in flight at once there

    def glyphs(self) -> list[str]:
        counts = self.streams or (0,) * len(self.cells)
        return [glyph(c, k) for c, k in zip(self.cells, counts, strict=True)]

    @property
    def text(self) -> str:
        return "".join(self.glyphs())


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
    def stream_counts(self) -> tuple[int, ...]:
        """The distinct numbers of streams at once drawn on the lanes (2 or more)."""
        return tuple(sorted({k for lane in self.lanes for k in lane.streams if k >= 2}))

    @property
    def streams_legend(self) -> tuple[tuple[str, str], ...]:
        """Legend entries for the counts drawn: ('4', 'streams at once'), or
        ('2-9', ...) when they vary, and ('+', '10 or more ...') when there are any."""
        counts = self.stream_counts
        digits = [k for k in counts if k < 10]
        entries = []
        if digits:
            lo, hi = digits[0], digits[-1]
            entries.append((str(lo) if lo == hi else f"{lo}-{hi}", "streams at once"))
        if counts and counts[-1] >= 10:
            entries.append((glyph("streams", counts[-1]), "10 or more streams at once"))
        return tuple(entries)

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


def _stream_counts(rows: Sequence[RequestRow], scale: TimeScale) -> list[int]:
    """Per column, the most of these streams in flight at the same moment in it."""
    points: list[tuple[float, int]] = []
    for r in rows:
        span = stream_span(r)
        if span is not None:
            points.append((span[0], 1))
            points.append((span[1] if span[1] is not None else scale.end_s, -1))
    points.sort(key=lambda p: (p[0], p[1]))  # ends before starts at the same instant
    counts = [0] * scale.width
    level = 0
    for k, (t, delta) in enumerate(points):
        level += delta
        if level < 2 or k + 1 == len(points) or points[k + 1][0] == t:
            continue  # one stream, or not the level that holds from t on
        for i in range(scale.col(t), scale.col(points[k + 1][0]) + 1):
            counts[i] = max(counts[i], level)
    return counts


def _lane(rows: Sequence[RequestRow], conn: ConnectionRow, scale: TimeScale) -> Lane:
    """``rows``: the requests this connection served."""
    width, col = scale.width, scale.col
    cells: list[Cell] = ["blank"] * width

    def put(i: int, cell: Cell) -> None:
        if _RANK[cell] >= _RANK[cells[i]]:
            cells[i] = cell

    last = col(conn.closed_at_s if conn.closed_at_s is not None else scale.end_s)
    for i in range(col(conn.opened_at_s), last + 1):
        put(i, "idle")
    for r in rows:
        start = col(max(r.started_at_s, conn.opened_at_s))
        stop = min(last, col(r.ended_at_s if r.ended_at_s is not None else scale.end_s))
        for i in range(start, stop + 1):
            put(i, "busy")
        put(start, "start")
    counts = _stream_counts(rows, scale)
    for i, k in enumerate(counts):
        if k >= 2:
            put(i, "streams")
    if conn.closed_at_s is not None and conn.close_reason != "end-of-run":
        mark: Cell = "server-close" if conn.closed_by == "server" else "client-close"
        # The close usually lands in the column of the last request's mark: draw it next to it.
        marks = ("start", "streams")
        at = last + 1 if cells[last] in marks and last + 1 < width else last
        if cells[at] not in marks:
            cells[at] = mark
    return Lane(conn.id, tuple(cells), conn.requests, tuple(counts))


# Past this many requests the timeline is not drawn: it reads every request, and a run
# that long is read from its JSON (the terminal says so instead).
MAX_REQUESTS: Final = 20_000


def layout(analysis: Analysis, width: int, max_lanes: int = 40) -> Timeline | None:
    """Lanes ``width`` cells wide for the opened connections, in the order they opened;
    None for a run of more than ``MAX_REQUESTS`` requests."""
    if len(analysis.requests) > MAX_REQUESTS:
        return None
    rows = list(analysis.requests)  # read once (rows a run wrote out are read back)
    width = max(8, width)
    end_s = analysis.summary.duration_s
    gaps = quiet_gaps(rows, end_s, width)
    # Folding needs room: keep at least half the width on the linear scale.
    while gaps and GAP_COLUMNS * len(gaps) > width // 2:
        gaps.remove(min(gaps, key=lambda g: g[1] - g[0]))
    scale = TimeScale(width, end_s, gaps)
    conns = sorted(
        (c for c in analysis.connections if c.error is None),
        key=lambda c: (c.opened_at_s, c.id),
    )
    shown = conns[:max_lanes]
    served: dict[int, list[RequestRow]] = {c.id: [] for c in shown}
    for r in rows:
        if r.conn_id in served:
            served[r.conn_id].append(r)
    lanes = tuple(_lane(served[c.id], c, scale) for c in shown)
    return Timeline(lanes, width, end_s, max(0, len(conns) - max_lanes), scale.gaps)
