"""Real Python clients, each making one connection mistake (or none), against
``reusecheck observe`` on 127.0.0.1: the finding appears for the client that makes the
mistake and not for the one that does not.  No timing assertions: the clients' pauses
only put the events in the order the mistake has."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import urllib3

from tests.observe.harness import Observing

TIMEOUT = 10.0


def _hostport(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def test_requests_get_without_a_session_is_a_new_connection_per_request() -> None:
    with Observing() as obs:
        for _ in range(4):
            assert requests.get(obs.url + "api", timeout=TIMEOUT).status_code == 200
        result = obs.finish()
    a = result.analysis
    assert [f.code for f in a.findings] == ["client-new-conn-per-request"]
    assert a.summary.requests == 4 and a.summary.connections_opened == 4
    assert a.verdict.reuse == "no" and not a.verdict.ok
    (client,) = a.clients
    assert client.user_agent is not None and client.user_agent.startswith("python-requests/")
    assert client.minimum_connections == 1


def test_requests_session_reuses_and_has_no_findings() -> None:
    with Observing() as obs, requests.Session() as session:
        for _ in range(5):
            assert len(session.get(obs.url + "api", timeout=TIMEOUT).content) == 64 * 1024
        result = obs.finish()
    a = result.analysis
    assert a.findings == ()
    assert a.summary.connections_opened == 1 and a.summary.reused == 4
    assert a.verdict.ok and a.verdict.reuse == "yes"
    (conn,) = a.record.connections
    assert conn.closed_by == "server" and conn.close_reason == "end-of-run"
    assert conn.gaps == 4


def test_connection_close_header_is_a_new_connection_per_request() -> None:
    with Observing() as obs:
        for _ in range(3):
            r = requests.get(obs.url, headers={"Connection": "close"}, timeout=TIMEOUT)
            assert r.status_code == 200
        result = obs.finish()
    (finding,) = [f for f in result.analysis.findings if f.code == "client-new-conn-per-request"]
    assert finding.evidence["connection_close_requests"] == 3


def test_urllib3_pool_smaller_than_its_threads_churns() -> None:
    """Bursts of 4 requests at once through a pool that keeps 1 idle connection: after
    each burst urllib3 closes 3 ("Connection pool is full, discarding connection") and
    the next burst opens 3 again, Go's MaxIdleConnsPerHost=2 pattern."""
    errors: list[BaseException] = []
    with Observing() as obs:
        pool = urllib3.PoolManager(maxsize=1, block=False, retries=False)
        for _ in range(3):
            start = threading.Barrier(4)

            def one(start: threading.Barrier = start) -> None:
                try:
                    start.wait(TIMEOUT)
                    assert pool.request("GET", obs.url + "delay/100", timeout=TIMEOUT).status == 200
                except BaseException as exc:  # reported by the test's thread
                    errors.append(exc)

            threads = [threading.Thread(target=one) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        pool.clear()
        result = obs.finish()
    assert not errors
    a = result.analysis
    codes = [f.code for f in a.findings]
    assert "client-idle-pool-churn" in codes
    assert "client-new-conn-per-request" not in codes
    assert "client-body-not-drained" not in codes
    (client,) = a.clients
    assert client.peak_concurrency >= 2
    assert len(client.connections) > client.minimum_connections


def test_partial_read_then_close_is_a_body_not_drained() -> None:
    with Observing() as obs:
        host, port = _hostport(obs.url)
        for _ in range(3):
            conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            conn.request("GET", "/api")
            resp = conn.getresponse()
            assert len(resp.read(100)) == 100
            conn.close()  # 64 KiB mostly unread: the kernel sends RST
        result = obs.finish()
    a = result.analysis
    codes = [f.code for f in a.findings]
    assert "client-body-not-drained" in codes
    assert all(c.close_kind == "rst" and c.closed_by == "client" for c in a.record.connections)
    assert a.summary.reset_by_client == 3


def test_close_while_a_large_body_is_sent_is_a_body_not_drained() -> None:
    with Observing() as obs:
        host, port = _hostport(obs.url)
        for _ in range(2):
            sock = socket.create_connection((host, port), timeout=TIMEOUT)
            sock.sendall(b"GET /big?size=67108864 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            sock.close()
        result = obs.finish()
    (finding,) = [f for f in result.analysis.findings if f.code == "client-body-not-drained"]
    assert finding.evidence["connections"] == 2
    assert finding.evidence["closed_while_sending"] == 2
    assert finding.evidence["unsent_response_bytes"] > 0


def test_connections_never_closed_while_new_ones_open_are_a_leak() -> None:
    with Observing() as obs:
        host, port = _hostport(obs.url)
        kept = []
        for _ in range(4):
            conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            conn.request("GET", "/api")
            kept.append(conn.getresponse())  # never read, never closed: pinned
        result = obs.finish()
        for resp in kept:
            resp.close()
    a = result.analysis
    (finding,) = [f for f in a.findings if f.code == "client-conn-leak"]
    assert finding.evidence["connections"] == 2  # conns 1 and 2 saw two newer ones open
    assert finding.evidence["never_closed_by_client"] == 2


def test_idle_longer_than_the_keepalive_timeout() -> None:
    with Observing(idle_timeout=0.3) as obs, requests.Session() as session:
        assert session.get(obs.url, timeout=TIMEOUT).status_code == 200
        time.sleep(0.8)  # past the server's keep-alive: it closes the idle connection
        assert session.get(obs.url, timeout=TIMEOUT).status_code == 200
        result = obs.finish()
    a = result.analysis
    (finding,) = [f for f in a.findings if f.code == "client-idle-timeout-too-long"]
    assert finding.evidence["server_idle_timeout_s"] == 0.3
    assert finding.evidence["closed_by_server_idle_timeout"] >= 1
    assert a.record.connections[0].close_reason == "idle-timeout"
    # A risk, not lost reuse: the expectation still judges reuse only.
    assert "client-new-conn-per-request" not in [f.code for f in a.findings]


def test_session_within_the_keepalive_timeout_has_no_idle_finding() -> None:
    with Observing(idle_timeout=30) as obs, requests.Session() as session:
        for _ in range(3):
            assert session.get(obs.url, timeout=TIMEOUT).status_code == 200
        result = obs.finish()
    assert result.analysis.findings == ()


def test_httpx_h2_client_per_request_does_not_multiplex() -> None:
    pytest.importorskip("h2")
    with Observing() as obs:
        for _ in range(3):
            with httpx.Client(http1=False, http2=True, timeout=TIMEOUT) as client:
                assert client.get(obs.url + "api").status_code == 200
        result = obs.finish()
    a = result.analysis
    assert all(c.protocol == "h2" for c in a.record.connections)
    codes = [f.code for f in a.findings]
    assert "client-h2-not-multiplexing" in codes
    assert "client-new-conn-per-request" in codes


def test_httpx_h2_shared_client_multiplexes() -> None:
    import asyncio

    async def burst(url: str) -> None:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=TIMEOUT) as client:
            replies = await asyncio.gather(*(client.get(url + "delay/50") for _ in range(8)))
            assert all(r.status_code == 200 for r in replies)

    with Observing() as obs:
        asyncio.run(burst(obs.url))
        result = obs.finish()
    a = result.analysis
    assert a.findings == ()
    (conn,) = a.record.connections
    assert conn.protocol == "h2" and conn.requests == 8 and conn.peak_streams >= 2
    assert a.verdict.ok
