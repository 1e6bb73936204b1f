"""``watch`` on a terminal: the run so far, redrawn in place (rich ``Live``).

Per window, the reuse ratio and the connections opened as sparklines (oldest left,
newest right; as many windows as the width holds), the run's totals with the budget,
and the latest findings.  Pure renderables: the command owns the ``Live`` and hands a
``LiveState`` in; every piece of text from the run goes in as ``Text``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from reusecheck.analysis import Finding
from reusecheck.report.terminal import SEVERITY_STYLE
from reusecheck.report.verdict import REUSE_STYLE
from reusecheck.report.window import Counters, WindowRecord
from reusecheck.trace.redact import redact_url

BLOCKS: Final = "▁▂▃▄▅▆▇█"
LABEL_WIDTH: Final = 10  # the grid's first column
NUMBERS_WIDTH: Final = 26  # room kept right of a sparkline for its numbers


def sparkline(values: Sequence[float], top: float) -> str:
    """One block per value, ``top`` (or more) the full block, 0 the lowest one."""
    if top <= 0:
        return BLOCKS[0] * len(values)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[max(0, min(last, round(v / top * last)))] for v in values)


def clock(seconds: float) -> str:
    """'42 s', '3m 05s', '1h 02m'."""
    s = int(seconds)
    if s < 60:
        return f"{seconds:.0f} s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


@dataclass(frozen=True, slots=True)
class LiveState:
    target: str
    every_s: float
    duration_s: float | None
    elapsed_s: float
    running: int  # the window under way (0: none yet)
    history: Sequence[WindowRecord]  # the latest windows, oldest first
    counters: Counters
    findings: Sequence[tuple[int, Finding]]  # (window, finding) as first seen, latest last


class LiveView:
    def __init__(self, state: LiveState) -> None:
        self.state = state

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        s, c = self.state, self.state.counters
        width = max(8, options.max_width - LABEL_WIDTH - 2 - NUMBERS_WIDTH)
        shown = list(s.history)[-width:]
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True, width=LABEL_WIDTH - 2)
        grid.add_column()
        grid.add_row(Text("target"), Text(redact_url(s.target)))
        of = f" of {clock(s.duration_s)}" if s.duration_s is not None else ""
        running = str(s.running) if s.running else "starting"
        grid.add_row(
            Text("window"),
            Text(f"{running} · {clock(s.elapsed_s)}{of} · every {s.every_s:g} s · one pool"),
        )
        ratio = Text(sparkline([r.reuse_ratio for r in shown], 1.0), style="green")
        if shown:
            last = shown[-1]
            ratio.append(f" {last.reuse_ratio:.2f} last · ")
        ratio.append(f"{c.reuse_ratio:.2f} run ({c.reused}/{c.requests})")
        grid.add_row(Text("reuse"), ratio)
        opened = [r.connections_opened for r in shown]
        conns = Text(sparkline(opened, max(opened, default=0)), style="yellow")
        if shown:
            conns.append(f" {shown[-1].connections_opened} last · ")
        conns.append(f"{c.connections_opened} run")
        grid.add_row(Text("opened"), conns)
        budget = Text(f"{c.needed} needed")
        for cause, n in sorted(c.avoidable.items()):
            budget.append(f" + {n} {cause}", style="yellow")
        grid.add_row(Text("budget"), budget)
        if shown:
            level = shown[-1].reuse
            last_line = Text("reuse ")
            last_line.append(level, style=REUSE_STYLE[level])
            last_line.append(f" in window {shown[-1].window}")
            if shown[-1].error is not None:
                last_line.append(f" · stopped: {shown[-1].error.kind}", style="red")
            grid.add_row(Text("last"), last_line)
        if c.closed:
            closes = ", ".join(f"{by}/{why} {n}" for (by, why), n in sorted(c.closed.items()))
            grid.add_row(Text("closed"), Text(closes))
        if c.errors:
            grid.add_row(
                Text("errors", style="bold red"),
                Text(", ".join(f"{kind} {n}" for kind, n in sorted(c.errors.items()))),
            )
        for window, f in s.findings:
            line = Text(f"window {window} ")
            line.append(f.severity.upper(), style=SEVERITY_STYLE[f.severity])
            line.append(f" {f.code}: ", style="bold")
            line.append(f.message)
            grid.add_row(Text("finding"), line)
        yield grid
