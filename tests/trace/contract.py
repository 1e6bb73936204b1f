"""The event stream's contract (docs/design.md, "Event fields"), checked over one run.

The promise is OkHttp's EventListener one: whatever ends a run (a response, an error, a
timeout, ``--deadline``, Ctrl-C), the stream a tool reads is whole. ``violations`` reads
the parsed NDJSON lines of one ``--events`` stream, in the order they were written, and
says in plain words where the stream breaks a rule; an empty list means it holds.

The rules, each reported with the 1-based line that shows the break:

1. Spans. Every ``dns_start``, ``connect_start``, ``tls_start``, ``proxy_tls_start``
   and ``proxy_connect_start`` has its matching ``*_done`` later in the stream, with
   the same ``request`` and ``conn`` (``conn`` is ``null`` for DNS), and no ``*_done``
   comes without its start. A failed step's ``*_done`` carries ``error``; one without
   ``error`` shows the step's success (``dns_done.addrs`` not empty,
   ``connect_done.local``, ``tls_done.version``, ``proxy_connect_done.status``). A
   connection whose TLS or proxy step failed, or none of whose addresses connected
   (one refused before another connected is a dial going on), carries no request (no
   ``got_conn``).
2. Requests. Every request index's events start with ``get_conn``, and the index has
   exactly one ``request_done``. After it, no request-path event (``get_conn``,
   ``got_conn``, ``wrote_headers``, ``wrote_request``, ``got_first_byte``,
   ``response_headers``, ``body_done``, ``retry``) appears for the index. A dial or
   connection the request started may still end after it (``dns_done``, ``tls_done``,
   ``conn_closed``), and the only ``put_idle`` that may follow is the pool giving up a
   body never read (``reason: body-not-drained``, when the pool closes).
3. Retries. A ``retry`` is followed by a new ``get_conn`` for the same index, before
   that index's ``request_done``.
4. Connections. Every connection whose ``connect_done`` succeeded ends with exactly one
   ``conn_closed``; no connection is closed twice, and nothing of a connection follows
   its ``conn_closed``. ``request_done`` and ``retry`` are the request's, not the
   connection's: they name the connection the attempt used, which may be closed already
   (``Connection: close``, a stale reuse), so they may follow it.
5. Time. Every line has ``t``, ``event``, ``request`` and ``conn``; ``event`` is one of
   the documented names and ``t`` (seconds from one monotonic clock) never goes back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Final

from reusecheck.trace import vocab

EVENT_NAMES: Final = frozenset(vocab.EVENT_NAMES)
SPANS: Final = ("dns", "connect", "tls", "proxy_tls", "proxy_connect")
# The field a successful *_done shows (rule 1): the step's result.
SUCCESS_FIELD: Final = {
    "dns_done": "addrs",
    "connect_done": "local",
    "tls_done": "version",
    "proxy_tls_done": "version",
    "proxy_connect_done": "status",
}
# What a request does on its own behalf; none of it may follow its request_done (rule 2).
REQUEST_PATH: Final = frozenset(
    {
        "get_conn",
        "got_conn",
        "wrote_headers",
        "wrote_request",
        "got_first_byte",
        "response_headers",
        "body_done",
        "retry",
    }
)
# Request events that name the connection the attempt used, closed or not (rule 4).
REQUEST_ENDINGS: Final = frozenset({"request_done", "retry"})

Line = Mapping[str, Any]


def violations(lines: Iterable[Line]) -> list[str]:
    """Every break of the contract in one run's event lines; empty when it holds."""
    events = list(lines)
    found: list[str] = []
    found += _shape_and_time(events)
    found += _spans(events)
    found += _requests(events)
    found += _connections(events)
    return found


def _where(n: int, e: Line) -> str:
    return f"line {n + 1} ({e.get('event')}, request {e.get('request')}, conn {e.get('conn')})"


def _failed(e: Line) -> bool:
    return e.get("error") not in (None, "", {})


def _shape_and_time(events: list[Line]) -> list[str]:
    found = []
    last_t = float("-inf")
    for n, e in enumerate(events):
        missing = [k for k in ("t", "event", "request", "conn") if k not in e]
        if missing:
            found.append(f"{_where(n, e)}: missing {', '.join(missing)}")
        if e.get("event") not in EVENT_NAMES:
            found.append(f"{_where(n, e)}: unknown event name")
        t = e.get("t")
        if isinstance(t, int | float):
            if t < last_t:
                found.append(f"{_where(n, e)}: t={t} goes back from t={last_t}")
            last_t = max(last_t, t)
    return found


def _spans(events: list[Line]) -> list[str]:
    found = []
    # (span, request, conn) -> lines of starts still waiting for their done
    open_spans: dict[tuple[str, Any, Any], list[int]] = defaultdict(list)
    failed_conns: dict[Any, int] = {}  # a TLS or proxy step failed
    failed_connects: dict[Any, int] = {}  # an address failed
    connected: set[Any] = set()  # an address connected
    for n, e in enumerate(events):
        name = str(e.get("event"))
        span, _, edge = name.rpartition("_")
        if span in SPANS and edge == "start":
            open_spans[(span, e.get("request"), e.get("conn"))].append(n)
        elif span in SPANS and edge == "done":
            waiting = open_spans[(span, e.get("request"), e.get("conn"))]
            if not waiting:
                found.append(f"{_where(n, e)}: {name} without a {span}_start before it")
            else:
                waiting.pop(0)
            if _failed(e):
                if span != "dns" and e.get("conn") is not None:
                    failed = failed_connects if span == "connect" else failed_conns
                    failed.setdefault(e.get("conn"), n)
            elif span == "connect":
                # A dial tries address after address (the other family raced): one that
                # connected makes the others' failures no failure of the connection.
                connected.add(e.get("conn"))
            elif not e.get(SUCCESS_FIELD[name]):
                found.append(f"{_where(n, e)}: {name} has neither error nor {SUCCESS_FIELD[name]}")
        elif name == "got_conn" and e.get("conn") in failed_connects | failed_conns.keys():
            conn = e.get("conn")
            if conn in connected and conn not in failed_conns:
                continue
            at = failed_conns.get(conn, failed_connects.get(conn, 0))
            found.append(
                f"{_where(n, e)}: got_conn on a connection whose dial failed (line {at + 1})"
            )
    for (span, request, conn), waiting in open_spans.items():
        for n in waiting:
            found.append(
                f"line {n + 1} ({span}_start, request {request}, conn {conn}): "
                f"no {span}_done follows"
            )
    return found


def _requests(events: list[Line]) -> list[str]:
    found = []
    seen: set[Any] = set()
    done_at: dict[Any, int] = {}
    retry_at: dict[Any, int] = {}  # index -> line of a retry not yet followed by get_conn
    for n, e in enumerate(events):
        index, name = e.get("request"), e.get("event")
        if index is None:
            continue
        if index not in seen:
            seen.add(index)
            if name != "get_conn":
                found.append(f"{_where(n, e)}: request {index}'s first event is not get_conn")
        if name == "request_done":
            if index in done_at:
                found.append(
                    f"{_where(n, e)}: a second request_done (first on line {done_at[index] + 1})"
                )
            else:
                done_at[index] = n
            if index in retry_at:
                found.append(
                    f"{_where(n, e)}: request_done after the retry on line "
                    f"{retry_at.pop(index) + 1} with no get_conn between them"
                )
        elif name in REQUEST_PATH and index in done_at:
            found.append(
                f"{_where(n, e)}: {name} after request {index}'s request_done "
                f"(line {done_at[index] + 1})"
            )
        elif name == "put_idle" and index in done_at and e.get("reason") != "body-not-drained":
            found.append(
                f"{_where(n, e)}: put_idle after request {index}'s request_done without "
                f"body-not-drained (line {done_at[index] + 1})"
            )
        if name == "retry":
            retry_at[index] = n
        elif name == "get_conn":
            retry_at.pop(index, None)
    for index, n in retry_at.items():
        found.append(f"line {n + 1} (retry, request {index}): no get_conn follows")
    for index in sorted(seen - done_at.keys(), key=str):
        found.append(f"request {index}: no request_done")
    return found


def _connections(events: list[Line]) -> list[str]:
    found = []
    opened: dict[Any, int] = {}  # conn -> line of its successful connect_done
    closed_at: dict[Any, int] = {}
    reported_after: set[Any] = set()  # one line per connection is enough to find it
    for n, e in enumerate(events):
        conn, name = e.get("conn"), e.get("event")
        if conn is None or name in REQUEST_ENDINGS:
            continue
        if conn in closed_at:
            first = closed_at[conn] + 1
            if name == "conn_closed":
                found.append(f"{_where(n, e)}: conn {conn} closed again (first on line {first})")
            elif conn not in reported_after:
                found.append(
                    f"{_where(n, e)}: {name} after conn {conn}'s conn_closed (line {first})"
                )
                reported_after.add(conn)
        if name == "connect_done" and not _failed(e):
            opened.setdefault(conn, n)
        elif name == "conn_closed":
            closed_at.setdefault(conn, n)
    for conn, n in opened.items():
        if conn not in closed_at:
            found.append(f"conn {conn} (connected on line {n + 1}): no conn_closed")
    return found
