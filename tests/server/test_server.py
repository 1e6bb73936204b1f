"""The built-in target server, against raw asyncio-stream and socket clients on 127.0.0.1.

The clients here read the wire directly (not through reusecheck's client), so each test
checks the bytes a real client would see and the server's own ConnRecord side by side.
Timing assertions are deliberately loose: they separate "closed by the timer" from
"never closed" or "closed at once", not milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reusecheck.server import ConnRecord, ServerConfig, ServerThread, TargetServer
from reusecheck.server.policy import keepalive_value
from reusecheck.server.records import format_peer

HOST = "127.0.0.1"
WAIT = 5.0  # bound on every single read in these tests


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run the coroutine on a fresh loop, and fail if anything reached the loop's
    exception handler (the server must absorb every client misbehaviour)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        errors: list[dict[str, Any]] = []

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            # asyncio's debug mode reports every failed TLS handshake this way, by design.
            if not (loop.get_debug() and context["message"].startswith("Error on transport")):
                errors.append(context)

        async def main() -> None:
            asyncio.get_running_loop().set_exception_handler(handler)
            try:
                await asyncio.wait_for(fn(*args, **kwargs), 20)
            finally:
                while Client.opened:
                    await Client.opened.pop().close()

        asyncio.run(main())
        assert errors == []

    return wrapper


@dataclass
class Response:
    version: bytes
    status: int
    headers: dict[bytes, bytes]
    body: bytes


class Client:
    """One connection, requests written by hand, responses parsed by hand."""

    opened: ClassVar[list[Client]] = []  # closed by async_test when the test ends, however it ends

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, **kwargs: Any) -> Client:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, limit=1 << 20, **kwargs), WAIT
        )
        client = cls(reader, writer)
        cls.opened.append(client)
        return client

    def send(
        self, path: str = "/", method: str = "GET", extra: str = "", body: bytes = b""
    ) -> None:
        if body:
            extra += f"Content-Length: {len(body)}\r\n"
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode() + body)

    async def response(self, head_only: bool = False) -> Response:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        status_line, *lines = head[:-4].split(b"\r\n")
        version, status, _ = status_line.split(b" ", 2)
        headers = dict(line.lower().split(b": ", 1) for line in lines)
        length = 0 if head_only else int(headers.get(b"content-length", b"0"))
        body = await asyncio.wait_for(self.reader.readexactly(length), WAIT)
        return Response(version, int(status), headers, body)

    async def get(self, path: str = "/", **kwargs: Any) -> Response:
        self.send(path, **kwargs)
        return await self.response(head_only=kwargs.get("method") == "HEAD")

    async def eof(self) -> bool:
        """True when the server closed: the next read returns nothing at all."""
        return await asyncio.wait_for(self.reader.read(1), WAIT) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await asyncio.wait_for(self.writer.wait_closed(), WAIT)


async def closed_record(server: TargetServer, index: int = 0) -> ConnRecord:
    """The index-th connection's record once the server has seen it end."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        records = server.connections
        if len(records) > index and records[index].closed_at is not None:
            return records[index]
        await asyncio.sleep(0.01)
    raise AssertionError(f"connection {index} still open: {server.connections}")


# --- keep-alive and the close behaviours ---------------------------------------------


@async_test
async def test_keepalive_serves_many_requests_on_one_connection() -> None:
    lines: list[str] = []
    async with TargetServer(ServerConfig(), log=lines.append) as server:
        client = await Client.connect(server.port)
        for _ in range(20):
            r = await client.get("/")
            assert (r.version, r.status, r.body) == (b"HTTP/1.1", 200, b"ok\n")
            assert b"connection" not in r.headers
        [record] = server.connections
        assert record.requests == 20 and record.closed_by is None
        await client.close()
        record = await closed_record(server)
    assert (record.closed_by, record.reason, record.requests) == ("client", "eof", 20)
    assert lines[0] == f"conn 1 open {record.peer}"
    assert lines[1].startswith("conn 1 closed by client (eof) after 20 requests, ")


@async_test
async def test_pipelined_requests_are_answered_in_order() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        for path in ("/status/201", "/status/202", "/status/203"):
            client.send(path)
        assert [(await client.response()).status for _ in range(3)] == [201, 202, 203]
        assert server.connections[0].requests == 3
        await client.close()


@async_test
async def test_close_always() -> None:
    async with TargetServer(ServerConfig(close_always=True)) as server:
        client = await Client.connect(server.port)
        r = await client.get("/")
        assert r.headers[b"connection"] == b"close"
        assert await client.eof()
        record = await closed_record(server)
    assert (record.closed_by, record.reason, record.requests) == ("server", "close-always", 1)


@async_test
async def test_http10_answers_with_a_1_0_status_line_and_closes() -> None:
    async with TargetServer(ServerConfig(http10=True)) as server:
        client = await Client.connect(server.port)
        client.send("/")
        head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.0 200 OK\r\n")
        assert b"keep-alive" not in head.lower()
        assert b"content-length: 3\r\n" in head
        assert await asyncio.wait_for(client.reader.read(), WAIT) == b"ok\n"  # then EOF
        record = await closed_record(server)
    assert (record.closed_by, record.reason, record.requests) == ("server", "http10", 1)


@async_test
async def test_max_requests_closes_after_the_nth_with_connection_close() -> None:
    async with TargetServer(ServerConfig(max_requests=3)) as server:
        client = await Client.connect(server.port)
        first, second, third = [await client.get("/") for _ in range(3)]
        assert b"connection" not in first.headers and b"connection" not in second.headers
        assert third.headers[b"connection"] == b"close"
        assert await client.eof()
        record = await closed_record(server)
    assert (record.closed_by, record.reason, record.requests) == ("server", "max-requests", 3)


@async_test
async def test_idle_timeout_closes_an_idle_connection() -> None:
    async with TargetServer(ServerConfig(idle_timeout=0.3)) as server:
        client = await Client.connect(server.port)
        await client.get("/")
        answered = time.monotonic()
        assert await client.eof()
        idle = time.monotonic() - answered
        record = await closed_record(server)
    assert 0.2 < idle < 2.0
    assert (record.closed_by, record.reason, record.requests) == ("server", "idle-timeout", 1)


@async_test
async def test_each_request_restarts_the_idle_timer() -> None:
    async with TargetServer(ServerConfig(idle_timeout=0.4)) as server:
        client = await Client.connect(server.port)
        for _ in range(5):  # 5 x 0.15 s: well past one idle timeout in total
            await client.get("/")
            await asyncio.sleep(0.15)
        await client.get("/")
        assert server.connections[0].closed_at is None
        assert len(server.connections) == 1
        await client.close()


@async_test
async def test_idle_timer_does_not_run_during_a_slow_response() -> None:
    async with TargetServer(ServerConfig(idle_timeout=0.1)) as server:
        client = await Client.connect(server.port)
        assert (await client.get("/delay/300")).status == 200
        assert server.connections[0].closed_at is None
        await client.close()


@async_test
async def test_drop_after_closes_without_answering_the_next_request() -> None:
    async with TargetServer(ServerConfig(drop_after=2)) as server:
        client = await Client.connect(server.port)
        await client.get("/")
        await client.get("/")
        client.send("/")
        assert await client.eof()  # not a single byte of a response
        record = await closed_record(server)
    assert (record.closed_by, record.reason, record.requests) == ("server", "drop", 2)


@async_test
async def test_client_connection_close_is_honoured() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        r = await client.get("/", extra="Connection: close\r\n")
        assert r.headers[b"connection"] == b"close"
        assert await client.eof()
        record = await closed_record(server)
    assert (record.closed_by, record.reason) == ("server", "client-close")


@async_test
async def test_keepalive_hint_and_override() -> None:
    config = ServerConfig(idle_timeout=5, max_requests=2, keepalive_hint=True)
    async with TargetServer(config) as server:
        client = await Client.connect(server.port)
        first, last = await client.get("/"), await client.get("/")
        assert first.headers[b"keep-alive"] == b"timeout=5, max=2"
        assert b"keep-alive" not in last.headers  # the closing response promises nothing
        await client.close()
    async with TargetServer(ServerConfig(keepalive_hint_override="timeout=90")) as server:
        client = await Client.connect(server.port)
        assert (await client.get("/")).headers[b"keep-alive"] == b"timeout=90"
        await client.close()
    assert keepalive_value(ServerConfig(keepalive_hint=True)) is None  # nothing to hint


@async_test
async def test_client_reset_is_recorded_as_reset() -> None:
    async with TargetServer() as server:
        sock = socket.create_connection((HOST, server.port), timeout=WAIT)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await asyncio.sleep(0.1)
        # SO_LINGER 0: close() sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        record = await closed_record(server)
    assert (record.closed_by, record.reason) == ("client", "reset")


@async_test
async def test_server_close_drops_open_connections() -> None:
    server = await TargetServer().start()
    client = await Client.connect(server.port)
    await client.get("/")
    await server.close()
    assert await client.eof()
    [record] = server.connections
    assert (record.closed_by, record.reason) == ("server", "shutdown")
    with pytest.raises(OSError):
        await asyncio.open_connection(HOST, server.port)
    await client.close()


# --- paths ---------------------------------------------------------------------------


@async_test
async def test_bytes_returns_exactly_n_bytes_and_head_has_no_body() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        for n in (0, 1, 65_535, 65_536, 65_537, 5 * 1024 * 1024 + 7):
            r = await client.get(f"/bytes/{n}")
            assert (r.status, int(r.headers[b"content-length"]), len(r.body)) == (200, n, n)
        head = await client.get("/bytes/1000", method="HEAD")
        assert head.headers[b"content-length"] == b"1000" and head.body == b""
        assert (await client.get("/")).body == b"ok\n"  # still in step after the HEAD
        assert (await client.get(f"/bytes/{(1 << 30) + 1}")).status == 400
        await client.close()


@async_test
async def test_large_body_is_written_under_flow_control() -> None:
    size = 64 * 1024 * 1024
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        client.send(f"/bytes/{size}")
        await asyncio.sleep(0.3)  # read nothing: the server must stop at the socket buffers
        assert server.connections[0].bytes_out < size // 4
        r = await client.response()
        assert len(r.body) == size
        assert (await client.get("/")).status == 200
        await client.close()


@async_test
async def test_delay_waits_before_answering() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        started = time.monotonic()
        r = await client.get("/delay/200")
        assert r.status == 200 and time.monotonic() - started >= 0.18
        assert (await client.get("/delay/60001")).status == 400
        await client.close()


@async_test
async def test_status_and_unknown_paths() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        assert (await client.get("/status/503")).status == 503
        no_content = await client.get("/status/204")
        assert no_content.status == 204 and b"content-length" not in no_content.headers
        assert (await client.get("/status/100")).status == 400  # not a final status
        assert (await client.get("/nope")).status == 404
        assert (await client.get("/?q=1")).status == 200
        assert (await client.get("/", method="CONNECT")).status == 405
        assert server.connections[0].closed_at is None
        await client.close()


@async_test
async def test_request_bodies_are_read_and_discarded() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        assert (await client.get("/", method="POST", body=b"x" * 100_000)).status == 200
        chunked = "Transfer-Encoding: chunked\r\n"
        client.writer.write(
            f"POST / HTTP/1.1\r\nHost: t\r\n{chunked}\r\n5\r\nhello\r\n0\r\n\r\n".encode()
        )
        assert (await client.response()).status == 200
        assert (await client.get("/")).status == 200
        assert server.connections[0].requests == 3
        await client.close()


# --- misbehaving clients -------------------------------------------------------------


@async_test
async def test_garbage_gets_400_and_a_close() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        client.writer.write(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
        r = await client.response()
        assert r.status == 400 and r.headers[b"connection"] == b"close"
        assert await client.eof()
        record = await closed_record(server)
    assert (record.closed_by, record.reason) == ("server", "bad-request")


@async_test
async def test_http10_mode_rejects_garbage_in_http10() -> None:
    async with TargetServer(ServerConfig(http10=True)) as server:
        client = await Client.connect(server.port)
        client.writer.write(b"NOT HTTP\r\n\r\n")
        r = await client.response()
        assert (r.version, r.status) == (b"HTTP/1.0", 400)
        assert await client.eof()


@async_test
async def test_a_stalled_request_times_out() -> None:
    async with TargetServer(ServerConfig(request_timeout=0.2)) as server:
        client = await Client.connect(server.port)
        client.writer.write(b"GET / HTTP/1.1\r\nHost:")
        assert await client.eof()
        record = await closed_record(server)
    assert (record.closed_by, record.reason) == ("server", "request-timeout")


@async_test
async def test_client_half_close_after_request_still_gets_the_answer() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        client.send("/delay/50")
        client.writer.write_eof()
        assert (await client.response()).body == b"ok\n"
        assert await client.eof()
        record = await closed_record(server)
    assert (record.closed_by, record.reason, record.requests) == ("client", "eof", 1)


@async_test
async def test_client_eof_mid_request_is_not_an_error() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        client.writer.write(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        client.writer.write_eof()
        assert await client.eof()
        record = await closed_record(server)
    assert (record.closed_by, record.reason, record.requests) == ("client", "eof", 0)


@async_test
async def test_many_requests_on_one_connection() -> None:
    async with TargetServer() as server:
        client = await Client.connect(server.port)
        for _ in range(1000):
            client.send("/")
            await client.response()
        assert server.connections[0].requests == 1000
        await client.close()


# --- TLS -----------------------------------------------------------------------------


@async_test
async def test_tls_validates_with_the_ca_file_for_ip_and_name() -> None:
    async with TargetServer(ServerConfig(tls=True)) as server:
        assert server.url == f"https://127.0.0.1:{server.port}/"
        assert server.ca_path is not None and server.ca_path.read_bytes() == server.ca_pem
        ca_path = server.ca_path
        context = ssl.create_default_context(cafile=str(ca_path))
        for name in ("127.0.0.1", "localhost"):
            client = await Client.connect(server.port, ssl=context, server_hostname=name)
            assert client.writer.get_extra_info("ssl_object").selected_alpn_protocol() is None
            assert [(await client.get("/")).status for _ in range(3)] == [200, 200, 200]
            await client.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            await Client.connect(server.port, ssl=ssl.create_default_context())
        assert [r.requests for r in await wait_all_closed(server, 2)] == [3, 3]
    assert not ca_path.exists()


async def wait_all_closed(server: TargetServer, count: int) -> list[ConnRecord]:
    for i in range(count):
        await closed_record(server, i)
    return server.connections


@async_test
async def test_tls_idle_timeout_reaches_the_client_as_eof() -> None:
    async with TargetServer(ServerConfig(tls=True, idle_timeout=0.2)) as server:
        assert server.ca_path is not None
        context = ssl.create_default_context(cafile=str(server.ca_path))
        client = await Client.connect(server.port, ssl=context, server_hostname="localhost")
        await client.get("/")
        assert await client.eof()
        record = await closed_record(server)
        await client.close()
    assert (record.closed_by, record.reason) == ("server", "idle-timeout")


# --- ServerThread and serve_forever ----------------------------------------------------


def open_sockets() -> int:
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed between listing and reading
            count += os.readlink(fd).startswith("socket:")
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to count sockets")
def test_server_thread_starts_stops_and_leaves_no_sockets() -> None:
    before = open_sockets()
    with ServerThread(ServerConfig(max_requests=2)) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/"
        with socket.create_connection((HOST, server.port), timeout=WAIT) as idle:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert idle.recv(1024).startswith(b"HTTP/1.1 200 ")
            with socket.create_connection((HOST, server.port), timeout=WAIT) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                assert data.count(b"HTTP/1.1 200 ") == 2 and b"connection: close" in data
            server.stop()
            assert idle.recv(1024) == b""  # stop closed the idle connection too
        records = server.connections
        assert [(r.closed_by, r.reason) for r in records] == [
            ("server", "shutdown"),
            ("server", "max-requests"),
        ]
    assert not server._thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection((HOST, server.port), timeout=WAIT).close()
    assert open_sockets() == before


def test_server_thread_reports_a_bind_error() -> None:
    with ServerThread() as first, pytest.raises(OSError):
        ServerThread(ServerConfig(port=first.port)).start()


def test_serve_forever_prints_the_url_and_stops_cleanly_on_sigterm() -> None:
    code = "from reusecheck.server import *; serve_forever(ServerConfig())"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert first.startswith("reusecheck target listening on http://127.0.0.1:")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=WAIT)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert b"Traceback" not in err
    assert b"stopping" in out


# --- small pure pieces ---------------------------------------------------------------


def test_config_rejects_nonsense() -> None:
    for bad in (
        {"port": 70000},
        {"idle_timeout": -1},
        {"max_requests": 0},
        {"drop_after": -1},
        {"request_timeout": 0},
        {"keepalive_hint_override": "x\r\nSet-Cookie: a=b"},
    ):
        with pytest.raises(ValueError):
            ServerConfig(**bad)
    assert "h2c" in ServerConfig(h2=True).describe()


def test_peer_and_url_formatting() -> None:
    assert format_peer(("127.0.0.1", 5)) == "127.0.0.1:5"
    assert format_peer(("::1", 5, 0, 0)) == "[::1]:5"
    server = TargetServer(ServerConfig(host="::1"))
    server._port = 8080  # not started: only the formatting is under test
    assert server.url == "http://[::1]:8080/"


# --- the periodic idle reaper (idle_reap_interval) -----------------------------------


@async_test
async def test_a_periodic_reaper_closes_idle_connections_on_its_ticks() -> None:
    """Connections that went idle at different moments are closed together, on the
    reaper's ticks, each once idle for the idle timeout or more: the close lands anywhere
    from idle_timeout to idle_timeout + the interval after the connection went idle."""
    config = ServerConfig(idle_timeout=0.3, idle_reap_interval=0.5)
    async with TargetServer(config) as server:
        idle_for = []
        clients = []
        for _ in range(4):
            client = await Client.connect(server.port)
            await client.get("/")
            clients.append((client, time.monotonic()))
            await asyncio.sleep(0.12)
        for client, went_idle in clients:
            assert await client.eof()
            idle_for.append(time.monotonic() - went_idle)
        records = [await closed_record(server, i) for i in range(4)]
    assert {(r.closed_by, r.reason, r.requests) for r in records} == {("server", "idle-timeout", 1)}
    assert all(0.28 <= idle < 0.3 + 0.5 + 0.3 for idle in idle_for)
    first = min(r.closed_at or 0.0 for r in records)
    for r in records:  # each on a tick: a whole number of intervals after the first close
        ticks = ((r.closed_at or 0.0) - first) / 0.5
        assert abs(ticks - round(ticks)) < 0.1


@async_test
async def test_the_reaper_leaves_a_connection_busy_with_a_response() -> None:
    config = ServerConfig(idle_timeout=0.1, idle_reap_interval=0.1)
    async with TargetServer(config) as server:
        client = await Client.connect(server.port)
        assert (await client.get("/delay/400")).status == 200  # several ticks
        assert server.connections[0].closed_at is None
        assert await client.eof()  # then idle: the next ticks close it
        record = await closed_record(server)
    assert (record.closed_by, record.reason, record.requests) == ("server", "idle-timeout", 1)


def test_reaper_and_queue_settings_are_checked_and_described() -> None:
    with pytest.raises(ValueError, match="needs an idle_timeout"):
        ServerConfig(idle_reap_interval=1.0)
    with pytest.raises(ValueError, match="positive"):
        ServerConfig(idle_timeout=1.0, idle_reap_interval=0.0)
    with pytest.raises(ValueError, match="h2_streams_at_once"):
        ServerConfig(h2=True, h2_streams_at_once=0)
    described = ServerConfig(idle_timeout=3.0, idle_reap_interval=1.0).describe()
    assert "idle timeout 3 s (checked every 1 s)" in described
    queued = ServerConfig(h2=True, h2_streams_at_once=12).describe()
    assert "max 100 concurrent streams, 12 worked on at once, the rest queued" in queued
