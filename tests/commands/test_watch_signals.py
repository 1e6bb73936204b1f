"""``reusecheck watch`` as a real process: Ctrl-C and SIGTERM end it with the whole
run's report (130, 143), and the metrics file a collector reads while it runs is never
half written and its counters never go down."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from reusecheck.server import ServerConfig, ServerThread
from tests.commands.child import clean_ending, signal_and_wait, start, wait_until, whole_events
from tests.commands.test_watch import check_whole_run, check_window

CYCLE = ("--requests", "2", "--idle", "0", "--concurrency", "0")


@pytest.fixture(scope="module")
def healthy() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig()) as srv:
        yield srv


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return text.split("\n")[:-1]


@pytest.mark.parametrize(
    ("signum", "code", "signame"),
    [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")],
)
def test_a_signal_ends_the_watch_with_the_whole_runs_report(
    healthy: ServerThread, tmp_path: Path, signum: int, code: int, signame: str
) -> None:
    out, events = tmp_path / "out.jsonl", tmp_path / "events.ndjson"
    with out.open("w", encoding="utf-8") as stdout:
        child = start(
            "watch", healthy.url, *CYCLE, "--every", "0.2", "--json", "--events", str(events),
            stdout=stdout,
        )  # fmt: skip
        wait_until(lambda: len(_lines(out)) >= 2, child)
        exit_code, _, err, took = signal_and_wait(child, signum)
    assert exit_code == code, err
    clean_ending(err)
    *windows, last = [json.loads(line) for line in _lines(out)]
    for w in windows:
        check_window(w)
    assert len(windows) >= 3  # the one cut short is reported too
    assert windows[-1]["error"]["kind"] == "cancelled"
    assert windows[-1]["error"]["message"].startswith(f"interrupted by {signame}")
    assert windows[-1]["closed"] == {"client/end-of-run": 1}  # the pool closed in it
    report = check_whole_run(last)
    assert report["error"]["kind"] == "cancelled"
    assert report["verdict"]["ok"] is False
    assert report["verdict"]["detail"].startswith(f"partial: interrupted by {signame}")
    assert report["summary"]["requests"] == sum(w["requests"] for w in windows)
    assert err.splitlines()[0].startswith("verdict: INTERRUPTED · partial report: ")
    whole_events(events)  # every line whole, every request and connection ended
    assert took < 5.0


def test_the_metrics_file_is_always_whole_and_only_grows(
    healthy: ServerThread, tmp_path: Path
) -> None:
    metrics = tmp_path / "reuse.prom"
    child = start(
        "watch", healthy.url, *CYCLE, "--every", "0.05", "--duration", "1.5",
        "--metrics", str(metrics),
    )  # fmt: skip
    reads: list[dict[str, float]] = []
    try:
        while child.poll() is None:
            if metrics.exists():
                text = metrics.read_text(encoding="utf-8")
                # Whole: every family, the last line ended, as a collector must see it.
                assert text.endswith("\n") and "reusecheck_errors_total{" in text, text
                reads.append(
                    {
                        name: float(value)
                        for name, value in (
                            line.rsplit(" ", 1) for line in text.splitlines() if line[:1] != "#"
                        )
                    }
                )
            time.sleep(0.002)
        _, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert len(reads) > 20
    for before, after in pairwise(reads):
        assert set(before) <= set(after)
        assert all(after[name] >= value for name, value in before.items())
    t = f'target="{healthy.url}"'
    windows = reads[-1][f"reusecheck_windows_total{{{t}}}"]
    assert 20 <= windows <= 31  # 1.5 s of 0.05 s windows (fewer when cycles overrun)
    assert reads[-1][f"reusecheck_requests_total{{{t}}}"] == 2 * windows
