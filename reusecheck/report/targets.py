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
    return Text(f"{word} · reuse {a.verdict.reuse}", style="green" if a.verdict.ok else "red")


def targets_table(analyses: Sequence[Analysis]) -> Table:
    """target, protocol, requests, connections, reuse ratio, verdict — in the order given."""
    table = Table(box=box.SIMPLE_HEAD, title="Targets", title_justify="left", pad_edge=False)
    table.add_column("target", overflow="fold")
    table.add_column("proto")
    table.add_column("reqs", justify="right")
    table.add_column("conns", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("verdict")
    for a in analyses:
        s = a.summary
        table.add_row(
            redact_url(a.target),
            a.protocol or "-",
            str(s.requests),
            str(s.connections_opened),
            f"{s.reuse_ratio:.2f}" if s.requests else "-",
            _verdict(a),
        )
    return table
