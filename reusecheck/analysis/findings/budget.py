"""The causes of the connection budget that no other finding names: the client's own
idle timeout, keep-alive disabled by the client, connections that failed, and an
expectation that failed although no connection was wasted."""

from __future__ import annotations

from collections.abc import Sequence

from reusecheck.analysis.budget import avoidable
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context
from reusecheck.analysis.model import ConnectionRow, ExpectationResult, ServerFacts, Verdict
from reusecheck.analysis.text import listed, plural, seconds


def _caused(ctx: Context, reason: str) -> list[ConnectionRow]:
    return [c for c in avoidable(ctx.conns) if c.dial is not None and c.dial.reason == reason]


def _replaced(conns: Sequence[ConnectionRow]) -> list[int]:
    return sorted({c.dial.replaces for c in conns if c.dial and c.dial.replaces is not None})


def client_idle_timeout(ctx: Context) -> Finding | None:
    extra = _caused(ctx, "client-idle-timeout")
    if not extra:
        return None
    gone = _replaced(extra)
    timeout = ctx.options.get("idle_timeout_s")
    said = f" ({seconds(float(timeout))} s)" if isinstance(timeout, int | float) else ""
    message = (
        f"the client's own idle timeout{said} closed {plural(len(gone), 'connection')} "
        f"(conn {listed(gone)}) that later requests then dialled again "
        f"({plural(len(extra), 'connection')}): the client's setting, not the server's"
    )
    return cat.finding(
        "client-idle-timeout",
        message,
        cat.entry("client-idle-timeout").remedy,
        connections=gone,
        redialled_connections=[c.id for c in extra],
        idle_timeout_s=timeout,
    )


def keepalive_disabled(ctx: Context) -> Finding | None:
    extra = _caused(ctx, "keepalives-disabled")
    if not extra:
        return None
    message = (
        f"the client sent 'Connection: close' and ended each connection after one request: "
        f"{plural(len(extra), 'connection')} dialled again (keep-alive disabled by the "
        "client, not the server)"
    )
    return cat.finding(
        "keepalive-disabled",
        message,
        cat.entry("keepalive-disabled").remedy,
        connections=_replaced(extra),
        redialled_connections=[c.id for c in extra],
    )


def connection_error(ctx: Context) -> Finding | None:
    failed = _caused(ctx, "connection-error")
    lost = [
        c
        for c in _caused(ctx, "retry")
        if c.dial is not None and c.dial.retry_reason == "connection-lost"
    ]
    if not failed and not lost:
        return None
    gone = _replaced(failed + lost)
    by_id = {c.id: c for c in ctx.conns}
    errors = sorted(
        {by_id[i].error or by_id[i].close_reason or "error" for i in gone if i in by_id}
    )
    them = "it" if len(gone) == 1 else "them"
    message = (
        f"{plural(len(gone), 'connection')} failed (conn {listed(gone)}) and "
        f"{plural(len(failed) + len(lost), 'connection')} replaced {them}"
    )
    if errors:
        message += f": {errors[0]}"
    return cat.finding(
        "connection-error",
        message,
        cat.entry("connection-error").remedy,
        connections=gone,
        redialled_connections=[c.id for c in failed + lost],
        errors=errors,
    )


def expectation_unmet(
    verdict: Verdict,
    findings: Sequence[Finding],
    conns: Sequence[ConnectionRow],
    server: ServerFacts | None = None,
) -> Finding | None:
    """Every FAIL carries a finding: one for the failed expectations nothing else
    explains (no connection was wasted, no h2 or status finding names it)."""
    named = {f.code for f in findings}
    if avoidable(conns):
        return None
    explained = {
        "h2": {"h2-not-negotiated", "h2-no-streams"},
        "multiplex": {"h2-no-multiplexing", "h2-not-negotiated", "h2-no-streams"},
        "status": {"error-responses"},
    }
    unmet: list[ExpectationResult] = [
        e
        for e in verdict.expectations
        if not e.ok and not (explained.get(e.name, set()) & named) and e.name != "reuse"
    ]
    if not unmet:
        return None
    hints = {
        "multiplex": "run requests at once (--concurrency N) so streams can share",
        "min-reuse-ratio": "every connection was needed: more sequential requests "
        "(--requests) raise the ratio, or lower --min-reuse-ratio",
        "max-connections": "every connection was needed for the requests in flight: "
        "allow as many, or lower --concurrency",
    }
    if server is not None and server.h2_max_concurrent_streams == 1:
        hints["multiplex"] = (
            "the server allows 1 stream per connection, so streams cannot share one: raise "
            "its SETTINGS_MAX_CONCURRENT_STREAMS (nginx http2_max_concurrent_streams, "
            "default 128)"
        )
    first = unmet[0]
    if first.name.startswith(("step ", "steps ")):  # a scenario's check
        hints[first.name] = (
            "the scenario's check asks for more than its steps could give with every "
            "connection needed (a first request always dials): check which steps it "
            "covers (expect.step) and what it counts"
        )
    message = f"{first.name} failed ({first.detail}) although no connection was wasted"
    remedy = hints.get(first.name, cat.entry("expectation-unmet").remedy)
    return cat.finding(
        "expectation-unmet",
        message,
        remedy[:1].upper() + remedy[1:] + ("." if not remedy.endswith(".") else ""),
        expectations=[e.name for e in unmet],
    )
