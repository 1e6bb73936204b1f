"""Request rows and events written to temporary files as the run goes, read back after.

The fold hands each request's row on when it is final (``analysis.fold``); the run
keeps none of them.  Each is encoded once, to the JSON text it has in the report
(``report.rowjson``: redacted, never a secret on disk), appended to a file in a
private temporary directory, and its place noted (two 8-byte integers a request).  The
report splices the texts in order; the terminal and the SVG read rows back from them.
The directory goes when the spill is closed (the command's ``finally``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, ClassVar, overload

from reusecheck.analysis.model import RequestRow
from reusecheck.report.rowjson import request_fragment, row_from_document
from reusecheck.trace import Event, NDJSONWriter
from reusecheck.trace.redact import redact_headers

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _ascii(text: str) -> str:
    """JSON text with every non-ASCII character escaped, as ``ensure_ascii`` writes it:
    outside strings JSON has none, so the escape is safe on the whole text."""
    if text.isascii():
        return text

    def escape(m: re.Match[str]) -> str:
        n = ord(m.group())
        if n < 0x10000:
            return f"\\u{n:04x}"
        n -= 0x10000
        return f"\\u{0xD800 | (n >> 10):04x}\\u{0xDC00 | (n & 0x3FF):04x}"

    return _NON_ASCII.sub(escape, text)


class RowSpill(Sequence[RequestRow]):
    """The run's rows, on disk; a read-only sequence in index order.

    A short run's rows stay in memory: the file is made once they pass ``MEMORY``
    bytes (a run of thousands of one-request targets makes no file at all).  Texts are
    then written in batches of ``BATCH`` bytes with one ``os.write`` each.  When the
    disk refuses one (full, a file-size limit), that batch and every later row stay in
    memory instead: the report still gets every row, the run is not disturbed.
    """

    BATCH: ClassVar[int] = 1 << 16
    MEMORY: ClassVar[int] = 1 << 20

    def __init__(self, directory: str | None = None) -> None:
        self._where = directory
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._path: Path | None = None
        self._fd: int | None = None
        self._in: IO[bytes] | None = None
        self._pos = 0  # bytes on disk
        self._offset = array("q")  # by request index: where its text starts (-1: none)
        self._length = array("q")
        self._count = 0
        self._present: list[int] | None = None  # indexes with a row, when not all have
        self._batch: list[tuple[int, bytes]] = []
        self._batched = 0
        self._held: dict[int, str] = {}  # rows in memory: not spilled yet, or refused
        self._held_bytes = 0
        # The first write that failed (a full disk): the rows are held in memory since.
        self.error: OSError | None = None

    def add(self, row: RequestRow) -> None:
        """A final row (the fold's ``on_row``): never raises into the run."""
        text = request_fragment(row, ensure_ascii=False)
        i = row.index
        if i >= len(self._offset):
            grow = i + 1 - len(self._offset)
            self._offset.extend([-1] * grow)
            self._length.extend([0] * grow)
        self._count += 1  # a request's row is final once
        self._present = None
        if self._fd is None:
            self._held[i] = text
            self._held_bytes += len(text)
            if self.error is None and self._dir is None and self._held_bytes > self.MEMORY:
                self._spill()
            return
        data = text.encode("utf-8")
        self._batch.append((i, data))
        self._batched += len(data)
        if self._batched >= self.BATCH:
            self._flush()

    def _spill(self) -> None:
        """Past ``MEMORY``: the file is made and the rows held so far go to it."""
        try:
            self._dir = tempfile.TemporaryDirectory(prefix="reusecheck-rows-", dir=self._where)
            self._path = Path(self._dir.name) / "rows.json"
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            self.error = exc  # no file: the rows stay in memory
            return
        held, self._held, self._held_bytes = self._held, {}, 0
        self._batch = [(i, text.encode("utf-8")) for i, text in sorted(held.items())]
        self._batched = sum(len(d) for _, d in self._batch)
        self._flush()

    def _flush(self) -> None:
        if not self._batch or self._fd is None:
            return
        blob = b"".join(data for _, data in self._batch)
        try:
            view = memoryview(blob)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as exc:
            # What did reach the disk is cut off: the batch stays in memory, whole.
            self.error = exc
            for i, data in self._batch:
                self._held[i] = data.decode("utf-8")
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None  # later rows are held too
        else:
            pos = self._pos
            for i, data in self._batch:
                self._offset[i], self._length[i] = pos, len(data)
                pos += len(data)
            self._pos = pos
        self._batch.clear()
        self._batched = 0

    def seal(self) -> None:
        """The run is over: the last batch written, the file closed for writing (a
        run of several targets keeps no descriptor per target)."""
        self._flush()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _text(self, i: int) -> str:
        held = self._held.get(i)
        if held is not None:
            return held
        if self._in is None:
            assert self._path is not None  # a row not held was written to the file
            self._in = self._path.open("rb")
        self._in.seek(self._offset[i])
        return self._in.read(self._length[i]).decode("utf-8")

    def _indexes(self) -> Sequence[int]:
        self._flush()
        if self._count == len(self._offset):
            return range(self._count)  # every index has its row: the usual case
        if self._present is None:
            self._present = [
                i for i in range(len(self._offset)) if self._offset[i] >= 0 or i in self._held
            ]
        return self._present

    def fragments(self, *, ensure_ascii: bool = True) -> Iterator[str]:
        """Each row's JSON text, in index order."""
        for i in self._indexes():
            text = self._text(i)
            yield _ascii(text) if ensure_ascii else text

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, k: int) -> RequestRow: ...

    @overload
    def __getitem__(self, k: slice) -> Sequence[RequestRow]: ...

    def __getitem__(self, k: int | slice) -> RequestRow | Sequence[RequestRow]:
        present = self._indexes()
        if isinstance(k, slice):
            return [row_from_document(json.loads(self._text(i))) for i in present[k]]
        return row_from_document(json.loads(self._text(present[k])))

    def __iter__(self) -> Iterator[RequestRow]:
        for text in self.fragments(ensure_ascii=False):
            yield row_from_document(json.loads(text))

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._in is not None:
            self._in.close()
            self._in = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self._held.clear()

    def __repr__(self) -> str:
        where = os.path.basename(self._dir.name) if self._dir is not None else "memory"
        return f"RowSpill({self._count} rows in {where})"


class EventLog:
    """The run's events, as ``--events`` writes them (redacted NDJSON), in a temporary
    file: what the HAR and ``--output-dir``'s events.ndjson are made from after the run,
    read back line by line instead of held."""

    def __init__(self, directory: str | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="reusecheck-events-", dir=directory)
        self.path = Path(self._dir.name) / "events.ndjson"
        self._stream: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        self.writer = NDJSONWriter(self._stream, redact=redact_headers, close_stream=True)

    def seal(self) -> None:
        """The run is over: every line written, the file closed for writing."""
        self.writer.close()

    def _whole(self) -> None:
        """The log must hold every event to stand for the run: a write the disk refused
        is this output's failure (the caller's one line), not a short file."""
        self.writer.flush()
        if self.writer.failure is not None:
            raise self.writer.failure

    def lines(self) -> Iterator[str]:
        """The NDJSON text, a chunk at a time."""
        self._whole()
        with self.path.open(encoding="utf-8") as f:
            while chunk := f.read(1 << 16):
                yield chunk

    def __iter__(self) -> Iterator[Event]:
        self._whole()
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                t, name, request, conn = d.pop("t"), d.pop("event"), d.pop("request"), d.pop("conn")
                yield Event(t, name, request, conn, d)

    def close(self) -> None:
        self.writer.close()
        self._dir.cleanup()
