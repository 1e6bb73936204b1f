"""Record the event streams the analysis tests read, from real runs on loopback.

Each record is a real run of reusecheck's own pool against the built-in server (or a
broken one, or a closed port), written as the ``--events`` NDJSON stream beside what
the analysis needs besides the events (``record.json``: target, options, expectations,
error) and the JSON report the analysis makes of it (``report.json``, the golden file
``tests/analysis/test_golden.py`` compares byte for byte).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reusecheck.analysis import EXPECTATION_NAMES
from reusecheck.cli import main
from reusecheck.server import ServerConfig, ServerThread
from reusecheck.server.misbehave import MisbehavingServer

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


@dataclass(frozen=True)
class Spec:
    """One recorded run: the server, and the command (``{url}``, ``{ca}`` filled in)."""

    about: str
    server: ServerConfig | str | None  # a config, a misbehave kind, or None: a closed port
    command: str = ""  # reusecheck's arguments, split on spaces
    driver: Callable[[str, str | None, Path], dict[str, Any]] | None = None
    # For a driver run; a CLI run's come from its report.
    expectations: tuple[tuple[str, float | None], ...] = (("reuse", None),)
    files: dict[str, str] = field(default_factory=dict)  # scenario files: name -> TOML


H2 = dict(tls=True, h2=True)

UNREAD_TOML = """\
[[step]]
name = "leak"
count = 3
response_body = "ignore"
"""

H2_UNREAD_TOML = """\
[pool]
http = "2"

[[step]]
name = "early"
count = 3
response_body = "close-early"
"""


async def _spread(url: str, ca: str | None, events: Path) -> dict[str, Any]:
    """A client per request: four pools on one clock, one h2 request each at once."""
    from reusecheck.net.request import Request
    from reusecheck.net.tls import TLSOptions
    from reusecheck.pool import Pool, PoolOptions
    from reusecheck.trace import NDJSONWriter, Tracer
    from reusecheck.trace.redact import redact_headers

    with events.open("w", encoding="utf-8") as f:
        tracer = Tracer(NDJSONWriter(f, redact=redact_headers))
        options = PoolOptions(tls=TLSOptions(cacert=ca))
        pools = [Pool(tracer, options, first_conn_id=1 + 10 * k) for k in range(4)]
        req = Request("GET", url)

        async def one(k: int) -> None:
            resp = await pools[k].round_trip(req, k)
            await resp.read()
            tracer.emit(
                "request_done", k, resp.conn.id, status=resp.status, error=None,
                retried=False, phase="burst-1",
            )  # fmt: skip

        await asyncio.gather(*(one(k) for k in range(4)))
        for p in pools:
            await p.close()
    return {"target": url, "options": {}, "error": None}


def spread_driver(url: str, ca: str | None, events: Path) -> dict[str, Any]:
    return asyncio.run(_spread(url, ca, events))


SPECS: dict[str, Spec] = {
    "healthy": Spec(
        "5 sequential requests, keep-alive on",
        ServerConfig(),
        "probe {url} --requests 5 --idle 0 --concurrency 0",
    ),
    "probe-default": Spec(
        "the default probe against a healthy server",
        ServerConfig(),
        "probe {url} --idle 0.3",
    ),
    "burst": Spec(
        "one burst of 4 on fresh connections",
        ServerConfig(),
        "probe {url} --requests 0 --idle 0 --concurrency 4",
    ),
    "connection-close": Spec(
        "Connection: close on every response",
        ServerConfig(close_always=True),
        "probe {url} --requests 5 --idle 0 --concurrency 0",
    ),
    "http10": Spec(
        "an HTTP/1.0 server",
        ServerConfig(http10=True),
        "probe {url} --requests 3 --idle 0 --concurrency 0",
    ),
    "max-requests": Spec(
        "the server ends connections after 3 requests",
        ServerConfig(max_requests=3),
        "probe {url} --requests 8 --idle 0 --concurrency 0",
    ),
    "max-requests-hint": Spec(
        "after 3 requests, with Keep-Alive: max=3",
        ServerConfig(max_requests=3, keepalive_hint=True),
        "probe {url} --requests 4 --idle 0 --concurrency 0",
    ),
    "max-requests-probe": Spec(
        "a limit of 6 met once by the default probe",
        ServerConfig(max_requests=6),
        "probe {url} --idle 0.3",
    ),
    "idle-timeout": Spec(
        "the server closes connections idle for 0.5 s",
        ServerConfig(idle_timeout=0.5),
        "probe {url} --requests 2 --idle 0.8 --concurrency 0",
    ),
    "idle-timeout-hint": Spec(
        "idle timeout 0.5 s, Keep-Alive hint timeout=5",
        ServerConfig(idle_timeout=0.5, keepalive_hint_override="timeout=5, max=100"),
        "probe {url} --requests 2 --idle 0.8 --concurrency 0",
    ),
    "demo": Spec(
        "the demo: idle 0.5 s and 4 requests per connection, hinted",
        ServerConfig(idle_timeout=0.5, max_requests=4, keepalive_hint=True),
        "probe {url}",
    ),
    "stale-retry": Spec(
        "the server drops the third request on a connection unanswered",
        ServerConfig(drop_after=2),
        "probe {url} --requests 3 --idle 0 --concurrency 0",
    ),
    "pool-churn": Spec(
        "Go's 2 idle connections per host under bursts of 4",
        ServerConfig(),
        "probe {url} --requests 0 --idle 0 --max-idle-per-host 2",
    ),
    "disable-keepalives": Spec(
        "the client sends Connection: close",
        ServerConfig(),
        "probe {url} --requests 3 --idle 0 --concurrency 0 --disable-keepalives",
    ),
    "unreachable": Spec(
        "nothing listens on the port",
        None,
        "probe {url} --requests 2 --idle 0 --concurrency 0",
    ),
    "unread-body": Spec(
        "bodies never read pin their connections",
        ServerConfig(),
        "run {dir}/unread.toml {url}",
        files={"unread.toml": UNREAD_TOML},
    ),
    "leaky-body": Spec(
        "builtin:leaky-body",
        ServerConfig(),
        "run builtin:leaky-body {url}",
    ),
    "go-default-pool": Spec(
        "builtin:go-default-pool",
        ServerConfig(),
        "run builtin:go-default-pool {url}",
    ),
    "cross-host": Spec(
        "builtin:cross-host",
        ServerConfig(),
        "run builtin:cross-host {url}",
    ),
    "h2-burst": Spec(
        "h2 over TLS: one burst of 4",
        ServerConfig(**H2),
        "probe {url} --requests 0 --idle 0 --concurrency 4 --cacert {ca} --expect multiplex",
    ),
    "h2-probe": Spec(
        "the default probe over h2",
        ServerConfig(**H2),
        "probe {url} --idle 0.3 --cacert {ca}",
    ),
    "h2c-burst": Spec(
        "h2c with prior knowledge: a burst of 3",
        ServerConfig(h2=True),
        "probe {url} --requests 0 --idle 0 --concurrency 3 --h2c --expect multiplex",
    ),
    "h2-goaway-every": Spec(
        "GOAWAY after 3 streams",
        ServerConfig(max_requests=3, **H2),
        "probe {url} --requests 7 --idle 0 --concurrency 0 --cacert {ca}",
    ),
    "h2-goaway-retry": Spec(
        "GOAWAY after 4 streams during a burst of 5",
        ServerConfig(max_requests=4, **H2),
        "probe {url} --requests 0 --idle 0 --concurrency 5 --cacert {ca}",
    ),
    "h2-idle-goaway": Spec(
        "GOAWAY on an idle h2 connection after 0.5 s",
        ServerConfig(idle_timeout=0.5, **H2),
        "probe {url} --requests 2 --idle 0.8 --concurrency 0 --cacert {ca}",
    ),
    "h2-refused": Spec(
        "h2c, 2 streams allowed, a burst of 4 before SETTINGS",
        ServerConfig(h2=True, max_streams=2),
        "probe {url} --requests 0 --idle 0 --concurrency 4 --h2c",
    ),
    "h2-spread": Spec(
        "a client per request: 4 h2 connections for 4 requests at once",
        ServerConfig(**H2),
        driver=spread_driver,
        expectations=(("reuse", None), ("multiplex", None)),
    ),
    "h2-unread": Spec(
        "h2 bodies closed early reset only their streams",
        ServerConfig(**H2),
        "run {dir}/h2-unread.toml {url} --cacert {ca}",
        files={"h2-unread.toml": H2_UNREAD_TOML},
    ),
    "h2-rst": Spec(
        "h2c: every stream reset by the server",
        "h2-rst-every-stream",
        "probe {url} --requests 2 --idle 0 --concurrency 0 --h2c --timeout 2",
    ),
    "h2-refused-stream": Spec(
        "h2c: the second stream of each connection refused",
        "h2-refuse-stream",
        "probe {url} --requests 0 --idle 0 --concurrency 2 --h2c --timeout 2",
    ),
    "h2-calm": Spec(
        "h2c: GOAWAY ENHANCE_YOUR_CALM after each connection's first stream",
        "h2-calm",
        "probe {url} --requests 2 --idle 0 --concurrency 2 --h2c --timeout 2",
    ),
    "h2-goaway-storm": Spec(
        "h2c: GOAWAY as soon as each connection opens",
        "h2-goaway-storm",
        "probe {url} --requests 2 --idle 0 --concurrency 0 --h2c --timeout 2",
    ),
    "alpn-fallback": Spec(
        "TLS without h2: ALPN chooses http/1.1",
        ServerConfig(tls=True),
        "probe {url} --requests 2 --idle 0 --concurrency 0 --cacert {ca} --expect h2",
    ),
    "alpn-none": Spec(
        "TLS without ALPN at all",
        ServerConfig(tls=True, alpn=False),
        "probe {url} --requests 2 --idle 0 --concurrency 0 --cacert {ca}",
    ),
    "h2-required": Spec(
        "--http2 against a server that picks http/1.1",
        ServerConfig(tls=True),
        "probe {url} --requests 2 --idle 0 --concurrency 0 --cacert {ca} --http2 --expect h2",
    ),
    "h2c-required": Spec(
        "--h2c against an HTTP/1.1-only server",
        ServerConfig(),
        "probe {url} --requests 2 --idle 0 --concurrency 0 --h2c --timeout 2 --expect h2",
    ),
    "tls-http1": Spec(
        "TLS, HTTP/1.1 only: resumed sessions under a burst",
        ServerConfig(tls=True),
        "probe {url} --requests 2 --idle 0 --concurrency 3 --cacert {ca} --http1",
    ),
}


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


def _fill(command: str, url: str, ca: str | None, tmp: Path) -> list[str]:
    return [a.format(url=url, ca=ca or "", dir=tmp) for a in command.split()]


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
    meta.setdefault("expectations", [list(e) for e in spec.expectations])
    meta["about"] = spec.about
    (out / "record.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"recorded {name}: {sum(1 for _ in events.open())} events", file=sys.stderr)


def write_report(name: str) -> None:
    from reusecheck.analysis import analyze
    from reusecheck.report.json import dumps
    from tests.records import load

    text = dumps(analyze(load(name))) + "\n"
    (DATA / name / "report.json").write_text(text, encoding="utf-8")


def main_(args: list[str]) -> None:
    reports_only = "--reports" in args
    names = [a for a in args if not a.startswith("--")] or list(SPECS)
    for name in names:
        if not reports_only:
            record(name)
        write_report(name)


if __name__ == "__main__":
    main_(sys.argv[1:])
