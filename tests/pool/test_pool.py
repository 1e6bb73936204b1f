"""The pool against the built-in server over real loopback sockets.

Each test asserts what a user reads off the event stream: which connection carried a
request, whether it was reused or idle, and why a connection ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from reusecheck.net.dial import Timeouts
from reusecheck.net.errors import RequestError
from reusecheck.net.request import Request
from reusecheck.net.tls import TLSOptions
from reusecheck.pool import Pool, PoolOptions
from reusecheck.server import ServerConfig, TargetServer
from reusecheck.trace import Event, Recorder, Tracer


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))  # type: ignore[arg-type]


class Harness:
    def __init__(self, server: TargetServer, options: PoolOptions | None = None) -> None:
        self.server = server
        self.recorder = Recorder()
        self.tracer = Tracer(self.recorder)
        self.pool = Pool(self.tracer, options)
        self.index = 0

    def url(self, path: str = "/") -> str:
        return self.server.url.rstrip("/") + path

    async def get(self, path: str = "/", body: str = "drain", method: str = "GET") -> Any:
        i = self.index
        self.index += 1
        resp = await self.pool.round_trip(Request(method, self.url(path)), i)
        if body == "drain":
            await resp.read()
        elif body == "close":
            resp.close()
        return resp

    def named(self, name: str) -> list[Event]:
        return self.recorder.named(name)

    def got(self) -> list[dict[str, Any]]:
        return [{"conn": e.conn, **e.fields} for e in self.named("got_conn")]

    def closed(self) -> list[dict[str, Any]]:
        return [{"conn": e.conn, **e.fields} for e in self.named("conn_closed")]


async def with_server(
    config: ServerConfig,
    body: Callable[[Harness], Awaitable[None]],
    options: PoolOptions | None = None,
) -> Harness:
    async with TargetServer(config) as srv:
        h = Harness(srv, options)
        try:
            await body(h)
        finally:
            await h.pool.close()
    return h


def test_sequential_requests_reuse_one_connection() -> None:
    async def body(h: Harness) -> None:
        for _ in range(5):
            resp = await h.get()
            assert resp.status == 200

    h = run(with_server(ServerConfig(), body))
    got = h.got()
    assert [g["conn"] for g in got] == [1] * 5
    assert [g["reused"] for g in got] == [False, True, True, True, True]
    assert all(g["was_idle"] for g in got[1:])
    assert all(g["idle_time_s"] >= 0 for g in got)
    assert len(h.named("connect_start")) == 1
    # One connection, closed by us at the end of the run, after carrying 5 requests.
    assert h.closed() == [{"conn": 1, "closed_by": "client", "reason": "end-of-run", "requests": 5}]
    assert len(h.server.connections) == 1


def test_request_events_run_from_get_conn_to_body_done_in_order() -> None:
    async def body(h: Harness) -> None:
        await h.get()

    h = run(with_server(ServerConfig(), body))
    names = [e.event for e in h.recorder.events if e.request == 0]
    assert names == [
        "get_conn",
        "connect_start",
        "connect_done",
        "got_conn",
        "wrote_headers",
        "wrote_request",
        "got_first_byte",
        "response_headers",
        "body_done",
        "put_idle",
    ]
    done = h.named("connect_done")[0].fields
    assert done["remote"] == f"127.0.0.1:{h.server.port}"
    assert done["local"].startswith("127.0.0.1:")
    times = [e.t for e in h.recorder.events]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("config", "reason", "version"),
    [
        (ServerConfig(close_always=True), "connection-close-header", "1.1"),
        (ServerConfig(http10=True), "http10", "1.0"),
    ],
)
def test_non_reusable_server_gives_new_connection_per_request(
    config: ServerConfig, reason: str, version: str
) -> None:
    async def body(h: Harness) -> None:
        for _ in range(3):
            await h.get()

    h = run(with_server(config, body))
    assert [g["conn"] for g in h.got()] == [1, 2, 3]
    assert not any(g["reused"] for g in h.got())
    assert {r.fields["http_version"] for r in h.named("response_headers")} == {version}
    closed = h.closed()
    assert [c["reason"] for c in closed] == [reason] * 3
    assert {c["closed_by"] for c in closed} == {"server"}
    assert [p.fields["ok"] for p in h.named("put_idle")] == [False] * 3


def test_max_requests_3_gives_a_new_connection_on_the_fourth() -> None:
    async def body(h: Harness) -> None:
        for _ in range(5):
            await h.get()

    h = run(with_server(ServerConfig(max_requests=3), body))
    assert [g["conn"] for g in h.got()] == [1, 1, 1, 2, 2]
    first = h.closed()[0]
    assert first == {
        "conn": 1,
        "closed_by": "server",
        "reason": "connection-close-header",
        "requests": 3,
    }
    assert h.named("response_headers")[2].fields["connection"] == "close"


def test_server_idle_timeout_is_seen_while_idle_and_next_request_redials() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await asyncio.sleep(1.0)  # the server closes after 0.5 s of idleness
        await h.get()

    h = run(with_server(ServerConfig(idle_timeout=0.5), body))
    idle = h.named("idle_closed")
    assert len(idle) == 1
    assert idle[0].conn == 1 and idle[0].fields["reason"] == "eof"
    assert idle[0].fields["closed_by"] == "server"
    assert 0.45 <= idle[0].fields["idle_time_s"] <= 0.9
    assert h.closed()[0]["reason"] == "idle-timeout"
    got = h.got()
    assert [g["conn"] for g in got] == [1, 2] and not got[1]["reused"]
    assert h.named("retry") == []
    assert [r.fields["status"] for r in h.named("response_headers")] == [200, 200]
    assert [b.fields["complete"] for b in h.named("body_done")] == [True, True]


def test_unread_body_keeps_the_connection_out_of_the_pool() -> None:
    async def body(h: Harness) -> None:
        await h.get("/bytes/100000", body="ignore")  # never read, never closed
        await h.get()  # must not get the pinned connection

    h = run(with_server(ServerConfig(), body))
    assert [g["conn"] for g in h.got()] == [1, 2]
    # At the end of the run the pinned connection is given up for its unread body.
    put = [p for p in h.named("put_idle") if p.conn == 1]
    assert put[-1].fields == {"ok": False, "reason": "body-not-drained", "idle_conns": 1}
    assert {"conn": 1, "closed_by": "client", "reason": "body-not-drained", "requests": 1} in (
        h.closed()
    )


def test_closing_an_unread_body_closes_the_connection() -> None:
    async def body(h: Harness) -> None:
        await h.get("/bytes/100000", body="close")
        await h.get()

    h = run(with_server(ServerConfig(), body))
    assert [g["conn"] for g in h.got()] == [1, 2]
    assert h.closed()[0]["reason"] == "body-not-drained"


def test_stale_reused_connection_is_retried_once_on_a_new_connection() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        resp = await h.get()  # the server drops this one without answering
        assert resp.status == 200 and resp.retried

    h = run(with_server(ServerConfig(drop_after=1), body))
    retry = h.named("retry")
    assert len(retry) == 1 and retry[0].request == 1 and retry[0].conn == 1
    got = [(e.request, e.conn, e.fields["reused"]) for e in h.named("got_conn")]
    assert got == [(0, 1, False), (1, 1, True), (1, 2, False)]
    assert h.closed()[0]["closed_by"] == "server"


def test_non_replayable_request_is_not_retried() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        with pytest.raises(RequestError) as info:
            await h.get(method="POST")
        assert info.value.kind == "server-closed" and info.value.before_response

    h = run(with_server(ServerConfig(drop_after=1), body))
    assert h.named("retry") == []


def test_max_idle_per_host_2_keeps_only_two_of_five_concurrent() -> None:
    async def body(h: Harness) -> None:
        await asyncio.gather(*(h.get("/delay/100") for _ in range(5)))
        assert h.pool.idle_count() == 2
        await asyncio.gather(*(h.get("/delay/100") for _ in range(5)))

    h = run(with_server(ServerConfig(), body, PoolOptions(max_idle_per_host=2)))
    first = h.got()[:5]
    assert sorted(g["conn"] for g in first) == [1, 2, 3, 4, 5]
    pool_full = [c for c in h.closed() if c["reason"] == "pool-full"]
    assert len(pool_full) == 6  # 3 after the first burst, 3 after the second
    second = h.got()[5:]
    assert sum(g["reused"] for g in second) == 2  # only the two kept ones
    assert len(h.named("connect_start")) == 8


def test_max_conns_per_host_makes_callers_wait_and_hands_connections_over() -> None:
    async def body(h: Harness) -> None:
        await asyncio.gather(*(h.get("/delay/50") for _ in range(4)))

    h = run(with_server(ServerConfig(), body, PoolOptions(max_conns_per_host=1)))
    got = h.got()
    assert {g["conn"] for g in got} == {1}
    # Handed straight from a finishing request to a waiting one: Go's reused/was_idle.
    assert [(g["reused"], g["was_idle"]) for g in got[1:]] == [(True, False)] * 3
    assert len(h.server.connections) == 1


def test_client_idle_timeout_closes_idle_connections() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await asyncio.sleep(0.5)
        await h.get()

    h = run(with_server(ServerConfig(), body, PoolOptions(idle_timeout=0.2)))
    idle = h.named("idle_closed")
    assert idle[0].fields["reason"] == "client-idle-timeout"
    assert idle[0].fields["closed_by"] == "client"
    assert [g["conn"] for g in h.got()] == [1, 2]


def test_disable_keepalives_sends_connection_close() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await h.get()

    h = run(with_server(ServerConfig(), body, PoolOptions(disable_keepalives=True)))
    assert [g["conn"] for g in h.got()] == [1, 2]
    assert all(c["reason"] == "connection-close-header" for c in h.closed())


def test_tls_connection_is_verified_reused_and_described(tmp_path: Any) -> None:
    async def body(h: Harness) -> None:
        for _ in range(3):
            await h.get()

    async def main() -> Harness:
        async with TargetServer(ServerConfig(tls=True)) as srv:
            assert srv.ca_path is not None
            opts = PoolOptions(tls=TLSOptions(cacert=str(srv.ca_path)))
            h = Harness(srv, opts)
            try:
                await body(h)
            finally:
                await h.pool.close()
            return h

    h = run(main())
    assert [g["conn"] for g in h.got()] == [1, 1, 1]
    tls = h.named("tls_done")[0].fields
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["alpn"] == "http/1.1"
    assert tls["resumed"] is False and tls["cipher"]
    assert h.named("tls_start")[0].fields["alpn_offered"] == ["h2", "http/1.1"]


def test_tls_without_the_ca_fails_verification() -> None:
    async def main() -> RequestError:
        async with TargetServer(ServerConfig(tls=True)) as srv:
            h = Harness(srv)
            try:
                with pytest.raises(RequestError) as info:
                    await h.get()
            finally:
                await h.pool.close()
            return info.value

    err = run(main())
    assert err.kind == "tls"
    assert err.message.startswith("certificate verification failed: self-signed certificate")


def test_dns_is_timed_for_host_names() -> None:
    async def body(h: Harness) -> None:
        i = h.index
        h.index += 1
        resp = await h.pool.round_trip(Request("GET", f"http://localhost:{h.server.port}/"), i)
        await resp.read()

    h = run(with_server(ServerConfig(host="127.0.0.1"), body))
    dns = h.named("dns_done")
    assert len(dns) == 1 and "127.0.0.1" in dns[0].fields["addrs"]


def test_connection_refused_is_a_connect_error() -> None:
    async def main() -> RequestError:
        srv = TargetServer(ServerConfig())
        await srv.start()
        port = srv.port
        await srv.close()
        tracer = Tracer()
        pool = Pool(tracer)
        try:
            with pytest.raises(RequestError) as info:
                await pool.round_trip(Request("GET", f"http://127.0.0.1:{port}/"), 0)
        finally:
            await pool.close()
        return info.value

    err = run(main())
    assert err.kind == "connect" and "refused" in err.message.lower()


def test_first_byte_timeout_is_named() -> None:
    async def body(h: Harness) -> None:
        with pytest.raises(RequestError) as info:
            await h.get("/delay/2000")
        assert info.value.kind == "first-byte-timeout"

    h = run(with_server(ServerConfig(), body, PoolOptions(timeouts=Timeouts(first_byte=0.2))))
    assert h.closed()[0]["reason"] == "error"


def test_no_socket_outlives_the_pool() -> None:
    async def body(h: Harness) -> None:
        await asyncio.gather(*(h.get() for _ in range(4)))
        await h.get("/bytes/10000", body="ignore")

    async def main() -> tuple[Harness, list[Any]]:
        async with TargetServer(ServerConfig()) as srv:
            h = Harness(srv)
            await body(h)
            await h.pool.close()
            # The server sees every connection end without having to time it out.
            for _ in range(100):
                if all(c.closed_at is not None for c in srv.connections):
                    break
                await asyncio.sleep(0.01)
            return h, srv.connections

    h, server_side = run(main())
    assert h.pool.open_connections == []
    assert len(server_side) == 4
    assert all(c.closed_at is not None and c.closed_by == "client" for c in server_side)
    assert len(h.named("conn_closed")) == len(h.named("connect_done")) == 4


def _tls_harness(config: ServerConfig, body: Any, **pool: Any) -> Harness:
    async def main() -> Harness:
        async with TargetServer(config) as srv:
            opts = PoolOptions(tls=TLSOptions(cacert=str(srv.ca_path)), **pool)
            h = Harness(srv, opts)
            try:
                await body(h)
            finally:
                await h.pool.close()
            return h

    result: Harness = run(main())
    return result


def test_new_tls_connections_resume_the_previous_session() -> None:
    async def body(h: Harness) -> None:
        for _ in range(3):
            await h.get()

    h = _tls_harness(ServerConfig(tls=True, close_always=True), body)
    resumed = [e.fields["resumed"] for e in h.named("tls_done")]
    assert resumed == [False, True, True]


def test_tls_resumption_can_be_turned_off() -> None:
    async def body(h: Harness) -> None:
        for _ in range(2):
            await h.get()

    h = _tls_harness(ServerConfig(tls=True, close_always=True), body, tls_resume=False)
    assert [e.fields["resumed"] for e in h.named("tls_done")] == [False, False]
