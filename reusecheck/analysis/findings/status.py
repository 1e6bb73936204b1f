"""Responses that are not 2xx/3xx: the run measured the error path, and servers often
close a connection after an error, which is no verdict on their keep-alive."""

from __future__ import annotations

from collections import Counter

from reusecheck.analysis.events import get
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context
from reusecheck.analysis.status import (
    Cause,
    cause,
    closed_after_error,
    is_error,
    phrase,
    said,
    server_header,
)
from reusecheck.analysis.text import plural


def _server(ctx: Context, index: int) -> str | None:
    for e in reversed(ctx.index.by_request.get(index, [])):
        if e.event == "response_headers":
            return server_header(get(e, "headers"))
    return None


def error_responses(ctx: Context) -> Finding | None:
    answered = [r for r in ctx.rows if r.status is not None]
    errors = [r for r in answered if is_error(r.status)]
    if not errors:
        return None
    by_status = Counter(r.status or 0 for r in errors)
    statuses = ", ".join(
        f"{phrase(s)}: {n}" for s, n in sorted(by_status.items(), key=lambda kv: -kv[1])
    )
    causes: dict[str, tuple[Cause, int]] = {}
    for r in errors:
        c = cause(r, _server(ctx, r.index))
        if c is not None and c.key not in causes:
            causes[c.key] = (c, r.index)
    by_index = {r.index: r for r in ctx.rows}
    closed = [c.id for c in ctx.conns if closed_after_error(c, by_index)]
    message = f"{len(errors)} of {plural(len(answered), 'response')} were errors ({statuses})"
    if causes:
        message += ": " + "; ".join(c.text for c, _ in causes.values())
    quoted = next(
        (q for r in errors if (q := said(r.body_head, r.status, _server(ctx, r.index)))), None
    )
    if quoted is not None:
        message += f"; the server said {quoted!r}"
    if closed:
        message += f"; it closed {plural(len(closed), 'connection')} after them"
    if causes:
        remedy = " ".join(c.remedy for c, _ in causes.values())
    elif any(s >= 500 for s in by_status):
        remedy = (
            "The server failed the requests (5xx): its logs say why. Reuse measured on "
            "error responses may not be the service's."
        )
    else:
        remedy = cat.entry("error-responses").remedy
    entry = cat.entry("error-responses")
    severity: cat.Severity = "error" if len(errors) == len(answered) else entry.severity
    return Finding(
        entry.code,
        severity,
        message,
        remedy,
        {
            "requests": [r.index for r in errors],
            "statuses": {str(s): n for s, n in sorted(by_status.items())},
            "causes": list(causes),
            "connections": closed,  # closed by the server after an error response
        },
    )
