"""SharedConns: which HTTP/2 connection a request shares, driven with fake connections.

Sans-IO, with explicit times: the fakes implement the ``SharedConn`` protocol (stream
counts, a stream limit, usable or going away).  Futures need a running loop, so the
waiting tests run under ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from reusecheck.pool.h2share import SharedConns

T = TypeVar("T")
KEY = "https://a.test:443"
OTHER = "https://b.test:443"


@dataclass(eq=False)
class FakeH2:
    name: str
    active: int = 0
    requests: int = 0
    last_active: float = 0.0
    max_streams: int = 100
    usable: bool = True  # False: the server sent GOAWAY or closed it

    def is_available(self) -> bool:
        return self.usable and self.active < self.max_streams

    def is_usable(self) -> bool:
        return self.usable

    def reserve(self) -> None:
        self.active += 1
        self.requests += 1


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 5))


# -- pick ------------------------------------------------------------------------------


def test_no_connection_means_nothing_to_share() -> None:
    shared: SharedConns[FakeH2] = SharedConns()
    assert shared.pick(KEY, now=1.0) is None
    shared.add(OTHER, FakeH2("other key"))
    assert shared.pick(KEY, now=1.0) is None


def test_the_busiest_connection_with_a_free_stream_is_picked_and_reserved() -> None:
    shared: SharedConns[FakeH2] = SharedConns()
    quiet = FakeH2("quiet", active=1, requests=5)
    busy = FakeH2("busy", active=3, requests=9)
    full = FakeH2("full", active=4, requests=4, max_streams=4)
    going = FakeH2("going away", active=7, requests=7, usable=False)
    for c in (quiet, busy, full, going):
        shared.add(KEY, c)
    got = shared.pick(KEY, now=5.0)
    assert got == (busy, False, 0.0)  # busy: not idle, no idle time
    assert busy.active == 4  # reserved at once, so the next pick sees the stream
    # Streams pile onto as few connections as possible, until busy is full too.
    picks = [shared.pick(KEY, now=5.0) for _ in range(96)]
    assert {p[0].name for p in picks if p is not None} == {"busy"}
    assert shared.pick(KEY, now=5.0) == (quiet, False, 0.0)


def test_an_idle_connection_reports_was_idle_and_time_since_its_last_stream() -> None:
    shared: SharedConns[FakeH2] = SharedConns()
    conn = FakeH2("idle", active=0, requests=2, last_active=3.25)
    shared.add(KEY, conn)
    assert shared.pick(KEY, now=5.0) == (conn, True, 1.75)
    # Now it carries a stream: the next request shares it, but it was not idle.
    assert shared.pick(KEY, now=6.0) == (conn, False, 0.0)


def test_a_fresh_connection_is_not_idle() -> None:
    """Go: a new connection's first stream is neither reused nor idle."""
    shared: SharedConns[FakeH2] = SharedConns()
    conn = FakeH2("new", last_active=1.0)
    shared.add(KEY, conn)
    assert shared.pick(KEY, now=9.0) == (conn, False, 0.0)


def test_removed_connections_are_no_longer_picked() -> None:
    shared: SharedConns[FakeH2] = SharedConns()
    a, b = FakeH2("a"), FakeH2("b")
    shared.add(KEY, a)
    shared.add(OTHER, b)
    assert a in shared and b in shared and shared.all() == [a, b]
    shared.remove(KEY, a)
    shared.remove(KEY, a)  # twice is harmless (a close after a failure)
    shared.remove(KEY, b)  # not under this key: nothing happens
    assert a not in shared and b in shared
    assert shared.pick(KEY, now=0.0) is None


# -- at_limit --------------------------------------------------------------------------


def test_at_limit_when_usable_connections_are_all_full() -> None:
    shared: SharedConns[FakeH2] = SharedConns()
    assert shared.at_limit(KEY) is False  # nothing to wait for: dial
    full = FakeH2("full", active=2, max_streams=2)
    shared.add(KEY, full)
    assert shared.pick(KEY, now=0.0) is None
    assert shared.at_limit(KEY) is True  # strict mode waits for a stream instead


def test_not_at_limit_when_only_connections_going_away_remain() -> None:
    shared: SharedConns[FakeH2] = SharedConns()
    shared.add(KEY, FakeH2("goaway", active=2, max_streams=2, usable=False))
    assert shared.pick(KEY, now=0.0) is None
    assert shared.at_limit(KEY) is False  # waiting would never end: dial another


# -- the first dial and free streams ---------------------------------------------------


def test_requests_wait_for_the_first_dial_of_a_key() -> None:
    async def main() -> None:
        shared: SharedConns[FakeH2] = SharedConns()
        assert shared.dialing(KEY) is None
        shared.start_dial(KEY)
        first = shared.dialing(KEY)
        assert first is not None and not first.done()
        shared.start_dial(KEY)  # a second dial does not restart the wait
        assert shared.dialing(KEY) is first
        assert shared.dialing(OTHER) is None
        waiters = [asyncio.ensure_future(asyncio.shield(first)) for _ in range(3)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        shared.dial_finished(KEY)
        await asyncio.gather(*waiters)  # all woken at once
        assert shared.dialing(KEY) is None
        shared.dial_finished(KEY)  # a failed dial after the finish: harmless

    run(main())


def test_a_freed_stream_wakes_one_waiter_in_order() -> None:
    async def main() -> None:
        shared: SharedConns[FakeH2] = SharedConns()
        a, b, c = (shared.wait_for_slot(KEY) for _ in range(3))
        other = shared.wait_for_slot(OTHER)
        a.cancel()  # that request gave up (its run ended)
        shared.slot_freed(KEY)
        assert (b.done(), c.done(), other.done()) == (True, False, False)
        shared.slot_freed(KEY)
        assert c.done() and not other.done()
        shared.slot_freed(KEY)  # nobody waiting: nothing to do
        shared.slot_freed(OTHER)
        assert other.done()

    run(main())


def test_http1_keys_are_remembered() -> None:
    shared: SharedConns[FakeH2] = SharedConns()
    shared.http1_keys.add(KEY)
    shared.http1_keys.add(KEY)
    assert shared.http1_keys == {KEY}
