"""Where a run's events go besides the record: the ``--events`` file, or stdout."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import IO

from reusecheck.commands.exits import BadInput
from reusecheck.trace import NDJSONWriter
from reusecheck.trace.redact import redact_headers


@contextlib.contextmanager
def events_file(path: str | None) -> Iterator[NDJSONWriter | None]:
    """The NDJSON writer for ``--events PATH`` (``-``: stdout), closed at the end; None
    without the option.  A file that cannot be opened is bad input, before any run."""
    if path is None:
        yield None
        return
    if path == "-":
        stream: IO[str] = sys.stdout
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
        yield writer
    finally:
        writer.close()
