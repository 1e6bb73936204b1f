"""The TCP connect of a dial: every address tried is its own traced attempt.

Go's dual-stack dialer (``eyeballs.py`` has the order and the timing rules): the
primaries one after the other, the other family raced 300 ms later (or as soon as
every primary failed), the first connection made wins and the others are abandoned.
Each attempt is a ``connect`` span of the connection being dialled, so a refused
``[::1]`` before a working ``127.0.0.1`` shows as a failed ``connect_start`` /
``connect_done`` pair before the successful one; only the winner's ``connect_done``
has no ``error``.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from reusecheck.net import eyeballs
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


def address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class _Race:
    """What the attempts of one dial share: who won, and the fields they carry."""

    def __init__(self, port: int, conn_id: int, index: int, tracer: Tracer, timeout: float) -> None:
        self.port = port
        self.conn_id = conn_id
        self.index = index
        self.tracer = tracer
        self.timeout = timeout
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.winner: str | None = None  # the address that connected first
        self.first: Mapping[str, Any] = {}  # the dial's first connect_start (dial_reason)
        self.every: Mapping[str, Any] = {}  # every connect_start (the proxy dialled)


async def _attempt(race: _Race, ip: str, timeout: float, fallback: bool) -> Channel:
    """One address: a connect span; the winner's ends without ``error``."""
    addr = address(ip, race.port)
    fields: dict[str, Any] = {**race.first, **race.every}
    race.first = {}
    if fallback:
        fields["fallback"] = True
    channel = Channel()
    loop = asyncio.get_running_loop()
    failed = {"local": None, "remote": addr}
    with span(
        race.tracer, "connect", race.index, race.conn_id, failed=failed, addr=addr, **fields
    ) as step:
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: channel, host=ip, port=race.port)
        except TimeoutError:
            error = RequestError(
                "connect-timeout", f"connect to {addr} timed out after {round(timeout, 3):g} s"
            )
        except OSError as exc:
            mine = local_limit(exc)
            if mine is not None:
                # No other address would fare better: the socket was never made.
                channel.abort()
                step.fail(mine.message)
                raise mine from None
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            error = RequestError("connect", f"connect to {addr} failed: {why}")
        except asyncio.CancelledError:
            channel.abort()
            if race.winner is not None:
                step.fail(f"abandoned: {race.winner} connected first")
            raise
        except BaseException:
            channel.abort()
            raise
        else:
            if race.winner is None:
                race.winner = addr
                local, remote = channel.addresses()
                step.done(local=local, remote=remote)
                return channel
            error = RequestError("connect", f"{addr} connected after {race.winner}: closed")
        channel.abort()
        step.fail(error.message)
        raise error


async def _serial(race: _Race, addrs: Sequence[str], fallback: bool = False) -> Channel:
    """Go's ``dialSerial``: each address in turn, each with its share of the time."""
    loop = asyncio.get_running_loop()
    last: RequestError | None = None
    for n, ip in enumerate(addrs):
        # The primaries' first attempt starts the dial: all of the timeout is left.
        left = race.timeout if n == 0 and not fallback else race.deadline - loop.time()
        if left <= 0 and last is not None:
            break
        try:
            return await _attempt(
                race, ip, eyeballs.attempt_timeout(left, len(addrs) - n), fallback
            )
        except RequestError as exc:
            if exc.kind == "local-limit" or race.winner is not None:
                raise
            last = exc
    assert last is not None
    raise last


async def connect(
    addrs: Sequence[str],
    port: int,
    conn_id: int,
    index: int,
    tracer: Tracer,
    timeout: float,
    reason: Mapping[str, Any] | None = None,
    every: Mapping[str, Any] | None = None,
) -> Channel:
    """The first of ``addrs`` to accept, tried as Go's dual-stack dialer tries them.

    ``timeout`` bounds the whole connect.  ``reason``: why the pool dials
    (``dial_reason`` and its details), carried by the dial's first ``connect_start``;
    ``every``: fields every ``connect_start`` carries (the proxy being dialled)."""
    race = _Race(port, conn_id, index, tracer, timeout)
    race.first = reason or {}
    race.every = every or {}
    primaries, fallbacks = eyeballs.partition(addrs)
    if not fallbacks:
        return await _serial(race, primaries)
    return await _dual_stack(race, primaries, fallbacks)


async def _dual_stack(race: _Race, primaries: list[str], fallbacks: list[str]) -> Channel:
    """Go's ``dialParallel``: the fallbacks start after ``FALLBACK_DELAY``, or at once
    when the primaries have all failed; the first connection wins, the primaries'
    error is the dial's when both fail."""
    loop = asyncio.get_running_loop()
    primary = loop.create_task(_serial(race, primaries))
    tasks: set[asyncio.Task[Channel]] = {primary}
    fallback: asyncio.Task[Channel] | None = None
    errors: dict[bool, RequestError] = {}
    try:
        done, _ = await asyncio.wait(tasks, timeout=eyeballs.FALLBACK_DELAY)
        while True:
            for task in done:
                tasks.discard(task)
                exc = task.exception()
                if exc is None:
                    return task.result()
                if not isinstance(exc, RequestError) or exc.kind == "local-limit":
                    raise exc
                errors[task is primary] = exc
            if fallback is None:
                fallback = loop.create_task(_serial(race, fallbacks, fallback=True))
                tasks.add(fallback)
            if not tasks:
                raise errors.get(True) or errors[False]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
