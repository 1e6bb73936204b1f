"""The server's idle timeout: watch idle connections until the server closes them.

No bisection and no guessing: ``--samples`` fresh connections each carry one request and
then sit idle in their pools, whose own idle timeout is set beyond ``--max-wait`` so the
client never closes first.  The pool already watches idle connections through their
sockets and emits ``idle_closed`` with the idle time the moment the server closes one
(EOF, RST, or an HTTP/2 GOAWAY), so one pass gives the timeout to within the event
loop's latency, a millisecond or two on loopback.

The idle time counts from the moment the client put the connection idle (the end of the
response body), which is what a client's own idle timeout must stay below.  A server
whose timer starts at the end of the request rather than the response closes earlier
by the response's duration; with ``/`` that is well under the 50 ms resolution.

The samples do not start together: sample i of K starts i/K of a second after the first
(``STAGGER_S``).  A server that closes idle connections from a periodic tick (a reaper
waking every second, rather than a timer per connection) closes a connection anywhere
from its timeout T to T plus the tick after it went idle; samples that all went idle at
one moment would all see one phase of that tick, and one number (3.4 s, say, where
closes begin at 3.0 s) that a client tuned just below would still race.  Staggered over
a second, the K samples see K phases of a one-second tick, so the spread of their idle
times shows the window, and its minimum (within a Kth of the tick) is what a client must
stay below.  A server with a timer per connection closes every sample at the same idle
time, staggered or not.
"""

from __future__ import annotations

import asyncio
from typing import Final

from reusecheck.analysis.limits.model import Trail
from reusecheck.discover.session import Live, Session, Unreachable, is_open

NAME: Final = "idle-timeout"


# How far beyond --max-wait the pools' own idle timeout lies: the server must close first.
CLIENT_MARGIN_S: Final = 30.0

# The samples' starts are spread evenly over this many seconds (sample i of K at i/K of
# it): K phases of a one-second tick, the period a periodic idle reaper usually has.
STAGGER_S: Final = 1.0


def start_offsets(samples: int) -> list[float]:
    """When each sample starts, in seconds after the first: evenly over ``STAGGER_S``."""
    return [i * STAGGER_S / samples for i in range(samples)]


async def run(session: Session, trail: Trail) -> None:
    """Open the samples at once, each on a pool of its own, and watch them all."""
    s = session.settings
    offsets = start_offsets(s.samples)
    longest = offsets[-1] + s.max_wait
    live = session.live[NAME] = Live(f"idle timeout: 0/{s.samples} closed", 0.0, longest)
    started = session.tracer.now()
    answered = closed = 0

    def closed_one() -> None:
        nonlocal closed
        closed += 1
        live.text = f"idle timeout: {closed}/{s.samples} closed"

    async def sample(offset: float) -> None:
        nonlocal answered
        pool = session.pool(idle_timeout=s.max_wait + CLIENT_MARGIN_S)
        try:
            try:
                await asyncio.sleep(offset)
                got = await session.fetch(pool, trail, role="sample")
            finally:
                answered += 1
                if answered == s.samples:  # all idle now: the others may start
                    session.settled(NAME).set()
            if got.conn_id is None or got.error is not None:
                return
            conn = got.conn_id
            if not is_open(pool, conn):  # it closed with its response: nothing to watch
                closed_one()
                return
            ended = await session.watch.wait_for(
                lambda e: e.event == "conn_closed" and e.conn == conn, s.max_wait
            )
            if ended is not None:
                closed_one()
        finally:
            await pool.close()

    async def tick() -> None:
        while True:
            live.done = min(session.tracer.now() - started, longest)
            await asyncio.sleep(0.1)

    ticker = asyncio.get_running_loop().create_task(tick())
    try:
        results = await asyncio.gather(
            *(sample(offset) for offset in offsets), return_exceptions=True
        )
    finally:
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        live.finished = True
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:  # an unreachable target first: it names why the rest failed
        raise next((e for e in errors if isinstance(e, Unreachable)), errors[0])
