"""TLS handshakes in a record and the ``tls-no-resumption`` detector: pure, no I/O.

Apart from the TLS check so the analysis can use it on any record, a probe's too:
``tls_no_resumption(handshakes(events))``.  A session counts as offered when the dial's
``tls_start.session_offered`` says so; records from before that field existed count
every handshake after the first, which is what the pool does with resumption on.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from reusecheck import findings as cat
from reusecheck.analysis.events import as_float, get
from reusecheck.discover.model import TlsHandshake
from reusecheck.findings import Finding
from reusecheck.trace import Event


def handshakes(events: Sequence[Event]) -> list[TlsHandshake]:
    """Every completed TLS handshake in the record, in dial order.

    Records without ``session_offered`` (older ones) count every handshake after the
    first as offered, which is what the pool does with resumption on.
    """
    starts: dict[int, Event] = {}
    found: list[TlsHandshake] = []
    for e in events:
        if e.conn is None:
            continue
        if e.event == "tls_start":
            starts[e.conn] = e
        elif e.event == "tls_done" and e.conn in starts and get(e, "error") is None:
            start = starts[e.conn]
            offered = get(start, "session_offered")
            found.append(
                TlsHandshake(
                    conn_id=e.conn,
                    offered=bool(offered) if offered is not None else bool(found),
                    resumed=bool(get(e, "resumed")),
                    handshake_s=round(e.t - start.t, 6),
                    version=get(e, "version"),
                )
            )
    return found


def tls_no_resumption(shakes: Sequence[TlsHandshake]) -> Finding | None:
    """``tls-no-resumption``: sessions were offered on new connections and none was
    resumed.  Works on any record (``handshakes(events)``), a probe's too."""
    offered = [h for h in shakes if h.offered]
    if not offered or any(h.resumed for h in offered):
        return None
    times = [h.handshake_s for h in shakes if h.handshake_s is not None]
    avg = f"; each a full handshake of {statistics.median(times) * 1000:.1f} ms" if times else ""
    version = next((h.version for h in shakes if h.version), None)
    n = len(offered)
    message = (
        f"server resumed none of {n} TLS session{'s' if n != 1 else ''} offered on new "
        f"connections ({version or 'TLS'}){avg}"
    )
    return cat.finding(
        "tls-no-resumption",
        message,
        cat.entry("tls-no-resumption").remedy,
        connections=[h.conn_id for h in offered],
        handshake_s=[as_float(h.handshake_s) for h in shakes],
        version=version,
    )
