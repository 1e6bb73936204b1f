"""The terminal report of ``discover``: what was measured, beside what the server says.

Renderables built from a DiscoverReport and nothing else (imported lazily: rich costs
start-up time a ``--json`` run should not pay).  Text from the run goes in as ``Text``,
never as markup, so a Server header with brackets prints as it is.  Laid out for 80
columns.  Times: the idle timeout to the millisecond (its resolution is a few), the
handshakes in milliseconds.  Findings look as in a probe's report (``finding_view``).
"""

from __future__ import annotations

from typing import Final

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from reusecheck.analysis.limits.model import (
    DiscoverReport,
    H2Result,
    IdleTimeoutResult,
    MaxRequestsResult,
    TlsResult,
)
from reusecheck.analysis.text import ms, plural, said, seconds
from reusecheck.report.terminal import finding_view
from reusecheck.trace.redact import redact_url

NOT_MEASURED: Final = "dim"


def _s(value: float) -> str:
    return f"{value:.3f} s"


def _took(value: float | None) -> str:
    if value is None:
        return ""
    return f" in {value * 1000:.0f} ms" if value < 1.0 else f" in {value:.2f} s"


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column()
    return grid


def _failed(status: str, error: object) -> Text:
    message = getattr(error, "message", None)
    return Text(f"{status}: {message}" if message else status, style=NOT_MEASURED)


def idle_text(r: IdleTimeoutResult) -> Text:
    if r.status == "measured" and r.median_s is not None:
        closed = [s for s in r.samples if s.idle_time_s is not None and not s.after_response]
        reasons = sorted({said(s.reason) for s in closed})
        n = len(closed)
        if r.periodic:
            low, high = r.min_s or 0.0, r.max_s or 0.0
            text = Text(f"{low:.3f}-{_s(high)}", style="bold")
            text.append(
                f"  window of {plural(n, 'idle connection')}, closed by {', '.join(reasons)}"
                f"\ncloses spread over {high - low:.2f} s: the server checks idle "
                f"connections periodically; stay below {_s(low)}"
            )
            if r.stagger_s is not None:
                text.append(
                    f"\nthe samples went idle over {r.stagger_s:.2f} s, to meet every "
                    "phase of a periodic check",
                    style="dim",
                )
        else:
            text = Text(_s(r.median_s), style="bold")
            text.append(
                f"  median of {plural(n, 'idle connection')}"
                + (f" ({r.min_s or 0:.3f}-{_s(r.max_s or 0)})" if n > 1 else "")
                + f", closed by {', '.join(reasons)}"
            )
        if r.hint_s is not None:
            delta = r.hint_delta_s or 0.0
            off = "matches" if abs(delta) < 0.05 else f"{delta:+.1f} s vs measured"
            text.append(f"\nhint Keep-Alive timeout={seconds(r.hint_s)} ({off})")
        still = [s for s in r.samples if s.at_least_s is not None]
        if still:
            text.append(
                f"\n{len(still)} still open after {min(s.at_least_s or 0 for s in still):.1f} s"
            )
        text.append("\nidle time counted from the end of each response body", style="dim")
        return text
    if r.status == "at-least" and r.at_least_s is not None:
        text = Text(f"at least {r.at_least_s:.1f} s", style="bold")
        text.append(f"  no idle connection was closed within --max-wait {r.max_wait_s:g} s")
        if r.hint_s is not None:
            text.append(f"\nhint Keep-Alive timeout={seconds(r.hint_s)}")
        return text
    if r.status == "no-keepalive":
        reason = next((s.reason for s in r.samples if s.after_response), None)
        return Text(
            f"none: the server closed each connection right after its response ({said(reason)})"
        )
    return _failed(r.status, r.error)


def count_text(r: MaxRequestsResult) -> Text:
    how = said(r.signal)
    took = _took(r.duration_s)
    if r.status == "measured" and r.count is not None:
        if r.signal == "connection-close-header":
            how += " on the last response"
        text = Text(f"{r.count} per connection", style="bold")
        text.append(f"  ended by {how} ({r.requests_sent} requests sent{took})")
    elif r.status == "no-keepalive":
        text = Text("1 per connection", style="bold")
        text.append(f"  the server ended it after the first response ({how})")
    elif r.status == "at-least" and r.at_least is not None:
        text = Text(f"at least {r.at_least}", style="bold")
        if r.signal == "idle-timeout":
            idle = r.idle_before_close_s or 0.0
            text.append(
                f"  the connection was closed while idle ({idle:.1f} s) between paced "
                "requests: raise --rate to count further"
            )
        else:
            text.append(f"  the server kept the connection through all {r.at_least}{took}")
    else:
        return _failed(r.status, r.error)
    if r.hint_max is not None:
        delta = ""
        if r.hint_delta is not None:
            delta = " (matches)" if r.hint_delta == 0 else f" ({r.hint_delta:+d} vs measured)"
        text.append(f"\nhint Keep-Alive max={r.hint_max}{delta}")
    if r.protocol == "h2":
        text.append("\nHTTP/2: one stream at a time", style="dim")
    return text


def h2_text(r: H2Result) -> Text:
    if r.status == "not-applicable":
        chose = f" (ALPN chose {r.alpn})" if r.alpn else ""
        return Text(f"not measured: {r.note or 'not negotiated'}{chose}", style=NOT_MEASURED)
    if r.status != "measured" or r.settings is None:
        return _failed(r.status, r.error)
    s = r.settings

    def v(value: int | None) -> str:
        return "not sent" if value is None else str(value)

    text = Text(f"max_concurrent_streams {v(s.max_concurrent_streams)}", style="bold")
    if r.queued:
        text.append(f" advertised · {r.at_once} worked on at once", style="bold red")
    text.append(
        f"\ninitial_window_size {v(s.initial_window_size)} · max_frame_size "
        f"{v(s.max_frame_size)}\nmax_header_list_size {v(s.max_header_list_size)}"
    )
    text.append(
        f"\n{r.requested} streams at once: {r.achieved} open together and answered on one "
        f"connection, {r.refused} refused"
    )
    text.append("\n" + _waves(r))
    if r.goaway:
        text.append(
            f"\nGOAWAY ({r.goaway}) cut the burst short: {r.answered} answered on "
            f"{plural(r.connections, 'connection')}"
            + (f", {r.failed} not processed" if r.failed else "")
        )
    elif r.failed:
        text.append(f"\n{r.failed} failed")
    return text


def _waves(r: H2Result) -> str:
    """How the responses arrived: in waves (a queue) or together."""
    sizes = r.wave_sizes
    pause = f"a pause of {r.wave_pause_s:.2f} s or more" if r.wave_pause_s is not None else ""
    if r.queued:
        pattern = ", ".join(str(n) for n in sizes[:8]) + (", ..." if len(sizes) > 8 else "")
        return (
            f"answered in {len(sizes)} waves ({pattern}), {pause} between them: the server "
            f"worked on {r.at_once} at once and queued the rest"
        )
    if r.at_once is None:
        return "too few answered to tell how many the server works on at once"
    service = f"; one request took the server {ms(r.service_s)}" if r.service_s is not None else ""
    return f"answered in one wave: no queueing seen (a queue shows as {pause}{service})"


def tls_text(r: TlsResult) -> Text:
    if r.status == "not-applicable":
        return Text(f"not measured: {r.note or 'no TLS'}", style=NOT_MEASURED)
    if r.status != "measured":
        return _failed(r.status, r.error)
    resumed = r.resumed is True
    text = Text(f"resumption {'yes' if resumed else 'no'}", style="bold" if resumed else "bold red")
    text.append(f" ({r.version or 'TLS'})  full handshake {ms(r.full_handshake_s)}")
    if resumed:
        text.append(f", resumed {ms(r.resumed_handshake_s)}")
    n = sum(1 for h in r.handshakes if h.offered)
    took = sum(1 for h in r.handshakes if h.offered and h.resumed)
    text.append(f"\n{took} of {n} offered sessions resumed", style="dim")
    return text


def renderables(report: DiscoverReport) -> list[RenderableType]:
    head = _grid()
    head.add_row("target", Text(redact_url(report.target)))
    about = [report.protocol or "no answer"]
    if report.server.software:
        about.append(report.server.software)
    head.add_row("server", Text(" · ".join(about)))
    head.add_row("took", Text(f"{report.duration_s:.2f} s (the measurements run at once)"))
    body = _grid()
    if report.idle_timeout is not None:
        body.add_row("Idle timeout", idle_text(report.idle_timeout))
    if report.max_requests is not None:
        body.add_row("Max requests", count_text(report.max_requests))
    if report.h2 is not None:
        body.add_row("HTTP/2", h2_text(report.h2))
    if report.tls is not None:
        body.add_row("TLS", tls_text(report.tls))
    out: list[RenderableType] = [head, Text(""), body]
    if report.findings:
        out += [Text(""), Text("Findings", style="bold underline")]
        out += [finding_view(f) for f in report.findings]
    if report.error is not None:
        out += [Text(""), Text(f"stopped: {report.error.kind}: {report.error.message}", "red")]
    out += [Text(""), Text(summary_line(report), style="bold")]
    return out


def summary_line(report: DiscoverReport) -> str:
    """The report's last line, each measurement in a few words (also on stderr under
    ``--json``, as a probe's verdict line is)."""
    r = report
    parts = []
    if r.idle_timeout is not None:
        i = r.idle_timeout
        if i.status == "measured" and i.periodic and i.min_s is not None:
            parts.append(f"idle timeout {i.min_s:.3f}-{_s(i.max_s or 0.0)} (periodic)")
        elif i.status == "measured" and i.median_s is not None:
            parts.append(f"idle timeout {_s(i.median_s)}")
        elif i.status == "at-least" and i.at_least_s is not None:
            parts.append(f"idle timeout at least {seconds(i.at_least_s)} s")
        else:
            parts.append(f"idle timeout {i.status}")
    if r.max_requests is not None:
        m = r.max_requests
        if m.status == "measured" and m.count is not None:
            parts.append(f"max requests {m.count}")
        elif m.status == "at-least" and m.at_least is not None:
            parts.append(f"max requests at least {m.at_least}")
        else:
            parts.append(f"max requests {m.status}")
    if r.h2 is not None:
        h = r.h2
        streams = h.settings.max_concurrent_streams if h.settings is not None else None
        if h.status == "measured":
            parts.append(f"h2 max {streams} streams" if streams is not None else "h2 yes")
            if h.queued:
                parts[-1] += f", {h.at_once} at once"
        else:
            parts.append(f"h2 {h.status}")
    if r.tls is not None:
        t = r.tls
        if t.status == "measured":
            parts.append(f"TLS resumption {_yes_no(t.resumed)}")
        else:
            parts.append(f"TLS {t.status}")
    if r.error is not None:
        state = "INTERRUPTED" if r.error.kind == "cancelled" else f"ERROR ({r.error.kind})"
        parts.insert(0, state)
    return "discover: " + (" · ".join(parts) or "nothing measured")


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def render(report: DiscoverReport, console: Console) -> None:
    for r in renderables(report):
        console.print(r)
