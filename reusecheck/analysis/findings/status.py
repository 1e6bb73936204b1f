"""Responses that are not 2xx/3xx: the run measured the error path, and servers often
close a connection after an error, which is no verdict on their keep-alive."""

from __future__ import annotations

from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context
from reusecheck.analysis.fold.facts import closed_after_error, most_common
from reusecheck.analysis.status import phrase
from reusecheck.analysis.text import plural


def error_responses(ctx: Context) -> Finding | None:
    f = ctx.facts
    if not f.errors:
        return None
    errors = most_common(f.errors)
    n = sum(count for _, count in errors)
    statuses = ", ".join(f"{phrase(s)}: {count}" for s, count in errors)
    causes = [c for c, _ in sorted(f.causes.values(), key=lambda ci: ci[1])]
    by_status = sorted((s, count) for s, count in errors)
    closed = [c.id for c in ctx.conns if closed_after_error(c, f)]
    message = f"{n} of {plural(f.answered, 'response')} were errors ({statuses})"
    if causes:
        message += ": " + "; ".join(c.text for c in causes)
    if f.quote is not None:
        message += f"; the server said {f.quote[1]!r}"
    if closed:
        message += f"; it closed {plural(len(closed), 'connection')} after them"
    if causes:
        remedy = " ".join(c.remedy for c in causes)
    elif any(s >= 500 for s, _ in errors):
        remedy = (
            "The server failed the requests (5xx): its logs say why. Reuse measured on "
            "error responses may not be the service's."
        )
    else:
        remedy = cat.entry("error-responses").remedy
    entry = cat.entry("error-responses")
    severity: cat.Severity = "error" if n == f.answered else entry.severity
    return Finding(
        entry.code,
        severity,
        message,
        remedy,
        {
            "requests": list(f.error_indexes),
            "statuses": {str(s): count for s, count in by_status},
            "causes": [c.key for c in causes],
            "connections": closed,  # closed by the server after an error response
        },
    )
