"""Where a run's events go besides the record: the ``--events`` file, or stdout."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator
from typing import IO, cast

from reusecheck.commands.exits import BadInput
from reusecheck.commands.writing import STDOUT, Failure, failure_of, give_up_stdout, quoted
from reusecheck.trace import NDJSONWriter
from reusecheck.trace.redact import redact_headers


class _ClosedStdout(io.TextIOBase):
    """``--events -`` with stdout closed (``>&-``): every write fails as the OS would."""

    def write(self, s: str) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _closed_stdout() -> IO[str]:
    return cast(IO[str], _ClosedStdout())


class EventsFile:
    """The ``--events`` writer and, once the run is over, how its writing went."""

    def __init__(self, path: str, writer: NDJSONWriter) -> None:
        self.path = path
        self.writer = writer

    @property
    def failure(self) -> Failure | None:
        """The failure to report (a reader that went away is none)."""
        exc = self.writer.failure
        if exc is None:
            return None
        if self.path == "-":
            give_up_stdout()
            return failure_of(STDOUT, exc)
        return failure_of(quoted(self.path), exc)


@contextlib.contextmanager
def events_file(path: str | None) -> Iterator[EventsFile | None]:
    """The NDJSON writer for ``--events PATH`` (``-``: stdout), closed at the end; None
    without the option.  A file that cannot be opened is bad input, before any run; a
    write that fails during the run stops the writing (``EventsFile.failure``)."""
    if path is None:
        yield None
        return
    if path == "-":
        stream: IO[str] = sys.stdout if sys.stdout is not None else _closed_stdout()
        close = False
    else:
        try:
            stream = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            why = exc.strerror if isinstance(exc, OSError) else "not a valid path"
            raise BadInput(f"cannot write {path!r}: {why}", "'--events'") from None
        close = True
    writer = NDJSONWriter(stream, redact=redact_headers, close_stream=close)
    try:
        yield EventsFile(path, writer)
    finally:
        writer.close()
