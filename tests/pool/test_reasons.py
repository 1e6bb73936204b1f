"""Why the pool dials (reusecheck/pool/reasons.py): the facts behind the connection
budget, first with plain values, then read off the event stream of a real pool against
the built-in server on loopback."""

from __future__ import annotations

import asyncio

from reusecheck.pool import PoolOptions
from reusecheck.pool.reasons import DialReasons, Loss, hint_timeout
from reusecheck.server import ServerConfig
from tests.pool.test_pool import Harness, run, with_server

KEY = ("http", "127.0.0.1", 80)


def test_first_then_all_busy_per_key() -> None:
    r = DialReasons()
    assert r.why(KEY)["dial_reason"] == "first"
    assert r.why(KEY)["dial_reason"] == "all-busy"
    assert r.why(("http", "other", 80))["dial_reason"] == "first"  # its own origin


def test_a_loss_is_taken_by_one_dial_only() -> None:
    r = DialReasons()
    r.why(KEY)
    r.lost(KEY, 1, 3, "server", "connection-close-header")
    assert r.why(KEY) == {
        "dial_reason": "server-closed",
        "replaces": 1,
        "replaced_reason": "connection-close-header",
        "replaced_requests": 3,
    }
    assert r.why(KEY)["dial_reason"] == "all-busy"  # the loss was counted once


def test_client_closes_name_the_client_cause() -> None:
    cases = {
        "client-idle-timeout": "client-idle-timeout",
        "pool-full": "client-pool-full",
        "body-not-drained": "body-not-drained",
        "connection-close-header": "keepalives-disabled",  # ours: we sent the close
        "error": "connection-error",
    }
    for reason, cause in cases.items():
        r = DialReasons()
        r.why(KEY)
        r.lost(KEY, 1, 1, "client", reason)  # type: ignore[arg-type]
        assert r.why(KEY)["dial_reason"] == cause, reason


def test_end_of_run_is_no_loss_and_a_pinned_close_is_the_body() -> None:
    r = DialReasons()
    r.why(KEY)
    r.lost(KEY, 1, 1, "client", "end-of-run")
    assert r.why(KEY)["dial_reason"] == "all-busy"
    r.lost(KEY, 2, 1, "server", "eof", pinned=True)  # the server ended what a body held
    assert r.why(KEY)["dial_reason"] == "body-not-drained"


def test_retry_names_the_failed_connection_even_before_it_closed() -> None:
    r = DialReasons()
    r.why(KEY)
    fields = r.why(KEY, retry=("stale", 1))
    assert fields == {"dial_reason": "retry", "retry_reason": "stale", "replaces": 1}
    r.lost(KEY, 1, 2, "server", "eof")  # its close, later, was this dial's
    assert r.why(KEY)["dial_reason"] == "all-busy"


def test_draining_and_pinned_and_the_stream_limit() -> None:
    r = DialReasons()
    r.why(KEY)
    going = Loss(1, "server-closed", "goaway", 5)
    assert r.why(KEY, draining=[going])["replaced_reason"] == "goaway"
    assert r.why(KEY, draining=[going])["dial_reason"] == "all-busy"  # counted already
    assert r.why(KEY, pinned=4) == {"dial_reason": "body-not-drained", "replaces": 4}
    assert r.why(KEY, at_stream_limit=True)["dial_reason"] == "h2-stream-limit"


def test_a_pause_past_the_servers_idle_limit_is_the_servers() -> None:
    r = DialReasons()
    r.why(KEY)
    # Closed by our 2 s idle timeout, went idle at t=10, the server announced 3 s.
    r.lost(KEY, 1, 5, "client", "client-idle-timeout", idle_since=10.0, server_idle_s=3.0)
    fields = r.why(KEY, now=14.0)
    assert fields["dial_reason"] == "server-idle-limit" and fields["server_idle_s"] == 3.0
    # The same close, but the request came while the server would still have kept it.
    r.lost(KEY, 2, 5, "client", "client-idle-timeout", idle_since=20.0, server_idle_s=3.0)
    assert r.why(KEY, now=22.5)["dial_reason"] == "client-idle-timeout"
    # Nothing announced, but an idle close seen on the key says what the server keeps.
    r.server_idle(KEY, 1.5)
    r.lost(KEY, 3, 1, "client", "client-idle-timeout", idle_since=30.0)
    assert r.why(KEY, now=32.0)["dial_reason"] == "server-idle-limit"


def test_keep_alive_timeout_is_read_only_when_finite() -> None:
    assert hint_timeout(b"timeout=5, max=100") == 5.0
    assert hint_timeout(b"max=100,timeout=0.5") == 0.5
    for raw in (None, b"", b"max=3", b"timeout=inf", b"timeout=nan", b"timeout=-1", b"timeout="):
        assert hint_timeout(raw) is None, raw


# --- a real pool ----------------------------------------------------------------------------


def reasons(h: Harness) -> list[str]:
    return [e.fields["dial_reason"] for e in h.named("connect_start")]


def test_busy_then_server_closed_with_a_real_server() -> None:
    async def body(h: Harness) -> None:
        await asyncio.gather(h.get(), h.get())  # two at once: first, all-busy
        for _ in range(4):  # each connection's second request ends it: then dials
            await h.get()

    h = run(with_server(ServerConfig(max_requests=2), body))
    starts = h.named("connect_start")
    assert reasons(h)[:2] == ["first", "all-busy"]
    later = [e.fields for e in starts[2:]]
    assert later and all(f["dial_reason"] == "server-closed" for f in later)
    assert all(f["replaced_reason"] == "connection-close-header" for f in later)
    assert all(f["replaced_requests"] == 2 for f in later)


def test_the_clients_idle_timeout_inside_the_servers_is_the_client() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await asyncio.sleep(0.35)  # past our 0.2 s, inside the server's 5 s
        await h.get()

    options = PoolOptions(idle_timeout=0.2)
    h = run(with_server(ServerConfig(idle_timeout=5.0, keepalive_hint=True), body, options))
    assert reasons(h) == ["first", "client-idle-timeout"]


def test_a_pause_past_the_announced_idle_timeout_is_the_servers_limit() -> None:
    async def body(h: Harness) -> None:
        await h.get()
        await asyncio.sleep(0.6)  # past our 0.2 s and past the 0.4 s the server announces
        await h.get()

    options = PoolOptions(idle_timeout=0.2)
    h = run(with_server(ServerConfig(idle_timeout=0.4, keepalive_hint=True), body, options))
    assert reasons(h) == ["first", "server-idle-limit"]
    (second,) = h.named("connect_start")[1:]
    assert second.fields["server_idle_s"] == 0.4 and second.fields["replaces"] == 1
