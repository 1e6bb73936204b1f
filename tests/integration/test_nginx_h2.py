"""The probe against real nginx over TLS: h2 negotiated or not, multiplexing, big bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reusecheck.cli import main
from tests.integration.nginx import Nginx, start_nginx_tls

pytestmark = pytest.mark.nginx


def probe(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["probe", url, "--json", *args])
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def h2_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Nginx, Path]]:
    server, ca = start_nginx_tls(tmp_path_factory.mktemp("nginx-h2"), http2=True)
    yield server, ca
    server.stop()


@pytest.fixture(scope="module")
def h1_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Nginx, Path]]:
    server, ca = start_nginx_tls(tmp_path_factory.mktemp("nginx-h1"), http2=False)
    yield server, ca
    server.stop()


def test_h2_is_negotiated_and_the_burst_is_multiplexed(h2_nginx: tuple[Nginx, Path]) -> None:
    server, ca = h2_nginx
    code, report = probe(
        server.url,
        "--cacert",
        str(ca),
        "--expect",
        "h2",
        "--expect",
        "multiplex",
        "--idle",
        "0",
        "--concurrency",
        "8",
    )
    assert code == 0, report["verdict"]
    assert report["protocol"] == "h2"
    assert report["summary"]["connections_opened"] == 1
    assert report["connections"][0]["tls"]["alpn"] == "h2"
    burst = [r for r in report["requests"] if r["phase"] == "burst-1"]
    assert len(burst) == 8 and {r["conn_id"] for r in burst} == {1}
    assert len({r["stream_id"] for r in burst}) == 8
    assert report["server"]["h2_max_concurrent_streams"] == 128  # nginx's default


def test_http1_only_nginx_fails_expect_h2_with_the_finding(h1_nginx: tuple[Nginx, Path]) -> None:
    server, ca = h1_nginx
    code, report = probe(server.url, "--cacert", str(ca), "--expect", "h2", "--idle", "0")
    assert code == 1
    assert "h2-not-negotiated" in [f["code"] for f in report["findings"]]
    assert report["connections"][0]["tls"]["alpn"] == "http/1.1"


def test_http2_required_against_http1_only_is_exit_3(h1_nginx: tuple[Nginx, Path]) -> None:
    server, ca = h1_nginx
    code, report = probe(server.url, "--cacert", str(ca), "--http2", "--idle", "0")
    assert code == 3
    assert report["error"]["kind"] == "h2-not-negotiated"
    assert "h2-not-negotiated" in [f["code"] for f in report["findings"]]


def test_http1_flag_offers_only_http1(h2_nginx: tuple[Nginx, Path]) -> None:
    server, ca = h2_nginx
    code, report = probe(server.url, "--cacert", str(ca), "--http1", "--idle", "0")
    assert code == 0
    assert report["protocol"] == "http/1.1"
    assert report["connections"][0]["tls"]["alpn"] == "http/1.1"


def test_five_mib_bodies_arrive_complete_over_h2(h2_nginx: tuple[Nginx, Path]) -> None:
    server, ca = h2_nginx
    code, report = probe(
        server.url + "big",
        "--cacert",
        str(ca),
        "--requests",
        "2",
        "--idle",
        "0",
        "--concurrency",
        "3",
    )
    assert code == 0
    assert all(r["status"] == 200 and r["error"] is None for r in report["requests"])
    assert report["summary"]["connections_opened"] == 1


def test_keepalive_requests_over_h2_is_goaway_and_every_request_succeeds(
    tmp_path: Path,
) -> None:
    server, ca = start_nginx_tls(tmp_path / "ng", http2=True, http_extra="keepalive_requests 3;")
    try:
        _, report = probe(
            server.url,
            "--cacert",
            str(ca),
            "--idle",
            "0",
            "--concurrency",
            "5",
        )
    finally:
        server.stop()
    assert all(r["status"] == 200 and r["error"] is None for r in report["requests"])
    assert "h2-goaway" in [f["code"] for f in report["findings"]]
    assert {c["close_reason"] for c in report["connections"]} == {"goaway"}
    assert all(c["requests"] == 3 for c in report["connections"])
    assert report["summary"]["retried"] >= 1
