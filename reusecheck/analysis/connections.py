"""Per-connection lifecycles: dialled, carried requests, closed by whom and why."""

from __future__ import annotations

from reusecheck.analysis.events import EventIndex, as_float, as_int, as_str, get
from reusecheck.analysis.fold.facts import ConnFacts, RunFacts
from reusecheck.analysis.h2 import h2_connection, is_h2
from reusecheck.analysis.model import ConnectionRow, Dial, FailedAttempt, TlsInfo
from reusecheck.trace import Event


def _tls(index: EventIndex, conn: int) -> tuple[TlsInfo | None, str | None]:
    done = index.conn_event(conn, "tls_done")
    if done is None:
        return None, None
    offered = get(index.conn_event(conn, "tls_start"), "alpn_offered") or ()
    error = as_str(get(done, "error"))
    if error is not None:
        return None, error
    resumed = get(done, "resumed")
    asked = get(done, "client_cert_requested")
    return (
        TlsInfo(
            version=as_str(get(done, "version")),
            cipher=as_str(get(done, "cipher")),
            alpn=as_str(get(done, "alpn")),
            resumed=resumed if isinstance(resumed, bool) else None,
            alpn_offered=tuple(str(p) for p in offered),
            client_cert=get(index.conn_event(conn, "tls_start"), "client_cert") is True,
            client_cert_requested=asked if isinstance(asked, bool) else None,
        ),
        None,
    )


def connection_row(index: EventIndex, conn: int, facts: ConnFacts) -> ConnectionRow:
    """``index``: the kept events (every one of a connection the row reads); ``facts``:
    what its requests left (those it carried, streams at once)."""
    events = index.by_conn[conn]
    carried = facts.carried
    start = index.conn_event(conn, "connect_start")
    connected = _connected(index, conn)
    got = index.conn_event(conn, "got_conn")
    closed = index.conn_event(conn, "conn_closed", last=True)
    idle_closed = index.conn_event(conn, "idle_closed", last=True)
    tls, tls_error = _tls(index, conn)

    protocol = as_str(get(got, "protocol"))
    if protocol is None and tls is not None and tls.alpn in ("h2", "http/1.1"):
        protocol = tls.alpn
    opened = start or connected or events[0]
    closed_by = as_str(get(closed, "closed_by"))
    reason = as_str(get(closed, "reason"))
    idle_at_close = None
    if idle_closed is not None and get(idle_closed, "closed_by") == "server":
        idle_at_close = as_float(get(idle_closed, "idle_time_s"))
    return ConnectionRow(
        id=conn,
        protocol=protocol,
        local=as_str(get(connected, "local")),
        remote=as_str(get(connected, "remote")) or as_str(get(start, "addr")),
        tls=tls,
        requests=len(carried),
        opened_at_s=opened.t,
        closed_at_s=closed.t if closed is not None else None,
        closed_by=closed_by,
        close_reason=reason,
        request_indexes=carried,
        idle_time_at_close_s=idle_at_close,
        error=as_str(get(connected, "error")) or _proxy_error(index, conn) or tls_error,
        peak_streams=facts.peak_streams,
        h2=h2_connection(index, conn) if is_h2(index, conn, protocol) else None,
        dial=_dial(start),
        proxy=as_str(get(start, "proxy")),
        tunnel=as_str(get(index.conn_event(conn, "proxy_connect_start"), "target")),
        failed_attempts=_failed_attempts(index, conn),
        tunnel_status=_int(get(index.conn_event(conn, "proxy_connect_done"), "status")),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _failed_attempts(index: EventIndex, conn: int) -> tuple[FailedAttempt, ...]:
    return tuple(
        FailedAttempt(addr=as_str(get(e, "remote")) or "?", error=as_str(get(e, "error")) or "")
        for e in index.by_conn.get(conn, [])
        if e.event == "connect_done" and get(e, "error") is not None
    )


def _connected(index: EventIndex, conn: int) -> Event | None:
    """The address the connection reached: the attempt that connected (a dial tries
    addresses one after another, the other family raced beside them), else the last
    that failed."""
    tried = [e for e in index.by_conn.get(conn, []) if e.event == "connect_done"]
    made = [e for e in tried if get(e, "error") is None]
    attempts = made or tried
    return attempts[-1] if attempts else None


def _proxy_error(index: EventIndex, conn: int) -> str | None:
    """The proxy hop failed: TLS to the proxy, or the CONNECT it refused."""
    for name in ("proxy_tls_done", "proxy_connect_done"):
        error = as_str(get(index.conn_event(conn, name), "error"))
        if error is not None:
            return error
    return None


def _dial(start: Event | None) -> Dial | None:
    """Why the pool dialled it: the first connect_start says (the connection budget)."""
    reason = as_str(get(start, "dial_reason"))
    if reason is None:
        return None
    return Dial(
        reason=reason,
        retry_reason=as_str(get(start, "retry_reason")),
        replaces=as_int(get(start, "replaces")),
        replaced_reason=as_str(get(start, "replaced_reason")),
        replaced_requests=as_int(get(start, "replaced_requests")),
        server_idle_s=as_float(get(start, "server_idle_s")),
    )


def connection_rows(index: EventIndex, facts: RunFacts) -> tuple[ConnectionRow, ...]:
    empty = ConnFacts()
    return tuple(connection_row(index, c, facts.conns.get(c, empty)) for c in sorted(index.by_conn))


def was_opened(row: ConnectionRow) -> bool:
    """A connection that exists: the dial and handshake succeeded."""
    return row.error is None and (row.local is not None or row.requests > 0)


def closed_after_response(index: EventIndex, row: ConnectionRow) -> bool:
    """The server ended the connection as it finished the last request it carried.

    Tells 'server closes after N requests' apart from an idle close (conn_closed carries
    no request) and from a stale connection failing on reuse (the request it carries was
    retried elsewhere, so it is not among those this connection carried).
    """
    if row.closed_by != "server" or not row.request_indexes:
        return False
    closed = index.conn_event(row.id, "conn_closed", last=True)
    return closed is not None and closed.request == row.request_indexes[-1]
