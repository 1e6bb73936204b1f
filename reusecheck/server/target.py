"""The listening side: binds, makes the TLS material, and tears everything down on close.

Runs on the caller's event loop, so ``reusecheck demo`` can serve and probe in one process
and a test can look at ``connections`` right after its client finishes.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from reusecheck.server.certs import make_bundle, server_context, write_ca
from reusecheck.server.config import ServerConfig
from reusecheck.server.connection import TargetProtocol
from reusecheck.server.negotiate import Negotiator
from reusecheck.server.records import ConnectionRegistry, ConnRecord

CLOSE_TIMEOUT: Final = 5.0  # bound on waiting for aborted connections to report their end
TLS_SHUTDOWN_TIMEOUT: Final = 5.0  # bound on waiting for the client's close_notify
BACKLOG: Final = 1024  # benchmarks open connections in bursts


class TargetServer:
    """An HTTP/1.1 (and with ``h2``, HTTP/2) target whose connection behaviour is set by a
    ServerConfig."""

    def __init__(
        self, config: ServerConfig | None = None, log: Callable[[str], None] | None = None
    ) -> None:
        self.config = config if config is not None else ServerConfig()
        self._registry = ConnectionRegistry(log)
        self._listener: asyncio.Server | None = None
        self._port: int | None = None
        self._tmpdir: Path | None = None
        self.ca_pem: bytes | None = None
        self.ca_path: Path | None = None
        self._reaper: asyncio.TimerHandle | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server has not been started")
        return self._port

    @property
    def url(self) -> str:
        """The base URL, with the host as configured (IPv6 bracketed)."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{host}:{self.port}/"

    @property
    def connections(self) -> list[ConnRecord]:
        """Every connection accepted so far (the most recent MAX_RECORDS), oldest first."""
        return list(self._registry.records)

    async def start(self) -> Self:
        """Bind and start accepting; ``port``, ``url`` and the CA are available after."""
        if self._listener is not None:
            raise RuntimeError("the server is already started")
        ssl_context = await self._tls_context() if self.config.tls else None
        try:
            self._listener = await self._listen(ssl_context)
        except BaseException:
            self._remove_tmpdir()
            raise
        self._port = self._listener.sockets[0].getsockname()[1]
        interval = self.config.idle_reap_interval
        if interval is not None:
            loop = asyncio.get_running_loop()
            self._reaper = loop.call_at(loop.time() + interval, self._reap, loop.time(), 1)
        return self

    async def close(self) -> None:
        """Stop listening, drop every connection, and wait (bounded) until they are gone."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        live = list(self._registry.live)
        for conn in live:
            conn.shutdown()
        if live:
            await asyncio.wait([conn.lost for conn in live], timeout=CLOSE_TIMEOUT)
        if listener is not None:
            await asyncio.wait_for(listener.wait_closed(), CLOSE_TIMEOUT)
        self._remove_tmpdir()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _reap(self, origin: float, tick: int) -> None:
        """One tick of the periodic idle reaper: every live connection idle for at least
        ``idle_timeout`` is closed.  Ticks are counted from ``origin``, so they do not
        drift however long a tick takes."""
        interval = self.config.idle_reap_interval
        assert interval is not None  # only scheduled with one
        loop = asyncio.get_running_loop()
        now = loop.time()
        for conn in list(self._registry.live):
            conn.reap(now)
        upcoming = max(tick + 1, int((now - origin) / interval) + 1)
        self._reaper = loop.call_at(origin + upcoming * interval, self._reap, origin, upcoming)

    async def _listen(self, ssl_context: ssl.SSLContext | None) -> asyncio.Server:
        """Bind every address of the host on one port.

        With port 0 and a name such as ``localhost`` the OS would pick a different port
        per address family, and the URL could name a port that is not listening on the
        address a client tries first; so rebind all of them on the first one's port.
        """
        loop = asyncio.get_running_loop()
        config = self.config
        # asyncio refuses TLS timeouts without TLS.
        tls = ssl_context is not None
        handshake_timeout = config.request_timeout if tls else None
        shutdown_timeout = TLS_SHUTDOWN_TIMEOUT if tls else None

        def factory() -> asyncio.Protocol:
            if config.h2:
                # Picks per connection, by ALPN or the h2c preface, then steps aside.
                return Negotiator(config, self._registry)
            return TargetProtocol(config, self._registry)

        async def bind(port: int) -> asyncio.Server:
            return await loop.create_server(
                factory,
                config.host,
                port,
                ssl=ssl_context,
                backlog=BACKLOG,
                ssl_handshake_timeout=handshake_timeout,
                ssl_shutdown_timeout=shutdown_timeout,
            )

        listener = await bind(config.port)
        for _ in range(5):
            ports = {sock.getsockname()[1] for sock in listener.sockets}
            if config.port != 0 or len(ports) == 1:
                return listener
            first = listener.sockets[0].getsockname()[1]
            listener.close()
            await listener.wait_closed()
            try:
                listener = await bind(first)
            except OSError:  # taken on another family meanwhile: let the OS pick again
                listener = await bind(0)
        return listener

    async def _tls_context(self) -> ssl.SSLContext:
        """A fresh CA and leaf, and the CA written where a user can pass it to --cacert."""
        # Key generation is pure Python; keep the loop (and an in-process client) running.
        bundle = await asyncio.to_thread(make_bundle, self.config.cert_names)
        self._tmpdir = Path(tempfile.mkdtemp(prefix="reusecheck-serve-"))
        self.ca_path = self._tmpdir / "ca.pem"
        write_ca(bundle, self.ca_path)
        self.ca_pem = bundle.ca_pem
        alpn: tuple[str, ...] = ("h2", "http/1.1") if self.config.h2 else ("http/1.1",)
        if not self.config.alpn:
            alpn = ()
        ctx = server_context(bundle, alpn=alpn)
        if not self.config.tls_resumption:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.num_tickets = 0
            ctx.options |= ssl.OP_NO_TICKET
        if self.config.tls_max == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if self.config.client_ca_pem is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=self.config.client_ca_pem.decode("ascii"))
        return ctx

    def _remove_tmpdir(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
