"""The built-in server's HTTP/2 role, against the h2 library as a client on 127.0.0.1.

The client is h2 itself over a blocking socket (plain for h2c, ssl-wrapped with ALPN for
h2), not reusecheck's client, so each test checks the frames a real client would see and
the server's ConnRecord side by side.  The server runs in a ServerThread; anything that
reaches its loop's exception handler is logged by asyncio and fails the test.
Timing assertions are deliberately loose: they separate "closed by the timer" from
"never closed" or "closed at once", not milliseconds.
"""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    DataReceived,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.settings import SettingCodes

from reusecheck.server import ConnRecord, ServerConfig, ServerThread
from reusecheck.server.h2send import goaway_frame
from reusecheck.server.policy import StreamGate, StreamQueue

HOST = "127.0.0.1"
WAIT = 5.0  # bound on every single read in these tests
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
GOAWAY, WINDOW_UPDATE = 0x7, 0x8


@pytest.fixture(autouse=True)
def no_loop_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The server must absorb every client misbehaviour: nothing may reach asyncio's
    exception handler (which logs it on the "asyncio" logger)."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def frames(buf: bytearray) -> Iterator[tuple[int, bytes]]:
    """Complete frames (type, whole frame) taken off the front of ``buf``."""
    while len(buf) >= 9:
        end = 9 + int.from_bytes(buf[:3], "big")
        if len(buf) < end:
            return
        frame = bytes(buf[:end])
        del buf[:end]
        yield frame[3], frame


@dataclass
class Goaway:
    last_stream_id: int
    error_code: int
    at: float
    seq: int  # position among everything the client saw


@dataclass
class Reply:
    status: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    ended_at: float | None = None
    seq: int = 0


class H2Client:
    """h2's client role over a blocking socket, answering window updates as it reads.

    GOAWAY frames are taken out before h2 sees them: h2 moves to CLOSED on a GOAWAY and
    then refuses the responses the server is still allowed to finish (RFC 9113 6.8;
    python-hyper/h2#1181), which is exactly what max_requests exercises.
    """

    def __init__(
        self, sock: socket.socket, settings: dict[SettingCodes | int, int] | None = None
    ) -> None:
        sock.settimeout(WAIT)
        self.sock = sock
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.inbox = bytearray()
        self.replies: dict[int, Reply] = {}
        self.resets: dict[int, int] = {}
        self.server_settings: dict[int, int] = {}
        self.goaways: list[Goaway] = []
        self.window_updates_sent = 0
        self.eof_at: float | None = None
        self.seq = 0
        self.flush()

    @classmethod
    def connect(cls, port: int) -> H2Client:
        return cls(socket.create_connection((HOST, port), timeout=WAIT))

    def request(self, path: str, method: str = "GET", body: bytes = b"") -> int:
        stream_id = self.conn.get_next_available_stream_id()
        headers = [
            (b":method", method.encode()),
            (b":path", path.encode()),
            (b":scheme", b"http"),
            (b":authority", b"t"),
        ]
        self.conn.send_headers(stream_id, headers, end_stream=not body)
        self.replies[stream_id] = Reply()
        self.flush()
        if body:
            self.upload(stream_id, body)
        return stream_id

    def upload(self, stream_id: int, body: bytes) -> None:
        """Send a request body as fast as the server's windows allow."""
        view = memoryview(body)
        while view:
            n = min(self.conn.local_flow_control_window(stream_id), 16384, len(view))
            if n == 0:
                self.read_once()  # wait for the server's WINDOW_UPDATE
                continue
            self.conn.send_data(stream_id, view[:n].tobytes(), end_stream=n == len(view))
            view = view[n:]
            self.flush()

    def flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.window_updates_sent += sum(
                t == WINDOW_UPDATE for t, _ in frames(bytearray(out.removeprefix(PREFACE)))
            )
            self.sock.sendall(out)

    def read_once(self) -> None:
        data = self.sock.recv(1 << 20)
        now = time.monotonic()
        if not data:
            self.eof_at = now
            return
        self.inbox += data
        for kind, frame in frames(self.inbox):
            self.seq += 1
            if kind == GOAWAY:
                last, code = int.from_bytes(frame[9:13], "big"), int.from_bytes(frame[13:17], "big")
                self.goaways.append(Goaway(last & 0x7FFFFFFF, code, now, self.seq))
                continue
            for event in self.conn.receive_data(frame):
                self.on_event(event, now)
        self.flush()

    def on_event(self, event: object, now: float) -> None:
        if isinstance(event, ResponseReceived):
            reply = self.replies[event.stream_id]
            headers = {bytes(k): bytes(v) for k, v in event.headers or []}
            reply.status, reply.headers = int(headers.pop(b":status")), headers
        elif isinstance(event, DataReceived):
            self.replies[event.stream_id].body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, StreamEnded):
            reply = self.replies[event.stream_id]
            reply.ended_at, reply.seq = now, self.seq
        elif isinstance(event, StreamReset):
            self.resets[event.stream_id] = event.error_code
        elif isinstance(event, RemoteSettingsChanged):
            for code, change in event.changed_settings.items():
                self.server_settings[code] = change.new_value

    def until(self, done: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.eof_at is not None:
                raise AssertionError("the server closed the connection first")
            if time.monotonic() > deadline:
                raise AssertionError("timed out")
            self.read_once()

    def get(self, path: str = "/", method: str = "GET") -> Reply:
        stream_id = self.request(path, method)
        self.until(lambda: self.replies[stream_id].ended_at is not None)
        return self.replies[stream_id]

    def read_to_eof(self) -> None:
        deadline = time.monotonic() + WAIT
        while self.eof_at is None:
            assert time.monotonic() < deadline, "the server did not close"
            self.read_once()

    def close(self) -> None:
        self.sock.close()


def tls_socket(server: ServerThread, alpn: list[str] | None) -> ssl.SSLSocket:
    assert server.ca_path is not None
    context = ssl.create_default_context(cafile=str(server.ca_path))
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    sock = socket.create_connection((HOST, server.port), timeout=WAIT)
    return context.wrap_socket(sock, server_hostname="localhost")


def http11_get(sock: socket.socket, path: str = "/") -> bytes:
    """One HTTP/1.1 request; the response head and body (the server closes after it)."""
    sock.settimeout(WAIT)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def closed_records(server: ServerThread, count: int = 1) -> list[ConnRecord]:
    """The first ``count`` connections' records once the server has seen them end."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        records = server.connections
        if len(records) >= count and all(r.closed_at is not None for r in records[:count]):
            return records
        time.sleep(0.01)
    raise AssertionError(f"still open: {server.connections}")


# --- negotiation ------------------------------------------------------------------------


def test_alpn_picks_h2_when_offered() -> None:
    with ServerThread(ServerConfig(tls=True, h2=True)) as server:
        sock = tls_socket(server, ["h2", "http/1.1"])
        assert sock.selected_alpn_protocol() == "h2"
        client = H2Client(sock)
        reply = client.get("/")
        assert (reply.status, bytes(reply.body)) == (200, b"ok\n")
        # HTTP/2 forbids connection-specific headers (RFC 9113 8.2.2).
        assert reply.headers[b"content-length"] == b"3" and b"connection" not in reply.headers
        [record] = server.connections
        assert (record.protocol, record.requests, record.closed_by) == ("h2", 1, None)
        server.stop()  # shutdown drops the open connection
        client.read_to_eof()
        client.close()
        [record] = server.connections
    assert (record.closed_by, record.reason) == ("server", "shutdown")


def test_alpn_without_h2_is_served_by_http11() -> None:
    with ServerThread(ServerConfig(tls=True, h2=True)) as server:
        for alpn in (["http/1.1"], None):
            with tls_socket(server, alpn) as sock:
                assert sock.selected_alpn_protocol() == (None if alpn is None else "http/1.1")
                response = http11_get(sock)
            assert response.startswith(b"HTTP/1.1 200 ") and response.endswith(b"\r\n\r\nok\n")
        records = closed_records(server, 2)
    assert [(r.protocol, r.requests, r.reason) for r in records] == [
        ("http/1.1", 1, "client-close"),
        ("http/1.1", 1, "client-close"),
    ]


def test_h2c_prior_knowledge_and_http11_share_the_port() -> None:
    lines: list[str] = []
    with ServerThread(ServerConfig(h2=True), log=lines.append) as server:
        client = H2Client.connect(server.port)
        assert client.get("/status/201").status == 201
        with socket.create_connection((HOST, server.port), timeout=WAIT) as sock:
            assert http11_get(sock, "/status/202").startswith(b"HTTP/1.1 202 ")
        assert client.get("/").status == 200  # the h2c connection is still good
        client.close()
        records = closed_records(server, 2)
    assert [(r.protocol, r.requests) for r in records] == [("h2", 2), ("http/1.1", 1)]
    assert [(r.closed_by, r.reason) for r in records] == [
        ("client", "eof"),
        ("server", "client-close"),
    ]
    assert lines[0].startswith("conn 1 open 127.0.0.1:")
    assert any(
        line.startswith("conn 1 closed by client (eof) after 2 requests, ") for line in lines
    )
    assert any(line.endswith(", h2") for line in lines)


def test_a_silent_cleartext_connection_meets_the_idle_timeout() -> None:
    with ServerThread(ServerConfig(h2=True, idle_timeout=0.2)) as server:
        with socket.create_connection((HOST, server.port), timeout=WAIT) as sock:
            assert sock.recv(1) == b""  # closed, without a byte: the protocol was never known
        [record] = closed_records(server)
    assert (record.closed_by, record.reason, record.goaway) == ("server", "idle-timeout", None)
    assert record.protocol == "unknown"


# --- streams ----------------------------------------------------------------------------


def test_concurrent_streams_are_answered_concurrently() -> None:
    with ServerThread(ServerConfig(h2=True)) as server:
        client = H2Client.connect(server.port)
        started = time.monotonic()
        slow = client.request("/delay/300")
        fast = {
            client.request("/"): (200, b"ok\n"),
            client.request("/bytes/1000"): (200, b"x" * 1000),
            client.request("/status/404"): (404, b"status 404\n"),
            client.request("/status/204"): (204, b""),
        }
        head = client.request("/bytes/10", method="HEAD")
        fast[head] = (200, b"")
        client.until(lambda: all(client.replies[s].ended_at is not None for s in fast))
        client.until(lambda: client.replies[slow].ended_at is not None)
        for stream_id, (status, body) in fast.items():
            reply = client.replies[stream_id]
            assert (reply.status, bytes(reply.body)) == (status, body)
            assert reply.seq < client.replies[slow].seq  # answered before the delayed one
        assert client.replies[head].headers[b"content-length"] == b"10"
        assert client.replies[slow].ended_at - started >= 0.25  # type: ignore[operator]
        assert client.replies[slow].status == 200
        [record] = server.connections
        assert (record.requests, record.protocol) == (6, "h2")
        client.close()


def test_settings_max_concurrent_streams_is_max_streams() -> None:
    for max_streams, advertised in ((7, 7), (None, 100)):
        with ServerThread(ServerConfig(h2=True, max_streams=max_streams)) as server:
            client = H2Client.connect(server.port)
            settings = client.server_settings
            client.until(lambda: SettingCodes.MAX_CONCURRENT_STREAMS in settings)  # noqa: B023
            assert settings[SettingCodes.MAX_CONCURRENT_STREAMS] == advertised
            client.close()


def test_streams_over_max_streams_are_refused_not_the_connection() -> None:
    with ServerThread(ServerConfig(h2=True, max_streams=2)) as server:
        client = H2Client.connect(server.port)
        # Sent before the server's SETTINGS arrive, so h2's client does not hold them back.
        first, second, third = (client.request("/delay/200") for _ in range(3))
        client.until(lambda: all(client.replies[s].ended_at is not None for s in (first, second)))
        assert client.resets == {third: ErrorCodes.REFUSED_STREAM}
        assert client.replies[third].status == 0 and client.goaways == []
        assert client.get("/").status == 200  # the connection carries on
        [record] = server.connections
        assert (record.requests, record.refused) == (3, 1)
        client.close()


def test_large_body_under_flow_control() -> None:
    size = 5 * 1024 * 1024
    with ServerThread(ServerConfig(h2=True)) as server:
        client = H2Client.connect(server.port)  # default 65,535-byte windows
        reply = client.get(f"/bytes/{size}")
        assert reply.status == 200 and reply.headers[b"content-length"] == str(size).encode()
        assert len(reply.body) == size and reply.body.count(b"x") == size
        # The server could only send it all because the client reopened its windows.
        assert client.window_updates_sent > 2 * size // 65535
        [record] = server.connections
        assert record.bytes_out > size
        client.close()


def test_request_bodies_are_acknowledged() -> None:
    body = b"y" * (300 * 1024)  # several times the default window
    with ServerThread(ServerConfig(h2=True)) as server:
        client = H2Client.connect(server.port)
        stream_id = client.request("/", method="POST", body=body)
        client.until(lambda: client.replies[stream_id].ended_at is not None)
        assert client.replies[stream_id].status == 200
        client.close()


def test_a_client_reset_stream_stops_its_body_only() -> None:
    with ServerThread(ServerConfig(h2=True)) as server:
        client = H2Client.connect(server.port)
        big = client.request(f"/bytes/{50 * 1024 * 1024}")
        client.until(lambda: len(client.replies[big].body) > 0)
        client.conn.reset_stream(big, ErrorCodes.CANCEL)
        client.flush()
        assert client.get("/").status == 200
        [record] = server.connections
        assert (record.requests, record.closed_by) == (1, None)
        assert record.bytes_out < 10 * 1024 * 1024
        client.close()


# --- GOAWAY: the HTTP/2 form of the close rules -----------------------------------------


def test_idle_timeout_sends_goaway_then_closes() -> None:
    with ServerThread(ServerConfig(h2=True, idle_timeout=0.3)) as server:
        client = H2Client.connect(server.port)
        reply = client.get("/")
        client.read_to_eof()
        [goaway] = client.goaways
        assert (goaway.last_stream_id, goaway.error_code) == (1, ErrorCodes.NO_ERROR)
        assert reply.ended_at is not None and client.eof_at is not None
        assert 0.2 < goaway.at - reply.ended_at < 2.0
        assert client.eof_at - goaway.at < 0.5
        client.close()
        [record] = closed_records(server)
    assert (record.closed_by, record.reason, record.requests) == ("server", "idle-timeout", 1)
    assert (record.goaway, record.last_stream_id) == ("NO_ERROR", 1)


def test_max_requests_sends_goaway_naming_the_nth_stream() -> None:
    lines: list[str] = []
    with ServerThread(ServerConfig(h2=True, max_requests=3), log=lines.append) as server:
        client = H2Client.connect(server.port)
        streams = [client.request("/delay/100") for _ in range(4)]
        assert streams == [1, 3, 5, 7]
        client.read_to_eof()
        [goaway] = client.goaways
        assert (goaway.last_stream_id, goaway.error_code) == (5, ErrorCodes.NO_ERROR)
        # Sent as the 3rd stream arrived, before the in-flight responses finished.
        assert goaway.seq < min(client.replies[s].seq for s in (1, 3, 5))
        assert [client.replies[s].status for s in (1, 3, 5)] == [200, 200, 200]
        assert client.replies[7] == Reply() and 7 not in client.resets  # not answered
        client.close()
        [record] = closed_records(server)
    assert (record.closed_by, record.reason, record.requests) == ("server", "max-requests", 3)
    assert (record.goaway, record.last_stream_id) == ("NO_ERROR", 5)
    assert lines[-1].endswith(", h2, GOAWAY NO_ERROR last_stream_id=5")


def test_close_always_sends_goaway_after_the_response() -> None:
    with ServerThread(ServerConfig(h2=True, close_always=True, http10=True)) as server:
        client = H2Client.connect(server.port)
        reply = client.get("/")  # http10 does not apply to HTTP/2
        client.read_to_eof()
        [goaway] = client.goaways
        assert (goaway.last_stream_id, goaway.error_code) == (1, ErrorCodes.NO_ERROR)
        assert reply.status == 200 and goaway.seq > reply.seq
        client.close()
        [record] = closed_records(server)
    assert (record.reason, record.requests, record.goaway) == ("close-always", 1, "NO_ERROR")


def test_drop_after_closes_without_goaway_or_answer() -> None:
    with ServerThread(ServerConfig(h2=True, drop_after=1)) as server:
        client = H2Client.connect(server.port)
        assert client.get("/").status == 200
        second = client.request("/")
        client.read_to_eof()
        assert client.replies[second] == Reply() and client.goaways == []
        client.close()
        [record] = closed_records(server)
    assert (record.closed_by, record.reason, record.requests) == ("server", "drop", 1)


def test_stream_gate_refuses_ignores_and_drains() -> None:
    gate = StreamGate(max_streams=2, limit=(3, "max-requests"))
    assert [gate.admit(1, 0), gate.admit(3, 1), gate.admit(5, 2)] == ["serve", "serve", "refuse"]
    assert (gate.last_stream, gate.drain_reason) == (None, None)
    assert gate.admit(7, 1) == "serve"  # the third served: the drain starts here
    assert (gate.last_stream, gate.drain_reason) == (7, "max-requests")
    assert gate.admit(9, 0) == "ignore" and gate.close_at() == 7
    idle = StreamGate(max_streams=100)
    assert idle.admit(1, 0) == "serve" and idle.close_at() == 1  # an idle GOAWAY
    assert idle.admit(3, 0) == "ignore"
    dropping = StreamGate(max_streams=100, drop_after=1)
    assert [dropping.admit(1, 0), dropping.admit(3, 0)] == ["serve", "drop"]
    gate = StreamGate.for_config(ServerConfig(close_always=True, max_requests=5, http10=True))
    assert (gate.max_streams, gate.limit) == (100, (1, "close-always"))


def test_streams_over_h2_streams_at_once_wait_their_turn() -> None:
    """Advertised 100, worked on 2 at a time: five 200 ms streams are all accepted (none
    refused) and answered two at a time, each pair after the one before."""
    with ServerThread(ServerConfig(h2=True, h2_streams_at_once=2)) as server:
        client = H2Client.connect(server.port)
        streams = [client.request("/delay/200") for _ in range(5)]
        client.until(lambda: all(client.replies[s].ended_at is not None for s in streams))
        assert [client.replies[s].status for s in streams] == [200] * 5
        assert client.resets == {}
        ends = [client.replies[s].ended_at or 0.0 for s in streams]
        waves = [1]
        for before, after in itertools.pairwise(ends):  # in stream order: FIFO
            if after - before > 0.1:
                waves.append(0)
            waves[-1] += 1
        assert waves == [2, 2, 1]
        client.close()
        [record] = server.connections
    assert (record.requests, record.refused) == (5, 0)


def test_idle_reaper_ends_h2_connections_with_goaway_on_its_tick() -> None:
    with ServerThread(ServerConfig(h2=True, idle_timeout=0.2, idle_reap_interval=0.3)) as server:
        client = H2Client.connect(server.port)
        reply = client.get("/")
        client.read_to_eof()
        [goaway] = client.goaways
        assert goaway.error_code == ErrorCodes.NO_ERROR and reply.ended_at is not None
        assert 0.18 < goaway.at - reply.ended_at < 0.2 + 0.3 + 0.3
        client.close()
        [record] = closed_records(server)
    assert (record.closed_by, record.reason) == ("server", "idle-timeout")


def test_stream_queue_works_on_a_few_and_hands_out_turns_in_order() -> None:
    queue = StreamQueue(limit=2)
    assert [queue.arrive(s) for s in (1, 3, 5, 7, 9)] == [True, True, False, False, False]
    assert queue.next_turn() is None
    queue.leave(7)  # reset while waiting: never gets a turn
    queue.leave(1)
    assert (queue.next_turn(), queue.next_turn()) == (5, None)
    queue.leave(3)
    queue.leave(5)
    assert queue.next_turn() == 9 and queue.working == {9} and not queue.waiting
    unlimited = StreamQueue(limit=None)
    assert all(unlimited.arrive(s) for s in range(1, 400, 2))


# --- misbehaving clients ----------------------------------------------------------------


def read_raw(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Every frame until the server closes."""
    buf = bytearray()
    while chunk := sock.recv(65536):
        buf += chunk
    return list(frames(buf))


def test_garbage_instead_of_the_preface_over_tls_gets_goaway_and_a_close() -> None:
    with ServerThread(ServerConfig(tls=True, h2=True)) as server:
        with tls_socket(server, ["h2"]) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            received = read_raw(sock)
        assert (GOAWAY, goaway_frame(0, ErrorCodes.PROTOCOL_ERROR)) in received
        [record] = closed_records(server)
    assert (record.reason, record.goaway) == ("protocol-error", "PROTOCOL_ERROR")


def test_a_bad_frame_after_the_preface_gets_goaway_protocol_error() -> None:
    with ServerThread(ServerConfig(h2=True)) as server:
        with socket.create_connection((HOST, server.port), timeout=WAIT) as sock:
            # RFC 9113 6.1: DATA on stream 0 is a connection error of type PROTOCOL_ERROR.
            sock.sendall(
                PREFACE
                + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                + b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x"
            )
            received = read_raw(sock)
        kinds = [kind for kind, _ in received]
        assert kinds[0] == 0x4 and kinds[-1] == GOAWAY  # our SETTINGS first, GOAWAY last
        assert received[-1][1][-4:] == ErrorCodes.PROTOCOL_ERROR.to_bytes(4, "big")
        [record] = closed_records(server)
    assert (record.closed_by, record.reason, record.goaway) == (
        "server",
        "protocol-error",
        "PROTOCOL_ERROR",
    )


def test_cleartext_garbage_is_http11_garbage() -> None:
    with ServerThread(ServerConfig(h2=True)) as server:
        for junk in (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
        ):
            with socket.create_connection((HOST, server.port), timeout=WAIT) as sock:
                sock.sendall(junk)
                sock.settimeout(WAIT)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 4")
        records = closed_records(server, 2)
    assert [(r.protocol, r.closed_by) for r in records] == [("http/1.1", "server")] * 2


def test_a_client_goaway_ends_the_connection() -> None:
    with ServerThread(ServerConfig(h2=True)) as server:
        client = H2Client.connect(server.port)
        assert client.get("/").status == 200
        client.conn.close_connection()
        client.flush()
        client.read_to_eof()
        client.close()
        [record] = closed_records(server)
    assert (record.closed_by, record.reason, record.goaway) == ("client", "client-close", None)


def test_a_request_body_that_never_ends_is_reset_alone() -> None:
    with ServerThread(ServerConfig(h2=True, request_timeout=0.2)) as server:
        client = H2Client.connect(server.port)
        stuck = client.conn.get_next_available_stream_id()
        client.conn.send_headers(
            stuck,
            [(b":method", b"POST"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"t")],
        )
        client.conn.send_data(stuck, b"partial")
        client.replies[stuck] = Reply()
        client.flush()
        client.until(lambda: stuck in client.resets)
        assert client.resets[stuck] == ErrorCodes.CANCEL
        assert client.get("/").status == 200  # the connection is still good
        client.close()
        [record] = closed_records(server)
    assert (record.requests, record.reason) == (1, "eof")


def test_a_client_that_stops_reading_is_cut_off() -> None:
    with ServerThread(ServerConfig(h2=True, request_timeout=0.3)) as server:
        client = H2Client.connect(server.port)
        client.request(f"/bytes/{10 * 1024 * 1024}")  # and never a WINDOW_UPDATE
        [record] = closed_records(server)
        client.close()
    assert (record.closed_by, record.reason, record.requests) == ("server", "write-timeout", 0)
    assert record.bytes_out < 1024 * 1024


def test_describe_names_the_h2_mode() -> None:
    assert (
        "h2 by ALPN or http/1.1, max 100 concurrent streams"
        in ServerConfig(tls=True, h2=True).describe()
    )
    assert (
        "h2c (prior knowledge) or HTTP/1.1, max 8"
        in ServerConfig(h2=True, max_streams=8).describe()
    )
    assert "h2" not in ServerConfig().describe()
