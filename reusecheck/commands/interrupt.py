"""Ctrl-C and SIGTERM, handled once for every command that runs requests.

What users of curl and Go expect: the first SIGINT or SIGTERM stops the run's requests,
closes its connections and writes a report of what ran (marked interrupted and partial)
to every output asked for, then the command exits 130 (SIGINT) or 143 (SIGTERM); a
second signal ends the process at once (``os._exit``: no cleanup, no report).

``handled()`` installs the handlers for a command's whole life (the CLI enters it as
soon as a command starts, so Ctrl-C while the options are checked is no click
"Aborted!"); ``Interrupts.run`` runs a command's event loop with its main task (or the
tasks the command registers) cancelled on the first signal.  The run itself absorbs
that cancel (``scenarios.deadline.absorb_interrupt``) and returns what it measured with
error kind ``cancelled``; ``mark`` turns that into the report's words.

The handlers are ``signal.signal`` ones, as ``asyncio.Runner`` installs for SIGINT: they
run in the main thread between bytecodes (a ``select`` in progress returns EINTR), and
wake the loop through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from types import FrameType
from typing import Any, Final, TypeVar

from reusecheck.analysis import Analysis
from reusecheck.analysis.model import RunError
from reusecheck.commands import exits
from reusecheck.scenarios.deadline import INTERRUPTED

T = TypeVar("T")

HANDLED: Final = (signal.SIGINT, signal.SIGTERM)
LABELS: Final = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


def label(signum: int) -> str:
    try:
        return LABELS.get(signal.Signals(signum), signal.Signals(signum).name)
    except ValueError:
        return f"signal {signum}"


class Interrupts:
    """Which signal came (``signum``), and the tasks a signal cancels."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancelled: set[asyncio.Task[Any]] = set()
        self._previous: dict[int, Any] = {}

    # -- the handlers --------------------------------------------------------------------

    def install(self) -> bool:
        """Installs the handlers; False where signals cannot be handled (not the main
        thread: a test's worker), which leaves the defaults in place."""
        try:
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        except ValueError:
            self.restore()
            return False
        return True

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            _end_now(signum)
        self.signum = signum
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._cancel_all)

    # -- the tasks a signal cancels -----------------------------------------------------

    def register(self, task: asyncio.Task[Any] | None = None) -> None:
        """``task`` (default: the current one) is cancelled by the first signal, at once
        when one already came."""
        task = task if task is not None else asyncio.current_task()
        if task is None:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self.signum is not None:
            self._cancel(task)

    def _cancel_all(self) -> None:
        for task in list(self._tasks):
            self._cancel(task)

    def _cancel(self, task: asyncio.Task[Any]) -> None:
        # Once per task: a second cancel would not be absorbed (uncancel() > 0).
        if task not in self._cancelled and not task.done():
            self._cancelled.add(task)
            task.cancel()

    def run(self, coro: Coroutine[Any, Any, T], *, cancel_main: bool = True) -> T:
        """``coro`` in a new event loop.  ``cancel_main``: the first signal cancels the
        main task; otherwise only the tasks ``coro`` registers (several targets, each
        ending on its own)."""

        async def main() -> T:
            self._loop = asyncio.get_running_loop()
            if cancel_main:
                self.register()
            return await coro

        try:
            return asyncio.run(main())
        finally:
            self._loop = None
            self._tasks.clear()
            self._cancelled.clear()

    # -- the report's words -------------------------------------------------------------

    @property
    def message(self) -> str:
        return f"interrupted by {label(self.signum or signal.SIGINT)}"


def _end_now(signum: int) -> None:
    """The second signal: the user wants out now (no cleanup, no report)."""
    with contextlib.suppress(OSError):
        os.write(2, f"reusecheck: {label(signum)} again: stopped at once\n".encode())
    os._exit(exits.for_signal(signum))


_active: Interrupts | None = None


@contextlib.contextmanager
def handled() -> Iterator[Interrupts]:
    """The handlers, installed for the block (nested blocks share the outer one)."""
    global _active
    if _active is not None:
        yield _active
        return
    interrupts = Interrupts()
    installed = interrupts.install()
    _active = interrupts
    try:
        yield interrupts
    finally:
        _active = None
        if installed:
            interrupts.restore()


def cut_short(error: RunError | None) -> bool:
    """The run was cancelled from outside (a signal) and returned what it measured."""
    return error is not None and error.kind == "cancelled" and error.message == INTERRUPTED


def mark(analysis: Analysis, interrupts: Interrupts, planned: int | None = None) -> Analysis:
    """A run cut short by a signal, in the report's words: error ``cancelled`` naming the
    signal, ``verdict.ok`` false, and the verdict's detail saying the report is partial."""
    if interrupts.signum is None or not cut_short(analysis.error):
        return analysis
    ran = analysis.summary.requests
    of = f" of {planned}" if planned is not None else ""
    partial = f"partial: {interrupts.message} after {ran}{of} request{'' if ran == 1 else 's'}"
    verdict = analysis.verdict
    return replace(
        analysis,
        error=interrupted_error(interrupts),
        verdict=replace(verdict, ok=False, detail=f"{partial}; {verdict.detail}"),
    )


def interrupted_error(interrupts: Interrupts) -> RunError:
    """The run's error once a signal cut it short, naming the signal."""
    return RunError("cancelled", f"{interrupts.message}: {PARTIAL}")


def not_run_error(interrupts: Interrupts) -> RunError:
    """A target that had not started when the signal came (several targets)."""
    return RunError("cancelled", f"not run: {interrupts.message} before this target started")


PARTIAL: Final = "the report holds what ran until then"
