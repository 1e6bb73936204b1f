"""The connection budget: every connection opened was needed, or had one named cause.

The pool records, at each dial, why no connection it had could carry the request
(``connect_start.dial_reason``, ``pool/reasons.py``).  The first connection to an origin,
one dialled while every other was busy, and one past the server's h2 stream limit were
needed; every other one would not have been opened had keep-alive worked, and its cause
is the reason the pool gave: the server closed the connection that would have carried
the request, the client's idle timeout or full idle list took it away, the client
disabled keep-alive, an unread body pinned or killed it, it failed, or a retry needed a
new one.  So ``connections_opened`` = needed + the sum over the causes, exactly, and
the reuse line says it in words, naming the connections each cause cost.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Final

from reusecheck.analysis.connections import was_opened
from reusecheck.analysis.fold.facts import RunFacts, last_status
from reusecheck.analysis.model import Budget, ConnectionRow, ReuseLevel, Summary
from reusecheck.analysis.pools import PoolScopes
from reusecheck.analysis.proxies import forwarded
from reusecheck.analysis.status import is_error
from reusecheck.analysis.text import listed, plural, seconds
from reusecheck.trace.vocab import DIAL_REASONS, NEEDED_DIALS

# How a server's close of the replaced connection reads ("the server closed conn 1 ...").
_SERVER_CLOSED: Final = {
    "connection-close-header": "with Connection: close",
    "http10": "with an HTTP/1.0 response",
    "idle-timeout": "while it was idle",
    "goaway": "with GOAWAY",
    "eof": "(EOF)",
    "reset": "(reset)",
    "max-requests": "at its request limit",
}


def opened_in_dial_order(conns: Sequence[ConnectionRow]) -> list[ConnectionRow]:
    return sorted((c for c in conns if was_opened(c)), key=lambda c: (c.opened_at_s, c.id))


def dial_reason(conn: ConnectionRow) -> str:
    """The reason the pool gave; a record without one counts the dial as needed."""
    return conn.dial.reason if conn.dial is not None else "first"


def avoidable(conns: Sequence[ConnectionRow]) -> list[ConnectionRow]:
    """The connections working keep-alive would not have opened, in dial order."""
    return [c for c in opened_in_dial_order(conns) if dial_reason(c) not in NEEDED_DIALS]


def budget(conns: Sequence[ConnectionRow]) -> Budget:
    opened = opened_in_dial_order(conns)
    causes = Counter(dial_reason(c) for c in opened if dial_reason(c) not in NEEDED_DIALS)
    order: dict[str, int] = {r: i for i, r in enumerate(DIAL_REASONS)}
    return Budget(
        needed=len(opened) - sum(causes.values()),
        avoidable=tuple(sorted(causes.items(), key=lambda kv: order.get(kv[0], 99))),
    )


def _conns(ids: Sequence[int]) -> str:
    return f"conn {listed(sorted(set(ids)))}"


# How a retried request's first connection failed, with the request retried after it.
_RETRIED: Final = {
    "stale": "{which} {was} found closed by the server when reused and the request was retried",
    "connection-lost": "{which} {was} lost mid-request and the request was retried",
    "goaway": "the server ended {which} with GOAWAY and the unanswered requests were retried",
    "refused-stream": "the server refused a stream on {which} and the request was retried",
}


def _requests(counts: Sequence[int | None]) -> str:
    known = sorted({n for n in counts if n is not None})
    if not known:
        return ""
    if len(known) == 1:
        each = " each" if len(counts) > 1 else ""
        return f" after {plural(known[0], 'request')}{each}"
    return f" after {known[0]}-{known[-1]} requests"


def _cause(reason: str, how: str | None, which: str, counts: Sequence[int | None]) -> str:
    """One cause in words: 'the server closed conn 1 with Connection: close ...'."""
    if reason == "server-closed" and how == "unsolicited-response":
        return (
            f"the server sent a response nobody asked for on {which}{_requests(counts)}, "
            "so the client closed it"
        )
    if reason == "server-closed":
        said = _SERVER_CLOSED.get(how or "", f"({how})" if how else "")
        return f"the server closed {which} {said}{_requests(counts)}".rstrip()
    if reason == "client-idle-timeout":
        return f"the client's idle timeout closed {which}"
    if reason == "server-idle-limit":
        return (
            f"the pause outlasted the server's idle timeout ({how}) on {which}, which the "
            "client's own idle timeout closed first"
        )
    if reason == "client-pool-full":
        return f"the client's idle pool was full and dropped {which}"
    if reason == "keepalives-disabled":
        return f"the client disabled keep-alive (Connection: close) on {which}"
    if reason == "body-not-drained":
        if how == "body-not-drained":
            return f"the client closed {which} with a response body unread"
        return f"an unread response body pinned {which}"
    if reason == "connection-error":
        return f"{which} failed"
    if reason == "retry":
        said = _RETRIED.get(how or "", "{which} failed and the request was retried")
        return said.format(which=which, was="were" if "," in which else "was")
    return reason


def _phrases(
    extra: Sequence[ConnectionRow], conns: Sequence[ConnectionRow], facts: RunFacts | None
) -> list[tuple[int, str]]:
    """(connections, 'because ...') per cause, in dial order of their first."""
    by_id = {c.id: c for c in conns}
    groups: dict[tuple[str, str | None, int | None], list[ConnectionRow]] = defaultdict(list)
    for c in extra:
        d = c.dial
        how = None
        after = None  # the error status the replaced connection ended on
        if d is not None:
            how = d.retry_reason if d.reason == "retry" else d.replaced_reason
            if d.reason == "server-idle-limit" and d.server_idle_s is not None:
                how = f"{seconds(d.server_idle_s)} s"
            gone = by_id.get(d.replaces) if d.replaces is not None else None
            status = last_status(gone, facts) if gone is not None and facts else None
            after = status if d.reason == "server-closed" and is_error(status) else None
        groups[(dial_reason(c), how, after)].append(c)
    out: list[tuple[int, str]] = []
    for (reason, how, after), cs in groups.items():
        replaced = [c.dial.replaces for c in cs if c.dial and c.dial.replaces is not None]
        counts = [c.dial.replaced_requests for c in cs if c.dial]
        which = _conns(replaced) if replaced else "a connection"
        text = _cause(reason, how, which, counts)
        if all(forwarded(c) for c in cs):
            # http:// through a proxy: the hop that closed is the proxy, not the origin.
            text = text.replace("the server", "the proxy")
        if after is not None:
            text = text.split(" after ", 1)[0] + f" after a {after} response"
        out.append((len(cs), f"because {text}"))
    return out


def reuse_line(
    summary: Summary,
    conns: Sequence[ConnectionRow],
    scopes: PoolScopes,
    facts: RunFacts | None = None,
) -> str:
    """'14 requests · 5 connections = 4 needed for up to 4 requests at once + 1 because
    the server closed conn 1 with Connection: close after 5 requests'."""
    b = summary.budget
    opened = plural(summary.connections_opened, "connection")
    head = f"{plural(summary.requests, 'request')} · {opened}"
    apart = []
    if len(scopes.keys) > 1:
        apart.append(plural(len(scopes.keys), "origin"))
    # Pools one after another (scenario steps) or side by side (a client per request):
    # each pool's first connection to an origin was needed by that pool.
    firsts = Counter(
        scopes.of_conn(c.id)[1] for c in conns if was_opened(c) and dial_reason(c) == "first"
    )
    pools = max(scopes.epochs, max(firsts.values(), default=1))
    if pools > 1:
        apart.append(plural(pools, "pool"))
    where = f"{', '.join(apart)}, " if apart else ""
    needed = f"{b.needed} needed"
    if b.needed > 1 or apart:
        needed += f" for {where}up to {plural(summary.peak_concurrency, 'request')} at once"
    limited = sum(1 for c in conns if was_opened(c) and dial_reason(c) == "h2-stream-limit")
    if limited:
        needed += f", {limited} past the server's h2 stream limit"
    parts = [needed] + [f"{n} {why}" for n, why in _phrases(avoidable(conns), conns, facts)]
    return f"{head} = " + " + ".join(parts)


def reuse_level(summary: Summary, conns: Sequence[ConnectionRow]) -> ReuseLevel:
    """``yes`` exactly when no connection was avoidable; ``no`` when none was reused."""
    if summary.budget.avoidable_total == 0:
        return "yes"
    if summary.reused == 0:
        return "no"
    return "partial"
