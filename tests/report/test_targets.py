"""The several-targets table (reusecheck/report/targets.py): a row per target, and the
"why" column naming each verdict's first finding or the run's error."""

from __future__ import annotations

from rich.console import Console

from reusecheck.analysis import analyze
from reusecheck.report.targets import targets_table
from tests.records import load


def rows(names: list[str]) -> list[str]:
    console = Console(record=True, width=200, color_system=None)
    console.print(targets_table([analyze(load(n)) for n in names]))
    return [line for line in console.export_text().splitlines() if "127.0.0.1" in line]


def test_each_row_says_why_with_its_first_finding() -> None:
    healthy, closing, unreachable, demo = rows(
        ["healthy", "connection-close", "unreachable", "demo"]
    )
    assert "OK · yes" in healthy and healthy.rstrip().endswith("-")
    assert "FAIL · no" in closing and closing.rstrip().endswith("no-keepalive")
    assert "ERROR connect" in unreachable and "Connection refused" in unreachable
    # Two findings: the first named, the rest counted.
    assert demo.rstrip().endswith("max-requests-per-conn (+1)")
