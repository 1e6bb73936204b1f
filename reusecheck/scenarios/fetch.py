"""One request, start to end: the one way reusecheck sends a request and ends it.

The runner (every scenario, the probe) and discover's measurements both send requests
through here, so ``request_done`` has one source: it is emitted from a ``finally``,
whatever ends the request (a response, an error, the deadline, Ctrl-C), which keeps
the event stream's promise that a request's events run from get_conn to request_done.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Final

from reusecheck.net.client_certs import refusal_page
from reusecheck.net.errors import RequestError
from reusecheck.net.redirect import REDIRECTS, Chain, RedirectError, location_of, next_hop
from reusecheck.net.request import Request
from reusecheck.pool import Conn, Pool
from reusecheck.scenarios.deadline import Interruption
from reusecheck.trace import Tracer

BODY_MODES: Final = ("drain", "ignore", "close-early")
_PARTIAL: Final = re.compile(r"^partial:(\d+)$")


def check_body_mode(mode: str) -> str:
    """``drain`` | ``ignore`` | ``close-early`` | ``partial:N``; raises ValueError otherwise."""
    if mode in BODY_MODES or _PARTIAL.match(mode):
        return mode
    raise ValueError(f"response_body {mode!r} is not one of drain, ignore, close-early, partial:N")


def partial_limit(mode: str) -> int | None:
    m = _PARTIAL.match(mode)
    return int(m.group(1)) if m else None


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a request ~1 µs
class Fetched:
    index: int
    conn_id: int | None
    status: int | None
    error: RequestError | None
    conn: Conn | None = None  # the connection that answered
    # Following redirects: the next hop's request and where the chain stands.
    hop: tuple[Request, Chain] | None = None


async def fetch(
    pool: Pool,
    tracer: Tracer,
    req: Request,
    index: int,
    phase: str,
    body: str = "drain",
    *,
    max_drain: int | None = None,
    interruption: Interruption | None = None,
    pacer: Pacer | None = None,
    chain: Chain | None = None,
    redirected_from: int | None = None,
) -> Fetched:
    """Send ``req`` as request ``index``, treat its body as ``body`` says, end it with
    ``request_done`` (``phase`` in it).  Errors are returned, not raised; cancellation
    is raised, after ``request_done`` said it.

    ``chain``: follow redirects (``Fetched.hop`` is the next request, or the error says
    why not); ``redirected_from``: the request whose redirect this one follows."""
    conn: Conn | None = None
    conn_id: int | None = None
    status: int | None = None
    error: RequestError | None = None
    retried = False
    extra: dict[str, Any] = {}
    if redirected_from is not None:
        extra["redirected_from"] = redirected_from
    if pacer is not None:
        wait = pacer.delay()
        if wait > 0:
            await asyncio.sleep(wait)
    try:
        try:
            resp = await pool.round_trip(req, index)
        except RequestError as exc:
            error, retried, conn_id = exc, exc.retried, exc.conn_id
            if exc.not_retried is not None:
                extra["not_retried"] = exc.not_retried
            return Fetched(index, conn_id, None, exc)
        conn, status, retried = resp.conn, resp.status, resp.retried
        conn_id = conn.id
        try:
            if body == "drain":
                await resp.read(max_drain)
                if max_drain is not None and not resp.complete:
                    # Past --max-drain the connection is given up (body-not-drained).
                    extra["max_drain_hit"] = max_drain
                    resp.close()
            elif body == "close-early":
                resp.close()
            elif body.startswith("partial:"):
                await resp.read(partial_limit(body))
                resp.close()
            else:  # "ignore": never read, never closed; the connection stays pinned.
                resp.abandoned = True
        except RequestError as exc:
            exc.on_reused = resp.reused
            error = exc
        if error is None and status == 400:
            refused = refusal_page(status, resp.head)
            if refused is not None:  # nginx's ssl_verify_client: a TLS error in a page
                error = RequestError("tls", refused)
        if error is None and chain is not None:
            location = location_of(resp.headers) if status in REDIRECTS else None
            if location:
                try:
                    hop = next_hop(chain, req, status, location)
                except RedirectError as exc:
                    error = RequestError("redirect", str(exc))
                else:
                    return Fetched(index, conn_id, status, None, conn, hop)
        return Fetched(index, conn_id, status, error, conn)
    except BaseException:
        why = interruption or Interruption()
        error = RequestError(why.kind, why.message)
        raise
    finally:
        tracer.emit(
            "request_done",
            index,
            conn_id,
            status=status,
            error=error.to_dict() if error is not None else None,
            retried=retried,
            phase=phase,
            **extra,
        )


class Pacer:
    """--rate: request starts at least 1/rate apart over the whole run, bursts included."""

    __slots__ = ("_interval", "_next")

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0  # loop time the next request may start at

    def delay(self) -> float:
        """Book the next start; returns how long to wait for it (0: at once)."""
        now = asyncio.get_running_loop().time()
        start = max(now, self._next)
        self._next = start + self._interval
        return start - now
