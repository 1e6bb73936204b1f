"""A broken server (``reusecheck.server.misbehave``) on a loop of its own, in a thread,
so the CLI runs against it as users run it."""

from __future__ import annotations

import asyncio
import threading

from reusecheck.server.misbehave import MisbehavingServer


class MisbehavingThread:
    """The hostile server on its own loop, so the CLI runs as users run it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.server: MisbehavingServer | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> MisbehavingServer:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(MisbehavingServer(self.kind).start(), self.loop)
        self.server = fut.result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
