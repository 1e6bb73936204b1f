"""The observation's verdict: did the client reuse its connections, and did the
expectation hold.  ``client-idle-timeout-too-long`` is a risk, not lost reuse, so it
never makes reuse less than ``yes``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.observed.model import (
    ObservedExpectation,
    ObservedSummary,
    ObservedVerdict,
)

OBSERVE_EXPECTATIONS: Final = ("reuse", "none")
NOT_REUSE_LOSS: Final = frozenset({"client-idle-timeout-too-long"})


def reuse_level(
    summary: ObservedSummary, findings: Sequence[Finding]
) -> Literal["yes", "partial", "no"]:
    if summary.requests == 0:
        return "no"
    if summary.requests >= 2 and summary.reused == 0:
        return "no"
    if any(f.code not in NOT_REUSE_LOSS for f in findings):
        return "partial"
    return "yes"


def observed_verdict(
    summary: ObservedSummary, findings: Sequence[Finding], expect: str, tls: bool = False
) -> ObservedVerdict:
    level = reuse_level(summary, findings)
    detail = (
        f"{summary.requests} requests · {summary.connections_opened} connections from "
        f"{summary.clients} client(s), {summary.minimum_connections} needed for up to "
        f"{summary.peak_concurrency} at once · {summary.reused} reused"
    )
    expectations: tuple[ObservedExpectation, ...] = ()
    if expect == "reuse":
        if summary.requests == 0:
            why = "no request arrived: point the client at the listening address"
            if tls:
                # A handshake the client refused never becomes a connection of the record.
                why += (
                    " (over --tls, a client that does not trust the certificate fails its "
                    "handshake: give it the CA, --ca-out FILE, or a --tls-cert it trusts)"
                )
        elif level == "yes":
            why = "the client reused its connections"
        else:
            codes = sorted({f.code for f in findings if f.code not in NOT_REUSE_LOSS})
            why = f"reuse {level}: " + (", ".join(codes) if codes else "nothing was reused")
        expectations = (ObservedExpectation("reuse", level == "yes", why),)
    ok = all(e.ok for e in expectations)
    return ObservedVerdict(ok, level, detail, expectations)
