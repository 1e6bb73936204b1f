"""The terminal report: renderables built from an Analysis, and nothing else.

This is the only module that imports rich (the CLI imports it lazily: rich costs
start-up time a ``--json`` run should not pay).  Every piece of text from the run goes
in as ``Text``, never as a markup string: a URL with ``[redacted]`` in it or a server
header with brackets must print as it is.  Styles are attributes, so rich drops them
when the output is not a terminal or NO_COLOR is set.  Laid out for 80 columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from reusecheck.analysis.model import Analysis, ConnectionRow, RequestRow, ServerFacts
from reusecheck.findings import Finding, seconds
from reusecheck.redact import redact_url
from reusecheck.report.timeline import GLYPHS, LEGEND, Cell, layout

T = TypeVar("T")

SEVERITY_STYLE: Final = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}
REUSE_STYLE: Final = {"yes": "green", "partial": "yellow", "no": "red"}
CELL_STYLE: Final[dict[Cell, str]] = {
    "blank": "",
    "idle": "dim",
    "start": "bold green",
    "busy": "green",
    "server-close": "bold red",
    "client-close": "yellow",
}
NONE: Final = "-"
# Long runs: the tables show the first and last rows (the JSON report has them all).
MAX_ROWS: Final = 60
HEAD_ROWS: Final = 40
TAIL_ROWS: Final = 10


def _ms(value: float | None) -> str:
    if value is None:
        return NONE
    ms = value * 1000
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _title(text: str) -> Text:
    return Text(text, style="bold underline")


# --- header ---------------------------------------------------------------------------------


def _server_line(s: ServerFacts) -> Text:
    parts = [f"keep-alive {_yes_no(s.keepalive)}"]
    hint = s.keepalive_hint
    if s.idle_timeout_s is not None:
        idle = f"idle timeout {seconds(s.idle_timeout_s)} s"
        if hint is not None and hint.timeout_s is not None:
            delta = s.idle_timeout_hint_delta_s or 0.0
            idle += f" (hint {seconds(hint.timeout_s)} s, {delta:+.1f} s)"
        parts.append(idle)
    elif hint is not None and hint.timeout_s is not None:
        parts.append(f"hint timeout={seconds(hint.timeout_s)} s (not measured)")
    if s.max_requests_per_conn is not None:
        most = f"closes after {_n(s.max_requests_per_conn, 'request')}"
        if hint is not None and hint.max is not None:
            delta_n = s.max_requests_hint_delta or 0
            most += f" (hint max={hint.max}, {delta_n:+d})"
        parts.append(most)
    elif hint is not None and hint.max is not None:
        parts.append(f"hint max={hint.max}")
    if s.h2_max_concurrent_streams is not None:
        parts.append(f"h2 streams {s.h2_max_concurrent_streams}")
    if s.software:
        parts.append(s.software)
    return Text(" · ".join(parts))


def header(analysis: Analysis, reveal: bool = False) -> RenderableType:
    a = analysis
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row(Text("target"), Text(redact_url(a.target, reveal)))
    first = next((c for c in a.connections if c.error is None), None)
    if first is not None:
        where = [first.remote or "?", a.protocol or first.protocol or "?"]
        if first.tls is not None:
            tls = " ".join(x for x in (first.tls.version, first.tls.cipher) if x)
            alpn = f"alpn {first.tls.alpn}" if first.tls.alpn else "no alpn"
            resumed = ", resumed" if first.tls.resumed else ""
            where.append(f"{tls or 'TLS'} ({alpn}{resumed})")
        else:
            where.append("no TLS")
        grid.add_row(Text("address"), Text(" · ".join(where)))
    grid.add_row(Text("server"), _server_line(a.server))
    s = a.summary
    run = (
        f"{_n(s.requests, 'request')} · {_n(s.connections_opened, 'connection')} opened · "
        f"{s.reused} reused (ratio {s.reuse_ratio:.2f}) · max {s.peak_concurrency} in flight"
        f" · {s.duration_s:.2f} s"
    )
    grid.add_row(Text("run"), Text(run))
    if a.error is not None:
        grid.add_row(
            Text("error", style="bold red"), Text(f"{a.error.kind}: {a.error.message}", "red")
        )
    return grid


# --- tables ---------------------------------------------------------------------------------


def _table(caption: str | None = None) -> Table:
    # collapse_padding: two columns share one space of padding, which 80 columns need.
    return Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        caption=Text(caption, style="dim") if caption else None,
        caption_justify="left",
    )


def _reused_cell(r: RequestRow) -> Text:
    if r.retried:
        return Text("retry", style="yellow")
    if r.conn_id is None:
        return Text(NONE)
    return Text("yes", style="green") if r.reused else Text("new", style="yellow")


def _status_cell(r: RequestRow) -> Text:
    if r.error is not None:
        return Text(r.error.kind, style="red")
    if r.status is None:
        return Text(NONE)
    return Text(str(r.status), style="red" if r.status >= 500 else "")


def _elide(rows: Sequence[T]) -> tuple[Sequence[T], int, Sequence[T]]:
    """(head, how many are left out, tail) of a long list of table rows."""
    if len(rows) <= MAX_ROWS:
        return rows, 0, ()
    return rows[:HEAD_ROWS], len(rows) - HEAD_ROWS - TAIL_ROWS, rows[-TAIL_ROWS:]


def _elision(table: Table, label: str) -> None:
    table.add_row(Text("..."), Text(label, style="dim"))


def requests_table(rows: Sequence[RequestRow]) -> Table:
    t = _table("dial = DNS + connect + TLS; dial, wait, total in ms; idle in s")
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("phase", overflow="ellipsis", no_wrap=True, max_width=10)
    t.add_column("conn", justify="right", no_wrap=True)
    t.add_column("reused", no_wrap=True)
    t.add_column("idle", justify="right", no_wrap=True)
    t.add_column("dial", justify="right", no_wrap=True)
    t.add_column("wait", justify="right", no_wrap=True)
    t.add_column("total", justify="right", no_wrap=True)
    t.add_column("status", overflow="ellipsis", no_wrap=True, max_width=10)
    t.add_column("Connection", overflow="ellipsis", no_wrap=True, max_width=12)
    head, left_out, tail = _elide(rows)
    for i, r in enumerate([*head, *tail]):
        if i == len(head) and left_out:
            _elision(t, f"{left_out} more")
        tm = r.timings_s
        setup = [x for x in (tm.dns, tm.connect, tm.tls) if x is not None]
        t.add_row(
            Text(str(r.index)),
            Text(r.phase or NONE),
            Text(str(r.conn_id) if r.conn_id is not None else NONE),
            _reused_cell(r),
            Text(f"{r.idle_time_s:.1f}" if r.was_idle else NONE),
            Text(_ms(sum(setup)) if setup else NONE),
            Text(_ms(tm.wait)),
            Text(_ms(tm.total)),
            _status_cell(r),
            Text(r.response_connection or NONE),
        )
    return t


def connections_table(conns: Sequence[ConnectionRow]) -> Table:
    remotes = {c.remote for c in conns if c.remote}
    t = _table()
    t.add_column("conn", justify="right", no_wrap=True)
    t.add_column("local" if len(remotes) <= 1 else "local → remote", overflow="fold")
    t.add_column("reqs", justify="right", no_wrap=True)
    t.add_column("opened", justify="right", no_wrap=True)
    t.add_column("closed", justify="right", no_wrap=True)
    t.add_column("by", no_wrap=True)
    t.add_column("reason", overflow="fold")
    head, left_out, tail = _elide(conns)
    for i, c in enumerate([*head, *tail]):
        if i == len(head) and left_out:
            _elision(t, f"{left_out} more connections")
        where = c.local or NONE
        if len(remotes) > 1:
            where = f"{where} → {c.remote or '?'}"
        by_style = "red" if c.closed_by == "server" else ""
        reason = Text(c.close_reason or ("open" if c.closed_at_s is None else NONE))
        if c.error is not None:
            reason = Text(c.error, style="red")
        t.add_row(
            Text(str(c.id)),
            Text(where),
            Text(str(c.requests)),
            Text(f"{c.opened_at_s:.2f}s"),
            Text(f"{c.closed_at_s:.2f}s" if c.closed_at_s is not None else NONE),
            Text(c.closed_by or NONE, style=by_style),
            reason,
        )
    return t


# --- timeline -------------------------------------------------------------------------------


class TimelineView:
    """One lane per connection over the run's time, fitted to the width available."""

    def __init__(self, analysis: Analysis, max_lanes: int = 40) -> None:
        self.analysis = analysis
        self.max_lanes = max_lanes

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        conns = self.analysis.connections
        label_w = max((len(f"c{c.id}") for c in conns), default=2)
        note_w = max((len(str(c.requests)) for c in conns), default=1)
        width = options.max_width - label_w - note_w - 2
        tl = layout(self.analysis, width, self.max_lanes)
        for lane in tl.lanes:
            line = Text(f"c{lane.conn_id}".rjust(label_w) + " ")
            for cell in lane.cells:
                line.append(GLYPHS[cell], style=CELL_STYLE[cell])
            line.append(" " + str(lane.requests).rjust(note_w), style="dim")
            yield line
        if tl.hidden:
            yield Text(f"{'':>{label_w}} ... {tl.hidden} more connections", style="dim")
        yield Text(" " * (label_w + 1) + tl.axis.rstrip(), style="dim")
        # The legend wraps between entries, never inside one.
        indent = " " * (label_w + 1)
        legend = Text(indent)
        for cell, meaning in LEGEND:
            entry = f"{GLYPHS[cell]} {meaning}"
            if legend.cell_len > len(indent) and legend.cell_len + len(entry) > options.max_width:
                legend.rstrip()
                yield legend
                legend = Text(indent)
            legend.append(GLYPHS[cell], style=CELL_STYLE[cell])
            legend.append(f" {meaning}  ", style="dim")
        legend.rstrip()
        yield legend


# --- findings and verdict -------------------------------------------------------------------


def finding_view(f: Finding) -> RenderableType:
    head = Text()
    head.append(f.severity.upper(), style=SEVERITY_STYLE[f.severity])
    head.append(f" {f.code}", style="bold")
    body = Text(f.message)
    fix = Text("fix: ", style="bold")
    fix.append(f.remedy)
    return Group(head, Padding(Group(body, fix), (0, 0, 0, 2)))


def expectations_view(analysis: Analysis) -> RenderableType:
    v = analysis.verdict
    reuse = Text("reuse ")
    reuse.append(v.reuse, style=REUSE_STYLE[v.reuse])
    reuse.append(f": {v.detail}")
    lines = [reuse]
    for e in v.expectations:
        line = Text("expect ")
        line.append(e.name, style="bold")
        line.append(" ")
        line.append("ok" if e.ok else "FAILED", style="green" if e.ok else "bold red")
        if e.name != "reuse":  # its detail is the line above
            line.append(f": {e.detail}")
        lines.append(line)
    return Group(*lines)


def verdict_line(analysis: Analysis) -> Text:
    a = analysis
    v, s = a.verdict, a.summary
    line = Text("verdict: ", style="bold")
    if a.error is not None:
        line.append("ERROR", style="bold red")
        line.append(f" · the run could not complete ({a.error.kind})")
        return line
    line.append("OK" if v.ok else "FAIL", style="bold green" if v.ok else "bold red")
    line.append(" · reuse ")
    line.append(v.reuse, style=REUSE_STYLE[v.reuse])
    line.append(
        f" · {s.reused}/{s.requests} reused · {s.connections_opened} "
        f"connection{'s' if s.connections_opened != 1 else ''}"
    )
    return line


class Report:
    """The whole terminal report; the verdict is its last line."""

    def __init__(self, analysis: Analysis, reveal: bool = False) -> None:
        self.analysis = analysis
        self.reveal = reveal

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        a = self.analysis
        yield header(a, self.reveal)
        if a.requests:
            yield Text()
            yield _title("Requests")
            yield requests_table(a.requests)
        if a.connections:
            yield Text()
            yield _title("Connections")
            yield connections_table(a.connections)
        if any(c.error is None for c in a.connections):
            yield Text()
            yield _title("Timeline")
            yield TimelineView(a)
        if a.findings:
            yield Text()
            yield _title("Findings")
            for f in a.findings:
                yield finding_view(f)
        yield Text()
        yield expectations_view(a)
        yield verdict_line(a)


def render(analysis: Analysis, console: Console, *, reveal: bool = False) -> None:
    console.print(Report(analysis, reveal=reveal))
