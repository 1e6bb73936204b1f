"""TLS: sessions offered on new connections and none resumed."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from reusecheck.analysis.events import as_float
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.limits.model import TlsHandshake
from reusecheck.analysis.text import plural


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
        f"server resumed none of {plural(n, 'TLS session')} offered on new "
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
