"""The upstream leg: each client request forwarded through reusecheck's own pool, so
the upstream's side is recorded with the usual events (``--events``) and analysed as a
probe would be.

The pool speaks HTTP/1.1 to the upstream (ALPN http/1.1): its body reads are bounded
(``Response.read(limit)``), which gives the client's pace to the upstream, so a large
body streams through in ``CHUNK`` pieces instead of being held.  Request bodies are
buffered (the handler bounds them, ``ObserveConfig.max_request_body``).  A request the
upstream cannot answer is answered 502 with the error's one line.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from reusecheck.net.errors import RequestError
from reusecheck.net.request import Request
from reusecheck.observe.answer import CHUNK, HOP_BY_HOP, Incoming, Responder
from reusecheck.observe.wire import Stalled
from reusecheck.pool import Pool
from reusecheck.trace import Tracer

PHASE: Final = "upstream"
# Not forwarded besides the hop-by-hop ones: the pool sets Host (the upstream's) and
# Content-Length (from the buffered body).
_DROPPED: Final = HOP_BY_HOP | {b"host", b"content-length"}


def upstream_url(base: str, target: str) -> str:
    """The upstream URL for a client's request target: the base's path prefixed."""
    parts = urlsplit(base)
    prefix = parts.path.rstrip("/")
    path = target if target.startswith("/") else "/" + target
    return f"{parts.scheme}://{parts.netloc}{prefix}{path}"


class Forwarder:
    """Answers a client's request with the upstream's response."""

    def __init__(self, base: str, pool: Pool, tracer: Tracer) -> None:
        self._base = base
        self._pool = pool
        self._tracer = tracer

    async def answer(self, req: Incoming, out: Responder) -> None:
        headers = [
            (n.decode("latin-1"), v.decode("latin-1"))
            for n, v in req.headers
            if n.lower() not in _DROPPED
        ]
        conn_id: int | None = None
        status: int | None = None
        error: RequestError | None = None
        retried = False
        extra: dict[str, Any] = {}
        try:
            try:
                request = Request(
                    req.method,
                    upstream_url(self._base, req.target),
                    headers,
                    req.body if req.body or req.method not in ("GET", "HEAD") else None,
                )
                resp = await self._pool.round_trip(request, req.index)
            except (RequestError, ValueError) as exc:
                error = exc if isinstance(exc, RequestError) else RequestError("protocol", str(exc))
                conn_id = getattr(exc, "conn_id", None)
                await _bad_gateway(out, error)
                return
            conn_id, status, retried = resp.conn.id, resp.status, resp.retried
            sink: list[bytes] = []
            resp.sink = sink
            try:
                await out.head(status, list(resp.headers))
                while not resp.complete:
                    await resp.read(CHUNK)
                    for chunk in sink:
                        await out.body(chunk)
                    sink.clear()
                await out.end()
            except RequestError as exc:
                # Mid-body: the client's response cannot be completed; a proxy drops
                # the client's connection so the client sees a truncated response.
                error = exc
                raise Stalled("upstream-error") from None
            finally:
                if not resp.complete:
                    resp.close()  # the client left, or the upstream failed mid-body
        finally:
            self._tracer.emit(
                "request_done",
                req.index,
                conn_id,
                status=status,
                error=error.to_dict() if error is not None else None,
                retried=retried,
                phase=PHASE,
                **extra,
            )

    async def close(self) -> None:
        await self._pool.close()


async def _bad_gateway(out: Responder, error: RequestError) -> None:
    text = f"reusecheck observe: the upstream failed: {error.kind}: {error.message}\n".encode(
        "utf-8", "replace"
    )
    await out.head(
        502,
        [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(text))],
    )
    await out.body(text)
    await out.end()
