"""One request row of the JSON report as text, written as the request finishes.

The report lists every request; a run of a million requests must not hold a million
rows to write them at the end.  So each row is encoded once, when its request is final,
and the document splices the texts in (``report.json.write_document``).  The text is
exactly what ``json.dumps(document, indent=2)`` writes for that row inside the
``requests`` array (``tests/report/test_rowjson.py`` compares them over every recorded
run), built field by field with the C string escape ``json`` uses: a few microseconds a
row instead of a walk through ``json``'s Python encoder.
"""

from __future__ import annotations

import json.encoder
import math
from collections.abc import Callable
from typing import Any, Final

from reusecheck.analysis.model import KeepAliveHint, RequestRow, RunError, Timings
from reusecheck.trace.redact import redact_url

_ASCII: Callable[[str], str] = json.encoder.encode_basestring_ascii
_UNICODE: Callable[[str], str] = json.encoder.encode_basestring
_K: Final = "\n      "  # a row's keys: the document's level 3 (requests -> [ -> {)
_N: Final = "\n        "  # a nested object's keys, one level deeper
_END: Final = "\n    }"
_NEST_END: Final = "\n      }"


def _s(value: str | None, esc: Callable[[str], str]) -> str:
    return "null" if value is None else esc(value)


def _i(value: int | None) -> str:
    return "null" if value is None else int.__repr__(value)


def _b(value: bool) -> str:
    return "true" if value else "false"


def _t(value: float | None) -> str:
    """Seconds to the microsecond, as report.json's ``_t`` then ``json`` write them."""
    if value is None or not math.isfinite(value):
        return "null"
    return float.__repr__(round(value, 6))


def _f(value: float | None) -> str:
    """A finite number as it is (``report.json.finite``)."""
    if value is None or not math.isfinite(value):
        return "null"
    return float.__repr__(float(value)) if isinstance(value, float) else int.__repr__(value)


def _timings(t: Timings) -> str:
    return (
        f'{{{_N}"dns": {_t(t.dns)},{_N}"connect": {_t(t.connect)},{_N}"tls": {_t(t.tls)},'
        f'{_N}"wait": {_t(t.wait)},{_N}"total": {_t(t.total)},{_N}"proxy": {_t(t.proxy)}'
        f"{_NEST_END}"
    )


def _hint(h: KeepAliveHint | None) -> str:
    if h is None:
        return "null"
    return f'{{{_N}"timeout_s": {_f(h.timeout_s)},{_N}"max": {_i(h.max)}{_NEST_END}'


def _error(e: RunError | None, esc: Callable[[str], str]) -> str:
    if e is None:
        return "null"
    return f'{{{_N}"kind": {esc(e.kind)},{_N}"message": {esc(e.message)}{_NEST_END}'


_last_url: list[tuple[str, bool, str]] = []  # the URL last redacted: rows share theirs


def _url(url: str | None, reveal: bool) -> str | None:
    if url is None:
        return None
    if _last_url and _last_url[0][0] == url and _last_url[0][1] == reveal:
        return _last_url[0][2]
    redacted = redact_url(url, reveal)
    _last_url[:] = [(url, reveal, redacted)]
    return redacted


def request_fragment(r: RequestRow, *, reveal: bool = False, ensure_ascii: bool = True) -> str:
    """The row's JSON text, as it sits in the report's ``requests`` array."""
    esc = _ASCII if ensure_ascii else _UNICODE
    url = _url(r.url, reveal)
    return (
        f'{{{_K}"index": {int.__repr__(r.index)},{_K}"phase": {_s(r.phase, esc)},'
        f'{_K}"method": {_s(r.method, esc)},{_K}"url": {_s(url, esc)},'
        f'{_K}"status": {_i(r.status)},{_K}"protocol": {_s(r.protocol, esc)},'
        f'{_K}"conn_id": {_i(r.conn_id)},{_K}"stream_id": {_i(r.stream_id)},'
        f'{_K}"reused": {_b(r.reused)},{_K}"was_idle": {_b(r.was_idle)},'
        f'{_K}"idle_time_s": {_t(r.idle_time_s)},{_K}"retried": {_b(r.retried)},'
        f'{_K}"timings_s": {_timings(r.timings_s)},'
        f'{_K}"response_connection": {_s(r.response_connection, esc)},'
        f'{_K}"keep_alive": {_hint(r.keep_alive)},{_K}"error": {_error(r.error, esc)},'
        f'{_K}"http_version": {_s(r.http_version, esc)},'
        f'{_K}"started_at_s": {_t(r.started_at_s)},{_K}"ended_at_s": {_t(r.ended_at_s)},'
        f'{_K}"got_conn_at_s": {_t(r.got_conn_at_s)},'
        f'{_K}"released_at_s": {_t(r.released_at_s)},'
        f'{_K}"body_head": {_s(r.body_head, esc)},'
        f'{_K}"not_retried": {_s(r.not_retried, esc)},'
        f'{_K}"redirected_from": {_i(r.redirected_from)}{_END}'
    )


def row_from_document(d: dict[str, Any]) -> RequestRow:
    """A row back from its JSON (times to the microsecond, the URL as written): what a
    renderer reads of a row the run wrote out as it finished."""
    t = d["timings_s"]
    hint = d.get("keep_alive")
    error = d.get("error")
    return RequestRow(
        index=d["index"],
        phase=d["phase"],
        method=d["method"],
        url=d["url"],
        status=d["status"],
        protocol=d["protocol"],
        conn_id=d["conn_id"],
        stream_id=d["stream_id"],
        reused=d["reused"],
        was_idle=d["was_idle"],
        idle_time_s=d["idle_time_s"] or 0.0,
        retried=d["retried"],
        timings_s=Timings(
            t["dns"], t["connect"], t["tls"], t["wait"], t["total"], proxy=t.get("proxy")
        ),
        response_connection=d["response_connection"],
        keep_alive=KeepAliveHint(hint["timeout_s"], hint["max"]) if hint else None,
        error=RunError(error["kind"], error["message"]) if error else None,
        http_version=d["http_version"],
        started_at_s=d["started_at_s"] or 0.0,
        ended_at_s=d["ended_at_s"],
        got_conn_at_s=d["got_conn_at_s"],
        released_at_s=d["released_at_s"],
        body_head=d.get("body_head"),
        not_retried=d.get("not_retried"),
        redirected_from=d.get("redirected_from"),
    )
