"""The proxy hop of a dial: TLS to an https:// proxy, and the CONNECT tunnel.

Go's Transport (``dialConn``): an ``https://`` target through a proxy is a ``CONNECT
host:port HTTP/1.1`` with ``Host: host:port`` (and ``Proxy-Authorization`` from the
proxy URL's userinfo, on the CONNECT only); a 2xx makes the connection a byte pipe to
the target, in which TLS (and ALPN, h2 included) is then negotiated with the target's
name.  Anything else is the proxy's refusal: the target was never reached.  An
``http://`` target needs no tunnel: its requests go to the proxy in absolute form.

Both steps are spans of the connection being dialled: ``proxy_tls`` (the proxy's
TLS, its events shaped as ``tls_*``'s) and ``proxy_connect``, whose
``proxy_connect_done`` carries the proxy's status, reason phrase and headers.  The
target's TLS that follows is the connection's ``tls`` span, as without a proxy.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import h11

from reusecheck import __version__
from reusecheck.net import tls
from reusecheck.net.channel import Channel
from reusecheck.net.errors import RequestError
from reusecheck.net.proxy import Proxy
from reusecheck.trace import Tracer, span

# The CONNECT response's head is read with the same bound as any response head.
_MAX_HEAD = 64 * 1024
# Headers of a refusal worth quoting: what names the cause (squid's error code, the
# authentication the proxy asks for).
_QUOTED = ("x-squid-error", "proxy-authenticate")


async def proxy_handshake(
    channel: Channel,
    proxy: Proxy,
    conn_id: int,
    index: int,
    tracer: Tracer,
    options: tls.TLSOptions,
    timeout: float,
) -> tls.TLSInfo:
    """TLS to an https:// proxy, verified against the proxy's own name."""
    ctx = tls.client_context(options)
    with span(
        tracer,
        "proxy_tls",
        index,
        conn_id,
        server_name=proxy.host,
        alpn_offered=list(options.alpn),
    ) as step:
        try:
            async with asyncio.timeout(timeout):
                sslobj = await channel.start_tls(ctx, proxy.host, None)
        except TimeoutError:
            msg = f"TLS handshake with proxy {proxy.origin} timed out after {timeout:g} s"
            step.fail(msg)
            raise RequestError("tls-timeout", msg) from None
        except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
            msg = f"proxy {proxy.origin}: {tls.describe_error(exc)}"
            step.fail(msg)
            raise RequestError("tls", msg) from None
        info = tls.info(sslobj)
        step.done(version=info.version, cipher=info.cipher, alpn=info.alpn, resumed=info.resumed)
    return info


class _Answer:
    """Feeds the proxy's answer to h11 and wakes the CONNECT's wait."""

    def __init__(self, conn: h11.Connection) -> None:
        self.conn = conn
        self.waiter: asyncio.Future[None] | None = None
        self.ended = False
        self.received = 0

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def on_data(self, data: bytes) -> None:
        self.received += len(data)
        self.conn.receive_data(data)
        self._wake()

    def on_eof(self) -> None:
        if not self.ended:
            self.ended = True
            self.conn.receive_data(b"")
        self._wake()

    def on_lost(self, exc: BaseException | None) -> None:
        self.on_eof()


def connect_headers(target: str, proxy: Proxy) -> list[tuple[str, str]]:
    """The CONNECT request's headers, as Go sends them (User-Agent, Proxy-Authorization)."""
    headers = [("Host", target), ("User-Agent", f"reusecheck/{__version__}")]
    credentials = proxy.authorization()
    if credentials is not None:
        headers.append(("Proxy-Authorization", credentials))
    return headers


def refusal(proxy: Proxy, target: str, status: int, reason: str, headers: list[list[str]]) -> str:
    """One line: who refused what, with the header that names why."""
    said = f"{status} {reason}".strip()
    quoted = [f"{n}: {v}" for n, v in headers if n.lower() in _QUOTED]
    why = f" ({'; '.join(quoted)})" if quoted else ""
    return (
        f"proxy {proxy.origin} refused CONNECT to {target} with {said}{why}: the target was "
        "not reached"
    )


async def open_tunnel(
    channel: Channel,
    proxy: Proxy,
    target: str,
    conn_id: int,
    index: int,
    tracer: Tracer,
    timeout: float,
) -> None:
    """``CONNECT target`` on ``channel`` (connected to the proxy, over its TLS for an
    https:// proxy); returns once the proxy answered 2xx.  ``RequestError`` (kind
    ``proxy``) for any other answer, ``connect-timeout`` when none came in time."""
    h = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
    answer = _Answer(h)
    headers = connect_headers(target, proxy)
    failed: dict[str, Any] = {"status": None, "reason": None, "headers": []}
    with span(
        tracer,
        "proxy_connect",
        index,
        conn_id,
        failed=failed,
        proxy=proxy.shown,
        target=target,
        headers=[[n, v] for n, v in headers],
    ) as step:
        channel.attach(answer)
        try:
            data = h.send(h11.Request(method="CONNECT", target=target, headers=headers))
            data += h.send(h11.EndOfMessage())
            channel.write(data)
            async with asyncio.timeout(timeout):
                resp = await _response(h, answer, proxy, target)
        except TimeoutError:
            msg = f"proxy {proxy.origin} did not answer CONNECT to {target} within {timeout:g} s"
            step.fail(msg)
            raise RequestError("connect-timeout", msg) from None
        except (h11.ProtocolError, OSError) as exc:
            msg = f"proxy {proxy.origin} answered CONNECT to {target} with no HTTP response: {exc}"
            step.fail(msg)
            raise RequestError("proxy", msg) from None
        except RequestError as exc:
            step.fail(exc.message)
            raise
        finally:
            channel.detach()
        pairs = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in resp.headers.raw_items()]
        reason = resp.reason.decode("latin-1")
        # The span's failure fields are read when it ends: a refusal carries the answer.
        failed.update(status=resp.status_code, reason=reason, headers=pairs)
        if not 200 <= resp.status_code < 300:
            msg = refusal(proxy, target, resp.status_code, reason, pairs)
            step.fail(msg)
            raise RequestError("proxy", msg)
        if h.trailing_data[0]:
            msg = f"proxy {proxy.origin} sent bytes after its CONNECT response to {target}"
            step.fail(msg)
            raise RequestError("proxy", msg)
        step.done(status=resp.status_code, reason=reason, headers=pairs)


async def _response(h: h11.Connection, answer: _Answer, proxy: Proxy, target: str) -> h11.Response:
    """The proxy's final response to the CONNECT (1xx ones are skipped)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            ev = h.next_event()
        except h11.RemoteProtocolError:
            if not answer.ended:
                raise
            # h11 calls an EOF before a whole response head a protocol error: a hang-up.
            ev = h11.ConnectionClosed()
        if ev is h11.NEED_DATA:
            answer.waiter = loop.create_future()
            await answer.waiter
            continue
        if isinstance(ev, h11.Response):
            return ev
        if isinstance(ev, h11.InformationalResponse):
            continue
        when = "in the middle of its answer to" if answer.received else "before answering"
        raise RequestError(
            "proxy", f"proxy {proxy.origin} closed the connection {when} CONNECT to {target}"
        )
