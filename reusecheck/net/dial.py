"""Opening a connection: resolve, connect, TLS, each step timed and traced on its own.

Go's httptrace reports DNS, connect (one pair per address tried) and TLS separately;
so does this, because "the second request was slow" means something different when
the time went to a TCP handshake rather than to the server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reusecheck.net import tls
from reusecheck.net.channel import Channel
from reusecheck.net.connect import connect, local_limit
from reusecheck.net.errors import RequestError
from reusecheck.net.eyeballs import family, keep_family
from reusecheck.net.proxy import Proxy, authority
from reusecheck.net.route import DIRECT, Routing
from reusecheck.net.tunnel import open_tunnel, proxy_handshake
from reusecheck.trace import Tracer, span

__all__ = [
    "ConnectionKey",
    "Dialed",
    "Timeouts",
    "connect",
    "dial",
    "handshake",
    "local_limit",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class ConnectionKey:
    """What a pooled connection may be reused for: scheme, host and port, as in Go.

    Through a proxy it is Go's ``connectMethodKey``: an ``https://`` key names the
    proxy and the target (each target its own CONNECT tunnel); an ``http://`` key names
    the proxy alone (``host`` empty, ``port`` 0), so requests to every ``http://``
    origin share the proxy's connections, in absolute form.
    """

    scheme: str
    host: str
    port: int
    proxy: Proxy | None = None

    @property
    def forward(self) -> bool:
        """Requests go to the proxy as they are (absolute form), not through a tunnel."""
        return self.proxy is not None and self.scheme == "http"

    def __str__(self) -> str:
        if self.proxy is not None and not self.host:
            return f"{self.scheme}://* via {self.proxy.origin}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{self.scheme}://{host}:{self.port}"
        return text if self.proxy is None else f"{text} via {self.proxy.origin}"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Every network wait has one; each is reported by its name when it fires."""

    connect: float = 10.0
    tls: float = 10.0
    first_byte: float = 30.0
    body: float = 30.0


@dataclass(slots=True)
class Dialed:
    channel: Channel
    local: str
    remote: str
    tls: tls.TLSInfo | None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(
    host: str,
    port: int,
    index: int,
    tracer: Tracer,
    timeout: float,
    routing: Routing = DIRECT,
) -> list[str]:
    """Addresses for the host, in the resolver's order; IP literals skip DNS as Go does.

    ``--resolve`` entries answer instead of DNS (``dns_start.pinned``: true); with
    ``-4``/``-6`` only that family's addresses are kept, of the pinned ones too (curl
    skips a pinned entry without the family; Go's ``tcp4``/``tcp6`` dial no other), and
    DNS is asked for one family."""
    version = routing.ip_version
    pinned = routing.pins.addresses(host, port)
    if pinned is not None:
        with span(tracer, "dns", index, None, failed={"addrs": []}, host=host, pinned=True) as step:
            kept = keep_family(pinned, version)
            if not kept:
                msg = (
                    f"--resolve gives {host}:{port} no IPv{version} address "
                    f"and -{version} allows only IPv{version}"
                )
                step.fail(msg)
                raise RequestError("dns", msg)
            step.done(addrs=kept)
        return kept
    if _is_ip(host):
        if not keep_family([host], version):
            raise RequestError(
                "dns",
                f"{host} is an IPv{family(host)} address and -{version} allows only IPv{version}",
            )
        return [host]
    loop = asyncio.get_running_loop()
    wanted = {4: socket.AF_INET, 6: socket.AF_INET6}.get(version or 0, socket.AF_UNSPEC)
    with span(tracer, "dns", index, None, failed={"addrs": []}, host=host) as step:
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, port, family=wanted, type=socket.SOCK_STREAM)
        except TimeoutError:
            msg = f"resolving {host} timed out after {timeout:g} s"
            step.fail(msg)
            raise RequestError("dns", msg) from None
        except OSError as exc:
            mine = local_limit(exc)
            if mine is not None:
                step.fail(mine.message)
                raise mine from None
            only = f" (IPv{version} only)" if version else ""
            msg = f"cannot resolve {host}{only}: {exc.strerror or exc}"
            step.fail(msg)
            raise RequestError("dns", msg) from None
        addrs: list[str] = []
        for info in infos:
            ip = str(info[4][0])
            if ip not in addrs:
                addrs.append(ip)
        step.done(addrs=addrs)
    return addrs


async def handshake(
    channel: Channel,
    key: ConnectionKey,
    conn_id: int,
    index: int,
    tracer: Tracer,
    options: tls.TLSOptions,
    timeout: float,
    session: ssl.SSLSession | None = None,
) -> tls.TLSInfo:
    ctx = tls.client_context(options)
    client_cert = options.cert is not None
    offered: dict[str, Any] = {"client_cert": True} if client_cert else {}
    with span(
        tracer,
        "tls",
        index,
        conn_id,
        server_name=key.host,
        alpn_offered=list(options.alpn),
        session_offered=session is not None,
        **offered,
    ) as step:
        try:
            async with asyncio.timeout(timeout):
                sslobj = await channel.start_tls(ctx, key.host, session)
        except TimeoutError:
            msg = f"TLS handshake with {key} timed out after {timeout:g} s"
            step.fail(msg)
            raise RequestError("tls-timeout", msg) from None
        except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
            msg = tls.describe_error(exc, channel.ssl_object, client_cert)
            step.fail(msg)
            raise RequestError("tls", msg) from None
        info = tls.info(sslobj, client_cert)
        step.done(**info.to_dict())
    return info


async def dial(
    key: ConnectionKey,
    conn_id: int,
    index: int,
    tracer: Tracer,
    timeouts: Timeouts,
    tls_options: tls.TLSOptions,
    session: ssl.SSLSession | None = None,
    reason: Mapping[str, Any] | None = None,
    routing: Routing = DIRECT,
) -> Dialed:
    """Resolve, connect, and (https) the TLS handshake.

    Through a proxy (``key.proxy``): the proxy is resolved and connected to (with TLS
    to an https:// one), then an https:// target gets its CONNECT tunnel and its TLS
    inside; ``--connect-to`` changes where the dial (or the CONNECT) goes, never the
    name TLS verifies.

    A connection that was made but did not become usable (its handshake failed, the
    proxy refused the tunnel, or the run ended during it) is closed here, with its
    ``conn_closed``: every connection that connected ends with one.
    """
    proxy = key.proxy
    if proxy is None:
        host, port = routing.pins.destination(key.host, key.port)
    else:
        host, port = proxy.host, proxy.port
    every = {"proxy": proxy.shown} if proxy is not None else None
    try:
        addrs = await resolve(host, port, index, tracer, timeouts.connect, routing)
        channel = await connect(
            addrs, port, conn_id, index, tracer, timeouts.connect, reason, every
        )
    except RequestError as exc:
        if proxy is None:
            raise
        # "cannot resolve squid.corp" alone reads as the target's failure.
        raise _at_proxy(exc, proxy) from None
    local, remote = channel.addresses()
    if proxy is None and key.scheme != "https":
        return Dialed(channel, local, remote, None)
    try:
        info: tls.TLSInfo | None = None
        if proxy is not None:
            info = await _through(channel, key, proxy, conn_id, index, tracer, timeouts, routing)
        if key.scheme == "https":
            info = await handshake(
                channel, key, conn_id, index, tracer, tls_options, timeouts.tls, session
            )
    except BaseException as exc:
        channel.abort()
        ended = isinstance(exc, asyncio.CancelledError)
        error = exc.message if isinstance(exc, RequestError) else None
        tracer.emit(
            "conn_closed",
            index,
            conn_id,
            closed_by="client",
            reason="end-of-run" if ended else "error",
            requests=0,
            **({"error": error} if error else {}),
        )
        raise
    return Dialed(channel, local, remote, info)


def _at_proxy(exc: RequestError, proxy: Proxy) -> RequestError:
    """A failure to reach the proxy itself, saying it was the proxy (its URL redacted)."""
    named = RequestError(
        exc.kind, f"proxy {proxy.shown}: {exc.message}", before_response=exc.before_response
    )
    named.__dict__.update({k: v for k, v in exc.__dict__.items() if k not in ("kind", "message")})
    return named


async def _through(
    channel: Channel,
    key: ConnectionKey,
    proxy: Proxy,
    conn_id: int,
    index: int,
    tracer: Tracer,
    timeouts: Timeouts,
    routing: Routing,
) -> tls.TLSInfo | None:
    """The proxy hop: TLS to an https:// proxy, then an https:// target's CONNECT (to
    the ``--connect-to`` destination when one matches); the proxy's TLS, if any."""
    info = None
    if proxy.scheme == "https":
        info = await proxy_handshake(
            channel, proxy, conn_id, index, tracer, routing.proxy_tls, timeouts.tls
        )
    if key.scheme == "https":
        target = authority(*routing.pins.destination(key.host, key.port))
        await open_tunnel(channel, proxy, target, conn_id, index, tracer, timeouts.connect)
    return info
