"""The requests and connections tables of the terminal report (rich, like terminal.py).

Laid out for 80 columns: narrow columns, ellipsis where text runs long, and for long
runs the first and last rows only (the JSON report has them all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

from rich import box
from rich.table import Table
from rich.text import Text

from reusecheck.analysis.model import ConnectionRow, RequestRow

T = TypeVar("T")

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


def _conn_cell(r: RequestRow) -> Text:
    """'1', or '1:3' for HTTP/2: connection 1, stream 3."""
    if r.conn_id is None:
        return Text(NONE)
    if r.stream_id is None:
        return Text(str(r.conn_id))
    return Text(f"{r.conn_id}:{r.stream_id}")


def requests_table(rows: Sequence[RequestRow]) -> Table:
    t = _table("dial = DNS + connect + TLS; dial, wait, total in ms; idle in s")
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("phase", overflow="ellipsis", no_wrap=True, max_width=10)
    h2 = any(r.stream_id is not None for r in rows)
    t.add_column("conn:stream" if h2 else "conn", justify="right", no_wrap=True)
    t.add_column("reused", no_wrap=True)
    t.add_column("idle", justify="right", no_wrap=True)
    t.add_column("dial", justify="right", no_wrap=True)
    t.add_column("wait", justify="right", no_wrap=True)
    t.add_column("total", justify="right", no_wrap=True)
    t.add_column("status", overflow="ellipsis", no_wrap=True, max_width=12)
    # -L: each hop a row, with the request whose redirect it follows.
    hops = any(r.redirected_from is not None for r in rows)
    if hops:
        t.add_column("from", justify="right", no_wrap=True)
    # HTTP/2 has no Connection header (RFC 9113 section 8.2.2): no column for it then.
    http1 = any(r.protocol != "h2" for r in rows)
    if http1:
        t.add_column("Connection", overflow="ellipsis", no_wrap=True, max_width=12)
    head, left_out, tail = _elide(rows)
    for i, r in enumerate([*head, *tail]):
        if i == len(head) and left_out:
            _elision(t, f"{left_out} more")
        tm = r.timings_s
        setup = [x for x in (tm.dns, tm.connect, tm.tls) if x is not None]
        cells = [
            Text(str(r.index)),
            Text(r.phase or NONE),
            _conn_cell(r),
            _reused_cell(r),
            Text(f"{r.idle_time_s:.1f}" if r.was_idle else NONE),
            Text(_ms(sum(setup)) if setup else NONE),
            Text(_ms(tm.wait)),
            Text(_ms(tm.total)),
            _status_cell(r),
        ]
        if hops:
            after = r.redirected_from
            cells.append(Text(NONE if after is None else f"↪{after}"))
        if http1:
            cells.append(Text(r.response_connection or NONE))
        t.add_row(*cells)
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
        if c.h2 is not None and c.h2.goaway is not None and c.h2.goaway.error_code:
            reason.append(f" {c.h2.goaway.error_code}")
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
