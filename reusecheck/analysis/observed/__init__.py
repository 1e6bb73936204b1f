"""Observed record -> client groups, findings, verdict: the analysis behind
``reusecheck observe``.  Pure functions; the record is built by ``reusecheck.observe``."""

from __future__ import annotations

from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.observed.detect import detect_client
from reusecheck.analysis.observed.groups import (
    group_clients,
    minimum_connections,
    peak_concurrency,
    reused_requests,
)
from reusecheck.analysis.observed.model import (
    ClientGroup,
    ObservedAnalysis,
    ObservedConnection,
    ObservedRecord,
    ObservedRequest,
    ObservedSummary,
)
from reusecheck.analysis.observed.verdict import OBSERVE_EXPECTATIONS, observed_verdict

__all__ = [
    "OBSERVE_EXPECTATIONS",
    "ClientGroup",
    "ObservedAnalysis",
    "ObservedConnection",
    "ObservedRecord",
    "ObservedRequest",
    "analyze_observed",
]


def analyze_observed(record: ObservedRecord, expect: str = "reuse") -> ObservedAnalysis:
    """The whole analysis of one observation."""
    clients: list[ClientGroup] = []
    findings: list[Finding] = []
    max_streams = record.max_concurrent_streams
    for group in group_clients(record):
        peak = peak_concurrency(group.requests, record.duration_s)
        minimum = minimum_connections(group.connections, peak, max_streams)
        found = detect_client(group, record, peak, minimum)
        findings.extend(found)
        requests = group.total_requests
        carrying = [c for c in group.connections if c.requests]
        reused = reused_requests(group.connections)
        clients.append(
            ClientGroup(
                ip=group.key[0],
                user_agent=group.key[1],
                connections=tuple(c.id for c in group.connections),
                requests=requests,
                reused=reused,
                reuse_ratio=round(reused / requests, 4) if requests else 0.0,
                peak_concurrency=peak,
                minimum_connections=minimum,
                requests_per_connection=round(requests / len(carrying), 3) if carrying else 0.0,
                max_requests_per_connection=max((c.requests for c in carrying), default=0),
                protocols=tuple(sorted({c.protocol for c in carrying})),
                findings=found,
                unused_connections=len(group.connections) - len(carrying),
            )
        )
    conns = record.connections
    total = sum(c.requests for c in conns)
    reused = reused_requests(conns)
    summary = ObservedSummary(
        requests=total,
        connections_opened=len(conns),
        reused=reused,
        reuse_ratio=round(reused / total, 4) if total else 0.0,
        peak_concurrency=peak_concurrency(record.requests, record.duration_s),
        minimum_connections=sum(c.minimum_connections for c in clients),
        clients=len(clients),
        duration_s=round(record.duration_s, 3),
        closed_by_client=sum(1 for c in conns if c.closed_by == "client"),
        closed_by_server=sum(1 for c in conns if c.closed_by == "server"),
        reset_by_client=sum(1 for c in conns if c.closed_by == "client" and c.close_kind == "rst"),
    )
    order = {"error": 0, "warning": 1, "info": 2}
    ranked = tuple(sorted(findings, key=lambda f: order[f.severity]))
    return ObservedAnalysis(
        record=record,
        clients=tuple(clients),
        findings=ranked,
        summary=summary,
        verdict=observed_verdict(summary, ranked, expect, record.tls),
    )
