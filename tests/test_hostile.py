"""Every misbehaviour of reusecheck.server.misbehave against the real CLI.

For each kind: the run ends within its timeouts, exits with the documented code, says
one sentence naming what the server did, prints no traceback, and leaves no socket
open. The outcomes form the table in docs/reliability.md, which this test keeps true
(run with REUSECHECK_UPDATE_DOCS=1 to rewrite it after a deliberate change).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from reusecheck.server.misbehave import KINDS
from tests.misbehaving import MisbehavingThread
from tests.schema_check import check_events, check_report
from tests.trace import contract

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
BEGIN, END = "<!-- hostile-table:begin -->", "<!-- hostile-table:end -->"

# kind -> (exit code, error kind or finding code that must be named)
EXPECTED: dict[str, tuple[int, str]] = {
    "never-answer": (3, "first-byte-timeout"),
    "stall-body": (3, "body-timeout"),
    "drip": (3, "deadline"),
    "bad-status": (3, "protocol"),
    "huge-headers": (3, "protocol"),
    "extra-body": (1, "unsolicited-response"),
    "short-body": (3, "server-closed"),
    "bad-chunked": (3, "protocol"),
    "rst-mid-body": (3, "server-closed"),
    "close-on-accept": (3, "server-closed"),
    "tls-wrong-name": (3, "tls"),
    "tls-expired": (3, "tls"),
    "tls-self-signed": (3, "tls"),
    "tls-stall": (3, "tls-timeout"),
    "h2-bad-frame": (3, "protocol"),
    "h2-bad-settings": (3, "protocol"),
    "h2-hpack-garbage": (3, "protocol"),
    "h2-goaway-storm": (1, "h2-goaway"),
    "h2-rst-every-stream": (3, "stream-reset"),
    "h2-zero-window": (3, "body-timeout"),
    "h2-refuse-stream": (0, "h2-stream-refused"),
    "h2-calm": (1, "h2-goaway"),
    "early-hints": (3, "protocol"),
    "many-headers": (0, "record-capped"),
    "late-response": (1, "unsolicited-response"),
    # No finding: the hint is ignored and the JSON stays JSON (no Infinity, no NaN).
    "keepalive-inf": (0, "reuse"),
    "never-read": (3, "first-byte-timeout"),
    "h2-settings-flood": (3, "first-byte-timeout"),
    "h2-empty-data": (3, "body-timeout"),
    "h2-no-streams": (3, "first-byte-timeout"),
}
TIMEOUT, DEADLINE = 0.5, 3.0
SECRET = "hunter2-s3cret"
# A drip of one byte a second beats any per-read timeout above 1 s: only the deadline
# ends it, which is what this kind shows.
TIMEOUTS = {"drip": 2.0}
# The stray response comes 50 ms after the one asked for: the probe's idle gap is when
# the pool sees it (back-to-back requests would read it as their own).
IDLE = {"late-response": 0.3}
RESULTS: dict[str, tuple[int, str, str]] = {}


def _open_sockets() -> set[str]:
    """The process's open TCP sockets, as local:remote pairs (Linux; empty elsewhere)."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():
        return set()
    inodes = set()
    for fd in fd_dir.iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.read().splitlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    found.add(f"{cols[1]}->{cols[2]} st={cols[3]}")
    return found


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield
    if len(RESULTS) != len(KINDS):
        return  # a partial run (-k) cannot judge the whole table
    rows = ["| misbehaviour | what the server does | exit | reusecheck says |", "|---|---|---|---|"]
    for kind in KINDS:
        code, named, sentence = RESULTS[kind]
        rows.append(f"| `{kind}` | {KINDS[kind]} | {code} | `{named}`: {sentence} |")
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    if os.environ.get("REUSECHECK_UPDATE_DOCS"):
        DOC.write_text(text[:start] + "\n" + "\n".join(rows) + "\n" + text[end:])
        return

    # The sentence is an example from one run (counts and eof/reset vary with timing);
    # the kind, what it does, the exit code and what is named must match exactly.
    def stable(lines: list[str]) -> list[list[str]]:
        return [ln.split(" | ")[:3] for ln in lines if ln.startswith("| `")]

    documented = text[start:end].strip().splitlines()
    assert stable(documented) == stable(rows), (
        "docs/reliability.md no longer matches the outcomes; "
        "rerun with REUSECHECK_UPDATE_DOCS=1 and review the diff"
    )
    named = [ln.split(" | ")[3].split(":")[0] for ln in documented if ln.startswith("| `")]
    assert named == [r.split(" | ")[3].split(":")[0] for r in rows if r.startswith("| `")]


def _not_json(constant: str) -> Any:
    raise AssertionError(f"{constant} in a JSON report")


def _sentence(message: str) -> str:
    """The message without what changes from run to run (ports, addresses)."""
    return re.sub(r"127\.0\.0\.1:\d+", "HOST:PORT", message).replace("|", "/")


@pytest.mark.parametrize("kind", list(KINDS))
def test_hostile_server(kind: str, tmp_path: Path) -> None:
    want_code, want_named = EXPECTED[kind]
    with MisbehavingThread(kind) as server:
        # Secrets in the URL and a header: no output may show them, whatever the server does.
        scheme, rest = server.url.split("://", 1)
        url = f"{scheme}://alice:{SECRET}@{rest.rstrip('/')}/?token={SECRET}"
        outputs = {name: tmp_path / name for name in ("events.ndjson", "run.har", "junit.xml")}
        args = [
            "probe",
            url,
            "-H",
            f"Authorization: Bearer {SECRET}",
            "--events",
            str(outputs["events.ndjson"]),
            "--har",
            str(outputs["run.har"]),
            "--junit",
            str(outputs["junit.xml"]),
            "--json",
            "--idle",
            str(IDLE.get(kind, 0)),
            "--requests",
            "2",
            "--concurrency",
            "2",
            "--timeout",
            str(TIMEOUTS.get(kind, TIMEOUT)),
            "--deadline",
            str(DEADLINE),
        ]
        if kind.startswith("h2-"):
            args.append("--h2c")
        if server.ca_pem is not None:
            ca = tmp_path / "ca.pem"
            ca.write_bytes(server.ca_pem)
            args += ["--cacert", str(ca)]
        before = _open_sockets()
        started = time.monotonic()
        result = CliRunner().invoke(main, args)
        took = time.monotonic() - started
    # Measured once the hostile server is gone: what is left is the client's.
    after = _open_sockets()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert took < DEADLINE + 2.0, f"{kind} took {took:.1f} s"
    assert result.exit_code == want_code, result.output
    # Strict JSON: Python's parser would take NaN and Infinity, no other parser does.
    doc: dict[str, Any] = json.loads(result.stdout, parse_constant=_not_json)
    check_report(doc)
    events = outputs["events.ndjson"].read_text(encoding="utf-8")
    assert contract.violations(check_events(events)) == []
    json.loads(outputs["run.har"].read_text(encoding="utf-8"), parse_constant=_not_json)
    ET.fromstring(outputs["junit.xml"].read_text(encoding="utf-8"))
    for text in (result.stdout, result.stderr, *(p.read_text() for p in outputs.values())):
        assert SECRET not in text, f"{kind}: a secret reached an output"
    if want_code == 3:
        assert doc["error"]["kind"] == want_named
        assert doc["verdict"]["ok"] is False
        # Under --json, stderr has the human text: the verdict line, then the one line.
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert lines == [
            f"verdict: ERROR · the run could not complete ({want_named})",
            f"reusecheck: {want_named}: {doc['error']['message']}",
        ]
        sentence = doc["error"]["message"]
    elif want_named == "reuse":
        assert doc["findings"] == [] and doc["verdict"]["reuse"] == "yes"
        sentence = next(e["detail"] for e in doc["verdict"]["expectations"] if e["name"] == "reuse")
    else:
        finding = next(f for f in doc["findings"] if f["code"] == want_named)
        sentence = finding["message"]
    assert after <= before, f"TCP sockets left open: {sorted(after - before)}"
    RESULTS[kind] = (result.exit_code, want_named, _sentence(sentence))


def test_serve_misbehave_list_and_unknown_kind() -> None:
    listing = CliRunner().invoke(main, ["serve", "--misbehave", "list"])
    assert listing.exit_code == 0
    assert [ln.split()[0] for ln in listing.output.splitlines()] == list(KINDS)
    unknown = CliRunner().invoke(main, ["serve", "--misbehave", "nope"])
    assert unknown.exit_code == 2 and "--misbehave list" in unknown.output


def test_a_window_that_never_opens_ends_a_request_body_in_its_timeout() -> None:
    from reusecheck.net.dial import Timeouts
    from reusecheck.net.errors import RequestError
    from reusecheck.net.request import Request
    from reusecheck.pool import Pool, PoolOptions
    from reusecheck.trace import Tracer

    async def main(url: str) -> RequestError:
        pool = Pool(Tracer(), PoolOptions(http="h2c", timeouts=Timeouts(body=0.3)))
        try:
            with pytest.raises(RequestError) as info:
                await pool.round_trip(Request("POST", url, body=b"x" * 100_000), 0)
        finally:
            await pool.close()
        return info.value

    with MisbehavingThread("h2-zero-window") as server:
        err = asyncio.run(asyncio.wait_for(main(server.url), 10))
    assert err.kind == "write-timeout" and "no window update" in err.message
