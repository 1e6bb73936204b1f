"""``writing.whole_file``: a file is written whole or not at all, in the same directory,
renamed into place; what is not a regular file is written in place."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reusecheck.commands.writing import Failure, whole_file


def test_written_whole_with_the_mode_open_would_give(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "report.json"  # the directory is created (--output-dir)
    assert whole_file(path, "{}\n") is None
    assert path.read_text() == "{}\n"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_a_symlink_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.har"
    link = tmp_path / "link.har"
    link.symlink_to(real)
    assert whole_file(link, "new") is None
    assert link.is_symlink() and real.read_text() == "new"


def test_a_device_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    assert whole_file(Path("/dev/null"), "anything") is None
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    failed = whole_file(Path("/dev/full"), "x" * 10_000)
    assert failed == Failure("'/dev/full'", "No space left on device")
    assert failed.line == "cannot write '/dev/full': No space left on device"


def test_a_path_that_cannot_be_created_is_a_failure_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    failed = whole_file(blocker / "x.har", "{}")
    assert failed is not None and failed.where == repr(str(blocker / "x.har"))
    assert whole_file(Path("bad\0name"), "{}") == Failure("'bad\\x00name'", "not a valid path")
