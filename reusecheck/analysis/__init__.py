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

from collections.abc import Mapping, Sequence
from typing import Any, Final

from reusecheck.analysis.connections import connection_rows
from reusecheck.analysis.findings.budget import expectation_unmet
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context
from reusecheck.analysis.findings.detect import detect, rank
from reusecheck.analysis.fold import Fold, fold_events
from reusecheck.analysis.fold.facts import most_common
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
from reusecheck.analysis.proxies import keyed_proxy, run_proxy
from reusecheck.analysis.requests import parse_keep_alive
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
    "conclude",
    "exit_code",
    "parse_keep_alive",
]

# Exit codes (docs/design.md, "Command line").  2 is the CLI's own (usage, bad input).
EXIT_OK: Final = 0
EXIT_EXPECTATION_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3


def analyze(record: RunRecord) -> Analysis:
    """The analysis of a whole record: its events folded, then concluded (a run being
    recorded folds as it goes: ``analysis.fold.Fold`` as its sink, then ``conclude``)."""
    return conclude(
        fold_events(record.events),
        target=record.target,
        expectations=record.expectations,
        error=record.error,
        options=record.options,
    )


def conclude(
    fold: Fold,
    *,
    target: str,
    expectations: Sequence[Expectation] = (),
    error: ErrorLike | None = None,
    options: Mapping[str, Any] | None = None,
    requests: Sequence[RequestRow] | None = None,
) -> Analysis:
    """The analysis of a folded run: connections, server facts, findings, verdict.

    ``requests``: where the rows went when the fold handed them on (a report being
    written); by default the rows the fold collected."""
    options = dict(options or {})
    index, facts, rows = fold.finish()
    conns = connection_rows(index, facts)
    server = server_facts(index, facts, conns)
    summary = summarize(facts, conns)
    run_error = RunError(error.kind, error.message) if error else None
    scopes = fold.scopes.result()
    found = detect(
        Context(
            index,
            facts,
            conns,
            server,
            options,
            summary.peak_concurrency,
            frozenset(),
            run_error,
            scopes,
        )
    )
    level, detail = reuse_verdict(summary, conns, scopes, facts)
    judged = verdict(expectations, run_error, level, detail, facts, summary, conns, server)
    unmet = expectation_unmet(judged, found, conns, server)
    if unmet is not None:
        found = rank((*found, unmet))
    protocols = most_common(facts.protocols)
    return Analysis(
        target=target,
        protocol=protocols[0][0] if protocols else None,
        requests=requests if requests is not None else tuple(rows),
        connections=conns,
        server=server,
        findings=found,
        summary=summary,
        verdict=judged,
        error=run_error,
        options=options,
        proxy=run_proxy(conns) or keyed_proxy(scopes.keys),
    )


def exit_code(analysis: Analysis) -> int:
    """0 every expectation held; 1 one failed; 3 the run could not complete."""
    if analysis.error is not None:
        return EXIT_UNREACHABLE
    return EXIT_OK if analysis.verdict.ok else EXIT_EXPECTATION_FAILED
