"""Findings about the requests themselves: a non-idempotent request that Go's retry rule
leaves failed when its reused connection turns out stale."""

from __future__ import annotations

from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings import remedies
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context
from reusecheck.analysis.server import CLOSE_AFTER_RESPONSE_S
from reusecheck.analysis.text import listed, plural, secs, tally

_KEY_HINT = (
    " Or send an Idempotency-Key header with it, which makes it replayable: Go's "
    "Transport then retries it on a new connection."
)


def not_retried_non_idempotent(ctx: Context) -> Finding | None:
    failed = ctx.facts.not_retried
    if not failed:
        return None
    n = len(failed)
    methods = tally(f.method or "request" for f in failed)
    # A connection that failed as it was taken tells nothing about an idle timeout.
    idles = [f.idle_s for f in failed if f.idle_s >= CLOSE_AFTER_RESPONSE_S]
    after = f" after {secs(min(idles))} idle" if idles else ""
    conns = sorted({f.conn for f in failed if f.conn is not None})
    message = (
        f"{plural(n, 'request')} ({methods}) failed on a reused connection the server had "
        f"closed{after} (the stale connection race: conn {listed(conns)}) and "
        f"{'was' if n == 1 else 'were'} not retried: without an Idempotency-Key the "
        "request is not replayable, so Go's Transport returns the error to the caller"
    )
    remedy = remedies.stale_race_remedy(ctx.server.idle_timeout_s, idles)
    if remedy is None:
        return cat.finding(
            "not-retried-non-idempotent",
            message,
            cat.entry("not-retried-non-idempotent").remedy,
            requests=[f.index for f in failed],
            connections=conns,
            errors=[f.error for f in failed],
        )
    return cat.finding(
        "not-retried-non-idempotent",
        message,
        remedy + _KEY_HINT,
        requests=[f.index for f in failed],
        connections=conns,
        idle_times_s=[round(t, 6) for t in idles],
        errors=[f.error for f in failed],
    )
