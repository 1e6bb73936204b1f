"""A TargetServer on its own thread and event loop, for synchronous callers.

Tests with blocking clients and the CLI runner need a server that keeps answering while
the calling thread blocks; everything the caller reads crosses threads through the loop,
so it never sees a record half-updated.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from reusecheck.server.config import ServerConfig
from reusecheck.server.records import ConnRecord
from reusecheck.server.target import TargetServer

START_TIMEOUT: Final = 30.0  # TLS key generation is pure Python; allow a slow machine
STOP_TIMEOUT: Final = 10.0
CALL_TIMEOUT: Final = 5.0


class ServerThread:
    """Runs a TargetServer in a background thread: ``with ServerThread(cfg) as srv: ...``."""

    def __init__(
        self, config: ServerConfig | None = None, log: Callable[[str], None] | None = None
    ) -> None:
        self.server = TargetServer(config, log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._final: list[ConnRecord] | None = None
        self._thread = threading.Thread(target=self._run, name="reusecheck-server", daemon=True)

    @property
    def config(self) -> ServerConfig:
        return self.server.config

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_path(self) -> Path | None:
        return self.server.ca_path

    @property
    def ca_pem(self) -> bytes | None:
        return self.server.ca_pem

    @property
    def connections(self) -> list[ConnRecord]:
        """Copies of the records, taken on the server's loop (the final ones after stop)."""
        if self._final is not None:
            return [dataclasses.replace(r) for r in self._final]
        loop = self._loop
        if loop is None or not self._thread.is_alive():
            return []
        future = asyncio.run_coroutine_threadsafe(self._snapshot(), loop)
        return future.result(CALL_TIMEOUT)

    def start(self, timeout: float = START_TIMEOUT) -> Self:
        """Start the thread and block until the server listens; re-raise a bind error."""
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"the server did not start within {timeout:g} s")
        if self._error is not None:
            self._thread.join(STOP_TIMEOUT)
            raise self._error
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Close the server (all connections), end the loop and join the thread."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if self._thread.ident is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the server thread did not stop within {timeout:g} s")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _snapshot(self) -> list[ConnRecord]:
        return [dataclasses.replace(r) for r in self.server.connections]

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:  # handed to start() in the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self.server.close()
            self._final = await self._snapshot()
