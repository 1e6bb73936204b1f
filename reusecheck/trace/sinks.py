"""Where events go: the in-memory record, the NDJSON stream, several at once, nowhere.

Sinks are the only place an event is formatted; the emitters hand over the values they
already hold.
"""

from __future__ import annotations

import contextlib
import errno
import json
import json.encoder
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, Final

from reusecheck.trace.event import Event, Sink
from reusecheck.trace.redact import redact_url

if sys.platform != "win32":
    import fcntl


class Recorder:
    """Keeps every event in memory, in emission order, for the analysis."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def write(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def named(self, *names: str) -> list[Event]:
        return [e for e in self.events if e.event in names]


class NullSink:
    """Drops events: tracing off, for measuring what tracing itself costs."""

    def write(self, event: Event) -> None:
        pass

    def close(self) -> None:
        pass


class NDJSONWriter:
    """One JSON object per line, flushed so ``tail -f`` and pipes see it live.

    Header values pass through ``redact`` (when given) at write time, and URLs through
    ``redact_url``, so secrets never reach the file while the in-memory record stays
    exact.

    A terminal or a pipe gets every line written as it comes, each with one write.  A
    regular file gets the lines written at the end of each request (``request_done``)
    and at each connection event (``conn_closed``, ``idle_closed``, ``h2_goaway``), so
    ``tail -f`` still follows the run request by request, without a system call for
    each of the ~10 lines a request writes.

    The file is never left ending in half a line.  The first write that fails (a full
    disk, a closed pipe) ends the writing: ``failure`` holds the error, later events
    are dropped, and a regular file that took only part of the last write is cut back
    to its last whole line.  Nothing is raised into the run: the command reports the
    failure once the run is over (the events already hold what a tool needs).
    """

    def __init__(self, stream: IO[str], redact: Any = None, close_stream: bool = False) -> None:
        self._stream = stream
        self._redact = redact
        self._close_stream = close_stream
        self.failure: OSError | None = None
        self._fd = _descriptor(stream)
        mode = _mode(self._fd)
        self._per_line = not stat.S_ISREG(mode)
        # Cut back to the last whole line only where the offsets are this writer's own.
        self._can_truncate = stat.S_ISREG(mode) and not _appending(self._fd)
        self._pending: list[str] = []
        # Header lists are shared between events (every wrote_headers carries its
        # Request's list; equal responses share one), so their redacted form is kept
        # by identity: redacting is the costliest part of writing a line.
        self._redacted: dict[int, tuple[object, list[list[str]]]] = {}
        self._url: tuple[str, str] = ("", "")

    def write(self, event: Event) -> None:
        if self.failure is not None:
            return
        fields = event.fields
        if self._redact is not None and ("headers" in fields or "url" in fields):
            fields = dict(fields)
            if "headers" in fields:
                fields["headers"] = self._redact_headers(fields["headers"])
            if "url" in fields:
                # Query tokens and userinfo passwords are secrets too (get_conn.url).
                fields["url"] = self._redact_url(fields["url"])
        line = _encode(
            {
                "t": round(event.t, 6),
                "event": event.event,
                "request": event.request,
                "conn": event.conn,
                **fields,
            }
        )
        self._pending.append(line + "\n")
        if self._per_line or event.event in _FLUSH_AFTER:
            self.flush()

    def flush(self) -> None:
        """Writes the lines held so far, whole (see the class's docstring)."""
        if not self._pending or self.failure is not None:
            return
        text = "".join(self._pending)
        self._pending = []
        try:
            if self._fd is None:  # StringIO and the like
                self._stream.write(text)
                self._stream.flush()
            else:
                self._write_fd(self._fd, text.encode("utf-8"))
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            self.failure = (
                exc if isinstance(exc, OSError) else OSError(errno.EBADF, os.strerror(errno.EBADF))
            )

    def _write_fd(self, fd: int, data: bytes) -> None:
        done = 0
        try:
            while done < len(data):  # a short write (a disk filling up) is followed up
                done += os.write(fd, memoryview(data)[done:])
        except OSError:
            if done and self._can_truncate:
                # The file took part of the last write: back to its last whole line.
                end = os.lseek(fd, 0, os.SEEK_CUR)
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end - done + data.rfind(b"\n", 0, done) + 1)
            raise

    def _redact_headers(self, headers: Any) -> Any:
        cached = self._redacted.get(id(headers))
        if cached is not None and cached[0] is headers:
            return cached[1]
        out = self._redact(headers)
        if len(self._redacted) >= 64:
            self._redacted.clear()
        # The list itself is kept in the entry, so its id cannot be reused meanwhile.
        self._redacted[id(headers)] = (headers, out)
        return out

    def _redact_url(self, url: str) -> str:
        if url != self._url[0]:
            self._url = (url, redact_url(url))
        return self._url[1]

    def close(self) -> None:
        self.flush()
        if self._close_stream:
            try:
                self._stream.close()
            except (OSError, ValueError) as exc:
                if self.failure is None and isinstance(exc, OSError):
                    self.failure = exc


# A regular file is flushed after these (NDJSONWriter); everything else after each line.
_FLUSH_AFTER: Final = frozenset({"request_done", "conn_closed", "idle_closed", "h2_goaway"})


def _make_encoder() -> Any:
    """A compact JSON encoder built once: ``json.dumps`` (and ``JSONEncoder.encode``)
    build a new C encoder for every call, which costs more than encoding an event."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    fallback = json.JSONEncoder(separators=(",", ":")).encode
    if c_make_encoder is None:
        return fallback

    def default(o: object) -> Any:
        return json.JSONEncoder().default(o)  # raises TypeError, as json.dumps does

    iterencode = c_make_encoder(
        None, default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def encode(o: dict[str, Any]) -> str:
        return "".join(iterencode(o, 0))

    return encode


_encode = _make_encoder()


def _descriptor(stream: IO[str]) -> int | None:
    """The stream's descriptor, its own buffer flushed first (the lines are written to
    the descriptor, one write each); None for StringIO and the like."""
    try:
        fd = stream.fileno()
        stream.flush()
    except (AttributeError, OSError, ValueError):
        return None
    return fd


def _mode(fd: int | None) -> int:
    if fd is None:
        return 0  # no descriptor: written line by line through the stream
    try:
        return os.fstat(fd).st_mode
    except OSError:
        return 0


def _appending(fd: int | None) -> bool:
    """Opened with O_APPEND (``>>``): its offsets are not this writer's to cut back."""
    if sys.platform == "win32" or fd is None:
        return True
    try:
        return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)
    except OSError:
        return True


class FanOut:
    """Sends each event to several sinks in order."""

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self.sinks = tuple(sinks)

    def write(self, event: Event) -> None:
        for s in self.sinks:
            s.write(event)

    def close(self) -> None:
        for s in self.sinks:
            s.close()
