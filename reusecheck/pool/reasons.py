"""Why the pool dials: the facts behind the connection budget, as the pool knows them.

At each dial the pool records why no connection it had could carry the request: the
first connection to an origin, every connection busy, the h2 stream limit, or a
connection that would have carried it and is gone, and who took it away (the server's
close, the client's idle timeout or full idle list, keep-alive disabled, an unread
body, an error), or a retry.  Nothing is inferred afterwards: a connection lost is
remembered when it goes, and the next dial of its origin that finds no connection
takes that loss as its reason, once.  A connection the server is ending but that still
finishes what it carries (an HTTP/2 GOAWAY, a ``Connection: close`` being read) counts
as lost from the moment a dial needs it.

Sans-IO: driven by the Lifecycle's closes and the Pool's dial decisions, tested with
plain values.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from typing import Any, NamedTuple

from reusecheck.trace.vocab import ClosedBy, CloseReason, DialReason, RetryReason

# A close the client makes for its own reasons, and what a dial it costs is called.
_CLIENT_CAUSES: dict[str, DialReason] = {
    "client-idle-timeout": "client-idle-timeout",
    "pool-full": "client-pool-full",
    "body-not-drained": "body-not-drained",
    "connection-close-header": "keepalives-disabled",
    "error": "connection-error",
    "unsolicited-response": "server-closed",  # closed by us, the server's doing
}


class Loss(NamedTuple):
    """A connection that is gone (or going) while it could still have been reused."""

    conn: int
    cause: DialReason
    reason: CloseReason
    requests: int
    idle_since: float | None = None  # when it went idle (a client idle-timeout close)
    server_idle_s: float | None = None  # what its server announced it keeps idle


def hint_timeout(keep_alive: bytes | None) -> float | None:
    """``timeout=N`` of a ``Keep-Alive`` header: finite and not negative, else None."""
    if not keep_alive:
        return None
    for part in keep_alive.split(b","):
        name, eq, value = part.strip().partition(b"=")
        if eq and name.strip().lower() == b"timeout":
            try:
                t = float(value.strip())
            except ValueError:
                return None
            return t if 0 <= t < float("inf") else None
    return None


class DialReasons:
    def __init__(self) -> None:
        self._losses: dict[Hashable, list[Loss]] = defaultdict(list)
        self._dialled: Counter[Hashable] = Counter()
        self._replaced: set[int] = set()  # counted as lost before they closed
        self._server_idle: dict[Hashable, float] = {}  # shortest idle close seen, per key

    def lost(
        self,
        key: Hashable,
        conn: int,
        requests: int,
        closed_by: ClosedBy,
        reason: CloseReason,
        pinned: bool = False,
        idle_since: float | None = None,
        server_idle_s: float | None = None,
    ) -> None:
        """A connection of ``key`` closed; remember it unless the run ended it or a dial
        already counted it.  ``pinned``: an unread body held it, so it was lost to that
        body whoever closed it."""
        if conn in self._replaced:
            self._replaced.discard(conn)
            return
        if reason == "end-of-run":
            return
        cause: DialReason | None
        if pinned:
            cause = "body-not-drained"
        else:
            cause = "server-closed" if closed_by == "server" else _CLIENT_CAUSES.get(reason)
        if cause is not None:
            self._losses[key].append(Loss(conn, cause, reason, requests, idle_since, server_idle_s))

    def server_idle(self, key: Hashable, idle_s: float) -> None:
        """The server closed a connection of ``key`` after ``idle_s`` idle: it keeps
        idle connections no longer than that."""
        known = self._server_idle.get(key)
        self._server_idle[key] = idle_s if known is None else min(known, idle_s)

    def why(
        self,
        key: Hashable,
        *,
        retry: tuple[RetryReason, int] | None = None,
        draining: Iterable[Loss] = (),
        pinned: int | None = None,
        at_stream_limit: bool = False,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The fields ``connect_start`` carries for a dial of ``key`` now.

        ``retry``: (reason, the connection the failed attempt was on); ``draining``: the
        key's open connections the server is ending, as losses; ``pinned``: an open
        connection of the key holds a body nobody will read; ``at_stream_limit``: every
        h2 connection of the key is at the server's stream limit.  A retry or a pinned
        dial names the connection it stands in for even when that one has not closed
        yet (``replaces`` without ``replaced_reason``).
        """
        losses = self._losses.get(key, [])
        loss: Loss | None = None
        if retry is not None:
            failed = retry[1]
            loss = next((x for x in reversed(losses) if x.conn == failed), None)
            if loss is not None:
                losses.remove(loss)
            else:
                self._replaced.add(failed)  # its close, later, is this dial's
        elif losses:
            loss = losses.pop()
        else:
            loss = next((x for x in draining if x.conn not in self._replaced), None)
            if loss is not None:
                self._replaced.add(loss.conn)
        reason: DialReason
        fields: dict[str, Any] = {}
        if retry is not None:
            reason = "retry"
            fields["retry_reason"] = retry[0]
        elif loss is not None:
            reason = loss.cause
            limit = self._outlasted(key, loss, now)
            if limit is not None:
                # The client's idle timeout closed it first, and the pause since has
                # outlasted what the server keeps idle: it would not have lived anyway.
                reason = "server-idle-limit"
                fields["server_idle_s"] = round(limit, 3)
        elif at_stream_limit:
            reason = "h2-stream-limit"
        elif pinned is not None:
            reason = "body-not-drained"
        elif self._dialled[key] == 0:
            reason = "first"
        else:
            reason = "all-busy"
        self._dialled[key] += 1
        if loss is not None:
            fields.update(
                replaces=loss.conn, replaced_reason=loss.reason, replaced_requests=loss.requests
            )
        elif retry is not None:
            fields["replaces"] = retry[1]
        elif reason == "body-not-drained" and pinned is not None:
            fields["replaces"] = pinned
        return {"dial_reason": reason, **fields}

    def _outlasted(self, key: Hashable, loss: Loss, now: float | None) -> float | None:
        """The server's idle limit when a client idle-timeout loss has been idle longer."""
        if loss.cause != "client-idle-timeout" or now is None or loss.idle_since is None:
            return None
        limit = loss.server_idle_s
        if limit is None:
            limit = self._server_idle.get(key)
        if limit is None or now - loss.idle_since < limit:
            return None
        return limit
