"""Remedies computed from measured numbers: the knob and the value to set it to."""

from __future__ import annotations

import math

from reusecheck.analysis.text import seconds


def below(limit_s: float) -> float:
    """A client idle timeout safely below a server's ``limit_s``.

    One second of margin, as undici keeps below a Keep-Alive hint; whole seconds when the
    limit allows, since that is how these settings are written.
    """
    limit_s = round(limit_s, 1)  # a 4 s timeout is measured as 3.998 s or 4.003 s
    if limit_s >= 2.0:
        return float(math.floor(limit_s - 1.0))
    return max(0.1, math.floor(limit_s * 5) / 10)


def go_duration(value_s: float) -> str:
    if value_s == int(value_s):
        return f"{int(value_s)}*time.Second"
    return f"{round(value_s * 1000)}*time.Millisecond"


def client_idle_timeout_remedy(limit_s: float, why: str) -> str:
    """Remedy for a server that closes idle connections after (or before) ``limit_s``."""
    s = below(limit_s)
    n = seconds(s)
    return (
        f"Set your client's idle timeout below {seconds(limit_s)} s ({why}): Go "
        f"IdleConnTimeout: {go_duration(s)}, httpx Limits(keepalive_expiry={n}), aiohttp "
        f"TCPConnector(keepalive_timeout={n}); here: --idle-timeout {n}. Or raise the "
        "server's: nginx keepalive_timeout, Apache KeepAliveTimeout, Node "
        "server.keepAliveTimeout."
    )


def max_requests_remedy(n: int) -> str:
    share = 100.0 / n
    return (
        f"With a limit of {n}, one request in {n} ({share:.0f}%) pays connection setup. "
        f"Raise it on the server: nginx keepalive_requests (default 1000), Apache "
        "MaxKeepAliveRequests (default 100, 0 = unlimited), Node "
        "server.maxRequestsPerSocket. Clients must retry idempotent requests that meet the "
        "close (Go's Transport does)."
    )


def pool_churn_remedy(
    concurrency: int, max_idle_per_host: int | None, scenario: bool = False
) -> str:
    """``scenario``: the run was a scenario (``reusecheck run``), where the knob is the
    ``[pool]`` table's, not the probe's flag."""
    now = f" (now {max_idle_per_host})" if max_idle_per_host is not None else ""
    c = concurrency
    here = f"[pool] max_idle_per_host = {c}" if scenario else f"--max-idle-per-host {c}"
    return (
        f"Keep at least {c} idle connections per host{now}: Go "
        f"Transport.MaxIdleConnsPerHost = {c} (default 2), httpx "
        f"Limits(max_keepalive_connections={c}), aiohttp TCPConnector(limit_per_host={c}) or "
        f"more; here: {here}."
    )


def h2_goaway_remedy(codes: set[str], streams: int | None) -> str:
    """Remedy for GOAWAYs with these codes; ``streams``: a NO_ERROR limit, when measured."""
    parts = []
    if "NO_ERROR" in codes and streams is not None:
        parts.append(
            f"The server ends a connection after {streams} streams, so one request in "
            f"{streams} pays a new connection: raise nginx keepalive_requests (default 1000; "
            "http2_max_requests before 1.19.7) or your server's streams-per-connection limit."
        )
    elif "NO_ERROR" in codes:
        parts.append(
            "A NO_ERROR GOAWAY is a graceful shutdown (reload, idle timeout, stream limit)."
        )
    if "ENHANCE_YOUR_CALM" in codes:
        parts.append(
            "ENHANCE_YOUR_CALM: the server judged the client abusive: too many streams "
            "reset, PINGs, SETTINGS or header bytes (limits servers tightened after the 2023 "
            "'rapid reset' attack, CVE-2023-44487); reset fewer streams and pace pings."
        )
    if "PROTOCOL_ERROR" in codes:
        parts.append(
            "PROTOCOL_ERROR: the server saw a frame or header HTTP/2 forbids; the GOAWAY's "
            "debug data names it; check the client and any proxy between."
        )
    if codes - {"NO_ERROR", "ENHANCE_YOUR_CALM", "PROTOCOL_ERROR"}:
        parts.append(
            "Other error codes name the rule broken (RFC 9113 section 7); INTERNAL_ERROR is "
            "the server's own failure: see its error log."
        )
    parts.append(
        "Clients retry streams above last_stream_id on a new connection (Go and httpx do)."
    )
    return " ".join(parts)


def stale_race_remedy(server_idle_s: float | None, idles: list[float]) -> str | None:
    """The idle timeout to set after a stale-connection race: under the server's
    measured one, else under the shortest idle time a connection was found closed
    after; None when neither is known."""
    if server_idle_s is not None:
        return client_idle_timeout_remedy(server_idle_s, "the server's idle timeout")
    if idles:
        return client_idle_timeout_remedy(
            min(idles),
            "a connection idle that long was already closed; `reusecheck discover` measures "
            "the server's timeout",
        )
    return None
