"""The pool over HTTP/2 against the built-in server: sharing, limits, GOAWAY, h2c."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from reusecheck.net.errors import RequestError
from reusecheck.net.tls import TLSOptions
from reusecheck.pool import PoolOptions
from reusecheck.server import ServerConfig, TargetServer
from tests.pool.test_pool import Harness, run


async def with_h2(
    config: ServerConfig,
    body: Callable[[Harness], Awaitable[None]],
    **pool: Any,
) -> Harness:
    async with TargetServer(config) as srv:
        tls = TLSOptions(cacert=str(srv.ca_path)) if srv.ca_path else TLSOptions()
        h = Harness(srv, PoolOptions(tls=tls, **pool))
        try:
            await body(h)
        finally:
            await h.pool.close()
    return h


H2_TLS = ServerConfig(h2=True, tls=True)


def test_alpn_h2_and_concurrent_requests_share_one_connection() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await asyncio.gather(*(h.get("/delay/100") for _ in range(5)))

    h = run(with_h2(H2_TLS, body))
    assert h.named("tls_done")[0].fields["alpn"] == "h2"
    got = h.got()
    assert {g["conn"] for g in got} == {1}
    assert [g["protocol"] for g in got] == ["h2"] * 6
    assert [g["reused"] for g in got] == [False] + [True] * 5
    streams = [e.fields["stream_id"] for e in h.named("wrote_headers")]
    assert streams == [1, 3, 5, 7, 9, 11]
    assert [r.fields["http_version"] for r in h.named("response_headers")] == ["2"] * 6
    assert len(h.server.connections) == 1
    settings = h.named("h2_settings")[0].fields
    assert settings["max_concurrent_streams"] == 100


def test_idle_stream_reports_was_idle_and_idle_time() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await asyncio.sleep(0.2)
        await h.get()

    h = run(with_h2(H2_TLS, body))
    second = h.got()[1]
    assert second["reused"] and second["was_idle"]
    assert 0.15 <= second["idle_time_s"] <= 1.0


def test_h2c_prior_knowledge() -> None:
    async def body(h: Harness) -> None:
        for _ in range(3):
            await h.get()

    h = run(with_h2(ServerConfig(h2=True), body, http="h2c"))
    assert [g["protocol"] for g in h.got()] == ["h2"] * 3
    assert {g["conn"] for g in h.got()} == {1}
    assert h.server.connections[0].protocol == "h2"


def test_past_the_stream_limit_a_new_connection_is_dialled() -> None:
    async def body(h: Harness) -> None:
        await h.get()  # learn the server's SETTINGS first
        await asyncio.gather(*(h.get("/delay/200") for _ in range(5)))

    h = run(with_h2(ServerConfig(h2=True, tls=True, max_streams=2), body))
    burst = h.got()[1:]
    per_conn: dict[int, int] = {}
    for g in burst:
        per_conn[g["conn"]] = per_conn.get(g["conn"], 0) + 1
    assert sorted(per_conn.values()) == [1, 2, 2]
    assert all(r.fields["status"] == 200 for r in h.named("response_headers"))


def test_strict_max_streams_waits_for_a_free_stream() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await asyncio.gather(*(h.get("/delay/100") for _ in range(5)))

    h = run(with_h2(ServerConfig(h2=True, tls=True, max_streams=2), body, strict_max_streams=True))
    assert {g["conn"] for g in h.got()} == {1}
    assert len(h.named("connect_start")) == 1


def test_goaway_after_max_requests_retries_unprocessed_streams() -> None:
    async def body(h: Harness) -> None:
        results = await asyncio.gather(*(h.get("/delay/100") for _ in range(5)))
        assert all(r.status == 200 for r in results)

    h = run(with_h2(ServerConfig(h2=True, tls=True, max_requests=3), body))
    goaway = h.named("h2_goaway")
    assert goaway and goaway[0].conn == 1
    assert goaway[0].fields["error_code"] == "NO_ERROR"
    assert goaway[0].fields["last_stream_id"] == 5
    assert sorted(goaway[0].fields["unprocessed"]) == sorted(e.request for e in h.named("retry"))
    assert {e.fields["reason"] for e in h.named("retry")} == {"goaway"}
    first = next(c for c in h.closed() if c["conn"] == 1)
    assert first["reason"] == "goaway" and first["closed_by"] == "server"
    assert first["error_code"] == "NO_ERROR"
    assert first["requests"] == 5  # 3 answered + 2 unprocessed streams opened on it


def test_idle_goaway_is_an_idle_close_with_the_idle_time() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await asyncio.sleep(0.8)
        await h.get()

    h = run(with_h2(ServerConfig(h2=True, tls=True, idle_timeout=0.4), body))
    idle = h.named("idle_closed")
    assert len(idle) == 1 and idle[0].fields["reason"] == "goaway"
    assert 0.35 <= idle[0].fields["idle_time_s"] <= 0.75
    assert [g["conn"] for g in h.got()] == [1, 2]
    assert h.named("retry") == []


def test_five_mib_body_arrives_complete() -> None:
    async def body(h: Harness) -> None:
        await asyncio.gather(*(h.get("/bytes/5242880") for _ in range(2)))

    h = run(with_h2(H2_TLS, body))
    done = h.named("body_done")
    assert [d.fields["bytes"] for d in done] == [5242880, 5242880]
    assert all(d.fields["complete"] for d in done)


def test_closing_an_unread_h2_body_resets_the_stream_not_the_connection() -> None:
    async def body(h: Harness) -> None:
        await h.get("/bytes/5242880", body="close")
        await h.get()

    h = run(with_h2(H2_TLS, body))
    assert [g["conn"] for g in h.got()] == [1, 1]
    assert h.named("put_idle")[0].fields["ok"] is True


def test_http2_required_against_http1_only_server() -> None:
    async def body(h: Harness) -> None:
        with pytest.raises(RequestError) as info:
            await h.get()
        assert info.value.kind == "h2-not-negotiated"
        assert "http/1.1" in info.value.message

    run(with_h2(ServerConfig(tls=True), body, http="2"))


def test_http1_mode_offers_only_http1() -> None:
    async def body(h: Harness) -> None:
        await asyncio.gather(*(h.get() for _ in range(3)))

    h = run(with_h2(H2_TLS, body, http="1.1"))
    assert h.named("tls_start")[0].fields["alpn_offered"] == ["http/1.1"]
    assert {g["protocol"] for g in h.got()} == {"http/1.1"}
