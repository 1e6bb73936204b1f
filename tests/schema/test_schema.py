"""The JSON Schema of the report and the event stream, checked against real runs.

Every report and event line the CLI writes against the built-in server (HTTP/1.1 healthy
and broken in each way it can be, HTTP/2 over TLS and h2c, a stale-connection retry, a
timeout, an unreachable target, ``demo``) must validate strictly; the schema's
vocabularies must match the code's and the design doc's.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reusecheck.analysis import analyze
from reusecheck.analysis.findings import catalogue as findings
from reusecheck.report.json import SCHEMA, to_document
from reusecheck.schema import (
    CLOSE_REASONS,
    IDLE_CLOSE_REASONS,
    RETRY_REASONS,
    event_schema,
    report_schema,
    schema_document,
)
from reusecheck.schema.events import _event_specs
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.trace import EVENT_NAMES
from reusecheck.trace.vocab import ERROR_KINDS
from tests.records import DATA, is_discover_record, load
from tests.records import names as record_names
from tests.schema_check import (
    ProbeRun,
    check_events,
    check_report,
    event_validator,
    probe,
    report_validator,
)

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"
FAST = ("--idle", "0")
SECRET = ("-H", "Authorization: Bearer s3cr3t", "-H", "Cookie: id=c00kie")
ONE_REQUEST = ("--requests", "1", "--concurrency", "0", *FAST)
GOAWAY_EVERY_3 = ServerConfig(h2=True, tls=True, max_requests=3, idle_timeout=0.3)

# name -> (server config or None for no server, probe arguments after the URL, exit code)
RUNS: dict[str, tuple[ServerConfig | None, tuple[str, ...], int]] = {
    "http1-healthy": (ServerConfig(), (*FAST, *SECRET), 0),
    "http1-localhost": (ServerConfig(), (*FAST, "--requests", "2", "--concurrency", "0"), 0),
    "http1-connection-close": (ServerConfig(close_always=True), FAST, 1),
    "http1-max-requests": (ServerConfig(max_requests=2, keepalive_hint=True), FAST, 1),
    "http1-idle-timeout": (ServerConfig(idle_timeout=0.2), ("--idle", "0.4"), 1),
    "http1-http10": (ServerConfig(http10=True), FAST, 1),
    "http1-stale-retry": (ServerConfig(drop_after=2), FAST, 1),
    "http1-pool-full": (ServerConfig(), (*FAST, "--max-idle-per-host", "1"), 1),
    "h2-tls": (ServerConfig(h2=True, tls=True), ("--expect", "h2", "--expect", "multiplex"), 0),
    "h2-tls-goaway": (GOAWAY_EVERY_3, ("--idle", "0.5", "--http2"), 1),
    "h2c-few-streams": (ServerConfig(h2=True, max_streams=2), ("--h2c", *FAST), 0),
    "timeout": (ServerConfig(), ("--timeout", "0.3", *ONE_REQUEST), 3),
    "unreachable": (None, FAST, 3),
}


def _run(name: str, tmp: Path) -> ProbeRun:
    config, args, _ = RUNS[name]
    events = tmp / f"{name}.ndjson"
    if config is None:
        with ServerThread(ServerConfig()) as srv:
            url = srv.url  # a port nobody listens on once the server stopped
        return probe(url, *args, events_path=events)
    with ServerThread(config) as srv:
        url = srv.url
        if name == "timeout":
            url += "delay/3000"
        elif name == "http1-localhost":  # a name to resolve: dns_start / dns_done
            url = url.replace("127.0.0.1", "localhost")
        extra = ("--cacert", str(srv.ca_path)) if config.tls else ()
        return probe(url, *args, *extra, events_path=events)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ProbeRun]]:
    tmp = tmp_path_factory.mktemp("schema-runs")
    done = {name: _run(name, tmp) for name in RUNS}
    done["demo"] = probe("--idle", "0.6", events_path=tmp / "demo.ndjson", command="demo")
    yield done


@pytest.mark.parametrize("name", [*RUNS, "demo"])
def test_every_report_and_event_line_of_a_real_run_validates(
    runs: dict[str, ProbeRun], name: str
) -> None:
    run = runs[name]  # probe() validated the report and every event line already
    want = RUNS[name][2] if name in RUNS else 0
    assert run.result.exit_code == want, run.result.output
    assert run.report["schema"] == SCHEMA
    assert run.events[-1]["event"] in ("request_done", "conn_closed", "idle_closed")


def test_the_runs_cover_every_event_and_the_interesting_values(
    runs: dict[str, ProbeRun],
) -> None:
    events = [e for run in runs.values() for e in run.events]
    # pool_start comes from a scenario's [pool] step: the recorded scenario runs have it
    # (tests/records: fresh-pool, idle-race, ...), validated below.  The proxy hop's
    # events come from runs through a proxy (tests/net/test_tunnel.py,
    # tests/integration/test_squid.py), which validate every line they read.
    proxy_hop = {"proxy_tls_start", "proxy_tls_done", "proxy_connect_start", "proxy_connect_done"}
    assert {e["event"] for e in events} == set(EVENT_NAMES) - {"pool_start"} - proxy_hop
    reasons = {e["reason"] for e in events if e["event"] == "conn_closed"}
    assert {"connection-close-header", "http10", "goaway", "end-of-run", "pool-full"} <= reasons
    assert {e["reason"] for e in events if e["event"] == "retry"} >= {"stale", "goaway"}
    assert any("stream_id" in e for e in events if e["event"] == "wrote_headers")
    kinds = {r.report["error"]["kind"] for r in runs.values() if r.report["error"]}
    assert kinds == {"connect", "first-byte-timeout"}
    assert {r.report["verdict"]["reuse"] for r in runs.values()} == {"yes", "partial", "no"}
    codes = {f["code"] for r in runs.values() for f in r.report["findings"]}
    assert {"no-keepalive", "max-requests-per-conn", "server-idle-timeout"} <= codes


def test_secrets_stay_out_of_the_validated_outputs(runs: dict[str, ProbeRun]) -> None:
    run = runs["http1-healthy"]
    text = run.result.stdout + json.dumps(run.events)
    assert "s3cr3t" not in text and "c00kie" not in text


@pytest.mark.parametrize("name", record_names())
def test_every_event_line_of_the_recorded_runs_validates(name: str) -> None:
    lines = check_events((DATA / name / "events.ndjson").read_text(encoding="utf-8"))
    if name in ("fresh-pool", "idle-race"):  # scenarios with a [pool] step
        assert any(e["event"] == "pool_start" for e in lines)


@pytest.mark.parametrize("name", [n for n in record_names() if not is_discover_record(n)])
def test_reports_of_the_recorded_runs_validate(name: str) -> None:
    check_report(to_document(analyze(load(name))))


# --- the schema itself ---------------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
def test_schemas_are_valid_draft_2020_12_and_plain_json(strict: bool) -> None:
    for schema in (report_schema(strict=strict), event_schema(strict=strict)):
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    doc = schema_document(strict=strict)
    Draft202012Validator.check_schema(doc)
    assert set(doc["$defs"]) == {"report", "event", "window", "observe", "observe_event"}
    assert json.loads(json.dumps(doc)) == doc


def test_the_document_validates_through_its_defs() -> None:
    doc = schema_document()
    report = to_document(analyze(load("h2-goaway-retry")))
    for pointer in ("#/$defs/report", doc["$defs"]["report"]["$id"]):
        v = Draft202012Validator({**doc, "$ref": pointer})
        assert v.is_valid(report)
        assert not v.is_valid({**report, "verdict": {**report["verdict"], "reuse": "maybe"}})
    event = _line("retry", 3, error="x", attempt=2, reason="goaway")
    assert Draft202012Validator({**doc, "$ref": "#/$defs/event"}).is_valid(event)


def test_published_schema_allows_new_fields_and_strict_does_not() -> None:
    report = to_document(analyze(load("healthy")))
    grown = copy.deepcopy(report)
    grown["new_top_level"] = 1
    grown["requests"][0]["new_field"] = "x"
    grown["summary"]["new_count"] = 2
    assert Draft202012Validator(report_schema()).is_valid(grown)
    assert not report_validator().is_valid(grown)
    event = {"t": 0.0, "event": "got_first_byte", "request": 0, "conn": 1, "new": True}
    assert Draft202012Validator(event_schema()).is_valid(event)
    assert not event_validator().is_valid(event)


def _broken(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target: Any = out
    for p in parents:
        target = target[int(p)] if p.isdigit() else target[p]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("schema", "reusecheck/2"),
        ("connections.0.close_reason", "tired"),
        ("connections.0.closed_by", "nobody"),
        ("requests.0.reused", "yes"),
        ("requests.0.timings_s.wait", -0.5),
        ("requests.0.index", KeyError),
        ("findings.0.code", "not-a-finding"),
        ("findings.0.severity", "fatal"),
        ("summary.reuse_ratio", 1.5),
        ("verdict.reuse", "sometimes"),
        ("verdict.expectations.0.ok", KeyError),
        ("error", {"kind": "gremlins", "message": "?"}),
        ("server.idle_timeout_s", "3s"),
    ],
)
def test_contract_violations_are_caught(path: str, value: Any) -> None:
    report = to_document(analyze(load("idle-timeout")))
    assert report["findings"], "the scenario must have a finding to break"
    assert not Draft202012Validator(report_schema()).is_valid(_broken(report, path, value))


def _line(event: str, request: int | None = 0, conn: int | None = 1, **fields: Any) -> Any:
    return {"t": 0.0, "event": event, "request": request, "conn": conn, **fields}


@pytest.mark.parametrize(
    "line",
    [
        _line("teleported"),
        {**_line("got_first_byte"), "t": -1.0},
        _line("get_conn", key="k", method="GET", url="u"),  # conn must be null
        _line("got_conn", reused=True),  # was_idle, idle_time_s, protocol missing
        _line("conn_closed", None, closed_by="server", reason="bored", requests=1),
        _line("idle_closed", 2, idle_time_s=1.0, reason="eof", closed_by="server"),
        _line("retry", error="x", attempt=1, reason="stale"),
        _line(
            "request_done",
            status=200,
            error={"kind": "oops", "message": "m"},
            retried=False,
            phase="p",
        ),
        _line("wrote_headers", headers=[["a"]]),
        {"event": "get_conn", "request": 0, "conn": None},
    ],
)
def test_malformed_event_lines_are_caught(line: dict[str, Any]) -> None:
    assert not Draft202012Validator(event_schema()).is_valid(line)


# --- the vocabularies: the code's and the design doc's ------------------------------------


def test_vocabularies_come_from_the_code() -> None:
    report = report_schema()
    defs = report["$defs"]
    assert defs["finding"]["properties"]["code"]["enum"] == list(findings.KNOWN_CODES)
    assert set(defs["error"]["properties"]["kind"]["enum"]) == set(ERROR_KINDS)
    assert event_schema()["properties"]["event"]["enum"] == list(EVENT_NAMES)
    assert set(_event_specs()) == set(EVENT_NAMES)
    # The reasons the code treats as the server's are in the vocabulary.


def _design_list(after: str) -> list[str]:
    """The backticked words of the sentence that starts with ``after`` in design.md."""
    text = DESIGN.read_text(encoding="utf-8")
    start = text.index(after) + len(after)
    sentence = text[start : text.index(".\n", start)]
    return re.findall(r"`([a-z0-9_-]+)`", sentence)


def test_vocabularies_match_the_design_doc() -> None:
    assert _design_list("`close_reason` from a fixed vocabulary:") == list(CLOSE_REASONS)
    text = DESIGN.read_text(encoding="utf-8")
    names = text[text.index("with the event\nnames `") :].split("`")[1]
    assert re.split(r",\s+", names) == list(EVENT_NAMES)
    start = text.index("Error kinds (in `error.kind`")
    kinds = text[start : text.index("`cancelled`", start) + 12]
    named = {k for k in re.findall(r"`([a-z0-9-]+)`", kinds) if not k.startswith("-")}
    assert named == set(ERROR_KINDS)
    row = next(ln for ln in text.splitlines() if ln.startswith("| `idle_closed`"))
    reasons = re.search(r"`reason` \(([^)]*)\)", row)
    assert reasons is not None
    assert re.findall(r"`([a-z-]+)`", reasons.group(1)) == list(IDLE_CLOSE_REASONS)
    row = next(ln for ln in text.splitlines() if ln.startswith("| `retry`"))
    assert re.findall(r"`([a-z-]+)`", row.split("`reason`")[1]) == list(RETRY_REASONS)


def _without_parentheses(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        depth += ch == "("
        if depth == 0:
            out.append(ch)
        depth -= ch == ")" and depth > 0
    return "".join(out)


def test_every_field_of_the_design_doc_event_table_is_in_the_schema() -> None:
    """The doc's table is the contract: each field it names is declared for that event.
    (The schema may know more, e.g. h2's ``stream_id`` on got_first_byte.)"""
    specs = _event_specs()
    rows = [ln for ln in DESIGN.read_text(encoding="utf-8").splitlines() if ln.startswith("| `")]
    seen = set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name = cells[0].strip("`")
        if name not in specs:
            continue
        seen.add(name)
        named = set(re.findall(r"`([a-z_]+)`", _without_parentheses(cells[2])))
        assert named <= set(specs[name][2]), (name, named - set(specs[name][2]))
    assert seen == set(EVENT_NAMES)
