"""IdleList: Go's idle-connection rules, driven with plain objects and explicit times."""

from __future__ import annotations

from dataclasses import dataclass

from reusecheck.pool.idle import IdleLimits, IdleList


@dataclass(eq=False)
class FakeConn:
    key: str
    name: str = ""
    available: bool = True

    def is_available(self) -> bool:
        return self.available


def test_take_returns_most_recently_used_with_its_idle_time() -> None:
    idle: IdleList[FakeConn] = IdleList(IdleLimits())
    a, b = FakeConn("k", "a"), FakeConn("k", "b")
    idle.put(a, now=1.0)
    idle.put(b, now=2.0)
    conn, idle_for, stale = idle.take("k", now=2.5)
    assert conn is b and idle_for == 0.5 and stale == []
    conn, idle_for, _ = idle.take("k", now=3.0)
    assert conn is a and idle_for == 2.0
    assert idle.take("k", now=3.0)[0] is None


def test_keys_are_separate() -> None:
    idle: IdleList[FakeConn] = IdleList(IdleLimits())
    idle.put(FakeConn("http://a:80"), 0.0)
    assert idle.take("http://a:81", 0.0)[0] is None
    assert idle.take("https://a:80", 0.0)[0] is None
    assert idle.take("http://a:80", 0.0)[0] is not None


def test_per_host_limit_refuses_the_put() -> None:
    idle: IdleList[FakeConn] = IdleList(IdleLimits(max_idle_per_host=2))
    results = [idle.put(FakeConn("k"), float(i))[0] for i in range(5)]
    assert results == [True, True, False, False, False]
    assert idle.count("k") == 2
    assert idle.put(FakeConn("other"), 0.0)[0] is True


def test_zero_per_host_keeps_nothing() -> None:
    idle: IdleList[FakeConn] = IdleList(IdleLimits(max_idle_per_host=0))
    assert idle.put(FakeConn("k"), 0.0) == (False, [])


def test_global_limit_evicts_least_recently_used_of_any_key() -> None:
    idle: IdleList[FakeConn] = IdleList(IdleLimits(max_idle=2))
    a, b, c = FakeConn("x", "a"), FakeConn("y", "b"), FakeConn("z", "c")
    idle.put(a, 0.0)
    idle.put(b, 1.0)
    accepted, evicted = idle.put(c, 2.0)
    assert accepted and evicted == [a]
    assert len(idle) == 2 and a not in idle


def test_expired_and_unavailable_connections_are_skipped_and_returned_as_stale() -> None:
    idle: IdleList[FakeConn] = IdleList(IdleLimits(idle_timeout=10.0))
    old, broken, fresh = FakeConn("k", "old"), FakeConn("k", "broken"), FakeConn("k", "fresh")
    idle.put(old, 0.0)
    idle.put(fresh, 5.0)
    idle.put(broken, 6.0)
    broken.available = False
    conn, idle_for, stale = idle.take("k", now=12.0)
    assert conn is fresh and idle_for == 7.0
    assert stale == [broken]
    conn, _, stale = idle.take("k", now=12.0)
    assert conn is None and stale == [old]


def test_remove() -> None:
    idle: IdleList[FakeConn] = IdleList(IdleLimits())
    a = FakeConn("k")
    idle.put(a, 0.0)
    assert idle.remove(a) is True
    assert idle.remove(a) is False
    assert idle.count("k") == 0 and len(idle) == 0
