"""--tls: h2 and HTTP/1.1 by ALPN with a certificate made at start (its CA written with
--ca-out for the client to trust)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import requests

from tests.observe.harness import Observing

TIMEOUT = 10.0


def test_h2_by_alpn_with_a_shared_client(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"

    async def burst(url: str) -> None:
        trust = ssl.create_default_context(cafile=str(ca))
        async with httpx.AsyncClient(http2=True, verify=trust, timeout=TIMEOUT) as client:
            replies = await asyncio.gather(*(client.get(url + "delay/50") for _ in range(4)))
            assert all(r.http_version == "HTTP/2" for r in replies)

    with Observing(tls=True, ca_out=str(ca)) as obs:
        assert obs.url.startswith("https://localhost:") or obs.url.startswith("https://127.")
        asyncio.run(burst(obs.url.replace("127.0.0.1", "localhost")))
        result = obs.finish()
    a = result.analysis
    (conn,) = a.record.connections
    assert conn.tls and conn.alpn == "h2" and conn.protocol == "h2"
    assert a.findings == ()


def test_http11_over_tls_on_several_connections_is_h2_not_negotiated(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    with Observing(tls=True, ca_out=str(ca)) as obs:
        import threading

        start = threading.Barrier(3)
        session = requests.Session()

        def one() -> None:
            start.wait(TIMEOUT)
            session.get(obs.url + "delay/100", verify=str(ca), timeout=TIMEOUT)

        threads = [threading.Thread(target=one) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        session.close()
        result = obs.finish()
    a = result.analysis
    assert all(c.alpn == "http/1.1" for c in a.record.connections)
    (finding,) = [f for f in a.findings if f.code == "client-h2-not-multiplexing"]
    assert finding.evidence["h1_connections"] == 3


def test_a_client_refusing_the_certificate_is_pointed_at_the_ca(tmp_path: Path) -> None:
    """The handshake a client refuses never becomes a connection of the record; with no
    request at all over --tls, the verdict names the likely cause and the fix."""
    with Observing(tls=True, ca_out=str(tmp_path / "ca.pem")) as obs:
        try:
            requests.get(obs.url, timeout=TIMEOUT)  # the system's trust store: not our CA
            raise AssertionError("the made certificate was trusted")
        except requests.exceptions.SSLError:
            pass
        result = obs.finish()
    (reuse,) = result.analysis.verdict.expectations
    assert not reuse.ok and "no request arrived" in reuse.detail
    assert "--ca-out" in reuse.detail
