"""DialLimit: Go's MaxConnsPerHost, driven with plain callables.

A dial is "started" when its callable runs; the callable says whether the dial is still
wanted (its request may have been handed a released connection while it queued).
"""

from __future__ import annotations

from collections.abc import Callable

from reusecheck.pool.dials import DialLimit

KEY, OTHER = "http://a.test:80", "http://b.test:80"


class Dials:
    """Records which dials started, in order; ``unwanted`` ones decline their slot."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.unwanted: set[str] = set()

    def dial(self, name: str) -> Callable[[], bool]:
        def start() -> bool:
            if name in self.unwanted:
                return False
            self.started.append(name)
            return True

        return start


def test_no_limit_starts_every_dial_at_once() -> None:
    limit, d = DialLimit(0), Dials()
    for i in range(5):
        limit.request(KEY, d.dial(f"d{i}"))
    assert d.started == ["d0", "d1", "d2", "d3", "d4"]


def test_dials_beyond_the_limit_wait_for_a_connection_to_go_in_order() -> None:
    limit, d = DialLimit(2), Dials()
    for i in range(5):
        limit.request(KEY, d.dial(f"d{i}"))
    assert d.started == ["d0", "d1"]
    limit.release(KEY)  # one of the two connections closed
    assert d.started == ["d0", "d1", "d2"]
    limit.release(KEY)
    limit.release(KEY)
    assert d.started == ["d0", "d1", "d2", "d3", "d4"]


def test_keys_have_separate_limits() -> None:
    limit, d = DialLimit(1), Dials()
    limit.request(KEY, d.dial("a1"))
    limit.request(KEY, d.dial("a2"))
    limit.request(OTHER, d.dial("b1"))
    assert d.started == ["a1", "b1"]
    limit.release(OTHER)  # b's connection going frees nothing for a
    assert d.started == ["a1", "b1"]
    limit.release(KEY)
    assert d.started == ["a1", "b1", "a2"]


def test_a_dial_no_longer_wanted_does_not_keep_its_slot() -> None:
    limit, d = DialLimit(1), Dials()
    d.unwanted.add("early")
    limit.request(KEY, d.dial("early"))  # declined at once: the slot is free again
    limit.request(KEY, d.dial("next"))
    assert d.started == ["next"]


def test_a_queued_dial_no_longer_wanted_passes_its_slot_on() -> None:
    limit, d = DialLimit(1), Dials()
    limit.request(KEY, d.dial("first"))
    for name in ("got-a-handoff", "also-served", "still-waiting", "last"):
        limit.request(KEY, d.dial(name))
    d.unwanted |= {"got-a-handoff", "also-served"}
    limit.release(KEY)
    assert d.started == ["first", "still-waiting"]
    # The limit still holds: one connection (still-waiting's), so "last" waits.
    limit.request(KEY, d.dial("later"))
    assert d.started == ["first", "still-waiting"]
    limit.release(KEY)
    assert d.started == ["first", "still-waiting", "last"]


def test_when_every_queued_dial_declines_the_slot_stays_free() -> None:
    limit, d = DialLimit(1), Dials()
    limit.request(KEY, d.dial("first"))
    limit.request(KEY, d.dial("x"))
    d.unwanted.add("x")
    limit.release(KEY)
    assert d.started == ["first"]
    limit.request(KEY, d.dial("new"))  # nobody holds the slot: starts at once
    assert d.started == ["first", "new"]
