"""A run's deadline that says why it cancels: what it cuts short is named ``deadline``.

``asyncio.timeout`` cancels first and explains later (its TimeoutError surfaces only
after every request has already ended on a CancelledError), so requests cut short could
not say the deadline ended them.  ``Deadline`` sets the shared ``Interruption`` before
it cancels; anything else that cancels a run (Ctrl-C, SIGTERM) leaves it at
``cancelled``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from reusecheck.trace.vocab import ErrorKind

# What a run cut short from outside says (its error kind is ``cancelled``).
INTERRUPTED: Final = "interrupted: the report holds what was measured until then"


def absorb_interrupt() -> bool:
    """In an ``except CancelledError``: True when the cancel came from outside (Ctrl-C,
    SIGTERM) and this task may end normally with what it measured; False when another
    cancel is still pending and the task must go on cancelling."""
    task = asyncio.current_task()
    return task is not None and task.uncancel() == 0


@dataclass(slots=True)
class Interruption:
    """Why requests still in flight are being cancelled."""

    kind: ErrorKind = "cancelled"
    message: str = "the run was interrupted before the request finished"


class Deadline:
    """``async with Deadline(seconds, interruption):`` raises TimeoutError on expiry,
    like ``asyncio.timeout``; ``seconds`` None never expires."""

    def __init__(self, seconds: float | None, interruption: Interruption) -> None:
        self.seconds = seconds
        self.interruption = interruption
        self.expired = False
        self._task: asyncio.Task[object] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def message(self) -> str:
        return f"the run did not finish within --deadline {self.seconds or 0:g} s"

    async def __aenter__(self) -> Deadline:
        self._task = asyncio.current_task()
        if self.seconds is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.seconds, self._expire)
        return self

    def _expire(self) -> None:
        self.expired = True
        self.interruption.kind = "deadline"
        self.interruption.message = self.message
        if self._task is not None:
            self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if (
            exc_type is asyncio.CancelledError
            and self.expired
            and self._task is not None
            and self._task.uncancel() == 0
        ):
            raise TimeoutError(self.message) from exc
