"""discover against real nginx with known keepalive_timeout and keepalive_requests, over
HTTP/1.1, h2c and h2 over TLS, and TLS resumption with session tickets on and off.

The measured values must match the configuration: the idle timeout within 10 % or
100 ms, the request limit exactly.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from reusecheck.commands.discover import emit, measure
from reusecheck.discover import DiscoverSettings
from reusecheck.report.discover_terminal import render
from tests.integration.nginx import start_nginx, start_nginx_tls

pytestmark = pytest.mark.nginx


def close_to(measured: float | None, expected: float) -> bool:
    return measured is not None and abs(measured - expected) <= max(0.1 * expected, 0.1)


def test_done_means_3s_and_7_requests_in_about_3s_with_json_and_terminal_agreeing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_nginx(tmp_path / "ng", http_extra="keepalive_timeout 3s; keepalive_requests 7;")
    try:
        settings = DiscoverSettings(server.url, as_json=True)  # defaults: --max-wait 120
        started = time.monotonic()
        report = measure(settings)
        took = time.monotonic() - started
    finally:
        server.stop()
    assert took < 5.0, f"took {took:.1f} s: the measurements must run at once, not in turn"
    assert report.error is None
    assert close_to(report.server.idle_timeout_s, 3.0)
    assert report.server.max_requests_per_conn == 7
    assert report.max_requests is not None
    assert report.max_requests.signal == "connection-close-header"
    assert report.server.software is not None and report.server.software.startswith("nginx")

    assert emit(report, settings) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["server"]["idle_timeout_s"] == report.server.idle_timeout_s
    assert doc["server"]["max_requests_per_conn"] == 7
    assert {f["code"] for f in doc["findings"]} == {"server-idle-timeout", "max-requests-per-conn"}
    remedy = next(f["remedy"] for f in doc["findings"] if f["code"] == "server-idle-timeout")
    assert "IdleConnTimeout: 2*time.Second" in remedy

    buf = io.StringIO()
    render(report, Console(file=buf, width=80))
    text = buf.getvalue()
    assert f"{report.server.idle_timeout_s:.3f} s  median of 5 idle connections" in text
    assert "Max requests  7 per connection" in text


def test_h2c_prior_knowledge(tmp_path: Path) -> None:
    server = start_nginx(
        tmp_path / "ng",
        http_extra="keepalive_timeout 1s; keepalive_requests 5;",
        listen_extra=" http2",
    )
    try:
        report = measure(
            DiscoverSettings(server.url, http="h2c", only=("idle-timeout", "max-requests", "h2"))
        )
    finally:
        server.stop()
    assert report.error is None and report.protocol == "h2"
    assert close_to(report.server.idle_timeout_s, 1.0)
    assert report.max_requests is not None and report.max_requests.count == 5
    assert report.max_requests.signal == "goaway"
    assert report.server.h2_max_concurrent_streams == 128  # nginx's default


def test_h2_over_tls_with_settings_and_resumption(tmp_path: Path) -> None:
    server, ca = start_nginx_tls(
        tmp_path / "ng", http2=True, http_extra="keepalive_timeout 1s; keepalive_requests 5;"
    )
    try:
        report = measure(DiscoverSettings(server.url, cacert=str(ca), max_streams=20))
    finally:
        server.stop()
    assert report.error is None and report.protocol == "h2"
    idle = report.idle_timeout
    assert idle is not None and close_to(idle.median_s, 1.0)
    assert {s.reason for s in idle.samples} <= {"goaway", "eof"}
    assert report.max_requests is not None and report.max_requests.count == 5
    assert report.max_requests.signal == "goaway"
    h2 = report.h2
    assert h2 is not None and h2.settings is not None
    assert h2.settings.max_concurrent_streams == 128 and h2.settings.initial_window_size
    # 5 streams per connection: 4 on the first (the SETTINGS request took one), then
    # GOAWAY; the pool retries the rest on new connections, 5 together on each.
    assert h2.requested == 20 and h2.answered == 20 and h2.achieved == 5
    assert h2.goaway == "NO_ERROR" and h2.connections == 5
    assert report.tls is not None and report.tls.resumed is True


def test_default_keepalive_requests_is_found_exactly(tmp_path: Path) -> None:
    server = start_nginx(tmp_path / "ng")
    try:
        report = measure(
            DiscoverSettings(server.url, only=("idle-timeout", "max-requests"), max_wait=0.5)
        )
    finally:
        server.stop()
    # nginx: keepalive_requests 1000 and keepalive_timeout 75 s by default.
    assert report.server.max_requests_per_conn == 1000
    assert report.idle_timeout is not None and report.idle_timeout.status == "at-least"
    assert report.server.idle_timeout_s is None


@pytest.mark.parametrize(
    ("config", "version", "resumes"),
    [
        ("", "TLSv1.2", True),  # nginx 1.22's default protocols stop at TLS 1.2
        ("ssl_session_tickets off; ssl_session_cache off;", "TLSv1.2", False),
        ("ssl_protocols TLSv1.3;", "TLSv1.3", True),
        (
            "ssl_protocols TLSv1.3; ssl_session_tickets off; ssl_session_cache off;",
            "TLSv1.3",
            False,
        ),
        # Tickets off but a shared cache: resumed by session id (1.2) or stateful ticket.
        (
            "ssl_protocols TLSv1.3; ssl_session_tickets off; ssl_session_cache shared:T:1m;",
            "TLSv1.3",
            True,
        ),
    ],
)
def test_tls_resumption(tmp_path: Path, config: str, version: str, resumes: bool) -> None:
    server, ca = start_nginx_tls(tmp_path / "ng", http2=False, http_extra=config)
    try:
        report = measure(DiscoverSettings(server.url, cacert=str(ca), only=("tls",)))
    finally:
        server.stop()
    tls = report.tls
    assert tls is not None and tls.status == "measured" and tls.version == version
    if not version.endswith("1.2"):
        assert tls.version == "TLSv1.3"
    assert tls.resumed is resumes
    codes: list[Any] = [f.code for f in report.findings]
    assert ("tls-no-resumption" in codes) is (not resumes)
    assert tls.full_handshake_s is not None
    if resumes:
        assert tls.resumed_handshake_s is not None
