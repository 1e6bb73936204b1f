"""TLS sessions per key: the next dial offers the latest one (Go's ClientSessionCache).

Through the pool against the built-in TLS server (``tls_start.session_offered``,
``tls_done.resumed``), and the cache's own rules with fake connections: when a
session is read, how often, and per which key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reusecheck.net.dial import ConnectionKey
from reusecheck.net.request import Request
from reusecheck.net.tls import TLSOptions
from reusecheck.pool import Pool, PoolOptions
from reusecheck.pool.sessions import SESSION_CHECKS, SessionCache
from reusecheck.server import ServerConfig, TargetServer
from reusecheck.trace import Recorder
from tests.net.wire import recorder_tracer, run

KEY = ConnectionKey("https", "a.test", 443)


async def requests(config: ServerConfig, urls: list[str], **pool: Any) -> Recorder:
    """GET each url (``{port}`` filled in) in turn through one pool; the record."""
    rec, tracer = recorder_tracer()
    async with TargetServer(config) as srv:
        p = Pool(tracer, PoolOptions(tls=TLSOptions(cacert=str(srv.ca_path)), **pool))
        try:
            for i, url in enumerate(urls):
                resp = await p.round_trip(Request("GET", url.format(port=srv.port)), i)
                await resp.read()
        finally:
            await p.close()
    return rec


def offered(rec: Recorder) -> list[bool]:
    return [e.fields["session_offered"] for e in rec.named("tls_start")]


def resumed(rec: Recorder) -> list[bool]:
    return [e.fields["resumed"] for e in rec.named("tls_done")]


ONE_KEY = ["https://127.0.0.1:{port}/"] * 3
# Connection: close on every response, so every request dials.
NEW_CONN_EACH = ServerConfig(tls=True, close_always=True)


def test_the_next_dial_offers_the_last_session_and_the_server_resumes_it() -> None:
    rec = run(requests(NEW_CONN_EACH, ONE_KEY))
    assert offered(rec) == [False, True, True]
    assert resumed(rec) == [False, True, True]


def test_h2_connections_resume_too() -> None:
    rec = run(requests(ServerConfig(tls=True, h2=True, close_always=True), ONE_KEY))
    assert {e.fields["alpn"] for e in rec.named("tls_done")} == {"h2"}
    assert offered(rec) == [False, True, True]
    assert resumed(rec) == [False, True, True]


def test_no_tls_resume_makes_every_handshake_a_full_one() -> None:
    rec = run(requests(NEW_CONN_EACH, ONE_KEY, tls_resume=False))
    assert offered(rec) == [False, False, False]
    assert resumed(rec) == [False, False, False]


def test_a_server_that_never_resumes_is_offered_the_session_and_declines() -> None:
    """What discover's TLS check reads: offered, not resumed (tls-no-resumption)."""
    config = ServerConfig(tls=True, close_always=True, tls_resumption=False)
    rec = run(requests(config, ONE_KEY))
    assert offered(rec)[1:] == [True, True]
    assert resumed(rec) == [False, False, False]


def test_sessions_are_kept_per_key() -> None:
    urls = ["https://127.0.0.1:{port}/", "https://localhost:{port}/", "https://127.0.0.1:{port}/"]
    rec = run(requests(NEW_CONN_EACH, urls))
    names = [e.fields["server_name"] for e in rec.named("tls_start")]
    assert names == ["127.0.0.1", "localhost", "127.0.0.1"]
    assert offered(rec) == [False, False, True]  # localhost's first dial has none of its own
    assert resumed(rec) == [False, False, True]


# -- the cache's rules, with fake connections -------------------------------------------


@dataclass
class FakeSession:
    has_ticket: bool = False


@dataclass
class FakeSSLObject:
    sessions: list[FakeSession]
    reads: int = 0

    @property
    def session(self) -> FakeSession:
        self.reads += 1
        return self.sessions[min(self.reads, len(self.sessions)) - 1]


@dataclass
class FakeChannel:
    ssl_object: FakeSSLObject | None


@dataclass
class FakeConn:
    channel: FakeChannel
    key: ConnectionKey = KEY
    tls: object | None = field(default_factory=object)
    session_checks: int = 0


def conn_with(*sessions: FakeSession, key: ConnectionKey = KEY) -> FakeConn:
    return FakeConn(FakeChannel(FakeSSLObject(list(sessions))), key)


def test_a_session_is_read_after_responses_until_one_has_a_ticket() -> None:
    """TLS 1.3 tickets arrive after the handshake: a later response may bring one."""
    cache = SessionCache(enabled=True)
    early, ticketed = FakeSession(has_ticket=False), FakeSession(has_ticket=True)
    conn = conn_with(early, ticketed)
    cache.after_response(conn)  # type: ignore[arg-type]
    assert cache.offer(KEY) is early
    cache.after_response(conn)  # type: ignore[arg-type]
    assert cache.offer(KEY) is ticketed
    for _ in range(5):
        cache.after_response(conn)  # type: ignore[arg-type]
    assert conn.channel.ssl_object is not None and conn.channel.ssl_object.reads == 2


def test_a_connection_without_tickets_is_read_a_bounded_number_of_times() -> None:
    cache = SessionCache(enabled=True)
    conn = conn_with(FakeSession(has_ticket=False))
    for _ in range(SESSION_CHECKS + 5):
        cache.after_response(conn)  # type: ignore[arg-type]
    assert conn.channel.ssl_object is not None
    assert conn.channel.ssl_object.reads == SESSION_CHECKS
    assert cache.offer(KEY) is not None  # still offered: the server decides


def test_the_latest_connection_of_a_key_supplies_the_session() -> None:
    cache = SessionCache(enabled=True)
    old, new = FakeSession(True), FakeSession(True)
    other_key = ConnectionKey("https", "b.test", 443)
    cache.after_response(conn_with(old))  # type: ignore[arg-type]
    cache.after_response(conn_with(new))  # type: ignore[arg-type]
    assert cache.offer(KEY) is new
    assert cache.offer(other_key) is None


def test_disabled_or_plain_connections_keep_nothing() -> None:
    off = SessionCache(enabled=False)
    conn = conn_with(FakeSession(True))
    off.after_response(conn)  # type: ignore[arg-type]
    assert off.offer(KEY) is None
    assert conn.channel.ssl_object is not None and conn.channel.ssl_object.reads == 0
    on = SessionCache(enabled=True)
    plain = FakeConn(FakeChannel(None), tls=None)
    on.after_response(plain)  # type: ignore[arg-type]
    assert on.offer(KEY) is None
