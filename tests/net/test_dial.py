"""Dialling over loopback: every dns/connect/tls start has its done, however it ends.

OkHttp's EventListener promise, kept by ``trace.span``: success, a refused port, a
certificate for another name, a timeout, and the run being cancelled mid-handshake each
leave a closed span with the reason in its ``error``; and a connection that connected
but never became usable ends with exactly one ``conn_closed``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from reusecheck.net.dial import ConnectionKey, Dialed, Timeouts, dial
from reusecheck.net.errors import RequestError
from reusecheck.net.request import Request
from reusecheck.net.tls import TLSOptions
from reusecheck.pool import Pool, PoolOptions
from reusecheck.server import ServerConfig, TargetServer
from reusecheck.server.misbehave import MisbehavingServer
from reusecheck.trace import Recorder
from tests.net.wire import fields, loopback, recorder_tracer, run, spans_closed


def names(rec: Recorder) -> list[str]:
    return [e.event for e in rec.events]


async def wait_for_event(rec: Recorder, name: str) -> None:
    while not rec.named(name):
        await asyncio.sleep(0.01)


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: the SYNs of a new connect go unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))  # in progress: never accepted
        fillers.append(s)
    yield port
    for s in fillers:
        s.close()
    listener.close()


@pytest.fixture
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


# -- success ---------------------------------------------------------------------------


def test_an_ip_literal_is_connected_without_dns() -> None:
    async def main() -> tuple[Recorder, Dialed, int]:
        rec, tracer = recorder_tracer()
        async with TargetServer(ServerConfig()) as srv:
            dialed = await dial(loopback(srv.port), 7, 3, tracer, Timeouts(), TLSOptions())
            dialed.channel.close()
            return rec, dialed, srv.port

    rec, dialed, port = run(main())
    assert names(rec) == ["connect_start", "connect_done"]
    start, done = fields(rec.events)
    assert start == {"request": 3, "conn": 7, "addr": f"127.0.0.1:{port}"}
    assert done == {
        "request": 3,
        "conn": 7,
        "local": dialed.local,
        "remote": f"127.0.0.1:{port}",
    }
    assert dialed.local.startswith("127.0.0.1:") and dialed.remote == f"127.0.0.1:{port}"
    assert dialed.tls is None


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_addresses_are_bracketed_as_a_packet_capture_shows_them() -> None:
    async def main() -> tuple[Recorder, Dialed, int]:
        rec, tracer = recorder_tracer()
        async with TargetServer(ServerConfig(host="::1")) as srv:
            key = ConnectionKey("http", "::1", srv.port)
            assert str(key) == f"http://[::1]:{srv.port}"
            dialed = await dial(key, 1, 0, tracer, Timeouts(), TLSOptions())
            dialed.channel.close()
            return rec, dialed, srv.port

    rec, dialed, port = run(main())
    assert names(rec) == ["connect_start", "connect_done"]  # an IP literal: no DNS
    assert rec.named("connect_start")[0].fields["addr"] == f"[::1]:{port}"
    assert dialed.remote == f"[::1]:{port}" and dialed.local.startswith("[::1]:")


def test_a_host_name_is_resolved_then_its_addresses_tried_in_turn() -> None:
    async def main() -> tuple[Recorder, int]:
        rec, tracer = recorder_tracer()
        # Listening on 127.0.0.1 only: when localhost also resolves to ::1, that address
        # is refused first and 127.0.0.1 tried next (Go's dialSerial).
        async with TargetServer(ServerConfig(host="127.0.0.1")) as srv:
            key = ConnectionKey("http", "localhost", srv.port)
            dialed = await dial(key, 1, 0, tracer, Timeouts(), TLSOptions())
            dialed.channel.close()
            return rec, srv.port

    rec, port = run(main())
    dns_start, dns_done = rec.named("dns_start", "dns_done")
    assert dns_start.fields == {"host": "localhost"} and dns_start.conn is None
    assert "127.0.0.1" in dns_done.fields["addrs"] and "error" not in dns_done.fields
    connects = rec.named("connect_done")
    assert connects[-1].fields["remote"] == f"127.0.0.1:{port}"
    assert "error" not in connects[-1].fields
    assert all("error" in c.fields for c in connects[:-1])
    assert len(rec.named("connect_start")) == len(connects) <= len(dns_done.fields["addrs"])
    assert spans_closed(rec.events)


def test_tls_handshake_is_a_span_with_what_was_negotiated() -> None:
    async def main() -> tuple[Recorder, Dialed]:
        rec, tracer = recorder_tracer()
        async with TargetServer(ServerConfig(tls=True, h2=True)) as srv:
            tls = TLSOptions(cacert=str(srv.ca_path), alpn=("h2", "http/1.1"))
            key = loopback(srv.port, "https")
            dialed = await dial(key, 1, 0, tracer, Timeouts(), tls)
            dialed.channel.close()
            return rec, dialed

    rec, dialed = run(main())
    assert names(rec) == ["connect_start", "connect_done", "tls_start", "tls_done"]
    start, done = rec.named("tls_start", "tls_done")
    assert start.fields == {
        "server_name": "127.0.0.1",
        "alpn_offered": ["h2", "http/1.1"],
        "session_offered": False,
    }
    assert dialed.tls is not None
    assert done.fields == dialed.tls.to_dict()
    assert done.fields["alpn"] == "h2" and done.fields["resumed"] is False


# -- failures --------------------------------------------------------------------------


def test_a_refused_port_closes_the_connect_span_and_opens_no_connection(
    closed_port: int,
) -> None:
    async def main() -> tuple[Recorder, RequestError]:
        rec, tracer = recorder_tracer()
        with pytest.raises(RequestError) as info:
            await dial(loopback(closed_port), 1, 0, tracer, Timeouts(), TLSOptions())
        return rec, info.value

    rec, err = run(main())
    assert err.kind == "connect" and "refused" in err.message.lower()
    assert names(rec) == ["connect_start", "connect_done"]  # no conn_closed: never connected
    assert rec.named("connect_done")[0].fields == {
        "local": None,
        "remote": f"127.0.0.1:{closed_port}",
        "error": err.message,
    }


def test_an_unknown_host_closes_the_dns_span_with_no_addresses() -> None:
    async def main() -> tuple[Recorder, RequestError]:
        rec, tracer = recorder_tracer()
        key = ConnectionKey("http", "no-such-host.invalid", 80)  # RFC 6761: never resolves
        with pytest.raises(RequestError) as info:
            await dial(key, 1, 0, tracer, Timeouts(connect=2.0), TLSOptions())
        return rec, info.value

    rec, err = run(main())
    assert err.kind == "dns"
    assert names(rec) == ["dns_start", "dns_done"]
    assert rec.named("dns_done")[0].fields == {"addrs": [], "error": err.message}


def test_a_connect_that_is_never_answered_is_a_connect_timeout(full_backlog: int) -> None:
    async def main() -> tuple[Recorder, RequestError]:
        rec, tracer = recorder_tracer()
        with pytest.raises(RequestError) as info:
            await dial(loopback(full_backlog), 1, 0, tracer, Timeouts(connect=0.3), TLSOptions())
        return rec, info.value

    rec, err = run(main())
    assert err.kind == "connect-timeout" and "0.3 s" in err.message
    assert names(rec) == ["connect_start", "connect_done"]
    assert rec.named("connect_done")[0].fields["error"] == err.message


def _ca_file(tmp_path: Path, srv: MisbehavingServer) -> str:
    assert srv.ca_pem is not None
    path = tmp_path / "ca.pem"
    path.write_bytes(srv.ca_pem)
    return str(path)


def test_a_certificate_for_another_name_fails_tls_and_closes_the_connection_once(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[Recorder, RequestError]:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("tls-wrong-name") as srv:
            tls = TLSOptions(cacert=_ca_file(tmp_path, srv))  # trusted CA, wrong name
            with pytest.raises(RequestError) as info:
                await dial(loopback(srv.port, "https"), 1, 0, tracer, Timeouts(), tls)
        return rec, info.value

    rec, err = run(main())
    assert err.kind == "tls"
    assert err.message.startswith("certificate verification failed")
    assert "mismatch" in err.message  # the name, not the chain, is what is wrong
    assert names(rec) == ["connect_start", "connect_done", "tls_start", "tls_done", "conn_closed"]
    assert rec.named("tls_done")[0].fields == {"error": err.message}
    assert fields(rec.named("conn_closed")) == [
        {
            "request": 0,
            "conn": 1,
            "closed_by": "client",
            "reason": "error",
            "requests": 0,
            "error": err.message,
        }
    ]


def test_a_handshake_never_answered_is_a_tls_timeout_and_one_close() -> None:
    async def main() -> tuple[Recorder, RequestError]:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("tls-stall") as srv:
            key = loopback(srv.port, "https")
            with pytest.raises(RequestError) as info:
                await dial(key, 1, 0, tracer, Timeouts(tls=0.2), TLSOptions(insecure=True))
        return rec, info.value

    rec, err = run(main())
    assert err.kind == "tls-timeout" and "0.2 s" in err.message
    assert rec.named("tls_done")[0].fields == {"error": err.message}
    closed = rec.named("conn_closed")
    assert len(closed) == 1 and closed[0].fields["reason"] == "error"
    assert spans_closed(rec.events)


# -- cancellation ----------------------------------------------------------------------


def test_cancelled_mid_handshake_ends_the_tls_span_and_closes_once() -> None:
    async def main() -> Recorder:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("tls-stall") as srv:
            key = loopback(srv.port, "https")
            task = asyncio.create_task(
                dial(key, 1, 0, tracer, Timeouts(), TLSOptions(insecure=True))
            )
            await wait_for_event(rec, "tls_start")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return rec

    rec = run(main())
    assert names(rec) == ["connect_start", "connect_done", "tls_start", "tls_done", "conn_closed"]
    assert rec.named("tls_done")[0].fields["error"].startswith("cancelled")
    assert rec.named("conn_closed")[0].fields == {
        "closed_by": "client",
        "reason": "end-of-run",
        "requests": 0,
    }


def test_cancelled_mid_connect_ends_the_connect_span_without_a_close(full_backlog: int) -> None:
    async def main() -> Recorder:
        rec, tracer = recorder_tracer()
        task = asyncio.create_task(
            dial(loopback(full_backlog), 1, 0, tracer, Timeouts(), TLSOptions())
        )
        await wait_for_event(rec, "connect_start")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return rec

    rec = run(main())
    assert names(rec) == ["connect_start", "connect_done"]
    done = rec.named("connect_done")[0].fields
    assert done["local"] is None and done["error"].startswith("cancelled")


def test_pool_failing_tls_records_one_close_per_connection(tmp_path: Path) -> None:
    async def main() -> tuple[Recorder, RequestError]:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("tls-wrong-name") as srv:
            pool = Pool(tracer, PoolOptions(tls=TLSOptions(cacert=_ca_file(tmp_path, srv))))
            try:
                with pytest.raises(RequestError) as info:
                    await pool.round_trip(Request("GET", f"https://127.0.0.1:{srv.port}/"), 0)
            finally:
                await pool.close()
        return rec, info.value

    rec, err = run(main())
    assert err.kind == "tls"
    assert len(rec.named("connect_done")) == len(rec.named("conn_closed")) == 1
    assert spans_closed(rec.events)


def test_request_cancelled_then_pool_closed_mid_handshake_closes_once() -> None:
    """The runner's way to stop: the deadline cancels the request, then the pool closes."""

    async def main() -> Recorder:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("tls-stall") as srv:
            pool = Pool(tracer, PoolOptions(tls=TLSOptions(insecure=True)))
            req = Request("GET", f"https://127.0.0.1:{srv.port}/")
            task = asyncio.create_task(pool.round_trip(req, 0))
            await wait_for_event(rec, "tls_start")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await pool.close()
        return rec

    rec = run(main())
    assert spans_closed(rec.events)
    assert rec.named("tls_done")[0].fields["error"].startswith("cancelled")
    closed = rec.named("conn_closed")
    assert len(closed) == 1 and closed[0].fields["reason"] == "end-of-run"


def test_pool_closed_mid_handshake_ends_the_request_waiting_for_that_dial() -> None:
    async def main() -> BaseException | None:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("tls-stall") as srv:
            pool = Pool(tracer, PoolOptions(tls=TLSOptions(insecure=True)))
            req = Request("GET", f"https://127.0.0.1:{srv.port}/")
            task = asyncio.create_task(pool.round_trip(req, 0))
            await wait_for_event(rec, "tls_start")
            await pool.close()
            done, _ = await asyncio.wait([task], timeout=1.0)
            if not done:
                task.cancel()
                return None
            return asyncio.CancelledError() if task.cancelled() else task.exception()

    ended = run(main())
    assert ended is not None  # the request heard that its connection will never come
