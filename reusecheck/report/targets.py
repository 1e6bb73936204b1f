"""The summary of a run over several targets: one row each, worst verdicts visible."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from reusecheck.analysis import Analysis
from reusecheck.trace.redact import redact_url


def _verdict(a: Analysis) -> Text:
    if a.error is not None:
        return Text(f"ERROR {a.error.kind}", style="bold red")
    word = "OK" if a.verdict.ok else "FAIL"
    return Text(f"{word} · {a.verdict.reuse}", style="green" if a.verdict.ok else "red")


def _why(a: Analysis) -> Text:
    """The first finding (the most severe), or the run's error: why the verdict is what
    it is, without scrolling back to that target's report."""
    if a.error is not None:
        return Text(a.error.message, style="red")
    if not a.findings:
        return Text("-")
    f = a.findings[0]
    style = {"error": "red", "warning": "yellow"}.get(f.severity, "")
    more = f" (+{len(a.findings) - 1})" if len(a.findings) > 1 else ""
    return Text(f"{f.code}{more}", style=style)


def targets_table(analyses: Sequence[Analysis]) -> Table:
    """target, protocol, requests, connections, verdict and reuse, why (the first
    finding) — in the order given.  The reuse ratio is in each target's report; here
    the room goes to why."""
    table = Table(
        box=box.SIMPLE_HEAD, title="Targets", title_justify="left", pad_edge=False, padding=(0, 1)
    )
    table.add_column("target", overflow="fold", ratio=3, min_width=16)
    table.add_column("proto", no_wrap=True)
    table.add_column("reqs", justify="right", no_wrap=True)
    table.add_column("conns", justify="right", no_wrap=True)
    table.add_column("verdict · reuse", no_wrap=True)
    table.add_column("why", overflow="fold", ratio=2, min_width=16)
    for a in analyses:
        s = a.summary
        table.add_row(
            redact_url(a.target),
            a.protocol or "-",
            str(s.requests),
            str(s.connections_opened),
            _verdict(a),
            _why(a),
        )
    return table
