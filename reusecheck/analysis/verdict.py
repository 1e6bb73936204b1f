"""The reuse verdict and the user's expectations.

The verdict reads the connection budget (``analysis.budget``): every connection opened
was needed (the first to an origin, one while every other was busy, one past the h2
stream limit) or had one named cause, as the pool recorded when it dialled.

- ``yes``: no connection was avoidable (a healthy server probed with bursts is ``yes``);
- ``no``: no request got a connection, or no connection was ever reused;
- ``partial``: otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from reusecheck.analysis.budget import avoidable, budget, reuse_level, reuse_line
from reusecheck.analysis.connections import was_opened
from reusecheck.analysis.fold.facts import RunFacts, most_common
from reusecheck.analysis.h2 import H2_REQUIRED_ERROR, alpn_refused, alpn_said
from reusecheck.analysis.model import (
    ConnectionRow,
    Expectation,
    ExpectationResult,
    ReuseLevel,
    RunError,
    ServerFacts,
    Summary,
    Verdict,
)
from reusecheck.analysis.pools import PoolScopes
from reusecheck.analysis.proxies import measured_hop
from reusecheck.analysis.status import phrase
from reusecheck.analysis.text import plural


def summarize(facts: RunFacts, conns: Sequence[ConnectionRow]) -> Summary:
    n = facts.requests
    return Summary(
        requests=n,
        connections_opened=sum(1 for c in conns if was_opened(c)),
        reused=facts.reused,
        reuse_ratio=round(facts.reused / n, 4) if n else 0.0,
        peak_concurrency=facts.peak,
        retried=facts.retried,
        failed=facts.failed,
        duration_s=round(facts.end_s, 6),
        budget=budget(conns),
        status_classes=tuple(sorted(facts.status_classes.items())),
    )


def reuse_verdict(
    summary: Summary, conns: Sequence[ConnectionRow], scopes: PoolScopes, facts: RunFacts
) -> tuple[ReuseLevel, str]:
    """The reuse level and its line: the budget in words."""
    if not any(c.requests for c in conns):
        return "no", "no request got a connection"
    line = reuse_line(summary, conns, scopes, facts)
    hop = measured_hop(conns)
    return reuse_level(summary, conns), line if hop is None else f"{line}; {hop}"


def _h2(
    facts: RunFacts, conns: Sequence[ConnectionRow], error: RunError | None
) -> ExpectationResult:
    served = sum(c.count for c in facts.protocols.values())
    refused = alpn_refused(conns)
    said = alpn_said(refused[0]) if refused else None
    if said is None and error is not None and error.kind == H2_REQUIRED_ERROR:
        said = error.message  # h2c: no ALPN, the runner says what the server did
    other = most_common({p: c for p, c in facts.protocols.items() if p != "h2"})
    if said is not None and not refused:
        # h2c: the connection was opened as h2 (prior knowledge) and the server did not
        # answer in it, so no request really used h2 whatever got_conn said.
        return ExpectationResult("h2", False, said)
    if served and not other:
        return ExpectationResult("h2", True, f"all {plural(served, 'request')} used h2")
    if not served:
        return ExpectationResult("h2", False, said or "no request got a connection")
    used = ", ".join(f"{k} of {served} requests used {p}" for p, k in other)
    return ExpectationResult("h2", False, f"{said}: {used}" if said else f"{used}, not h2")


def _multiplex(
    facts: RunFacts, conns: Sequence[ConnectionRow], server: ServerFacts
) -> ExpectationResult:
    """Some HTTP/2 connection carried two streams at the same time."""
    best = max((c.peak_streams for c in conns if c.protocol == "h2"), default=0)
    if best >= 2:
        return ExpectationResult(
            "multiplex", True, f"up to {best} streams at once on one connection"
        )
    refused = alpn_refused(conns)
    if "h2" not in facts.protocols:
        detail = alpn_said(refused[0]) if refused else "no request used h2"
        return ExpectationResult("multiplex", False, detail)
    busy = facts.h2_spread
    if busy is None or busy.peak < 2:
        return ExpectationResult(
            "multiplex", False, "no two h2 requests were in flight at once: nothing to share"
        )
    detail = f"{busy.peak} concurrent requests used {plural(len(busy.conns), 'h2 connection')}"
    limit = server.h2_max_concurrent_streams
    if limit is not None:
        detail += f"; the server allows {plural(limit, 'stream')} per connection"
    return ExpectationResult("multiplex", False, detail)


def _status(facts: RunFacts) -> ExpectationResult:
    """Every response 2xx/3xx (and at least one response)."""
    answered = facts.answered
    if not answered:
        return ExpectationResult("status", False, "no response")
    if not facts.errors:
        return ExpectationResult("status", True, f"all {plural(answered, 'response')} were 2xx/3xx")
    errors = most_common(facts.errors)
    worst = ", ".join(f"{phrase(s)}: {n}" for s, n in errors[:3])
    total = sum(n for _, n in errors)
    return ExpectationResult(
        "status", False, f"{total} of {plural(answered, 'response')} were errors: {worst}"
    )


def evaluate(
    exp: Expectation,
    level: ReuseLevel,
    detail: str,
    facts: RunFacts,
    summary: Summary,
    conns: Sequence[ConnectionRow] = (),
    server: ServerFacts | None = None,
    error: RunError | None = None,
) -> ExpectationResult:
    name, value = exp.name, exp.value
    if name == "none":
        return ExpectationResult(name, True, "nothing expected: report only")
    if name == "reuse":
        lost = len(facts.not_retried)
        if lost:
            # A stale reused connection cost a request Go could not retry: a reuse race
            # the caller sees as an error, whatever the connection count says.
            failed = f"{plural(lost, 'request')} failed on a stale connection, not retried"
            return ExpectationResult(name, False, f"reuse {level}: {detail}; {failed}")
        return ExpectationResult(name, level == "yes", f"reuse {level}: {detail}")
    if name == "min-reuse-ratio":
        want = float(value or 0.0)
        ok = summary.reuse_ratio >= want
        sign = ">=" if ok else "<"
        return ExpectationResult(
            name, ok, f"reuse ratio {summary.reuse_ratio:.2f} {sign} {want:g}", want
        )
    if name == "max-connections":
        most = float(value or 0.0)
        ok = summary.connections_opened <= most
        sign = "<=" if ok else ">"
        return ExpectationResult(
            name, ok, f"{summary.connections_opened} connections opened {sign} {most:g}", most
        )
    if name == "h2":
        return _h2(facts, conns, error)
    if name == "status":
        return _status(facts)
    return _multiplex(facts, conns, server or ServerFacts())


def verdict(
    expectations: Sequence[Expectation],
    error: RunError | None,
    level: ReuseLevel,
    detail: str,
    facts: RunFacts,
    summary: Summary,
    conns: Sequence[ConnectionRow] = (),
    server: ServerFacts | None = None,
) -> Verdict:
    results = tuple(
        evaluate(e, level, detail, facts, summary, conns, server, error) for e in expectations
    )
    return Verdict(
        ok=error is None and all(r.ok for r in results),
        reuse=level,
        expectations=results,
        detail=detail,
        redialled_connections=tuple(c.id for c in avoidable(conns)),
    )
