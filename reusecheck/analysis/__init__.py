"""Record -> analysis: per-request rows, connection lifecycles, server facts, findings,
verdict.  Pure functions, no I/O: one record in, one analysis, many views (report/).

This is the public face; one module per question the analysis answers: ``model`` (what
goes in and comes out), ``events`` (the record indexed by request and connection),
``requests`` and ``connections`` (the rows), ``h2`` (SETTINGS, GOAWAY, ALPN, stream
limits), ``server`` (server facts), ``pools`` (keys and pool epochs), ``multiplex``
(HTTP/2 connections opened although one had a free stream), ``verdict`` (the reuse
verdict and expectations), ``findings/`` (the catalogue and every detector),
``limits/`` (discover's measurements), ``text`` (how numbers read).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from reusecheck.analysis.connections import connection_rows
from reusecheck.analysis.events import EventIndex
from reusecheck.analysis.findings.budget import expectation_unmet
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context
from reusecheck.analysis.findings.detect import detect, rank
from reusecheck.analysis.model import (
    EXPECTATION_NAMES,
    Analysis,
    Budget,
    ConnectionRow,
    Dial,
    ErrorLike,
    Expectation,
    ExpectationResult,
    GoAway,
    H2Connection,
    KeepAliveHint,
    RequestRow,
    ReuseLevel,
    RunError,
    RunRecord,
    ServerFacts,
    Summary,
    Timings,
    TlsInfo,
    Verdict,
)
from reusecheck.analysis.pools import pool_scopes
from reusecheck.analysis.requests import carried_by_conn, parse_keep_alive, request_rows
from reusecheck.analysis.server import server_facts
from reusecheck.analysis.verdict import reuse_verdict, summarize, verdict

__all__ = [
    "EXIT_EXPECTATION_FAILED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "EXPECTATION_NAMES",
    "Analysis",
    "Budget",
    "ConnectionRow",
    "Dial",
    "ErrorLike",
    "Expectation",
    "ExpectationResult",
    "Finding",
    "GoAway",
    "H2Connection",
    "KeepAliveHint",
    "RequestRow",
    "ReuseLevel",
    "RunError",
    "RunRecord",
    "ServerFacts",
    "Summary",
    "Timings",
    "TlsInfo",
    "Verdict",
    "analyze",
    "exit_code",
    "parse_keep_alive",
]

# Exit codes (docs/design.md, "Command line").  2 is the CLI's own (usage, bad input).
EXIT_OK: Final = 0
EXIT_EXPECTATION_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3


def analyze(record: RunRecord) -> Analysis:
    index = EventIndex(record.events)
    rows = request_rows(index)
    conns = connection_rows(index, carried_by_conn(index), rows)
    server = server_facts(index, rows, conns)
    summary = summarize(index, rows, conns)
    error = RunError(record.error.kind, record.error.message) if record.error else None
    scopes = pool_scopes(index, record.options)
    found = detect(
        Context(
            index,
            rows,
            conns,
            server,
            record.options,
            summary.peak_concurrency,
            frozenset(),
            error,
            scopes,
        )
    )
    level, detail = reuse_verdict(summary, conns, scopes, rows)
    judged = verdict(record.expectations, error, level, detail, rows, summary, conns, server)
    unmet = expectation_unmet(judged, found, conns, server)
    if unmet is not None:
        found = rank((*found, unmet))
    protocols = Counter(r.protocol for r in rows if r.protocol is not None)
    return Analysis(
        target=record.target,
        protocol=protocols.most_common(1)[0][0] if protocols else None,
        requests=rows,
        connections=conns,
        server=server,
        findings=found,
        summary=summary,
        verdict=judged,
        error=error,
        options=dict(record.options),
    )


def exit_code(analysis: Analysis) -> int:
    """0 every expectation held; 1 one failed; 3 the run could not complete."""
    if analysis.error is not None:
        return EXIT_UNREACHABLE
    return EXIT_OK if analysis.verdict.ok else EXIT_EXPECTATION_FAILED
