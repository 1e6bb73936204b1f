"""Progress on stderr while a run waits on purpose, for a person at a terminal.

Only when stderr is a terminal: in CI, in pipes and under ``--json`` redirections it
stays silent (nothing is written at all).  Transient: it disappears when the wait ends,
leaving the report.  A scenario's sleeps get a countdown (``sleep``); discover's
measurements a bar each (``show``), which reads ``session.live`` and never touches a
connection.
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO

from reusecheck.discover.session import Live, Session

TICK_S = 0.1


def wanted(stream: IO[str] | None = None) -> bool:
    s = stream if stream is not None else sys.stderr
    try:
        return s.isatty()
    except (AttributeError, ValueError):
        return False


def _label(live: Live) -> str:
    if live.finished:
        return f"{live.text} ✓"
    if live.total is not None and live.text.startswith("idle"):
        return f"{live.text} · {live.done:.1f}/{live.total:g} s"
    return live.text


async def show(session: Session) -> None:
    """Run until cancelled (the engine cancels it when the measurements end)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}
        while True:
            for name, live in list(session.live.items()):
                if name not in tasks:
                    tasks[name] = bar.add_task(_label(live), total=live.total)
                bar.update(
                    tasks[name],
                    description=_label(live),
                    completed=live.total if live.finished and live.total else live.done,
                    total=live.total,
                )
            await asyncio.sleep(TICK_S)


async def sleep(phase: str, seconds: float) -> None:
    """A countdown for waits a person would otherwise stare at (the runner's Sleeper)."""
    if seconds < 1.0 or not wanted():
        await asyncio.sleep(seconds)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(f"{phase}: waiting {seconds:g} s", total=seconds)
        loop = asyncio.get_running_loop()
        start = loop.time()
        while (elapsed := loop.time() - start) < seconds:
            bar.update(task, completed=elapsed)
            await asyncio.sleep(min(0.1, seconds - elapsed))
