"""What the record itself says about the run: parts of what the server sent that it
kept only a bounded share of (``record-capped``)."""

from __future__ import annotations

from reusecheck.analysis.events import as_int, get
from reusecheck.analysis.findings import catalogue as cat
from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.findings.context import Context
from reusecheck.analysis.text import listed, plural
from reusecheck.trace.vocab import RECORD_HEADER_BYTES, RECORD_HEADER_PAIRS


def record_capped(ctx: Context) -> Finding | None:
    """Responses whose headers were cut to the record's cap (``headers_omitted``), and
    identical SETTINGS frames counted rather than recorded (``settings_repeated``)."""
    capped = [
        (e.request, n)
        for e in ctx.index.named("response_headers")
        if e.request is not None and (n := as_int(get(e, "headers_omitted"))) is not None and n > 0
    ]
    repeated = [
        (e.conn, n)
        for e in ctx.index.named("conn_closed")
        if e.conn is not None and (n := as_int(get(e, "settings_repeated"))) is not None and n > 0
    ]
    if not capped and not repeated:
        return None
    parts = []
    if capped:
        requests = sorted({r for r, _ in capped})
        most = max(n for _, n in capped)
        k = len(requests)
        parts.append(
            f"{plural(k, 'response')} had more headers than the record keeps "
            f"({RECORD_HEADER_PAIRS} pairs, {RECORD_HEADER_BYTES // 1024} KiB each): up to "
            f"{most} left out (request {listed(requests)})"
        )
    if repeated:
        total = sum(n for _, n in repeated)
        conns = sorted({c for c, _ in repeated})
        parts.append(
            f"{plural(total, 'identical SETTINGS frame')} {'was' if total == 1 else 'were'} "
            f"counted, not recorded (conn {listed(conns)}; one h2_settings per change)"
        )
    return cat.finding(
        "record-capped",
        "; ".join(parts),
        cat.entry("record-capped").remedy,
        requests=sorted({r for r, _ in capped}),
        headers_omitted=[n for _, n in capped],
        header_pairs_kept=RECORD_HEADER_PAIRS,
        header_bytes_kept=RECORD_HEADER_BYTES,
        connections=sorted({c for c, _ in repeated}),
        settings_repeated=[n for _, n in repeated],
    )
