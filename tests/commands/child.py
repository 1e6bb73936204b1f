"""Running reusecheck as users run it: a child process (``python -m reusecheck``), for
what only a real process shows (signals, a closed or full stdout, a reader that went
away), and the servers it is pointed at.

Every wait is bounded: these bounds prove "no hang", they time nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reusecheck.server.misbehave import MisbehavingServer
from tests.schema_check import check_events, check_report
from tests.trace.contract import violations

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SLACK = 10.0  # how long an ending may take after it was asked for, at most

Json = dict[str, Any]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reusecheck", *args]


def start(*args: str, **popen: Any) -> subprocess.Popen[str]:
    """The child, stdout and stderr piped unless ``popen`` says otherwise."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(command(*args), cwd=ROOT, env=ENV, text=True, **popen)


def run(*args: str, timeout: float = 30.0, **popen: Any) -> subprocess.CompletedProcess[str]:
    popen.setdefault("capture_output", True)
    return subprocess.run(command(*args), cwd=ROOT, env=ENV, text=True, timeout=timeout, **popen)


def wait_until(
    ready: Callable[[], bool], child: subprocess.Popen[str], limit: float = 15.0
) -> None:
    """Until ``ready()``; fails when the child ended first or it takes over ``limit``."""
    deadline = time.monotonic() + limit
    while not ready():
        assert child.poll() is None, f"ended before it was under way: {child.communicate()}"
        assert time.monotonic() < deadline, "the run never got under way"
        time.sleep(0.05)


def signal_and_wait(
    child: subprocess.Popen[str], signum: int = signal.SIGINT
) -> tuple[int, str, str, float]:
    """Sends ``signum``; the exit code, stdout, stderr and how long the ending took."""
    child.send_signal(signum)
    sent = time.monotonic()
    try:
        out, err = child.communicate(timeout=SLACK + 5.0)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, out or "", err or "", time.monotonic() - sent


def clean_ending(err: str) -> None:
    """No traceback, no click 'Aborted!', no interpreter complaint at exit."""
    assert "Traceback" not in err, err
    assert "Aborted!" not in err, err
    assert "Exception ignored" not in err, err


def finished_lines(path: Path) -> list[Json]:
    """The whole lines written so far."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]


def request_done(path: Path) -> Callable[[], bool]:
    """True once the events file shows a finished request: the run is under way."""
    return lambda: any(e["event"] == "request_done" for e in finished_lines(path))


def whole_events(path: Path, *, complete: bool = True) -> list[Json]:
    """An --events file: whole lines only, each valid; ``complete``: the stream's
    contract kept too (a stream cut by a full disk ends where the disk did)."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"{path} ends in half a line: {text[-80:]!r}"
    lines = check_events(text) if text else []
    if complete:
        found = violations(lines)
        assert found == [], "the event contract broke:\n" + "\n".join(found)
    return lines


def whole_har(path: Path) -> Json:
    doc: Json = json.loads(path.read_text(encoding="utf-8"))
    assert doc["log"]["version"] == "1.2"
    return doc


def whole_junit(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def whole_output_dir(path: Path, svg: bool = False) -> Json:
    """report.json (strict schema), events.ndjson, run.har (and report.svg), whole."""
    names = {"report.json", "events.ndjson", "run.har"} | ({"report.svg"} if svg else set())
    assert {p.name for p in path.iterdir()} == names
    whole_events(path / "events.ndjson")
    whole_har(path / "run.har")
    if svg:
        assert (path / "report.svg").read_text(encoding="utf-8").rstrip().endswith("</svg>")
    return check_report((path / "report.json").read_text(encoding="utf-8"))


class Misbehaving:
    """A misbehaving server on its own thread and loop, so the child meets it as users
    would."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: MisbehavingServer | None = None

    def __enter__(self) -> MisbehavingServer:
        self.thread.start()
        started = MisbehavingServer(self.kind).start()
        self.server = asyncio.run_coroutine_threadsafe(started, self.loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def requests_arrived(server: MisbehavingServer, count: int = 1) -> Callable[[], bool]:
    """True once ``count`` connections brought the server a request head."""

    def arrived() -> bool:
        transports = list(server._transports)  # the server's loop appends; a copy is safe
        seen = [t for t in transports if getattr(t.get_protocol(), "answered", 0)]
        return len(seen) >= count

    return arrived
