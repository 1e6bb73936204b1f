"""Lifecycle: a connection's life after its response, over real loopback connections.

Connections are dialled and handed to a ``Lifecycle`` as the pool does (``add``, then
``response_done`` through the response's ``on_done``), so each test reads what a user
reads in the event stream: ``put_idle`` (kept, handed over, or refused and why),
``idle_closed`` (who ended an idle connection, after how long) and ``conn_closed``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from reusecheck.net.dial import ConnectionKey, Timeouts, dial
from reusecheck.net.errors import RequestError
from reusecheck.net.http1 import HTTP1Connection
from reusecheck.net.http2 import HTTP2Connection
from reusecheck.net.request import Request
from reusecheck.net.response import Response
from reusecheck.net.tls import TLSOptions
from reusecheck.pool import Got, PoolOptions
from reusecheck.pool.lifecycle import Lifecycle
from reusecheck.server import ServerConfig, TargetServer
from reusecheck.server.misbehave import MisbehavingServer
from reusecheck.trace import Event
from tests.net.wire import (
    FAST,
    OK,
    ScriptedServer,
    idle_then,
    loopback,
    read_head,
    recorder_tracer,
    run,
)


class Life:
    """A Lifecycle and the connections it was given, recorded."""

    def __init__(self, options: PoolOptions | None = None, timeouts: Timeouts = FAST) -> None:
        self.rec, self.tracer = recorder_tracer()
        self.gone: list[ConnectionKey] = []
        self.life = Lifecycle(self.tracer, options or PoolOptions(), self.gone.append)
        self.timeouts = timeouts
        self._next_id = 1

    async def h1(self, port: int, key: ConnectionKey | None = None) -> HTTP1Connection:
        """A connection to ``port`` on loopback, labelled with ``key`` (another origin)."""
        conn_id, self._next_id = self._next_id, self._next_id + 1
        dialed = await dial(loopback(port), conn_id, 0, self.tracer, self.timeouts, TLSOptions())
        conn = HTTP1Connection(conn_id, key or loopback(port), dialed, self.tracer, self.timeouts)
        self.life.add(conn)
        return conn

    async def h2(self, port: int) -> HTTP2Connection:
        conn_id, self._next_id = self._next_id, self._next_id + 1
        dialed = await dial(loopback(port), conn_id, 0, self.tracer, self.timeouts, TLSOptions())
        conn = HTTP2Connection(conn_id, loopback(port), dialed, self.tracer, self.timeouts)
        self.life.add(conn)
        return conn

    async def send(self, conn: HTTP1Connection | HTTP2Connection, url: str, index: int) -> Response:
        """Up to the response headers, then the body is the caller's, as Pool.round_trip."""
        conn.reserve()
        resp = await conn.send(Request("GET", url), index)
        resp.on_done = self.life.response_done
        self.life.pending[index] = resp
        return resp

    async def get(self, conn: HTTP1Connection | HTTP2Connection, url: str, index: int) -> Response:
        resp = await self.send(conn, url, index)
        await resp.read()
        return resp

    def of(self, conn: int, *names: str) -> list[dict[str, Any]]:
        """The events about connection ``conn`` (by name), as request + fields."""
        return [
            {"event": e.event, "request": e.request, **e.fields}
            for e in self.rec.events
            if e.conn == conn and (not names or e.event in names)
        ]

    def named(self, name: str) -> list[Event]:
        return self.rec.named(name)

    async def until(self, done: Callable[[], bool]) -> None:
        for _ in range(500):
            if done():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the expected event never came")

    async def closed(self, conn: int) -> None:
        await self.until(lambda: bool(self.of(conn, "conn_closed")))


def put_ok(index: int | None, idle_conns: int) -> dict[str, Any]:
    return {
        "event": "put_idle",
        "request": index,
        "ok": True,
        "reason": None,
        "idle_conns": idle_conns,
    }


# -- back to idle, or to a waiting request ---------------------------------------------


def test_a_drained_connection_goes_back_idle_and_is_taken_again() -> None:
    async def main() -> tuple[Life, HTTP1Connection, Any]:
        t = Life()
        async with TargetServer(ServerConfig()) as srv:
            conn = await t.h1(srv.port)
            await t.get(conn, srv.url, 0)
            taken = t.life.idle.take(conn.key, t.tracer.now())
            t.life.close_all()
        return t, conn, taken

    t, conn, (taken, idle_for, stale) = run(main())
    assert t.of(1, "put_idle") == [put_ok(0, 1)]
    assert taken is conn and idle_for >= 0 and stale == []


def test_a_released_connection_goes_to_the_waiting_request_first() -> None:
    async def main() -> tuple[Life, HTTP1Connection, list[asyncio.Future[Got]]]:
        t = Life()
        async with TargetServer(ServerConfig()) as srv:
            conn = await t.h1(srv.port)
            loop = asyncio.get_running_loop()
            gave_up: asyncio.Future[Got] = loop.create_future()
            gave_up.cancel()  # that request's run ended while it waited
            waiting: asyncio.Future[Got] = loop.create_future()
            later: asyncio.Future[Got] = loop.create_future()
            t.life.waiters[conn.key].extend([gave_up, waiting, later])
            await t.get(conn, srv.url, 0)
            assert t.life.idle.count(conn.key) == 0  # not in the idle list: handed over
            t.life.close_all()
        return t, conn, [waiting, later]

    t, conn, (waiting, later) = run(main())
    # Go's GotConnInfo for a hand-off: reused (it carried a request), not idle.
    assert waiting.result() == Got(conn, False, 0.0)
    assert not later.done()
    assert t.of(1, "put_idle") == [{**put_ok(0, 0), "handed_off": True}]


def test_a_second_idle_connection_beyond_max_idle_per_host_is_closed_pool_full() -> None:
    async def main() -> Life:
        t = Life(PoolOptions(max_idle_per_host=1))
        async with TargetServer(ServerConfig()) as srv:
            a, b = await t.h1(srv.port), await t.h1(srv.port)
            await t.get(a, srv.url, 0)
            await t.get(b, srv.url, 1)
            kept = t.life.idle.take(a.key, t.tracer.now())[0]
            assert kept is not None
            t.life.close_all()
        return t

    t = run(main())
    assert t.of(1, "put_idle") == [put_ok(0, 1)]
    # Go's errTooManyIdleHost: the put is refused and the connection closed by us.
    assert t.of(2, "put_idle", "idle_closed", "conn_closed") == [
        {"event": "put_idle", "request": 1, "ok": False, "reason": "pool-full", "idle_conns": 1},
        {
            "event": "conn_closed",
            "request": 1,
            "closed_by": "client",
            "reason": "pool-full",
            "requests": 1,
        },
    ]


def test_beyond_max_idle_the_least_recently_used_of_any_key_is_evicted() -> None:
    async def main() -> Life:
        t = Life(PoolOptions(max_idle=1))
        async with TargetServer(ServerConfig()) as srv:
            a = await t.h1(srv.port, ConnectionKey("http", "a.test", 80))
            b = await t.h1(srv.port, ConnectionKey("http", "b.test", 80))
            await t.get(a, srv.url, 0)
            await t.get(b, srv.url, 1)
            assert a not in t.life.idle and b in t.life.idle
            t.life.close_all()
        return t

    t = run(main())
    assert t.of(2, "put_idle") == [put_ok(1, 1)]
    evicted = t.of(1, "idle_closed", "conn_closed")
    assert [(e["event"], e["request"], e["reason"], e["closed_by"]) for e in evicted] == [
        ("idle_closed", None, "pool-full", "client"),
        ("conn_closed", None, "pool-full", "client"),
    ]
    assert evicted[0]["idle_time_s"] >= 0
    # Order in the stream: b is put, then a makes room.
    order = [(e.event, e.conn) for e in t.rec.events if e.event in ("put_idle", "idle_closed")]
    assert order == [("put_idle", 1), ("put_idle", 2), ("idle_closed", 1)]


# -- responses that end the connection --------------------------------------------------


def test_a_server_connection_close_refuses_the_put_and_closes_as_the_servers_doing() -> None:
    async def main() -> Life:
        t = Life()
        async with TargetServer(ServerConfig(close_always=True)) as srv:
            await t.get(await t.h1(srv.port), srv.url, 0)
        return t

    t = run(main())
    assert t.of(1, "put_idle", "conn_closed") == [
        {
            "event": "put_idle",
            "request": 0,
            "ok": False,
            "reason": "connection-close-header",
            "idle_conns": 0,
        },
        {
            "event": "conn_closed",
            "request": 0,
            "closed_by": "server",
            "reason": "connection-close-header",
            "requests": 1,
        },
    ]


def _ignores_connection_close() -> ScriptedServer:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_head(reader)
            writer.write(OK)  # keep-alive, whatever the request said

    return ScriptedServer(handler)


def test_disable_keepalives_closes_as_the_clients_connection_close() -> None:
    async def main() -> Life:
        t = Life(PoolOptions(disable_keepalives=True))
        async with _ignores_connection_close() as srv:
            conn = await t.h1(srv.port)
            resp = await conn.send(Request("GET", srv.url), 0, close=True)
            resp.on_done = t.life.response_done
            await resp.read()
        return t

    t = run(main())
    assert t.of(1, "put_idle", "conn_closed") == [
        {
            "event": "put_idle",
            "request": 0,
            "ok": False,
            "reason": "connection-close-header",
            "idle_conns": 0,
        },
        {
            "event": "conn_closed",
            "request": 0,
            "closed_by": "client",
            "reason": "connection-close-header",
            "requests": 1,
        },
    ]


def test_a_body_closed_unread_costs_the_connection() -> None:
    async def main() -> Life:
        t = Life()
        async with TargetServer(ServerConfig()) as srv:
            resp = await t.send(await t.h1(srv.port), srv.url + "bytes/100000", 0)
            resp.close()
        return t

    t = run(main())
    assert t.of(1, "put_idle", "conn_closed") == [
        {
            "event": "put_idle",
            "request": 0,
            "ok": False,
            "reason": "body-not-drained",
            "idle_conns": 0,
        },
        {
            "event": "conn_closed",
            "request": 0,
            "closed_by": "client",
            "reason": "body-not-drained",
            "requests": 1,
        },
    ]


@pytest.mark.parametrize(
    ("kind", "closed_by", "reason"),
    [
        ("short-body", "server", "eof"),
        ("rst-mid-body", "server", "reset"),
        ("stall-body", "client", "error"),
    ],
)
def test_a_failed_body_closes_the_connection_saying_who_ended_it(
    kind: str, closed_by: str, reason: str
) -> None:
    async def main() -> tuple[Life, RequestError]:
        t = Life(timeouts=Timeouts(body=0.2))
        async with MisbehavingServer(kind) as srv:
            resp = await t.send(await t.h1(srv.port), srv.url, 0)
            with pytest.raises(RequestError) as info:
                await resp.read()
        return t, info.value

    t, err = run(main())
    assert t.of(1, "idle_closed", "conn_closed") == [
        {
            "event": "conn_closed",
            "request": 0,
            "closed_by": closed_by,
            "reason": reason,
            "requests": 1,
            "error": err.message,
        }
    ]
    assert t.gone == [loopback(_port(t))]


def _port(t: Life) -> int:
    return int(t.named("connect_done")[0].fields["remote"].rsplit(":", 1)[1])


# -- idle timers -----------------------------------------------------------------------


def test_the_client_idle_timeout_closes_an_idle_connection() -> None:
    async def main() -> tuple[Life, list[Any]]:
        t = Life(PoolOptions(idle_timeout=0.2))
        async with TargetServer(ServerConfig()) as srv:
            conn = await t.h1(srv.port)
            await t.get(conn, srv.url, 0)
            await t.closed(1)
            assert conn.closed and conn not in t.life.idle and t.life.open == {}
            await asyncio.sleep(0.05)
            records = srv.connections
        return t, records

    t, records = run(main())
    idle, closed = t.of(1, "idle_closed", "conn_closed")
    assert idle["request"] is None
    assert (idle["reason"], idle["closed_by"]) == ("client-idle-timeout", "client")
    assert idle["idle_time_s"] >= 0.2 - 0.001  # never before the timeout
    assert closed == {
        "event": "conn_closed",
        "request": None,
        "closed_by": "client",
        "reason": "client-idle-timeout",
        "requests": 1,
    }
    assert t.gone == [loopback(_port(t))]
    assert records[0].closed_by == "client"  # the server saw us go


def test_reuse_before_the_timeout_restarts_the_idle_clock() -> None:
    async def main() -> Life:
        t = Life(PoolOptions(idle_timeout=0.3))
        async with TargetServer(ServerConfig()) as srv:
            conn = await t.h1(srv.port)
            await t.get(conn, srv.url, 0)  # idle from here; its timer is armed
            await asyncio.sleep(0.1)
            assert t.life.idle.take(conn.key, t.tracer.now())[0] is conn
            await t.get(conn, srv.url, 1)  # idle again; the first timer still stands
            await t.closed(1)
        return t

    t = run(main())
    second_put = t.of(1, "put_idle")[1]
    assert second_put["ok"] is True
    idle = t.named("idle_closed")
    assert len(idle) == 1 and idle[0].fields["reason"] == "client-idle-timeout"
    # Measured from the second put: the first timer found it idle too briefly, re-armed.
    assert idle[0].fields["idle_time_s"] >= 0.3 - 0.001
    put_t = next(e.t for e in t.named("put_idle") if e.request == 1)
    assert idle[0].t - put_t >= 0.3 - 0.001


def test_a_connection_busy_when_its_timer_fires_is_left_alone() -> None:
    async def main() -> tuple[Life, Response]:
        t = Life(PoolOptions(idle_timeout=0.2))
        async with TargetServer(ServerConfig()) as srv:
            conn = await t.h1(srv.port)
            await t.get(conn, srv.url, 0)
            assert t.life.idle.take(conn.key, t.tracer.now())[0] is conn
            # Busy across the first timer: a slow response.
            resp = await t.get(conn, srv.url + "delay/400", 1)
            await t.closed(1)
        return t, resp

    t, resp = run(main())
    assert resp.status == 200 and resp.complete
    events = [
        (e.event, e.request)
        for e in t.rec.events
        if e.event in ("put_idle", "idle_closed", "conn_closed")
    ]
    assert events == [
        ("put_idle", 0),
        ("put_idle", 1),
        ("idle_closed", None),
        ("conn_closed", None),
    ]


def test_an_idle_connection_found_too_old_when_taken_is_closed_by_the_client() -> None:
    """The loop was blocked past the timeout (a busy sleep): the timer never ran, so the
    age check on take (Go's queueForIdleConn) catches it."""

    async def main() -> tuple[Life, Any]:
        t = Life(PoolOptions(idle_timeout=0.1))
        async with TargetServer(ServerConfig()) as srv:
            conn = await t.h1(srv.port)
            await t.get(conn, srv.url, 0)
            time.sleep(0.15)  # blocks the loop on purpose
            taken, _, stale = t.life.idle.take(conn.key, t.tracer.now())
            for s in stale:
                t.life.close_stale(s)
        return t, (taken, stale, conn)

    t, (taken, stale, conn) = run(main())
    assert taken is None and stale == [conn]
    assert t.of(1, "conn_closed") == [
        {
            "event": "conn_closed",
            "request": None,
            "closed_by": "client",
            "reason": "client-idle-timeout",
            "requests": 1,
        }
    ]


# -- the idle watch: the server ends an idle connection --------------------------------


def test_the_servers_idle_timeout_is_seen_as_it_happens() -> None:
    async def main() -> tuple[Life, Any]:
        t = Life()
        async with TargetServer(ServerConfig(idle_timeout=0.2)) as srv:
            conn = await t.h1(srv.port)
            await t.get(conn, srv.url, 0)
            await t.closed(1)
            assert conn.closed and t.life.idle.count(conn.key) == 0
            record = srv.connections[0]
        return t, record

    t, record = run(main())
    idle, closed = t.of(1, "idle_closed", "conn_closed")
    assert (idle["request"], idle["reason"], idle["closed_by"]) == (None, "eof", "server")
    assert "server_said" not in idle
    assert idle["idle_time_s"] > 0
    assert closed == {
        "event": "conn_closed",
        "request": None,
        "closed_by": "server",
        "reason": "idle-timeout",
        "requests": 1,
    }
    assert (record.closed_by, record.reason) == ("server", "idle-timeout")


@pytest.mark.parametrize(
    ("action", "reason", "server_said"),
    [
        ("eof", "eof", None),
        ("reset", "reset", None),
        ("408", "unsolicited-response", "HTTP/1.1 408 Request Timeout"),
    ],
)
def test_an_idle_connection_ended_by_the_server_is_one_idle_closed_then_one_conn_closed(
    action: str, reason: str, server_said: str | None
) -> None:
    async def main() -> Life:
        t = Life()
        go = asyncio.Event()
        async with idle_then(action, go) as srv:
            conn = await t.h1(srv.port)
            await t.get(conn, srv.url, 0)
            go.set()
            await t.closed(1)
            await t.until(lambda: conn.channel.lost)  # the FIN after a 408 too
        return t

    t = run(main())
    assert [e["event"] for e in t.of(1, "idle_closed", "conn_closed")] == [
        "idle_closed",
        "conn_closed",
    ]
    idle, closed = t.of(1, "idle_closed", "conn_closed")
    assert (idle["reason"], idle["closed_by"], idle.get("server_said")) == (
        reason,
        "server",
        server_said,
    )
    assert (closed["closed_by"], closed["reason"], closed["request"]) == (
        "server",
        "idle-timeout",
        None,
    )


def test_an_h2_goaway_while_idle_is_an_idle_close_with_its_error_code() -> None:
    async def main() -> Life:
        t = Life()
        async with TargetServer(ServerConfig(h2=True, idle_timeout=0.2)) as srv:
            conn = await t.h2(srv.port)
            await t.get(conn, srv.url, 0)
            await t.closed(1)
        return t

    t = run(main())
    put, idle, closed = t.of(1, "put_idle", "idle_closed", "conn_closed")
    assert put == {
        "event": "put_idle",
        "request": 0,
        "ok": True,
        "reason": None,
        "streams_active": 0,
    }
    assert (idle["reason"], idle["closed_by"]) == ("goaway", "server")
    assert idle["idle_time_s"] > 0
    assert closed == {
        "event": "conn_closed",
        "request": None,
        "closed_by": "server",
        "reason": "goaway",
        "requests": 1,
        "error_code": "NO_ERROR",
    }


# -- the end of the pool ---------------------------------------------------------------


def test_close_all_names_the_connection_pinned_by_an_unread_body() -> None:
    async def main() -> Life:
        t = Life()
        async with TargetServer(ServerConfig()) as srv:
            pinned, partial, idle = [await t.h1(srv.port) for _ in range(3)]
            await t.send(pinned, srv.url + "bytes/100000", 0)  # never read
            part = await t.send(partial, srv.url + "bytes/100000", 1)
            await part.read(limit=10)  # a read cut short (the deadline): not a leak
            await t.get(idle, srv.url, 2)
            t.life.close_all()
            assert t.life.open == {} and t.life.pending == {}
        return t

    t = run(main())
    assert t.of(1, "put_idle", "conn_closed") == [
        {
            "event": "put_idle",
            "request": 0,
            "ok": False,
            "reason": "body-not-drained",
            "idle_conns": 1,
        },
        {
            "event": "conn_closed",
            "request": 0,
            "closed_by": "client",
            "reason": "body-not-drained",
            "requests": 1,
        },
    ]
    for conn in (2, 3):
        assert t.of(conn, "conn_closed") == [
            {
                "event": "conn_closed",
                "request": None,
                "closed_by": "client",
                "reason": "end-of-run",
                "requests": 1,
            }
        ]
    assert len(t.gone) == 3
