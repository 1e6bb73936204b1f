"""Every detector, in the order they run, and ``detect``: the findings of one analysis.

Each detector reads the rows and facts (``Context``) and returns a Finding or None;
messages carry the measured numbers and remedies are computed from them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from reusecheck.analysis.findings.budget import (
    client_idle_timeout,
    connection_error,
    keepalive_disabled,
)
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.client import body_not_drained, new_conn_per_request, pool_churn
from reusecheck.analysis.findings.context import Context
from reusecheck.analysis.findings.h2 import (
    h2_goaway,
    h2_no_multiplexing,
    h2_no_streams,
    h2_not_negotiated,
    h2_stream_refused,
)
from reusecheck.analysis.findings.idle import server_idle_timeout, stale_conn_retry
from reusecheck.analysis.findings.keepalive import (
    http10_server,
    max_requests,
    no_keepalive,
    unsolicited_response,
)
from reusecheck.analysis.findings.record import record_capped
from reusecheck.analysis.findings.request import not_retried_non_idempotent
from reusecheck.analysis.findings.route import (
    addresses_spread,
    proxy_connect_refused,
    proxy_idle_timeout,
    proxy_no_keepalive,
)
from reusecheck.analysis.findings.status import error_responses

DETECTORS: tuple[Callable[[Context], Finding | None], ...] = (
    error_responses,
    # Through a proxy: what the proxy did, before what no-keepalive and
    # server-idle-timeout would say of the origin (they leave the proxy's to these).
    proxy_connect_refused,
    proxy_no_keepalive,
    proxy_idle_timeout,
    no_keepalive,
    http10_server,
    max_requests,
    unsolicited_response,
    server_idle_timeout,
    stale_conn_retry,
    not_retried_non_idempotent,
    h2_not_negotiated,
    h2_no_streams,
    h2_goaway,
    h2_no_multiplexing,
    h2_stream_refused,
    pool_churn,
    body_not_drained,
    record_capped,
    client_idle_timeout,
    keepalive_disabled,
    connection_error,
    addresses_spread,
    new_conn_per_request,  # last: it defers to the findings above
)


_RANK = {"error": 0, "warning": 1, "info": 2}


def rank(found: Sequence[Finding]) -> tuple[Finding, ...]:
    """Errors first, then warnings, then infos; in detection order within each."""
    return tuple(sorted(found, key=lambda f: _RANK[f.severity]))


def detect(ctx: Context) -> tuple[Finding, ...]:
    found: list[Finding] = []
    for detector in DETECTORS:
        # An info finding names no cause strong enough to silence another detector.
        ctx = replace(ctx, found=frozenset(f.code for f in found if f.severity != "info"))
        f = detector(ctx)
        if f is not None:
            found.append(f)
    return rank(found)
