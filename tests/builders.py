"""Hand-built event sequences shaped like the pool's (docs/design.md, "Event fields").

``Trace`` emulates the HTTP/1.1 pool: it keeps an idle list per key (most recent first,
as Go), dials when none is idle, counts requests per connection and emits the events in
the pool's order.  A body never read pins its connection until the pool closes
(``fresh_pool``, as a scenario's pool step does, or ``end``).  ``H2Trace`` emulates the
HTTP/2 one: streams share a connection up to the server's
SETTINGS_MAX_CONCURRENT_STREAMS, a GOAWAY stops new streams on it and the unprocessed
ones are retried elsewhere.  The scenarios below are shared by the analysis
and report tests.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from reusecheck.analysis import Analysis, Expectation, RunError, RunRecord
from reusecheck.trace import Event

URL = "http://127.0.0.1:8080/"
OTHER_URL = "http://localhost:8080/"  # the same server under its other name: another key
STEP = 0.0005  # seconds between two events of the builder


def pool_key(url: str) -> str:
    """``scheme://host:port``, as get_conn's ``key``."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


class Trace:
    def __init__(
        self,
        *,
        max_idle_per_host: int = 100,
        tls: bool = False,
        alpn: str | None = "http/1.1",
        offer: tuple[str, ...] = ("h2", "http/1.1"),
    ) -> None:
        self.events: list[Event] = []
        self.t = 0.0
        self.max_idle = max_idle_per_host
        self.tls = tls
        self.alpn = alpn
        self.offer = offer
        self._next_conn = 1
        self.idle: list[int] = []  # most recently used last
        self.idle_since: dict[int, float] = {}
        self.carried: dict[int, int] = {}
        self.open: set[int] = set()
        self.conn_of: dict[int, int] = {}
        self.phase: dict[int, str] = {}
        self.retried: set[int] = set()
        self.key_of: dict[int, str] = {}  # conn -> its pool key
        self.pinned: dict[int, int] = {}  # conn -> the request whose unread body holds it

    def emit(self, name: str, request: int | None, conn: int | None, **fields: Any) -> None:
        self.events.append(Event(round(self.t, 6), name, request, conn, fields))
        self.t += STEP

    def wait(self, seconds: float) -> None:
        self.t += seconds

    def _dial(self, r: int, url: str | None = None) -> int:
        c = self._connect(r, url)
        self._handshake(r, c)
        return c

    def _connect(self, r: int, url: str | None = None) -> int:
        c = self._next_conn
        self._next_conn += 1
        parts = urlsplit(url or URL)
        port = 8080 if url is None else parts.port or 80
        self.emit("dns_start", r, None, host=parts.hostname)
        self.emit("dns_done", r, None, addrs=["127.0.0.1"])
        self.emit("connect_start", r, c, addr=f"127.0.0.1:{port}")
        if url is not None:
            self.key_of[c] = pool_key(url)
        return c

    def _handshake(self, r: int, c: int) -> None:
        self.emit("connect_done", r, c, local=f"127.0.0.1:{50000 + c}", remote="127.0.0.1:8080")
        if self.tls:
            self.emit("tls_start", r, c, server_name="localhost", alpn_offered=list(self.offer))
            self.emit(
                "tls_done",
                r,
                c,
                version="TLSv1.3",
                cipher="TLS_AES_256_GCM_SHA384",
                alpn=self.alpn,
                resumed=False,
            )
        self.open.add(c)
        self.carried[c] = 0

    def _idle_of(self, key: str) -> list[int]:
        return [c for c in self.idle if self.key_of.get(c, pool_key(URL)) == key]

    def start(self, r: int, phase: str = "sequential", fresh: bool = False, url: str = URL) -> int:
        self.phase[r] = phase
        key = pool_key(url)
        self.emit("get_conn", r, None, key=key, method="GET", url=url)
        protocol = "h2" if self.alpn == "h2" else "http/1.1"
        idle_here = self._idle_of(key)
        if idle_here and not fresh:
            c = idle_here[-1]
            self.idle.remove(c)
            idle = round(self.t - self.idle_since[c], 6)
            self.emit(
                "got_conn", r, c, reused=True, was_idle=True, idle_time_s=idle, protocol=protocol
            )
        else:
            c = self._dial(r, None if url == URL else url)
            self.emit(
                "got_conn", r, c, reused=False, was_idle=False, idle_time_s=0.0, protocol=protocol
            )
        self.conn_of[r] = c
        self.emit("wrote_headers", r, c)
        self.emit("wrote_request", r, c, bytes=78)
        return c

    def finish(
        self,
        r: int,
        *,
        status: int = 200,
        http_version: str = "1.1",
        connection: str | None = None,
        keep_alive: str | None = None,
        drain: bool = True,
        eof_after: bool = False,
        client_close: bool = False,
        pin: bool = False,
    ) -> None:
        """``drain=False``: the body is closed unread and the pool closes the connection
        at once (Go does); ``pin``: the body is never read nor closed, the connection
        stays busy past request_done until the pool closes."""
        c = self.conn_of[r]
        self.t += 0.004
        self.emit("got_first_byte", r, c)
        headers = [["content-length", "2"], ["server", "testd/1.0"]]
        if connection is not None:
            headers.append(["connection", connection])
        if keep_alive is not None:
            headers.append(["keep-alive", keep_alive])
        self.emit(
            "response_headers",
            r,
            c,
            status=status,
            http_version=http_version,
            connection=connection,
            keep_alive=keep_alive,
            headers=headers,
        )
        self.carried[c] += 1
        if pin:
            self.pinned[c] = r
        elif not drain:
            self.emit("body_done", r, c, bytes=0, complete=False)
            self._refuse(r, c, "client", "body-not-drained")
        else:
            self.emit("body_done", r, c, bytes=2, complete=True)
            reason = None
            if http_version == "1.0" and "keep-alive" not in (connection or "").lower():
                reason = "http10"
            elif connection is not None and "close" in connection.lower():
                reason = "connection-close-header"
            elif eof_after:
                reason = "eof"
            if client_close:
                self._refuse(r, c, "client", "connection-close-header")
            elif reason is not None:
                self._refuse(r, c, "server", reason)
            elif len(self._idle_of(self.key_of.get(c, pool_key(URL)))) >= self.max_idle:
                self._refuse(r, c, "client", "pool-full")
            else:
                self.idle.append(c)
                self.idle_since[c] = self.t
                self.emit("put_idle", r, c, ok=True, reason=None, idle_conns=len(self.idle))
        self.emit(
            "request_done",
            r,
            c,
            status=status,
            error=None,
            retried=r in self.retried,
            phase=self.phase[r],
        )

    def _refuse(self, r: int, c: int, by: str, reason: str) -> None:
        self.emit("put_idle", r, c, ok=False, reason=reason, idle_conns=len(self.idle))
        self._close(r, c, by, reason)

    def _close(self, r: int | None, c: int, by: str, reason: str, **extra: Any) -> None:
        self.open.discard(c)
        self.pinned.pop(c, None)
        if c in self.idle:
            self.idle.remove(c)
        fields = {"closed_by": by, "reason": reason, "requests": self.carried[c], **extra}
        self.emit("conn_closed", r, c, **fields)

    def request(self, r: int, phase: str = "sequential", url: str = URL, **finish: Any) -> None:
        self.start(r, phase, url=url)
        self.finish(r, **finish)
        self.wait(0.01)

    def server_idle_close(self, c: int, reason: str = "eof") -> None:
        idle = round(self.t - self.idle_since[c], 6)
        self.emit("idle_closed", None, c, idle_time_s=idle, reason=reason, closed_by="server")
        self._close(None, c, "server", "idle-timeout")

    def stale_retry(self, r: int) -> None:
        """``r`` was started on a reused connection the server had closed: fail, retry."""
        c = self.conn_of[r]
        error = "server closed the connection (eof) before any response byte"
        self._close(r, c, "server", "eof", error=error)
        self.emit("retry", r, c, error=error, attempt=2)
        self.retried.add(r)
        self.start(r, self.phase[r], fresh=True)

    def _close_pool(self) -> None:
        """The runner's ``Pool.close``: a connection pinned by an unread body is put back
        refused and closed as ``body-not-drained``; every other one ``end-of-run``."""
        for c in sorted(self.open):
            r = self.pinned.get(c)
            if r is not None:
                self.emit("put_idle", r, c, ok=False, reason="body-not-drained", idle_conns=0)
                self._close(r, c, "client", "body-not-drained")
            else:
                self._close(None, c, "client", "end-of-run")

    def fresh_pool(self, max_idle_per_host: int | None = None) -> None:
        """A scenario's pool step: the old pool closes, connection ids keep counting."""
        self._close_pool()
        self.idle.clear()
        if max_idle_per_host is not None:
            self.max_idle = max_idle_per_host
        self.wait(0.001)

    def end(self) -> None:
        self._close_pool()

    def record(
        self,
        expectations: tuple[Expectation, ...] = (Expectation("reuse"),),
        error: RunError | None = None,
        **options: Any,
    ) -> RunRecord:
        return RunRecord(URL, list(self.events), expectations, error, options)


# --- scenarios (also used by the report tests) -------------------------------------------


def healthy(n: int = 5) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.request(r)
    tr.end()
    return tr.record()


def connection_close(n: int = 5) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.request(r, connection="close")
    tr.end()
    return tr.record()


def http10(n: int = 3) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.request(r, http_version="1.0")
    tr.end()
    return tr.record()


def max_requests(n: int = 8, limit: int = 3, keep_alive: str | None = None) -> RunRecord:
    tr = Trace()
    for r in range(n):
        c = tr.start(r)
        last = tr.carried[c] + 1 == limit
        tr.finish(r, connection="close" if last else None, keep_alive=keep_alive)
        tr.wait(0.01)
    tr.end()
    return tr.record()


def idle_timeout(server_timeout: float = 4.0, keep_alive: str | None = None) -> RunRecord:
    tr = Trace()
    for r in range(3):
        tr.request(r, keep_alive=keep_alive)
    tr.t = tr.idle_since[1] + server_timeout
    tr.server_idle_close(1)
    tr.wait(1.9)
    for r in range(3, 5):
        tr.request(r, "idle", keep_alive=keep_alive)
    tr.end()
    return tr.record()


def stale_retry() -> RunRecord:
    tr = Trace()
    tr.request(0)
    tr.request(1)
    tr.wait(4.95)
    tr.start(2, "idle")
    tr.stale_retry(2)
    tr.finish(2)
    tr.end()
    return tr.record()


def pool_churn() -> RunRecord:
    tr = Trace(max_idle_per_host=2)
    for burst, first in (("burst-1", 0), ("burst-2", 4)):
        for r in range(first, first + 4):
            tr.start(r, burst)
        for r in range(first, first + 4):
            tr.finish(r)
        tr.wait(1.0)
    tr.end()
    return tr.record(max_idle_per_host=2)


def unread_body(n: int = 3) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.request(r, drain=False)
    tr.end()
    return tr.record()


def burst(n: int = 4) -> RunRecord:
    tr = Trace()
    for r in range(n):
        tr.start(r, "burst-1")
    for r in range(n):
        tr.finish(r)
    tr.end()
    return tr.record()


# --- the built-in scenarios' shapes (reusecheck/scenarios/builtin.py) ----------------------


def _scenario(name: str) -> dict[str, str]:
    return {"name": name, "source": f"builtin:{name}"}


def _pools(*parts: tuple[str | None, int]) -> list[dict[str, Any]]:
    """``options.pools`` as the run records it: (from_step, max_idle_per_host) each."""
    return [
        {"from_step": step, "max_idle": 100, "max_idle_per_host": k, "http": "1.1"}
        for step, k in parts
    ]


def cross_host(n: int = 3, connection: str | None = None) -> RunRecord:
    """``builtin:cross-host``: ``n`` requests to one origin, ``n`` to the same server under
    its other name (another key), two to the first again; ``connection="close"``: the
    server closes every connection after one response."""
    tr = Trace()
    r = 0
    for phase, url, count in (
        ("origin-a", URL, n),
        ("origin-b", OTHER_URL, n),
        ("a-again", URL, 2),
    ):
        for _ in range(count):
            tr.request(r, phase, url=url, connection=connection)
            r += 1
    tr.end()
    return tr.record((), scenario=_scenario("cross-host"))


def leaky_body(n: int = 5, fresh_pool: bool = True) -> RunRecord:
    """``builtin:leaky-body``: ``n`` bodies never read nor closed, each pinning its
    connection until the pool closes; then (``fresh_pool``) a fresh pool and ``n``
    requests read to the end."""
    tr = Trace()
    for r in range(n):
        tr.start(r, "leaky")
        tr.finish(r, pin=True)
    if not fresh_pool:
        tr.end()
        return tr.record((), scenario=_scenario("leaky-body"))
    tr.fresh_pool()
    for r in range(n, 2 * n):
        tr.request(r, "drained")
    tr.end()
    return tr.record(
        (), scenario=_scenario("leaky-body"), pools=_pools((None, 100), ("drained", 100))
    )


def go_default_pool(concurrency: int = 4, rounds: int = 3) -> RunRecord:
    """``builtin:go-default-pool``: bursts through a pool keeping 2 idle per host, then a
    fresh pool keeping ``concurrency``."""
    tr = Trace(max_idle_per_host=2)
    r = 0
    fixed = f"idle-{concurrency}"
    for phase, limit in (("go-default", 2), (fixed, concurrency)):
        if phase == fixed:
            tr.fresh_pool(max_idle_per_host=limit)
        for _ in range(rounds):
            burst = range(r, r + concurrency)
            for i in burst:
                tr.start(i, phase)
            for i in burst:
                tr.finish(i)
            tr.wait(0.01)
            r += concurrency
    tr.end()
    return tr.record(
        (),
        max_idle_per_host=2,
        scenario=_scenario("go-default-pool"),
        pools=_pools((None, 2), (fixed, concurrency)),
    )


def unreachable() -> RunRecord:
    tr = Trace()
    tr.emit("get_conn", 0, None, key="http://127.0.0.1:9", method="GET", url=URL)
    tr.emit("dns_start", 0, None, host="127.0.0.1")
    tr.emit("dns_done", 0, None, addrs=["127.0.0.1"])
    tr.emit("connect_start", 0, 1, addr="127.0.0.1:9")
    message = "cannot connect to 127.0.0.1:9: connection refused"
    tr.emit("connect_done", 0, 1, local=None, remote="127.0.0.1:9", error=message)
    tr.emit(
        "request_done",
        0,
        None,
        status=None,
        error={"kind": "connect", "message": message},
        retried=False,
        phase="sequential",
    )
    return tr.record(error=RunError("connect", message))


# --- HTTP/2 -------------------------------------------------------------------------------

H2_URL = "https://127.0.0.1:8443/"


class H2Trace(Trace):
    """The pool over HTTP/2: a request takes the oldest open connection with a free
    stream (no GOAWAY yet), else dials; every connection's streams are 1, 3, 5, ..."""

    def __init__(
        self,
        *,
        max_streams: int | None = 100,
        tls: bool = True,
        offer: tuple[str, ...] = ("h2", "http/1.1"),
        settings: bool = True,
    ) -> None:
        super().__init__(tls=tls, alpn="h2", offer=offer)
        self.max_streams = max_streams
        self.settings = settings
        self.active: dict[int, set[int]] = {}  # conn -> requests with a stream open
        self.next_stream: dict[int, int] = {}
        self.stream_of: dict[int, int] = {}
        self.last_active: dict[int, float] = {}  # a stream last started or ended
        self.going_away: dict[int, str] = {}  # conn -> GOAWAY error code

    def record(
        self,
        expectations: tuple[Expectation, ...] = (Expectation("reuse"),),
        error: RunError | None = None,
        **options: Any,
    ) -> RunRecord:
        return RunRecord(H2_URL, list(self.events), expectations, error, options)

    def announce(self, c: int, max_streams: int | None, **more: int | None) -> None:
        settings: dict[str, int | None] = {
            "max_concurrent_streams": max_streams,
            "initial_window_size": 65535,
            "max_frame_size": 16384,
            "max_header_list_size": None,
            "header_table_size": 4096,
        }
        self.emit("h2_settings", None, c, **{**settings, **more})

    @property
    def _key(self) -> str:
        return "https://127.0.0.1:8443" if self.tls else "http://127.0.0.1:8443"

    def _free(self, exclude: int | None, key: str | None = None) -> int | None:
        for c in sorted(self.open):
            if self.key_of.get(c, self._key) != (key or self._key):
                continue  # a connection serves its own key only
            full = self.max_streams is not None and len(self.active[c]) >= self.max_streams
            if c != exclude and c not in self.going_away and not full:
                return c
        return None

    def start(
        self,
        r: int,
        phase: str = "sequential",
        fresh: bool = False,
        exclude: int | None = None,
        url: str = H2_URL,
    ) -> int:
        self.phase[r] = phase
        key = self._key if url == H2_URL else pool_key(url)
        self.emit("get_conn", r, None, key=key, method="GET", url=url)
        c = None if fresh else self._free(exclude, key)
        if c is None:
            c = self._dial(r, None if url == H2_URL else url)
            self._fresh(r, c)
        else:
            was_idle = not self.active[c]
            idle = round(self.t - self.last_active[c], 6) if was_idle else 0.0
            self.emit(
                "got_conn", r, c, reused=True, was_idle=was_idle, idle_time_s=idle, protocol="h2"
            )
        self._open_stream(r, c)
        return c

    def _fresh(self, r: int, c: int) -> None:
        self.active[c] = set()
        self.next_stream[c] = 1
        self.emit("got_conn", r, c, reused=False, was_idle=False, idle_time_s=0.0, protocol="h2")
        if self.settings:
            self.announce(c, self.max_streams)

    def _open_stream(self, r: int, c: int) -> None:
        self.conn_of[r] = c
        self.active[c].add(r)
        self.last_active[c] = self.t
        self.stream_of[r] = self.next_stream[c]
        self.next_stream[c] += 2
        self.emit("wrote_headers", r, c, stream_id=self.stream_of[r])
        self.emit("wrote_request", r, c, bytes=40)

    def dial_each(self, requests: range, phase: str = "burst-1") -> None:
        """Each request dials its own connection before any handshake has finished: a
        pool that does not wait to learn that the first connection speaks h2."""
        dials = {}
        for r in requests:
            self.phase[r] = phase
            self.emit("get_conn", r, None, key="https://127.0.0.1:8443", method="GET", url=H2_URL)
            dials[r] = self._connect(r)
        for r, c in dials.items():
            self._handshake(r, c)
            self._fresh(r, c)
            self._open_stream(r, c)

    def finish(  # type: ignore[override]
        self, r: int, *, status: int = 200, drain: bool = True, reset: str | None = None
    ) -> None:
        """The stream ends: a response (read to the end, or closed early: ``drain``), or
        the server's RST_STREAM with the error code ``reset``."""
        c = self.conn_of[r]
        self.t += 0.004
        error = None
        if reset is not None:
            sid = self.stream_of[r]
            error = {"kind": "stream-reset", "message": f"server reset stream {sid}: {reset}"}
        else:
            self.emit("got_first_byte", r, c)
            self.emit(
                "response_headers",
                r,
                c,
                status=status,
                http_version="2",
                connection=None,
                keep_alive=None,
                headers=[["content-length", "2"], ["server", "testd/1.0"]],
            )
            self.emit("body_done", r, c, bytes=2 if drain else 0, complete=drain)
        self.carried[c] += 1
        self.active[c].discard(r)
        self.last_active[c] = self.t
        self.emit("put_idle", r, c, ok=True, reason=None, streams_active=len(self.active[c]))
        if c in self.going_away and not self.active[c]:
            self._close(r, c, "server", "goaway", error_code=self.going_away[c])
        self.emit(
            "request_done",
            r,
            c,
            status=None if reset else status,
            error=error,
            retried=r in self.retried,
            phase=self.phase[r],
        )

    def goaway(
        self,
        c: int,
        error_code: str = "NO_ERROR",
        last_stream_id: int | None = None,
        additional_data: str | None = None,
    ) -> list[int]:
        """The server's GOAWAY; returns the requests whose streams it did not process
        (above ``last_stream_id``, by default the highest stream opened)."""
        last = self.next_stream[c] - 2 if last_stream_id is None else last_stream_id
        unprocessed = sorted(r for r in self.active[c] if self.stream_of[r] > last)
        self.emit(
            "h2_goaway",
            None,
            c,
            error_code=error_code,
            last_stream_id=last,
            additional_data=additional_data,
            unprocessed=unprocessed,
        )
        self.going_away[c] = error_code
        idle = not self.active[c]
        self.active[c] -= set(unprocessed)
        if idle:
            since = round(self.t - self.last_active[c], 6)
            self.emit(
                "idle_closed", None, c, idle_time_s=since, reason="goaway", closed_by="server"
            )
        if not self.active[c]:
            self._close(None, c, "server", "goaway", error_code=error_code)
        return unprocessed

    def retry(self, r: int, reason: str) -> int:
        """``r`` failed on its connection without being processed: retry elsewhere."""
        c = self.conn_of[r]
        self.active[c].discard(r)
        error = {
            "goaway": "stream above the GOAWAY's last_stream_id",
            "refused-stream": f"server refused stream {self.stream_of[r]} (REFUSED_STREAM)",
        }.get(reason, "stale connection")
        self.emit("retry", r, c, error=error, attempt=2, reason=reason)
        self.retried.add(r)
        return self.start(r, self.phase[r], exclude=c)


def h2_burst(n: int = 4, max_streams: int | None = 100) -> RunRecord:
    """``n`` requests at once; the pool puts them all on one connection."""
    tr = H2Trace(max_streams=max_streams)
    for r in range(n):
        tr.start(r, "burst-1")
    for r in range(n):
        tr.finish(r)
    tr.end()
    return tr.record((Expectation("reuse"), Expectation("h2"), Expectation("multiplex")))


def h2_spread(
    n: int = 4, max_streams: int | None = 100, sequential: int = 1, settings: bool = True
) -> RunRecord:
    """``sequential`` requests one after another, then ``n`` at once on ``n`` connections
    (a client per request): the first takes the open connection, the others dial."""
    tr = H2Trace(max_streams=max_streams, settings=settings)
    for r in range(sequential):
        tr.start(r)
        tr.finish(r)
        tr.wait(0.01)
    burst = range(sequential, sequential + n)
    for r in burst:
        tr.start(r, "burst-1", fresh=r > sequential or sequential == 0)
    for r in burst:
        tr.finish(r)
    tr.end()
    return tr.record((Expectation("reuse"), Expectation("h2"), Expectation("multiplex")))


def h2_goaway_retry(error_code: str = "NO_ERROR", data: str | None = None) -> RunRecord:
    """Three sequential streams, then two at once: the server's GOAWAY names stream 7 as
    the last it processes, so request 4 (stream 9) is retried on a new connection."""
    tr = H2Trace()
    for r in range(3):
        tr.start(r)
        tr.finish(r)
        tr.wait(0.01)
    tr.start(3, "burst-1")
    tr.start(4, "burst-1")
    for r in tr.goaway(1, error_code, last_stream_id=7, additional_data=data):
        tr.retry(r, "goaway")
    tr.finish(3)
    tr.finish(4)
    tr.wait(0.01)
    tr.start(5)
    tr.finish(5)
    tr.end()
    return tr.record()


def h2_goaway_every(streams: int = 3, n: int = 7) -> RunRecord:
    """A server that ends every connection with GOAWAY NO_ERROR after ``streams``
    streams (nginx keepalive_requests), sent as the last one ends."""
    tr = H2Trace()
    for r in range(n):
        c = tr.start(r)
        if tr.carried[c] + 1 == streams:
            tr.goaway(c, last_stream_id=tr.stream_of[r])
        tr.finish(r)
        tr.wait(0.01)
    tr.end()
    return tr.record()


def alpn_fallback(n: int = 2, chosen: str | None = "http/1.1") -> RunRecord:
    """h2 offered, the server chose ``chosen`` (None: no ALPN at all)."""
    tr = Trace(tls=True, alpn=chosen)
    for r in range(n):
        tr.request(r)
    tr.end()
    return tr.record((Expectation("h2"), Expectation("multiplex")))


def h2_required(tls: bool = True) -> RunRecord:
    """--http2 (or --h2c) and the server speaks only HTTP/1.1: the run stops."""
    tr = Trace(tls=tls, alpn="http/1.1", offer=("h2",))
    tr.emit("get_conn", 0, None, key="https://127.0.0.1:8443", method="GET", url=H2_URL)
    c = tr._dial(0)
    message = "server chose http/1.1 (offered h2)" if tls else "server answered HTTP/1.1 to h2c"
    tr._close(0, c, "client", "error", error=message)
    tr.emit(
        "request_done",
        0,
        None,
        status=None,
        error={"kind": "h2-not-negotiated", "message": message},
        retried=False,
        phase="sequential",
    )
    return tr.record((Expectation("h2"),), error=RunError("h2-not-negotiated", message))


def codes(a: Analysis) -> list[str]:
    return [f.code for f in a.findings]


def finding(a: Analysis, code: str) -> Any:
    return next(f for f in a.findings if f.code == code)
