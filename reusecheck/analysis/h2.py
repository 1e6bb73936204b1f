"""HTTP/2 facts from the events: each connection's SETTINGS and GOAWAY, the server's
stream limit, and what a connection could carry.

HTTP/2 reuse is multiplexing (RFC 9113 section 5): a connection carries up to the
server's ``SETTINGS_MAX_CONCURRENT_STREAMS`` streams at once, so a pool needs a second
connection to a host only beyond that limit, or after a GOAWAY (section 6.8) forbids new
streams on the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Final

from reusecheck.analysis.events import EventIndex, as_int, as_str, get
from reusecheck.analysis.model import ConnectionRow, GoAway, H2Connection, ServerFacts

# Streams assumed per HTTP/2 connection when the server's SETTINGS were not recorded
# (RFC 9113 section 6.5.2 recommends no less than 100).
DEFAULT_H2_STREAMS: Final = 100

# The runner's error kind when --http2 or --h2c required HTTP/2 and the server did not
# speak it (the run stops, exit 3).
H2_REQUIRED_ERROR: Final = "h2-not-negotiated"

SETTINGS: Final = tuple(f.name for f in fields(H2Connection) if f.name != "goaway")


def is_h2(index: EventIndex, conn: int, protocol: str | None) -> bool:
    return protocol == "h2" or any(
        e.event in ("h2_settings", "h2_goaway") for e in index.by_conn.get(conn, ())
    )


def h2_connection(index: EventIndex, conn: int) -> H2Connection:
    """The settings in force at the end (a later SETTINGS frame overrides only what it
    carries, section 6.5.3) and the GOAWAY: a repeated one may only lower
    last_stream_id (section 6.8), so the last one counts, from the time of the first."""
    merged: dict[str, int | None] = dict.fromkeys(SETTINGS)
    goaway: GoAway | None = None
    for e in index.by_conn.get(conn, ()):
        if e.event == "h2_settings":
            for name in SETTINGS:
                value = as_int(get(e, name))
                if value is not None:
                    merged[name] = value
        elif e.event == "h2_goaway":
            unprocessed = [r for r in get(e, "unprocessed") or () if as_int(r) is not None]
            goaway = GoAway(
                error_code=as_str(get(e, "error_code")),
                last_stream_id=as_int(get(e, "last_stream_id")),
                additional_data=as_str(get(e, "additional_data")),
                unprocessed=tuple(sorted({*(goaway.unprocessed if goaway else ()), *unprocessed})),
                at_s=goaway.at_s if goaway is not None else e.t,
            )
    return H2Connection(**merged, goaway=goaway)


def max_concurrent_streams(conns: Sequence[ConnectionRow]) -> tuple[int | None, tuple[int, ...]]:
    """(the smallest limit any connection ended with, every distinct limit seen)."""
    seen = sorted(
        {
            c.h2.max_concurrent_streams
            for c in conns
            if c.h2 is not None and c.h2.max_concurrent_streams is not None
        }
    )
    return (seen[0] if seen else None), tuple(seen)


def capacity(conn: ConnectionRow, server: ServerFacts) -> int:
    """Requests the connection could carry at once: one for HTTP/1.1; for HTTP/2 the limit
    it announced, else the server's, else the RFC's recommended minimum."""
    if conn.protocol != "h2":
        return 1
    if conn.h2 is not None and conn.h2.max_concurrent_streams is not None:
        return conn.h2.max_concurrent_streams
    if server.h2_max_concurrent_streams is not None:
        return server.h2_max_concurrent_streams
    return DEFAULT_H2_STREAMS


def unusable_at(conn: ConnectionRow) -> float | None:
    """From when the connection could take no new request: its GOAWAY, else its close."""
    if conn.h2 is not None and conn.h2.goaway is not None:
        return conn.h2.goaway.at_s
    return conn.closed_at_s


def alpn_refused(conns: Sequence[ConnectionRow]) -> list[ConnectionRow]:
    """TLS connections that offered h2 and got something else (or no ALPN at all)."""
    return [
        c for c in conns if c.tls is not None and "h2" in c.tls.alpn_offered and c.tls.alpn != "h2"
    ]


def alpn_said(conn: ConnectionRow) -> str:
    """'server chose http/1.1 (offered h2, http/1.1)' for a connection that offered h2."""
    tls = conn.tls
    chosen = tls.alpn if tls is not None and tls.alpn else "no protocol"
    offered = ", ".join(tls.alpn_offered) if tls is not None else ""
    return f"server chose {chosen} (offered {offered})"
