"""Opening a connection: resolve, connect, TLS, each step timed and traced on its own.

Go's httptrace reports DNS, connect (one pair per address tried) and TLS separately;
so does this, because "the second request was slow" means something different when
the time went to a TCP handshake rather than to the server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass

from reusecheck.net import tls
from reusecheck.net.channel import Channel
from reusecheck.net.errors import RequestError
from reusecheck.trace import Tracer


@dataclass(frozen=True, slots=True)
class ConnectionKey:
    """What a pooled connection may be reused for: scheme, host and port, as in Go."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


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
    session: ssl.SSLSession | None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(key: ConnectionKey, request: int, tracer: Tracer, timeout: float) -> list[str]:
    """Addresses for the host, in the resolver's order; IP literals skip DNS as Go does."""
    if _is_ip(key.host):
        return [key.host]
    tracer.emit("dns_start", request, None, host=key.host)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(key.host, key.port, type=socket.SOCK_STREAM)
    except TimeoutError:
        msg = f"resolving {key.host} timed out after {timeout:g} s"
        tracer.emit("dns_done", request, None, addrs=[], error=msg)
        raise RequestError("dns", msg) from None
    except OSError as exc:
        msg = f"cannot resolve {key.host}: {exc.strerror or exc}"
        tracer.emit("dns_done", request, None, addrs=[], error=msg)
        raise RequestError("dns", msg) from None
    addrs: list[str] = []
    for info in infos:
        ip = str(info[4][0])
        if ip not in addrs:
            addrs.append(ip)
    tracer.emit("dns_done", request, None, addrs=addrs)
    return addrs


async def connect(
    key: ConnectionKey, addrs: list[str], conn_id: int, request: int, tracer: Tracer, timeout: float
) -> Channel:
    """Try each address in turn, like Go's dialSerial; the first to answer wins."""
    loop = asyncio.get_running_loop()
    last: RequestError | None = None
    for ip in addrs:
        addr = f"[{ip}]:{key.port}" if ":" in ip else f"{ip}:{key.port}"
        tracer.emit("connect_start", request, conn_id, addr=addr)
        channel = Channel()
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda ch=channel: ch, host=ip, port=key.port)  # type: ignore[misc]
        except TimeoutError:
            last = RequestError(
                "connect-timeout", f"connect to {addr} timed out after {timeout:g} s"
            )
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            last = RequestError("connect", f"connect to {addr} failed: {why}")
        else:
            local, remote = channel.addresses()
            tracer.emit("connect_done", request, conn_id, local=local, remote=remote)
            return channel
        channel.abort()
        tracer.emit("connect_done", request, conn_id, local=None, remote=addr, error=last.message)
    assert last is not None
    raise last


async def handshake(
    channel: Channel,
    key: ConnectionKey,
    conn_id: int,
    request: int,
    tracer: Tracer,
    options: tls.TLSOptions,
    timeout: float,
    session: ssl.SSLSession | None = None,
) -> tuple[tls.TLSInfo, ssl.SSLObject]:
    ctx = tls.client_context(options)
    tracer.emit(
        "tls_start",
        request,
        conn_id,
        server_name=key.host,
        alpn_offered=list(options.alpn),
        session_offered=session is not None,
    )
    try:
        async with asyncio.timeout(timeout):
            sslobj = await channel.start_tls(ctx, key.host, session)
    except TimeoutError:
        msg = f"TLS handshake with {key} timed out after {timeout:g} s"
        tracer.emit("tls_done", request, conn_id, error=msg)
        channel.abort()
        raise RequestError("tls-timeout", msg) from None
    except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
        msg = tls.describe_error(exc)
        tracer.emit("tls_done", request, conn_id, error=msg)
        channel.abort()
        raise RequestError("tls", msg) from None
    info = tls.info(sslobj)
    tracer.emit("tls_done", request, conn_id, **info.to_dict())
    return info, sslobj


async def dial(
    key: ConnectionKey,
    conn_id: int,
    request: int,
    tracer: Tracer,
    timeouts: Timeouts,
    tls_options: tls.TLSOptions,
    session: ssl.SSLSession | None = None,
) -> Dialed:
    addrs = await resolve(key, request, tracer, timeouts.connect)
    channel = await connect(key, addrs, conn_id, request, tracer, timeouts.connect)
    local, remote = channel.addresses()
    if key.scheme != "https":
        return Dialed(channel, local, remote, None, None)
    info, sslobj = await handshake(
        channel, key, conn_id, request, tracer, tls_options, timeouts.tls, session
    )
    return Dialed(channel, local, remote, info, sslobj.session)
