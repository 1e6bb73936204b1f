"""--upstream: the client's leg recorded as always, and every request forwarded through
reusecheck's pool to the built-in server (``reusecheck.server`` in-process), whose leg
is analysed as a probe's: both legs in one observation."""

from __future__ import annotations

import requests

from reusecheck.server import ServerConfig, ServerThread
from tests.observe.harness import Observing

TIMEOUT = 10.0


def test_both_legs_are_recorded_and_bodies_stream_through() -> None:
    with ServerThread(ServerConfig(keepalive_hint=True, idle_timeout=5)) as target:
        with Observing(upstream=target.url) as obs, requests.Session() as session:
            for _ in range(3):
                r = session.get(obs.url + "bytes/300000", timeout=TIMEOUT)
                assert r.status_code == 200 and len(r.content) == 300_000
            missing = session.get(obs.url + "status/404", timeout=TIMEOUT)
            assert missing.status_code == 404
            result = obs.finish()
        upstream_conns = target.connections
    a = result.analysis
    assert a.findings == () and a.verdict.ok
    assert a.summary.requests == 4 and a.summary.connections_opened == 1
    assert result.upstream is not None
    url, up = result.upstream
    assert url == target.url
    assert up.summary.requests == 4
    assert up.summary.connections_opened == 1 and up.summary.reused == 3
    assert len(upstream_conns) == 1 and upstream_conns[0].requests == 4
    # The upstream announced its keep-alive: the client is held to it.
    assert a.record.server_idle_timeout_s == 5.0


def test_a_client_mistake_is_the_clients_not_the_upstreams() -> None:
    with ServerThread(ServerConfig()) as target, Observing(upstream=target.url) as obs:
        for _ in range(3):
            assert requests.get(obs.url, timeout=TIMEOUT).status_code == 200
        result = obs.finish()
    assert [f.code for f in result.analysis.findings] == ["client-new-conn-per-request"]
    assert result.upstream is not None
    _, up = result.upstream
    assert up.summary.connections_opened == 1  # reusecheck's pool reused upstream


def test_an_unreachable_upstream_answers_502() -> None:
    with Observing(upstream="http://127.0.0.1:9/") as obs, requests.Session() as session:
        r = session.get(obs.url, timeout=TIMEOUT)
        assert r.status_code == 502 and b"the upstream failed" in r.content
        result = obs.finish()
    assert result.upstream is not None
    assert result.upstream[1].summary.failed == 1
