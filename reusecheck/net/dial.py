"""Opening a connection: resolve, connect, TLS, each step timed and traced on its own.

Go's httptrace reports DNS, connect (one pair per address tried) and TLS separately;
so does this, because "the second request was slow" means something different when
the time went to a TCP handshake rather than to the server.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from reusecheck.net import tls
from reusecheck.net.channel import Channel
from reusecheck.net.errors import RequestError
from reusecheck.trace import Tracer, span

# Our own process out of file descriptors (EMFILE) or the system's table full (ENFILE):
# the socket could not even be made, so the target was never tried.  Reported as what
# it is, not as the target's connect failure, with the limit to raise.
_LOCAL_LIMITS: Final = frozenset({errno.EMFILE, errno.ENFILE})


def local_limit(exc: OSError) -> RequestError | None:
    """``local-limit`` for EMFILE/ENFILE, naming RLIMIT_NOFILE; None for anything else."""
    if exc.errno not in _LOCAL_LIMITS:
        return None
    if exc.errno == errno.ENFILE:
        return RequestError(
            "local-limit",
            "the system's table of open files is full (ENFILE): no socket could be made; "
            "this is the machine running reusecheck, not the target",
        )
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        limit = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    except (ImportError, OSError, ValueError):  # not on Unix
        limit = "unknown"
    return RequestError(
        "local-limit",
        f"reusecheck has too many open files (EMFILE, RLIMIT_NOFILE {limit}): no socket "
        "could be made; raise the limit (ulimit -n) or probe fewer targets at once",
    )


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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(key: ConnectionKey, index: int, tracer: Tracer, timeout: float) -> list[str]:
    """Addresses for the host, in the resolver's order; IP literals skip DNS as Go does."""
    if _is_ip(key.host):
        return [key.host]
    loop = asyncio.get_running_loop()
    with span(tracer, "dns", index, None, failed={"addrs": []}, host=key.host) as step:
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(key.host, key.port, type=socket.SOCK_STREAM)
        except TimeoutError:
            msg = f"resolving {key.host} timed out after {timeout:g} s"
            step.fail(msg)
            raise RequestError("dns", msg) from None
        except OSError as exc:
            mine = local_limit(exc)
            if mine is not None:
                step.fail(mine.message)
                raise mine from None
            msg = f"cannot resolve {key.host}: {exc.strerror or exc}"
            step.fail(msg)
            raise RequestError("dns", msg) from None
        addrs: list[str] = []
        for info in infos:
            ip = str(info[4][0])
            if ip not in addrs:
                addrs.append(ip)
        step.done(addrs=addrs)
    return addrs


async def connect(
    key: ConnectionKey,
    addrs: list[str],
    conn_id: int,
    index: int,
    tracer: Tracer,
    timeout: float,
    reason: Mapping[str, Any] | None = None,
) -> Channel:
    """Try each address in turn, like Go's dialSerial; the first to answer wins.

    ``reason``: why the pool dials (``dial_reason`` and its details), carried by the
    first ``connect_start``."""
    loop = asyncio.get_running_loop()
    last: RequestError | None = None
    for ip in addrs:
        addr = f"[{ip}]:{key.port}" if ":" in ip else f"{ip}:{key.port}"
        channel = Channel()
        failed = {"local": None, "remote": addr}
        dialled_for = reason if reason is not None and ip == addrs[0] else {}
        with span(
            tracer, "connect", index, conn_id, failed=failed, addr=addr, **dialled_for
        ) as step:
            try:
                async with asyncio.timeout(timeout):
                    await loop.create_connection(lambda ch=channel: ch, host=ip, port=key.port)  # type: ignore[misc]
            except TimeoutError:
                last = RequestError(
                    "connect-timeout", f"connect to {addr} timed out after {timeout:g} s"
                )
            except OSError as exc:
                mine = local_limit(exc)
                if mine is not None:
                    # No other address would fare better: the socket was never made.
                    channel.abort()
                    step.fail(mine.message)
                    raise mine from None
                why = os.strerror(exc.errno) if exc.errno else str(exc)
                last = RequestError("connect", f"connect to {addr} failed: {why}")
            except BaseException:
                channel.abort()
                raise
            else:
                local, remote = channel.addresses()
                step.done(local=local, remote=remote)
                return channel
            channel.abort()
            step.fail(last.message)
    assert last is not None
    raise last


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
    with span(
        tracer,
        "tls",
        index,
        conn_id,
        server_name=key.host,
        alpn_offered=list(options.alpn),
        session_offered=session is not None,
    ) as step:
        try:
            async with asyncio.timeout(timeout):
                sslobj = await channel.start_tls(ctx, key.host, session)
        except TimeoutError:
            msg = f"TLS handshake with {key} timed out after {timeout:g} s"
            step.fail(msg)
            raise RequestError("tls-timeout", msg) from None
        except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
            msg = tls.describe_error(exc)
            step.fail(msg)
            raise RequestError("tls", msg) from None
        info = tls.info(sslobj)
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
) -> Dialed:
    """Resolve, connect, and (https) the TLS handshake.

    A connection that was made but did not become usable (its handshake failed, or the
    run ended during it) is closed here, with its ``conn_closed``: every connection
    that connected ends with one.
    """
    addrs = await resolve(key, index, tracer, timeouts.connect)
    channel = await connect(key, addrs, conn_id, index, tracer, timeouts.connect, reason)
    local, remote = channel.addresses()
    if key.scheme != "https":
        return Dialed(channel, local, remote, None)
    try:
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
