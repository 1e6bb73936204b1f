"""The proxy hop against a proxy written here: CONNECT tunnels and absolute-form requests.

A forward proxy of a few lines on 127.0.0.1 shows exactly what the client sent (the
CONNECT line, its Host, its Proxy-Authorization) and answers as a test wants: a 200
that pipes to the real target, or a refusal.  Each refusal must become the named error
(kind ``proxy``, the status in its message), close the connection it was made on, and
surface as the ``proxy-connect-refused`` finding with that status; a password in the
proxy URL is sent but never written anywhere a user could paste from.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reusecheck.cli import main
from reusecheck.net.dial import ConnectionKey, dial
from reusecheck.net.errors import RequestError
from reusecheck.net.proxy import ProxyConfig, explicit_proxy, parse_proxy
from reusecheck.net.request import Request
from reusecheck.net.route import Routing
from reusecheck.net.tls import TLSOptions
from reusecheck.pool import Pool, PoolOptions
from reusecheck.server import ServerConfig, ServerThread, TargetServer
from reusecheck.trace import Recorder
from tests.net.wire import FAST, fields, recorder_tracer, run

SECRET = "s3cr3t-Pa55"  # a password no output may contain


@dataclass
class Seen:
    """One request head the proxy read, and the client port it came from."""

    port: int
    line: str
    headers: dict[str, str]
    names: list[str] = field(default_factory=list)  # every header name, repeats kept


@dataclass
class TinyProxy:
    """A forward proxy: CONNECT answered with ``status`` (200 pipes to the target),
    absolute-form requests answered by the proxy itself with a small 200.

    ``silent``: read the CONNECT and never answer; ``hang_up``: close after writing
    ``partial`` (nothing, or the start of an answer).
    """

    status: int = 200
    reason: str = "Connection established"
    extra: list[tuple[str, str]] = field(default_factory=list)
    silent: bool = False
    hang_up: bool = False
    partial: bytes = b""  # written before hanging up
    seen: list[Seen] = field(default_factory=list)
    accepted: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> TinyProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        port = writer.get_extra_info("peername")[1]
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                line, *rest = head.split("\r\n")
                headers = {
                    n.strip().lower(): v.strip()
                    for n, _, v in (h.partition(":") for h in rest if h)
                }
                names = [h.partition(":")[0].strip().lower() for h in rest if h]
                self.seen.append(Seen(port, line, headers, names))
                if not line.startswith("CONNECT "):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nproxy")
                    continue
                if self.silent:
                    await reader.read()
                    return
                if self.hang_up:
                    writer.write(self.partial)
                    await writer.drain()
                    return
                if self.status != 200:
                    body = b"refused\n"
                    extra = "".join(f"{n}: {v}\r\n" for n, v in self.extra)
                    writer.write(
                        f"HTTP/1.1 {self.status} {self.reason}\r\n{extra}"
                        f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    continue
                host, _, target_port = line.split()[1].rpartition(":")
                up_r, up_w = await asyncio.open_connection(host.strip("[]"), int(target_port))
                writer.write(f"HTTP/1.1 200 {self.reason}\r\n\r\n".encode())
                await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
                return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        dst.close()


class ProxyThread:
    """A TinyProxy on a loop of its own, for the command line (which runs its own)."""

    def __init__(self, proxy: TinyProxy) -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> TinyProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(5)
        return self.proxy

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def tls_target() -> TargetServer:
    return TargetServer(ServerConfig(tls=True, h2=True))


def key_via(port: int, proxy_url: str, scheme: str = "https") -> ConnectionKey:
    return ConnectionKey(scheme, "localhost", port, parse_proxy(proxy_url))


def verified(srv: TargetServer | ServerThread) -> TLSOptions:
    assert srv.ca_path is not None
    return TLSOptions(cacert=str(srv.ca_path), alpn=("h2", "http/1.1"))


# -- the tunnel ------------------------------------------------------------------------


def test_connect_names_the_target_and_tls_runs_inside_the_tunnel() -> None:
    """The proxy is dialled (``remote`` is its address), asked ``CONNECT host:port`` with a
    matching Host, and the target's TLS (its name verified, h2 by ALPN) runs inside."""

    async def main() -> tuple[Recorder, Any, TinyProxy, int]:
        rec, tracer = recorder_tracer()
        async with tls_target() as srv, TinyProxy() as proxy:
            dialed = await dial(key_via(srv.port, proxy.url), 1, 0, tracer, FAST, verified(srv))
            dialed.channel.close()
            return rec, dialed, proxy, srv.port

    rec, dialed, proxy, port = run(main())
    assert dialed.remote == f"127.0.0.1:{proxy.port}"
    assert dialed.tls is not None and dialed.tls.alpn == "h2"
    [seen] = proxy.seen
    assert seen.line == f"CONNECT localhost:{port} HTTP/1.1"
    assert seen.headers["host"] == f"localhost:{port}"
    assert "proxy-authorization" not in seen.headers
    names = [e.event for e in rec.events]
    assert names.index("proxy_connect_done") < names.index("tls_start")
    start = next(e for e in rec.events if e.event == "connect_start")
    assert start.fields["proxy"] == proxy.url
    done = next(e for e in rec.events if e.event == "proxy_connect_done")
    assert done.fields["status"] == 200 and "error" not in done.fields


def test_the_userinfo_becomes_proxy_authorization_on_the_connect_only() -> None:
    """Go sends the proxy URL's credentials, percent-decoded, on the CONNECT; the request
    inside the tunnel is the target's and must not carry them."""

    async def main() -> tuple[Recorder, TinyProxy]:
        rec, tracer = recorder_tracer()
        async with tls_target() as srv, TinyProxy() as proxy:
            url = f"http://al%40ice:{SECRET}%3A@127.0.0.1:{proxy.port}"
            options = PoolOptions(
                tls=verified(srv), routing=Routing(proxies=_explicit(url)), timeouts=FAST
            )
            pool = Pool(tracer, options)
            try:
                for i in range(2):
                    resp = await pool.round_trip(Request("GET", f"{srv.url}"), i)
                    await resp.read()
            finally:
                await pool.close()
            return rec, proxy

    rec, proxy = run(main())
    [seen] = proxy.seen  # one tunnel, reused by the second request
    assert proxy.accepted == 1
    expected = base64.b64encode(f"al@ice:{SECRET}:".encode()).decode()
    assert seen.headers["proxy-authorization"] == f"Basic {expected}"
    inside = [e for e in rec.events if e.event == "wrote_headers"]
    assert len(inside) == 2
    assert all(n.lower() != "proxy-authorization" for e in inside for n, _ in e.fields["headers"])


def _explicit(url: str) -> ProxyConfig:
    return explicit_proxy(url, None, {})


@pytest.mark.parametrize(
    ("status", "reason", "extra", "quoted"),
    [
        (403, "Forbidden", [("X-Squid-Error", "ERR_ACCESS_DENIED 0")], "ERR_ACCESS_DENIED"),
        (
            407,
            "Proxy Authentication Required",
            [("Proxy-Authenticate", 'Basic realm="corp"')],
            'Basic realm="corp"',
        ),
        (502, "Bad Gateway", [], None),
    ],
)
def test_a_refused_connect_is_a_proxy_error_with_its_status(
    status: int, reason: str, extra: list[tuple[str, str]], quoted: str | None
) -> None:
    """Anything but 2xx means the target was never reached: kind ``proxy``, the status and
    the header naming the cause in the message, the span's done carrying the answer, and
    the connection closed once (no TLS attempted over the proxy's error page)."""

    async def main() -> tuple[Recorder, RequestError]:
        rec, tracer = recorder_tracer()
        async with tls_target() as srv, TinyProxy(status, reason, extra) as proxy:
            with pytest.raises(RequestError) as info:
                await dial(key_via(srv.port, proxy.url), 1, 0, tracer, FAST, verified(srv))
            return rec, info.value

    rec, exc = run(main())
    assert exc.kind == "proxy"
    assert f"{status} {reason}" in exc.message and "refused CONNECT to localhost:" in exc.message
    if quoted is not None:
        assert quoted in exc.message
    names = [e.event for e in rec.events]
    assert "tls_start" not in names
    assert names.count("conn_closed") == 1
    done = next(e for e in rec.events if e.event == "proxy_connect_done")
    assert done.fields["status"] == status and done.fields["reason"] == reason
    assert done.fields["error"] == exc.message


def test_a_proxy_that_hangs_up_or_never_answers_is_named() -> None:
    """A close before an answer, or in the middle of one, is a ``proxy`` error saying
    so; silence is bounded by the connect timeout; each leaves the connection closed
    once."""

    async def main() -> list[tuple[RequestError, list[str]]]:
        out = []
        proxies = (
            TinyProxy(hang_up=True),
            TinyProxy(hang_up=True, partial=b"HTTP/1.1 200 Connection est"),
            TinyProxy(silent=True),
        )
        async with tls_target() as srv:
            for proxy in proxies:
                rec, tracer = recorder_tracer()
                async with proxy:
                    timeouts = replace(FAST, connect=0.3) if proxy.silent else FAST
                    with pytest.raises(RequestError) as info:
                        await dial(
                            key_via(srv.port, proxy.url), 1, 0, tracer, timeouts, verified(srv)
                        )
                out.append((info.value, [e.event for e in rec.events]))
        return out

    (closed, closed_names), (cut, cut_names), (silent, silent_names) = run(main())
    assert closed.kind == "proxy" and "closed the connection before answering" in closed.message
    assert cut.kind == "proxy" and "in the middle of its answer to CONNECT" in cut.message
    assert silent.kind == "connect-timeout" and "did not answer CONNECT" in silent.message
    for names in (closed_names, cut_names, silent_names):
        assert names.count("conn_closed") == 1 and "proxy_connect_done" in names


def test_a_proxy_that_cannot_be_reached_is_named_as_the_proxy(closed_port: int) -> None:
    """ "connect to 127.0.0.1:N failed" alone reads as the target's failure: the error
    names the proxy (its password redacted), its kind stays the connect's."""

    async def main() -> RequestError:
        _, tracer = recorder_tracer()
        url = f"http://erin:{SECRET}@127.0.0.1:{closed_port}"
        with pytest.raises(RequestError) as info:
            await dial(key_via(443, url), 1, 0, tracer, FAST, TLSOptions())
        return info.value

    exc = run(main())
    assert exc.kind == "connect"
    assert exc.message.startswith(f"proxy http://erin:[redacted]@127.0.0.1:{closed_port}: ")
    assert SECRET not in exc.message and SECRET not in str(exc)


@pytest.fixture
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


# -- http:// targets: absolute form ------------------------------------------------------


def test_http_origins_share_one_proxy_connection_in_absolute_form() -> None:
    """Go's connectMethodKey for http:// through a proxy is the proxy alone: two origins'
    requests go on one connection, each in absolute form with its own Host and the
    proxy's credentials on every request."""

    async def main() -> tuple[Recorder, TinyProxy]:
        rec, tracer = recorder_tracer()
        async with TinyProxy() as proxy:
            url = f"http://bob:{SECRET}@127.0.0.1:{proxy.port}"
            options = PoolOptions(routing=Routing(proxies=_explicit(url)), timeouts=FAST)
            pool = Pool(tracer, options)
            try:
                for i, origin in enumerate(("http://a.test:8080/x?y=1", "http://b.test/")):
                    # Go's Header.Set: the proxy URL's credentials replace the caller's.
                    given = [("Proxy-Authorization", "Basic given-by-h")]
                    resp = await pool.round_trip(Request("GET", origin, headers=given), i)
                    assert await resp.read() == 5
            finally:
                await pool.close()
            return rec, proxy

    rec, proxy = run(main())
    assert proxy.accepted == 1
    assert [s.line for s in proxy.seen] == [
        "GET http://a.test:8080/x?y=1 HTTP/1.1",
        "GET http://b.test/ HTTP/1.1",
    ]
    assert [s.headers["host"] for s in proxy.seen] == ["a.test:8080", "b.test"]
    expected = "Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode()
    assert all(s.headers["proxy-authorization"] == expected for s in proxy.seen)
    assert all(s.names.count("proxy-authorization") == 1 for s in proxy.seen)
    got = [fields([e])[0] for e in rec.events if e.event == "got_conn"]
    assert [g["reused"] for g in got] == [False, True]


# -- the command line --------------------------------------------------------------------


# No proxy variable of the machine running the tests applies (NO_PROXY=127.0.0.1 on a
# CI runner would send these runs around the proxy).
CLEAN = {
    n: None for b in ("http", "https", "all", "no") for n in (f"{b}_proxy", f"{b.upper()}_PROXY")
}


def probe(*args: str) -> Result:
    return CliRunner().invoke(main, ["probe", *args, "--idle", "0", "--requests", "2"], env=CLEAN)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(tls=True, h2=True)) as srv:
        yield srv


@pytest.mark.parametrize(
    ("status", "reason", "extra"),
    [
        (403, "Forbidden", []),
        (407, "Proxy Authentication Required", [("Proxy-Authenticate", "Basic realm=x")]),
    ],
)
def test_the_cli_reports_a_refused_connect_as_the_finding_with_its_status(
    tls_server: ServerThread, tmp_path: Path, status: int, reason: str, extra: list[Any]
) -> None:
    """Exit 3 (the target was not reached), the error of kind ``proxy``, the finding
    with the status and the target, the top-level ``proxy`` redacted; the password is
    in no output (report, events, the error line)."""
    events = tmp_path / "events.ndjson"
    before = len(tls_server.connections)
    with ProxyThread(TinyProxy(status, reason, extra)) as proxy:
        url = f"http://carol:{SECRET}@127.0.0.1:{proxy.port}"
        r = probe(
            tls_server.url,
            "--json",
            "--events",
            str(events),
            "--proxy",
            url,
            "--cacert",
            str(tls_server.ca_path),
        )
    assert r.exit_code == 3, r.output
    report = json.loads(r.stdout)
    assert report["error"]["kind"] == "proxy"
    assert f"{status} {reason}" in report["error"]["message"]
    [finding] = [f for f in report["findings"] if f["code"] == "proxy-connect-refused"]
    assert finding["evidence"]["statuses"][0] == status
    assert finding["evidence"]["targets"][0] == f"127.0.0.1:{tls_server.port}"
    assert report["proxy"] == f"http://carol:[redacted]@127.0.0.1:{proxy.port}"
    assert all(c["remote"] == f"127.0.0.1:{proxy.port}" for c in report["connections"])
    assert all(c["tunnel_status"] == status for c in report["connections"])
    assert len(tls_server.connections) == before  # the target was never reached
    for text in (r.stdout, r.stderr, events.read_text()):
        assert SECRET not in text
        assert base64.b64encode(f"carol:{SECRET}".encode()).decode() not in text


def test_the_cli_through_a_tunnel_reuses_it_and_keeps_the_password_out(
    tls_server: ServerThread, tmp_path: Path
) -> None:
    """A tunnel is one connection to the proxy reused for every request: the proxy saw
    one CONNECT, the report one connection whose ``remote`` is the proxy and whose
    ``tunnel`` is the target."""
    events = tmp_path / "events.ndjson"
    with ProxyThread(TinyProxy()) as proxy:
        url = f"http://dave:{SECRET}@127.0.0.1:{proxy.port}"
        r = probe(
            tls_server.url,
            "--json",
            "--events",
            str(events),
            "--proxy",
            url,
            "--cacert",
            str(tls_server.ca_path),
            "--concurrency",
            "0",
        )
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert [s.line.split()[0] for s in proxy.seen] == ["CONNECT"]
    [conn] = report["connections"]
    assert conn["remote"] == f"127.0.0.1:{proxy.port}"
    assert conn["tunnel"] == f"127.0.0.1:{tls_server.port}" and conn["tunnel_status"] == 200
    assert conn["requests"] == len(report["requests"]) == 2
    text = events.read_text()
    assert '"Proxy-Authorization"' in text  # the header is traced, its value is not
    for out in (r.stdout, r.stderr, text):
        assert SECRET not in out
        assert base64.b64encode(f"dave:{SECRET}".encode()).decode() not in out
