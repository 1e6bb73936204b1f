"""What the measurements share: one clock and record, pools with their own connections,
one way to send a request, and a way to wait for an event.

Each measurement gets pools of its own, so none takes another's connection (an idle
connection being watched must never carry a request the counter sends).  They all emit
through one Tracer, so every event is on one clock and in one record; connection ids
come in blocks per pool (``CONN_BLOCK``) and request indexes from one counter, so both
stay unique across the run, as the event stream's readers expect.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from reusecheck.analysis.limits.model import Trail
from reusecheck.discover.settings import DiscoverSettings
from reusecheck.net.dial import Timeouts
from reusecheck.net.errors import UNUSABLE_TARGET, RequestError
from reusecheck.net.request import Request
from reusecheck.net.tls import TLSOptions
from reusecheck.pool import Pool, PoolOptions
from reusecheck.scenarios.deadline import Interruption
from reusecheck.scenarios.fetch import Fetched, fetch
from reusecheck.trace import Event, Tracer

# Errors that stop a measurement (and make the run exit 3): the target cannot be reached,
# does not speak the protocol asked for, or a wait timed out (going on would only repeat
# the wait).  Unlike a probe, a GOAWAY, a reset stream or a close is not among them:
# that is the server's behaviour, which discover is there to measure.
STOPS: Final = UNUSABLE_TARGET

# Connection ids per pool: pool k numbers its connections from k * CONN_BLOCK + 1.  A
# discover pool dials one connection, a few more only after a GOAWAY or a stale retry.
CONN_BLOCK: Final = 100


class Unreachable(Exception):
    """A request failed in a way that stops its measurement (``STOPS``)."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class Live:
    """A measurement's progress as the progress bar shows it."""

    text: str
    done: float = 0.0
    total: float | None = None
    finished: bool = False


class EventWatch:
    """A sink that wakes whoever waits for a matching event (a connection's close, for
    the idle watch), so no measurement polls the record."""

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = []

    def write(self, event: Event) -> None:
        if not self._waiters:
            return
        for match, fut in self._waiters:
            if not fut.done() and match(event):
                fut.set_result(event)

    def close(self) -> None:
        pass

    async def wait_for(self, match: Callable[[Event], bool], timeout: float) -> Event | None:
        """The first matching event emitted from now on, or None after ``timeout``."""
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        waiter = (match, fut)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                return await fut
        except TimeoutError:
            return None
        finally:
            self._waiters.remove(waiter)


class Session:
    def __init__(self, settings: DiscoverSettings, tracer: Tracer, watch: EventWatch) -> None:
        self.settings = settings
        self.tracer = tracer
        self.watch = watch
        self.request = Request("GET", settings.url, list(settings.headers))
        self.live: dict[str, Live] = {}
        t = settings.timeout
        self.base_options = PoolOptions(
            timeouts=Timeouts(connect=t, tls=t, first_byte=t, body=t),
            tls=TLSOptions(
                cacert=settings.cacert,
                insecure=settings.insecure,
                cert=settings.cert,
                key=settings.key,
            ),
            http=settings.http,
            routing=settings.routing,
        )
        self._indexes = itertools.count()
        self._pools = 0
        self._settled: dict[str, asyncio.Event] = {}
        # Set by the engine before its deadline cancels the measurements.
        self.interruption = Interruption()

    def settled(self, name: str) -> asyncio.Event:
        """Set once measurement ``name`` no longer sends anything (engine.QUIET_AFTER)."""
        return self._settled.setdefault(name, asyncio.Event())

    @property
    def scheme(self) -> str:
        return self.request.key.scheme

    def pool(self, **changes: Any) -> Pool:
        """A pool of its own (``changes``: PoolOptions fields), in the next id block."""
        first = self._pools * CONN_BLOCK + 1
        self._pools += 1
        return Pool(self.tracer, replace(self.base_options, **changes), first_conn_id=first)

    async def fetch(self, pool: Pool, trail: Trail, role: str = "") -> Fetched:
        """One GET, its body read to the end, ``request_done`` emitted with the
        measurement as the phase.  Raises Unreachable for the errors in ``STOPS``."""
        index = next(self._indexes)
        trail.requests.append(index)
        if role:
            trail.roles[index] = role
        got = await fetch(
            pool, self.tracer, self.request, index, trail.name, interruption=self.interruption
        )
        if got.error is not None and got.error.kind in STOPS:
            raise Unreachable(got.error)
        return got


def is_open(pool: Pool, conn_id: int) -> bool:
    return any(c.id == conn_id for c in pool.open_connections)
