"""Rows and events written to temporary files as a run goes (commands/spill.py): read
back in index order, the same text the report would have, and a disk that refuses a
write costs memory, not rows."""

from __future__ import annotations

import os
import random
from pathlib import Path

from reusecheck.analysis import analyze
from reusecheck.commands.spill import EventLog, RowSpill
from reusecheck.report.rowjson import request_fragment
from tests.records import load


def test_rows_come_back_in_index_order_whatever_order_they_finished_in() -> None:
    rows = list(analyze(load("go-default-pool")).requests)
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    spill = RowSpill()
    try:
        RowSpill.BATCH = 512  # several batches
        RowSpill.MEMORY = 0  # on disk from the first row
        for r in shuffled:
            spill.add(r)
        spill.seal()
        assert len(spill) == len(rows)
        assert list(spill.fragments()) == [request_fragment(r) for r in rows]
        assert [r.index for r in spill] == [r.index for r in rows]
        assert spill[3].index == 3 and [r.index for r in spill[-2:]] == [58, 59]
    finally:
        RowSpill.BATCH, RowSpill.MEMORY = 1 << 16, 1 << 20
        spill.close()


def test_a_refused_write_keeps_the_rows_in_memory() -> None:
    rows = list(analyze(load("healthy")).requests)
    spill = RowSpill()
    try:
        RowSpill.BATCH, RowSpill.MEMORY = 1, 0  # on disk, a write per row
        spill.add(rows[0])
        assert spill._fd is not None
        os.close(spill._fd)  # the next write fails, as a full disk's would
        for r in rows[1:]:
            spill.add(r)
        assert spill.error is not None
        assert list(spill.fragments()) == [request_fragment(r) for r in rows]
    finally:
        RowSpill.BATCH, RowSpill.MEMORY = 1 << 16, 1 << 20
        spill._fd = None
        spill.close()


def test_a_short_run_makes_no_file_and_a_long_one_loses_it_when_closed() -> None:
    rows = list(analyze(load("go-default-pool")).requests)
    short = RowSpill()
    for r in rows:
        short.add(r)
    assert short._path is None  # 60 rows: memory
    assert list(short.fragments()) == [request_fragment(r) for r in rows]
    short.close()
    spill = RowSpill()
    try:
        RowSpill.MEMORY = 4096
        for r in rows:
            spill.add(r)
    finally:
        RowSpill.MEMORY = 1 << 20
    assert spill._path is not None
    where = Path(spill._path).parent
    assert where.is_dir()
    assert list(spill.fragments()) == [request_fragment(r) for r in rows]
    spill.close()
    assert not where.exists()


def test_the_event_log_is_the_events_file_and_reads_back() -> None:
    record = load("stale-retry")
    log = EventLog()
    try:
        for e in record.events:
            log.writer.write(e)
        log.seal()
        back = list(log)
        assert [(e.event, e.request, e.conn) for e in back] == [
            (e.event, e.request, e.conn) for e in record.events
        ]
        assert "".join(log.lines()) == log.path.read_text()
    finally:
        log.close()
