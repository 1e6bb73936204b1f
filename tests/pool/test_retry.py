"""When a failed attempt is sent again: the rule (``retry_reason``) and the pool obeying it.

The rule is a pure function of the failure and the request; the pool tests show what a
user reads for each reason: the ``retry`` event with its reason and attempt, and the
request ending in a response (or, past the bound, in the error).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reusecheck.net.errors import RequestError
from reusecheck.net.request import Request
from reusecheck.pool import Pool, PoolOptions
from reusecheck.pool.retry import retry_reason
from reusecheck.server import ServerConfig, TargetServer
from reusecheck.server.misbehave import MisbehavingServer
from reusecheck.trace import Recorder
from reusecheck.trace.vocab import ErrorKind
from tests.net.wire import (
    RST_STREAM,
    H2Peer,
    ScriptedServer,
    frame,
    recorder_tracer,
    run,
)


def error(kind: ErrorKind, before_response: bool = True, unprocessed: bool = False) -> RequestError:
    exc = RequestError(kind, "what the peer did", before_response=before_response)
    exc.unprocessed = unprocessed
    return exc


# -- the rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "reused", "replayable", "multiplexed", "reason"),
    [
        # Go's shouldRetryRequest: the keep-alive race on a reused connection.
        (error("server-closed"), True, True, False, "stale"),
        (error("server-closed"), True, True, True, "connection-lost"),
        # A fresh connection failing is the server's answer, not a race.
        (error("server-closed"), False, True, False, None),
        # POST without an Idempotency-Key: the server may have acted on it.
        (error("server-closed"), True, False, False, None),
        # Response bytes had arrived: never sent again.
        (error("server-closed", before_response=False), True, True, False, None),
        # Timeouts and broken responses are the target's behaviour, not a race.
        (error("first-byte-timeout"), True, True, False, None),
        (error("protocol"), True, True, False, None),
        (error("stream-reset"), True, True, True, None),
        # RFC 9113 8.7: streams the server never processed, whatever the method.
        (error("goaway", unprocessed=True), False, False, True, "goaway"),
        (error("stream-reset", unprocessed=True), False, False, True, "refused-stream"),
        (error("goaway"), True, True, True, None),  # GOAWAY with an error, stream processed
    ],
)
def test_retry_reason(
    exc: RequestError, reused: bool, replayable: bool, multiplexed: bool, reason: str | None
) -> None:
    assert retry_reason(exc, reused, replayable, multiplexed) == reason


# -- the pool --------------------------------------------------------------------------


def retries(rec: Recorder) -> list[tuple[int | None, str, int]]:
    return [(e.request, e.fields["reason"], e.fields["attempt"]) for e in rec.named("retry")]


def test_post_with_an_idempotency_key_is_retried_after_a_stale_connection() -> None:
    async def main() -> tuple[Recorder, Any]:
        rec, tracer = recorder_tracer()
        async with TargetServer(ServerConfig(drop_after=1)) as srv:
            pool = Pool(tracer)
            try:
                await (await pool.round_trip(Request("GET", srv.url), 0)).read()
                post = Request("POST", srv.url, headers=[("Idempotency-Key", "k1")], body=b"x")
                resp = await pool.round_trip(post, 1)
                await resp.read()
            finally:
                await pool.close()
        return rec, resp

    rec, resp = run(main())
    assert resp.status == 200 and resp.retried
    assert retries(rec) == [(1, "stale", 2)]
    got = [(e.request, e.conn, e.fields["reused"]) for e in rec.named("got_conn")]
    assert got == [(0, 1, False), (1, 1, True), (1, 2, False)]  # again, on a new connection


def test_unprocessed_streams_are_retried_until_a_connection_answers() -> None:
    """h2-calm answers the first stream of each connection, then GOAWAY
    ENHANCE_YOUR_CALM: the other streams move on, one connection at a time."""

    async def main() -> tuple[Recorder, list[int]]:
        rec, tracer = recorder_tracer()
        async with MisbehavingServer("h2-calm") as srv:
            pool = Pool(tracer, PoolOptions(http="h2c"))
            try:
                reqs = [pool.round_trip(Request("GET", srv.url), i) for i in range(4)]
                resps = await asyncio.gather(*reqs)
            finally:
                await pool.close()
        return rec, [r.status for r in resps]

    rec, statuses = run(main())
    assert statuses == [200, 200, 200, 200]
    assert {reason for _, reason, _ in retries(rec)} == {"goaway"}
    # Each GOAWAY's unprocessed requests are exactly the ones retried after it.
    for goaway in rec.named("h2_goaway"):
        after = [e.request for e in rec.named("retry") if e.conn == goaway.conn]
        assert sorted(goaway.fields["unprocessed"]) == sorted(after)
    # One request waited through three GOAWAYs: more than HTTP/1.1's single retry.
    assert max(attempt for _, _, attempt in retries(rec)) == 4


def _refuse_every_stream() -> ScriptedServer:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        await peer.start({0x3: 100})
        while True:
            (sid,) = await peer.streams_opened(1)
            writer.write(frame(RST_STREAM, 0, sid, (0x7).to_bytes(4, "big")))  # REFUSED_STREAM

    return ScriptedServer(handler)


def test_a_stream_refused_every_time_gives_up_after_six_retries() -> None:
    async def main() -> tuple[Recorder, RequestError]:
        rec, tracer = recorder_tracer()
        async with _refuse_every_stream() as srv:
            pool = Pool(tracer, PoolOptions(http="h2c"))
            try:
                with pytest.raises(RequestError) as info:
                    await pool.round_trip(Request("GET", srv.url), 0)
            finally:
                await pool.close()
        return rec, info.value

    rec, err = run(main())
    assert retries(rec) == [(0, "refused-stream", n) for n in range(2, 8)]
    assert err.kind == "stream-reset" and err.retried


def test_h2_connection_lost_with_a_stream_in_flight_is_retried_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = H2Peer(reader, writer)
        await peer.start({0x3: 100})
        (sid,) = await peer.streams_opened(1)
        writer.write(peer.respond(sid, b"ok"))
        await peer.streams_opened(1)  # the second stream: gone without an answer

    async def main() -> tuple[Recorder, Any]:
        rec, tracer = recorder_tracer()
        async with ScriptedServer(handler) as srv:
            pool = Pool(tracer, PoolOptions(http="h2c"))
            try:
                await (await pool.round_trip(Request("GET", srv.url), 0)).read()
                resp = await pool.round_trip(Request("GET", srv.url), 1)
                await resp.read()
            finally:
                await pool.close()
        return rec, resp

    rec, resp = run(main())
    assert resp.status == 200 and resp.retried
    assert retries(rec) == [(1, "connection-lost", 2)]
    assert [e.conn for e in rec.named("got_conn")] == [1, 1, 2]
