"""What the fold tracks per connection from its events: the Keep-Alive limit its
responses announced, whether the last one said ``Connection: close``, whether it may be
HTTP/2, and the streams open on it when the server refused one (read once every event
of that instant is in, as a sort of the whole record would)."""

from __future__ import annotations

from reusecheck.analysis.requests import parse_keep_alive
from reusecheck.trace import Event


class ConnTrack:
    __slots__ = (
        "cert_unanswered",
        "dialled",
        "hint_max",
        "maybe_h2",
        "opened_at",
        "said_close",
        "streams",
    )

    def __init__(self, t: float) -> None:
        self.opened_at = t  # its first connect_start, else its first event
        self.dialled = False
        self.hint_max: int | None = None
        self.said_close = False
        self.maybe_h2 = False  # offered or spoke h2: its streams may be shared
        self.streams: set[int] = set()  # requests with a stream open on it (HTTP/2)
        # The server asked for a client certificate in its handshake and none was
        # configured (tls_start without client_cert, tls_done client_cert_requested).
        self.cert_unanswered = False


class Conns:
    __slots__ = ("by_id", "pending", "refused")

    def __init__(self) -> None:
        self.by_id: dict[int, ConnTrack] = {}
        # (retry event, streams open on its connection) for each REFUSED_STREAM retry
        self.refused: list[tuple[Event, int]] = []
        self.pending: list[Event] = []  # refused retries whose instant is not over

    def settle(self, now: float | None = None) -> None:
        """Count the open streams of refused retries whose instant is over."""
        while self.pending and (now is None or now > self.pending[0].t):
            e = self.pending.pop(0)
            track = self.by_id.get(e.conn) if e.conn is not None else None
            streams = track.streams if track is not None else set()
            self.refused.append((e, len(streams | {e.request})))

    def feed(self, e: Event) -> ConnTrack | None:
        """An event of a connection (``analysis.fold`` calls it only for those it reads;
        ``settle`` first, for every event)."""
        conn = e.conn
        if conn is None:
            return None
        track = self.by_id.get(conn)
        if track is None:
            track = self.by_id[conn] = ConnTrack(e.t)
        name = e.event
        if name == "connect_start" and not track.dialled:
            track.dialled = True
            track.opened_at = e.t
        elif name == "response_headers":
            hint = parse_keep_alive(e.fields.get("keep_alive"))
            most = hint.max if hint is not None else None
            if most is not None and (track.hint_max is None or most > track.hint_max):
                track.hint_max = most
            track.said_close = "close" in str(e.fields.get("connection") or "").lower()
        elif name == "wrote_headers":
            if e.request is not None and e.fields.get("stream_id") is not None:
                track.streams.add(e.request)
        elif name in ("put_idle", "retry", "conn_closed"):
            if e.request is not None:
                if name == "retry" and e.fields.get("reason") == "refused-stream":
                    self.pending.append(e)  # counted with its own stream as open
                track.streams.discard(e.request)
        elif name == "tls_start":
            if "h2" in (e.fields.get("alpn_offered") or ()):
                track.maybe_h2 = True
            track.cert_unanswered = not e.fields.get("client_cert")
        elif name == "tls_done":
            asked = e.fields.get("client_cert_requested") is True
            track.cert_unanswered = track.cert_unanswered and asked
        elif name == "got_conn":
            if e.fields.get("protocol") == "h2":
                track.maybe_h2 = True
        elif name in ("h2_settings", "h2_goaway"):
            track.maybe_h2 = True
        return track
