"""Writing what a run produced so that no ending leaves a half-valid output.

- A file (HAR, JUnit, a report, an SVG) is written whole or not at all: to a temporary
  file in the same directory, renamed into place (``os.replace`` is atomic on POSIX).
  A path that is not a regular file (``/dev/stdout``, a FIFO) is written in place: it
  cannot be renamed over, and a reader sees the bytes as they come anyway.
- stdout may be closed (``>&-``), full (``>/dev/full``), or a pipe whose reader went
  away (``| head -1``).  The first two are failures (one line naming stdout and the OS
  reason, exit 3); a reader that went away (EPIPE) is not: nobody is left to read, and
  the run's own exit code and error line (on stderr) still stand.  After any failure
  stdout is pointed at /dev/null, so the interpreter's flush at exit cannot fail again
  (it would print "Exception ignored" and exit 120).
- stderr is best effort: there is nowhere to report its failure.

Failures are values (``Failure``), collected by the command and reported after every
other output was attempted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

STDOUT = "stdout"


@dataclass(frozen=True)
class Failure:
    """An output that could not be written: ``where`` is a quoted path or ``stdout``."""

    where: str
    reason: str

    @property
    def line(self) -> str:
        where = "to stdout" if self.where == STDOUT else self.where
        return f"cannot write {where}: {self.reason}"


def reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or os.strerror(exc.errno or 0) or str(exc)
    return "not a valid path" if "null" in str(exc) or "\0" in str(exc) else str(exc)


def reader_gone(exc: BaseException | None) -> bool:
    """EPIPE: the reading end of a pipe was closed (``| head -1``, ``| true``)."""
    return isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.ECONNRESET)


def failure_of(where: str, exc: BaseException) -> Failure | None:
    """The failure to report, or None when the reader simply went away."""
    return None if reader_gone(exc) else Failure(where, reason(exc))


def quoted(path: str | os.PathLike[str]) -> str:
    return repr(str(path))


# -- the standard streams ---------------------------------------------------------------


def _to_devnull(fd: int) -> None:
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def _descriptor(stream: IO[str] | None) -> int | None:
    try:
        return stream.fileno() if stream is not None else None
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation: StringIO
        return None


def give_up_stdout() -> None:
    """After stdout failed: nothing more reaches it, and the exit flush cannot fail."""
    if _descriptor(sys.stdout) == 1:
        _to_devnull(1)


def stdout_closed() -> Failure | None:
    """``>&-``: Python starts with ``sys.stdout`` None when descriptor 1 is closed."""
    if sys.stdout is None:
        return Failure(STDOUT, os.strerror(errno.EBADF))
    return None


def to_stdout(write: Callable[[IO[str]], None]) -> Failure | None:
    """``write(sys.stdout)`` and a flush; returns the failure to report, if any."""
    closed = stdout_closed()
    if closed is not None:
        return closed
    try:
        write(sys.stdout)
        sys.stdout.flush()
    except (OSError, ValueError) as exc:  # ValueError: the stream was closed
        give_up_stdout()
        return failure_of(STDOUT, exc)
    return None


def text_to_stdout(text: str | Iterable[str]) -> Failure | None:
    """``text``, or its pieces one after another (a report written as it is read back)."""

    def write(out: IO[str]) -> None:
        if isinstance(text, str):
            out.write(text)
        else:
            for chunk in text:
                out.write(chunk)

    return to_stdout(write)


def to_stderr(text: str) -> None:
    """Best effort: a line for the user, where nothing can report that it failed."""
    err = sys.stderr
    if err is None:
        return
    try:
        err.write(text)
        err.flush()
    except (OSError, ValueError):
        if _descriptor(err) == 2:
            _to_devnull(2)


# -- files ----------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_all(f: IO[str], text: str | Iterable[str]) -> None:
    if isinstance(text, str):
        f.write(text)
    else:
        for chunk in text:
            f.write(chunk)


def whole_file(path: Path, text: str | Iterable[str]) -> Failure | None:
    """``text`` (or its pieces) in ``path``, whole or not at all (see the module's
    docstring)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        target = Path(os.path.realpath(path))  # a symlink stays one: write where it points
        try:
            mode = os.stat(target).st_mode
        except FileNotFoundError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):
            with open(target, "w", encoding="utf-8") as f:
                _write_all(f, text)
            return None
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        return Failure(quoted(path), reason(exc))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            _write_all(f, text)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 is not what open() gives
        os.replace(temporary, target)
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return Failure(quoted(path), reason(exc))
    return None
