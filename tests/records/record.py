"""Record the event streams the analysis tests read, from real runs on loopback.

Each record is a real run of reusecheck's own pool against the built-in server (or a
broken one, or a closed port), written as the ``--events`` NDJSON stream beside what
the analysis needs besides the events (``record.json``: target, options, expectations,
error) and the JSON report the analysis makes of it (``report.json``, the golden file
``tests/analysis/test_golden.py`` compares byte for byte).  A ``discover`` run keeps
instead what its pure results need besides the events (``record.json``: the settings,
each measurement's trail, the error, the duration) and its JSON document
(``discover.json``, golden too).

    python -m tests.records.record            # re-record every run, then the reports
    python -m tests.records.record NAME ...   # only these
    python -m tests.records.record --reports  # keep the runs, rewrite the reports

Re-record after a change to what the pool emits; rewrite only the reports after a
deliberate change to the analysis, and read the diff of ``report.json`` before
committing it.  Runs go through the CLI (``reusecheck probe|run ... --events FILE
--json``) wherever the CLI can express them, so this script survives refactoring.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reusecheck.analysis import EXPECTATION_NAMES
from reusecheck.cli import main
from reusecheck.server import ServerThread
from reusecheck.server.misbehave import MisbehavingServer
from tests.records.specs import SPECS, Spec

__all__ = ["DATA", "SPECS", "Spec", "record", "write_report"]

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

# The loopback names cross-host scenarios swap (the same server, another pool key).
_OTHER_NAME = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def _cli(argv: list[str], events: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, [*argv, "--json", "--events", str(events)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if not result.stdout.strip():
        raise RuntimeError(f"reusecheck {' '.join(argv)}: no report\n{result.output}")
    report = json.loads(result.stdout)
    # The analysis' own expectations (--expect, a built-in's); a scenario's step checks
    # are judged after the analysis and are not part of the record.
    expectations = [
        [e["name"], e["value"]]
        for e in report["verdict"]["expectations"]
        if e["name"] in EXPECTATION_NAMES
    ]
    return {
        "target": report["target"],
        "options": report["options"],
        "error": report["error"],
        "expectations": expectations,
    }


def _other(url: str) -> str:
    """The URL under the other loopback name."""
    for name, other in _OTHER_NAME.items():
        if f"//{name}:" in url:
            return url.replace(f"//{name}:", f"//{other}:", 1)
    raise ValueError(f"no other loopback name for {url}")


def _fill(command: str, url: str, ca: str | None, tmp: Path) -> list[str]:
    fields = {"url": url, "ca": ca or "", "dir": tmp}
    if "{other}" in command:
        fields["other"] = _other(url)
    return [a.format(**fields) for a in command.split()]


def is_discover(meta: dict[str, Any]) -> bool:
    """A discover run's record.json (settings and trails, no expectations)."""
    return meta.get("command") == "discover"


async def _misbehaving(kind: str, run: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    async with MisbehavingServer(kind) as srv:
        return await asyncio.to_thread(run, srv.url)


def record(name: str) -> None:
    spec = SPECS[name]
    out = DATA / name
    out.mkdir(parents=True, exist_ok=True)
    events = out / "events.ndjson"
    with tempfile.TemporaryDirectory() as tmp:
        for fname, text in spec.files.items():
            (Path(tmp) / fname).write_text(text, encoding="utf-8")

        def run(url: str, ca: str | None = None) -> dict[str, Any]:
            if spec.driver is not None:
                return spec.driver(url, ca, events)
            return _cli(_fill(spec.command, url, ca, Path(tmp)), events)

        if spec.server is None:
            meta = run(f"http://127.0.0.1:{_closed_port()}/")
        elif isinstance(spec.server, str):
            meta = asyncio.run(_misbehaving(spec.server, run))
        else:
            with ServerThread(spec.server) as srv:
                ca = str(srv.ca_path) if srv.ca_path is not None else None
                meta = run(srv.url, ca)
    if not is_discover(meta):
        meta.setdefault("expectations", [list(e) for e in spec.expectations])
    meta["about"] = spec.about
    (out / "record.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"recorded {name}: {sum(1 for _ in events.open())} events", file=sys.stderr)


def write_report(name: str) -> None:
    """The golden output: ``report.json`` of a probe or scenario run, ``discover.json``
    of a discover run."""
    from tests.records import discover_text, is_discover_record, probe_text

    if is_discover_record(name):
        (DATA / name / "discover.json").write_text(discover_text(name), encoding="utf-8")
    else:
        (DATA / name / "report.json").write_text(probe_text(name), encoding="utf-8")


def main_(args: list[str]) -> None:
    reports_only = "--reports" in args
    names = [a for a in args if not a.startswith("--")] or list(SPECS)
    for name in names:
        if not reports_only:
            record(name)
        write_report(name)


if __name__ == "__main__":
    main_(sys.argv[1:])
