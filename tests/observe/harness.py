"""``reusecheck observe`` on a thread of its own, for tests whose clients block.

``with Observing(idle_timeout=1) as obs: ...client against obs.url...`` then
``obs.finish()`` stops it (as Ctrl-C would) and returns the Observation.  The options
are the command line's, checked by the command's own ``observe_settings``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import Any, Final, Self

from reusecheck.commands.observe import Observation, observation, observe_settings

START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 15.0

DEFAULTS: Final[dict[str, Any]] = {
    "listen": "127.0.0.1:0",
    "upstream": None,
    "tls": False,
    "tls_cert": None,
    "tls_key": None,
    "ca_out": None,
    "duration": None,
    "requests": None,
    "as_json": False,
    "events_path": None,
    "expect": "reuse",
    "idle_timeout": None,
    "max_requests": None,
    "close_always": False,
    "keepalive_hint": False,
    "max_streams": None,
    "body_size": 64 * 1024,
    "cacert": None,
    "insecure": False,
}


class Observing:
    def __init__(self, **options: Any) -> None:
        self.settings = observe_settings({**DEFAULTS, **options})
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._result: Observation | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._result = asyncio.run(self._main())
        except BaseException as exc:  # handed to the test's thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> Observation:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def listening(url: str) -> None:
            self.url = url
            self._ready.set()

        return await observation(self.settings, self._stop, on_listening=listening)

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TimeoutError("observe did not start listening")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._signal_stop()
        self._thread.join(STOP_TIMEOUT)

    def _signal_stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            # RuntimeError: the loop ended on its own (--requests, --duration).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def finish(self) -> Observation:
        """Stop (as Ctrl-C does) and return what was observed."""
        self._signal_stop()
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            raise TimeoutError("observe did not stop")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def codes(self) -> list[str]:
        return [f.code for f in self.finish().analysis.findings]
