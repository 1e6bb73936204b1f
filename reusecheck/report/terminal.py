"""The terminal report: renderables built from an Analysis, and nothing else.

Only this module and ``tables`` import rich (the CLI imports them lazily: rich costs
start-up time a ``--json`` run should not pay).  Every piece of text from the run goes
in as ``Text``, never as a markup string: a URL with ``[redacted]`` in it or a server
header with brackets must print as it is.  Styles are attributes, so rich drops them
when the output is not a terminal or NO_COLOR is set.  Laid out for 80 columns.
"""

from __future__ import annotations

from typing import Final

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.model import Analysis, ConnectionRow, ServerFacts
from reusecheck.analysis.text import seconds
from reusecheck.report.tables import connections_table, requests_table
from reusecheck.report.timeline import LEGEND, MAX_REQUESTS, Cell, glyph, layout
from reusecheck.report.verdict import REUSE_STYLE, verdict_parts
from reusecheck.trace.redact import redact_url

SEVERITY_STYLE: Final = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}
CELL_STYLE: Final[dict[Cell, str]] = {
    "blank": "",
    "idle": "dim",
    "start": "bold green",
    "busy": "green",
    "streams": "bold magenta",
    "server-close": "bold red",
    "client-close": "yellow",
}


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
            # Within the measurement's resolution the hint simply agrees.
            longer = "longer" if delta > 0 else "shorter"
            off = "as measured" if abs(delta) < 0.05 else f"{abs(delta):.1f} s {longer}"
            idle += f" (hint {seconds(hint.timeout_s)} s, {off})"
        parts.append(idle)
    elif hint is not None and hint.timeout_s is not None:
        parts.append(f"hint timeout={seconds(hint.timeout_s)} s (not measured)")
    if s.max_requests_per_conn is not None:
        most = f"closes after {_n(s.max_requests_per_conn, 'request')}"
        if hint is not None and hint.max is not None:
            delta_n = s.max_requests_hint_delta or 0
            off_n = "as measured" if delta_n == 0 else f"{delta_n:+d}"
            most += f" (hint max={hint.max}, {off_n})"
        parts.append(most)
    elif hint is not None and hint.max is not None:
        parts.append(f"hint max={hint.max}")
    if s.h2_max_concurrent_streams is not None:
        streams = f"h2 max {s.h2_max_concurrent_streams} concurrent streams"
        seen = s.h2_max_concurrent_streams_announced
        if len(seen) > 1:
            streams += f" (connections differ: {', '.join(map(str, seen))})"
        parts.append(streams)
    if s.software:
        parts.append(s.software)
    return Text(" · ".join(parts))


def _address(a: Analysis, first: ConnectionRow) -> list[str]:
    """'host:port · h2 · TLSv1.3 … (alpn h2)'; the ALPN offer when it was not taken."""
    protocol = a.protocol or first.protocol or "?"
    if protocol == "h2" and first.tls is None:
        protocol = "h2c"  # HTTP/2 over plain TCP, prior knowledge
    where = [first.remote or "?", protocol]
    if first.proxy is not None:
        # The address reached is the proxy's; a tunnel goes on to its target.
        tunnel = f" (proxy) → tunnel to {first.tunnel}"
        if first.tunnel_status is not None:
            tunnel += f" (CONNECT {first.tunnel_status})"
        where[0] += tunnel if first.tunnel else " (proxy)"
    if first.tls is None:
        where.append("no TLS")
        return where
    tls = " ".join(x for x in (first.tls.version, first.tls.cipher) if x)
    alpn = f"alpn {first.tls.alpn}" if first.tls.alpn else "no alpn"
    offered = first.tls.alpn_offered
    if offered and first.tls.alpn != offered[0]:  # not the client's first choice
        alpn += f", offered {', '.join(offered)}"
    resumed = ", resumed" if first.tls.resumed else ""
    where.append(f"{tls or 'TLS'} ({alpn}{resumed})")
    return where


def _pinned_line(a: Analysis) -> str | None:
    """--resolve / --connect-to: the addresses dialled are not the name's own."""
    pins = [f"--resolve {r}" for r in a.options.get("resolve") or ()]
    pins += [f"--connect-to {c}" for c in a.options.get("connect_to") or ()]
    if not pins:
        return None
    return " · ".join(pins) + " · TLS name and Host stay the URL's"


def _attempts_line(a: Analysis) -> str | None:
    """Addresses tried before the one reached: each one a connect that failed."""
    # A dial that failed outright says so in the error line; these connected in the end.
    made = [c for c in a.connections if c.failed_attempts and c.error is None]
    failed = [f for c in made for f in c.failed_attempts]
    if not failed:
        return None
    dials = len(made)
    first = failed[0]
    more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
    s = "" if dials == 1 else "s"
    said = first.error if first.addr in first.error else f"{first.addr}: {first.error}"
    return f"{dials} dial{s} tried another address first ({said}){more}"


def _proxy_line(a: Analysis) -> str:
    """Which hop the run measured: the proxy's, tunnels or absolute-form requests."""
    proxied = [c for c in a.connections if c.proxy is not None]
    tunnels = sum(1 for c in proxied if c.tunnel is not None)
    parts = [f"{a.proxy} · reuse measured between the client and the proxy"]
    if tunnels:
        parts.append(f"{tunnels} CONNECT {'tunnel' if tunnels == 1 else 'tunnels'} (https://)")
    if len(proxied) > tunnels:
        parts.append(f"{len(proxied) - tunnels} to the proxy itself (http://, absolute form)")
    return " · ".join(parts)


def header(analysis: Analysis, reveal: bool = False) -> RenderableType:
    a = analysis
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row(Text("target"), Text(redact_url(a.target, reveal)))
    first = next((c for c in a.connections if c.error is None), None)
    if first is None:  # nothing connected: show the handshake that got furthest
        first = next((c for c in a.connections if c.tls is not None), None)
    if first is not None:
        grid.add_row(Text("address"), Text(" · ".join(_address(a, first))))
    pinned, attempts = _pinned_line(a), _attempts_line(a)
    if pinned is not None:
        grid.add_row(Text("pinned"), Text(pinned))
    if attempts is not None:
        grid.add_row(Text("dialled"), Text(attempts))
    if a.proxy is not None:
        grid.add_row(Text("proxy"), Text(_proxy_line(a)))
    # http:// through a proxy: what the connections saw is the proxy's keep-alive, not
    # the origin's (the Server header is still the origin's).
    absolute = any(c.proxy is not None and c.tunnel is None for c in a.connections)
    grid.add_row(Text("proxy hop" if absolute else "server"), _server_line(a.server))
    s = a.summary
    run = (
        f"{_n(s.requests, 'request')} · {_n(s.connections_opened, 'connection')} opened · "
        f"{s.reused} reused (ratio {s.reuse_ratio:.2f}) · max {s.peak_concurrency} in flight"
        f" · {s.duration_s:.2f} s"
    )
    if any(cls != "2xx" for cls, _ in s.status_classes):
        run += " · status " + ", ".join(f"{cls} {n}" for cls, n in s.status_classes)
    grid.add_row(Text("run"), Text(run))
    if a.error is not None:
        grid.add_row(
            Text("error", style="bold red"), Text(f"{a.error.kind}: {a.error.message}", "red")
        )
    return grid


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
        if tl is None:
            n = len(self.analysis.requests)
            yield Text(
                f"not drawn for {n} requests (more than {MAX_REQUESTS}): --json has every one",
                style="dim",
            )
            return
        for lane in tl.lanes:
            line = Text(f"c{lane.conn_id}".rjust(label_w) + " ")
            for cell, char in zip(lane.cells, lane.glyphs(), strict=True):
                line.append(char, style=CELL_STYLE[cell])
            line.append(" " + str(lane.requests).rjust(note_w), style="dim")
            yield line
        if tl.hidden:
            yield Text(f"{'':>{label_w}} ... {tl.hidden} more connections", style="dim")
        yield Text(" " * (label_w + 1) + tl.axis.rstrip(), style="dim")
        # The legend wraps between entries, never inside one.
        indent = " " * (label_w + 1)
        legend = Text(indent)
        entries = [(cell, glyph(cell), meaning) for cell, meaning in LEGEND]
        # After 'in flight': '4 streams at once', '2-9 ...', '+ 10 or more ...'.
        entries[2:2] = [("streams", char, meaning) for char, meaning in tl.streams_legend]
        for cell, char, meaning in entries:
            entry = f"{char} {meaning}"
            if legend.cell_len > len(indent) and legend.cell_len + len(entry) > options.max_width:
                legend.rstrip()
                yield legend
                legend = Text(indent)
            legend.append(char, style=CELL_STYLE[cell])
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
    line = Text()
    for text, style in verdict_parts(analysis):
        line.append(text, style=style)
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
