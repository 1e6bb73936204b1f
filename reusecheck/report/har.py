"""The run as an HTTP Archive 1.2 file (``--har``), for browsers' developer tools.

One entry per request: the final attempt of a retried request (the earlier attempts are
told in ``comment``), one page per run.  The HAR fields follow the 1.2 specification
(softwareishard.com/blog/har-12-spec); where the specification leaves a choice open, the
choice is the one Chromium's DevTools exporter makes, because its importer is the one
people open these files with:

- ``httpVersion`` is ``HTTP/1.1`` / ``HTTP/1.0`` and ``http/2.0`` for h2: the importer
  lower-cases the response's version and maps exactly ``http/2.0`` to its ``h2``.
- A request that got no response has ``status`` 0, ``httpVersion`` "" and the error in
  ``response._error`` (where Chromium writes its ``net::ERR_*``), as Chromium exports a
  failed request.  ``send``, ``wait`` and ``receive`` are required numbers, never -1.
- ``connect`` includes ``ssl`` (HAR 1.2: "ssl ... included in connect"), and ``time`` is
  the sum of the phases other than ``ssl``; the importer subtracts ``ssl`` back out.
- ``dns``, ``connect`` and ``ssl`` are -1 when the request did not dial the connection
  it used (reused, or handed one by another request: docs/design.md "The pool, as
  built"); ``blocked`` is the rest of the wait from get_conn to got_conn.

Custom fields (HAR allows names starting with ``_``) carry what HAR has no word for:
``_index``, ``_phase``, ``_reused``, ``_wasIdle``, ``_idleTime`` (ms), ``_streamId``,
``_retried``; ``connection`` (and Chromium's ``_connectionId``) is the connection id,
``_resourceType`` "fetch" files the entries under Fetch/XHR.  Headers and URLs pass
through ``reusecheck.trace.redact`` unless ``reveal``; so do URL-valued headers (Location).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qsl

from reusecheck import __version__
from reusecheck.analysis.events import Attempt, split_attempts
from reusecheck.analysis.fold.requests import Open, Requests
from reusecheck.analysis.model import Analysis, ConnectionRow, RequestRow
from reusecheck.report import jsonfast
from reusecheck.trace import Event
from reusecheck.trace.redact import redact_headers, redact_url

HAR_VERSION: Final = "1.2"

Document = dict[str, Any]

# got_conn's protocol / response_headers' http_version -> HAR httpVersion, as Chromium
# writes them (NetworkRequest.filteredProtocolName: h2 -> "http/2.0").
_REQUEST_VERSIONS: Final = {"http/1.1": "HTTP/1.1", "h2": "http/2.0"}
_RESPONSE_VERSIONS: Final = {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "http/2.0"}


class Run(NamedTuple):
    """One probe for ``to_har_runs``: its analysis, its events (read once, in order),
    its wall-clock start."""

    analysis: Analysis
    events: Iterable[Event]
    started_at: datetime


def to_har(
    analysis: Analysis,
    events: Iterable[Event],
    *,
    started_at: datetime,
    reveal: bool = False,
) -> Document:
    """The HAR document of one run.

    ``events`` is the run's record (``Recorder.events``, unredacted: redaction happens
    here); ``started_at`` is the wall-clock time of the run's clock zero, because events
    carry seconds since then.  A naive datetime is taken as local time.
    """
    return to_har_runs([Run(analysis, events, started_at)], reveal=reveal)


def to_har_runs(
    runs: Iterable[Run | tuple[Analysis, Iterable[Event], datetime]], *, reveal: bool = False
) -> Document:
    """One HAR document for several runs (several targets): a page per run."""
    doc: Document = json.loads("".join(document_chunks(runs, reveal=reveal)))
    return doc


def document_chunks(
    runs: Iterable[Run | tuple[Analysis, Iterable[Event], datetime]], *, reveal: bool = False
) -> Iterator[str]:
    """The HAR document as indented JSON text, an entry at a time: each run's events are
    read once, in order, and each request's entry is written when its events are all
    in, so a run of any length is written without holding its entries.

    Connection ids restart at 1 in every run, so with more than one run ``connection``
    is ``"<run>:<conn>"`` (run counted from 1) to stay unique in the log, as HAR asks.
    Entries come in the order their requests finished.
    """
    given = [Run(*r) for r in runs]
    many = len(given) > 1
    head: Document = {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "reusecheck", "version": __version__},
            "pages": [_page(run, f"run_{n}", reveal) for n, run in enumerate(given, start=1)],
            "entries": [],
        }
    }
    text = jsonfast.encode(head, ensure_ascii=False)
    before, after = text.split(_ENTRIES, 1)
    yield before
    first = True
    for number, run in enumerate(given, start=1):
        prefix = f"{number}:" if many else ""
        for entry in entries(run, f"run_{number}", prefix, reveal):
            body = jsonfast.encode(entry, 3, ensure_ascii=False)
            yield ('\n    "entries": [\n      ' if first else ",\n      ") + body
            first = False
    yield _ENTRIES if first else "\n    ]"
    yield after


_ENTRIES: Final = '\n    "entries": []'


def dumps(
    analysis: Analysis,
    events: Iterable[Event],
    *,
    started_at: datetime,
    reveal: bool = False,
    indent: int | None = 2,
) -> str:
    """The HAR of one run as JSON text; write it UTF-8 encoded (HAR 1.2 requires it)."""
    if indent == 2:
        return "".join(document_chunks([Run(analysis, events, started_at)], reveal=reveal))
    har = to_har(analysis, events, started_at=started_at, reveal=reveal)
    return json.dumps(har, indent=indent, ensure_ascii=False)


# --- pieces ------------------------------------------------------------------------------


def _wall(started_at: datetime, t: float) -> str:
    """ISO 8601 in UTC with milliseconds, as JavaScript's ``Date.toJSON`` writes it."""
    when = started_at.astimezone(UTC) + timedelta(seconds=t)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(seconds: float) -> float:
    return round(max(0.0, seconds) * 1000.0, 3)


def _page(run: Run, page_id: str, reveal: bool) -> Document:
    a = run.analysis
    s = a.summary
    verdict = "OK" if a.verdict.ok else ("ERROR" if a.error else "FAILED")
    comment = (
        f"reusecheck: {verdict} · reuse {a.verdict.reuse} · {s.reused}/{s.requests} reused · "
        f"{s.connections_opened} connection{'' if s.connections_opened == 1 else 's'} opened"
    )
    if a.error is not None:
        comment += f" · {a.error.kind}: {a.error.message}"
    return {
        "startedDateTime": _wall(run.started_at, 0.0),
        "id": page_id,
        "title": redact_url(a.target, reveal),
        # A probe is not a page load: -1 is HAR's "does not apply".
        "pageTimings": {"onContentLoad": -1, "onLoad": -1},
        "comment": comment,
    }


def entries(run: Run, page_id: str, prefix: str, reveal: bool) -> Iterator[Document]:
    """The run's entries as its requests finish, from its events read once."""
    conns = {c.id: c for c in run.analysis.connections}
    finished: list[Document] = []

    def final(row: RequestRow, req: Open) -> None:
        attempts = split_attempts(req.events)
        if attempts and attempts[-1].events:
            finished.append(_entry(row, attempts, conns, run.started_at, page_id, prefix, reveal))

    requests = Requests(lambda row, req: None, final)
    for e in run.events:
        requests.feed(e)
        if finished:
            yield from finished
            finished.clear()
    requests.finish()
    yield from finished


def _entry(
    row: RequestRow,
    attempts: Sequence[Attempt],
    conns: Mapping[int, ConnectionRow],
    started_at: datetime,
    page_id: str,
    prefix: str,
    reveal: bool,
) -> Document:
    final = attempts[-1]
    start = final.first("get_conn") or final.events[0]
    timings, total = _timings(final)
    conn_id = _conn_id(final)
    entry: Document = {
        "pageref": page_id,
        "startedDateTime": _wall(started_at, start.t),
        "time": total,
        "request": _request(row, final, reveal),
        "response": _response(row, final, reveal),
        "cache": {},
        "timings": timings,
    }
    ip = _server_ip(conns.get(conn_id) if conn_id is not None else None, final)
    if ip is not None:
        entry["serverIPAddress"] = ip
    if conn_id is not None:
        entry["connection"] = f"{prefix}{conn_id}"
        # Chromium's DevTools (checked with 156) fills its "Connection ID" column from
        # _connectionId and reads ``connection`` as the server's port, which HAR 1.2
        # also allows; the id in both keeps the column right.
        entry["_connectionId"] = entry["connection"]
    comment = _comment(row, attempts)
    if comment:
        entry["comment"] = comment
    entry.update(
        {
            "_index": row.index,
            "_phase": row.phase,
            "_reused": row.reused,
            "_wasIdle": row.was_idle,
            "_idleTime": _ms(row.idle_time_s),
            "_streamId": row.stream_id,
            "_retried": row.retried,
            # Chromium files entries by this; without it a probe of "/" looks like a page.
            "_resourceType": "fetch",
        }
    )
    return entry


def _conn_id(attempt: Attempt) -> int | None:
    got = attempt.first("got_conn")
    if got is not None:
        return got.conn
    dial = attempt.first("connect_start")
    return dial.conn if dial is not None else None


def _span(a: Event | None, b: Event | None, end: float) -> float | None:
    """Seconds from ``a`` to ``b`` (to ``end`` when ``b`` never came); None without ``a``."""
    if a is None:
        return None
    return max(0.0, (b.t if b is not None else end) - a.t)


def _timings(attempt: Attempt) -> tuple[Document, float]:
    """HAR timings in ms and the entry's ``time`` (their sum, ``ssl`` counted in connect).

    Each phase runs from one milestone to the next; a milestone that never came (the
    request failed there) ends the phase at the attempt's end, so ``time`` is always
    what the request took up to its body or its failure.
    """
    events = attempt.events
    done = attempt.last("request_done")
    end = done.t if done is not None else events[-1].t
    start = attempt.first("get_conn") or events[0]
    got = attempt.first("got_conn")
    conn = got.conn if got is not None else None
    # Only a dial this attempt made for the connection it used counts (the pool may hand
    # over another connection while the dial goes on to the idle list).
    own = got is None or any(e.event == "connect_start" and e.conn == conn for e in events)

    def mine(name: str, last: bool = False) -> Event | None:
        found = [e for e in events if e.event == name and (got is None or e.conn in (conn, None))]
        if not found:
            return None
        return found[-1] if last else found[0]

    dns = connect = ssl = None
    if own:
        dns = _span(mine("dns_start"), mine("dns_done", last=True), end)
        tls_done = mine("tls_done", last=True)
        connect = _span(mine("connect_start"), tls_done or mine("connect_done", last=True), end)
        ssl = _span(mine("tls_start"), tls_done, end)
    ready = got.t if got is not None else end
    blocked = max(0.0, ready - start.t - (dns or 0.0) - (connect or 0.0))
    wrote = attempt.last("wrote_request") or attempt.last("wrote_headers")
    first_byte = attempt.first("got_first_byte")
    body = attempt.last("body_done")
    send = _span(got, wrote, end) or 0.0
    wait = _span(wrote, first_byte, end) or 0.0
    receive = _span(first_byte, body, end) or 0.0
    timings = {
        "blocked": _ms(blocked),
        "dns": -1 if dns is None else _ms(dns),
        "connect": -1 if connect is None else _ms(connect),
        "ssl": -1 if ssl is None else _ms(ssl),
        "send": _ms(send),
        "wait": _ms(wait),
        "receive": _ms(receive),
    }
    total = sum(v for k, v in timings.items() if k != "ssl" and v > 0)
    return timings, round(total, 3)


# Headers whose value is a URL: a signed redirect carries its credential in the query.
_URL_HEADERS: Final = frozenset({"location", "content-location", "referer"})


def _pairs(pairs: Any, reveal: bool) -> list[Document]:
    if not isinstance(pairs, list):
        return []
    return [
        {"name": n, "value": redact_url(v, reveal) if n.lower() in _URL_HEADERS else v}
        for n, v in redact_headers(pairs, reveal)
    ]


def _header(pairs: Any, name: str) -> str | None:
    if isinstance(pairs, list):
        for pair in pairs:
            if str(pair[0]).lower() == name:
                return str(pair[1])
    return None


def _request(row: RequestRow, attempt: Attempt, reveal: bool) -> Document:
    get_conn = attempt.first("get_conn")
    url = row.url or (str(get_conn.fields.get("url", "")) if get_conn else "")
    url = redact_url(url, reveal)
    written = attempt.last("wrote_headers")
    pairs = written.fields.get("headers") if written is not None else None
    length = _header(pairs, "content-length")
    return {
        "method": row.method or "GET",
        "url": url,
        "httpVersion": _REQUEST_VERSIONS.get(row.protocol or "", ""),
        "cookies": [],
        "headers": _pairs(pairs, reveal),
        "queryString": [{"name": n, "value": v} for n, v in parse_qsl(_query(url), True)],
        # HTTP/1.1 header bytes are not traced apart from the body, h2's are compressed.
        "headersSize": -1,
        "bodySize": int(length) if length is not None and length.isdigit() else 0,
    }


def _query(url: str) -> str:
    """The query by hand: a redacted password (``user:[redacted]@``) reads as a broken
    IPv6 literal to ``urlsplit``, which then refuses the whole URL."""
    return url.partition("#")[0].partition("?")[2]


def _response(row: RequestRow, attempt: Attempt, reveal: bool) -> Document:
    head = attempt.first("response_headers")
    body = attempt.last("body_done")
    pairs = head.fields.get("headers") if head is not None else None
    status = head.fields.get("status") if head is not None else row.status
    version = str(head.fields.get("http_version", "")) if head is not None else ""
    received = body.fields.get("bytes") if body is not None else None
    size = received if isinstance(received, int) else 0
    location = _header(pairs, "location")
    response: Document = {
        "status": status if isinstance(status, int) else 0,
        "statusText": _status_text(status, version),
        "httpVersion": _RESPONSE_VERSIONS.get(version, version),
        "cookies": [],
        "headers": _pairs(pairs, reveal),
        "content": {"size": size, "mimeType": _header(pairs, "content-type") or "x-unknown"},
        "redirectURL": redact_url(location, reveal) if location else "",
        "headersSize": -1,
        "bodySize": size if head is not None else -1,
    }
    if row.error is not None:
        response["_error"] = f"{row.error.kind}: {row.error.message}"
    return response


def _status_text(status: Any, version: str) -> str:
    """The standard reason phrase: the trace does not keep the server's, and HTTP/2 has
    none at all (RFC 9113 section 8.3.2), so h2 responses get "" as in Chromium."""
    if not isinstance(status, int) or version == "2":
        return ""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _server_ip(conn: ConnectionRow | None, attempt: Attempt) -> str | None:
    """The remote address without port; IPv6 without brackets (RFC 4291 text form)."""
    remote = conn.remote if conn is not None else None
    if remote is None:
        dial = attempt.last("connect_done") or attempt.last("connect_start")
        if dial is not None:
            value = dial.fields.get("remote") or dial.fields.get("addr")
            remote = value if isinstance(value, str) else None
    if not remote:
        return None
    host = remote.rpartition(":")[0] if ":" in remote else remote
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _comment(row: RequestRow, attempts: Sequence[Attempt]) -> str:
    notes = []
    for number, attempt in enumerate(attempts[:-1], start=1):
        retry = attempt.retry
        if retry is None:
            continue
        reason = retry.fields["reason"]
        error = retry.fields.get("error") or "failed"
        notes.append(
            f"attempt {number} on connection {retry.conn} failed ({reason}: {error}); "
            f"retried as attempt {number + 1}"
        )
    if row.error is not None:
        notes.append(f"failed: {row.error.kind}: {row.error.message}")
    return "; ".join(notes)
