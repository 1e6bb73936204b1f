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

from reusecheck.net.errors import RequestError
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


@dataclass(frozen=True, slots=True)
class Fetched:
    index: int
    conn_id: int | None
    status: int | None
    error: RequestError | None
    conn: Conn | None = None  # the connection that answered


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
) -> Fetched:
    """Send ``req`` as request ``index``, treat its body as ``body`` says, end it with
    ``request_done`` (``phase`` in it).  Errors are returned, not raised; cancellation
    is raised, after ``request_done`` said it."""
    conn: Conn | None = None
    conn_id: int | None = None
    status: int | None = None
    error: RequestError | None = None
    retried = False
    extra: dict[str, Any] = {}
    try:
        try:
            resp = await pool.round_trip(req, index)
        except RequestError as exc:
            error, retried, conn_id = exc, exc.retried, exc.conn_id
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
            # "ignore": never read, never closed; the connection stays pinned.
        except RequestError as exc:
            exc.on_reused = resp.reused
            error = exc
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


async def paced(next_start: list[float], rate: float | None) -> None:
    """--rate: request starts at least 1/rate apart, bursts included.  ``next_start``
    holds the loop time the next request may start at, shared by all requests."""
    if not rate:
        return
    loop = asyncio.get_running_loop()
    now = loop.time()
    start = max(now, next_start[0])
    next_start[0] = start + 1.0 / rate
    if start > now:
        await asyncio.sleep(start - now)
