"""Executes a Plan on a Pool: the steps in order, pacing, concurrency, the deadline.

Each request goes through ``fetch.py`` (which ends it with ``request_done``); the
runner owns the parts of a plan that are not requests: sleeps (``busy`` ones block the
loop on purpose), a fresh pool from a step on, waiting for the server to close an idle
connection, and deciding which failures stop the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from reusecheck.analysis.model import RunError
from reusecheck.net.errors import UNUSABLE_TARGET, RequestError
from reusecheck.net.redirect import Chain
from reusecheck.net.request import Request
from reusecheck.pool import Pool, PoolOptions
from reusecheck.scenarios.deadline import Deadline, Interruption
from reusecheck.scenarios.fetch import Fetched, Pacer, fetch
from reusecheck.scenarios.model import (
    MeasureIdleStep,
    Plan,
    PoolStep,
    RequestStep,
    SleepStep,
    Step,
)
from reusecheck.trace import Event, FanOut, Tracer

# Errors that stop the run (exit 3) with one sentence naming what the target did: it
# cannot be reached, a wait timed out (going on would only multiply the timeout), or it
# answered with something that is not HTTP (a malformed response, a reset stream, an
# h2 connection error).  A reused connection closed before or during a response is a
# keep-alive race, the target's reuse behaviour: recorded, and the run goes on.
# A redirect chain that cannot end (more than 10, or a Location that is not http(s)) is
# the same on every request of the plan: it stops the run too.
FATAL = UNUSABLE_TARGET | {"stream-reset", "goaway", "redirect"}


def stops_run(exc: RequestError) -> bool:
    """A server that closes a *fresh* connection without a whole response is broken,
    not racing an idle timeout, so that stops the run too."""
    return exc.kind in FATAL or (exc.kind == "server-closed" and not exc.on_reused)


class _Stop(Exception):
    def __init__(self, error: RequestError) -> None:
        self.error = error


# Sleeps for a SleepStep: (phase, seconds); the CLI passes one that shows progress.
Sleeper = Callable[[str, float], Awaitable[None]]


async def plain_sleep(phase: str, seconds: float) -> None:
    await asyncio.sleep(seconds)


class IdleCloseWatch:
    """A sink beside the recorder that wakes the runner when the server closes an idle
    connection (the pool's ``idle_closed``), with the idle time the pool measured."""

    def __init__(self) -> None:
        self._waiter: asyncio.Future[float] | None = None

    def write(self, event: Event) -> None:
        w = self._waiter
        if (
            w is not None
            and not w.done()
            and event.event == "idle_closed"
            and event.fields.get("closed_by") == "server"
        ):
            w.set_result(float(event.fields.get("idle_time_s") or 0.0))

    def close(self) -> None:
        pass

    async def next_close(self) -> float:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            return await self._waiter
        finally:
            self._waiter = None


@dataclass(frozen=True, slots=True)
class RunLimits:
    """What protects a target from an accident: a pace and a bound on each body."""

    rate: float | None = None  # request starts per second over the whole run
    max_drain: int | None = None  # body bytes read before the connection is given up


class Runner:
    def __init__(
        self,
        plan: Plan,
        tracer: Tracer,
        sleeper: Sleeper = plain_sleep,
        limits: RunLimits | None = None,
    ) -> None:
        self.plan = plan
        self.tracer = tracer
        self.sleeper = sleeper
        self.limits = limits or RunLimits()
        self.interruption = Interruption()
        self._pacer = Pacer(self.limits.rate) if self.limits.rate else None
        self._watch: IdleCloseWatch | None = None
        # The pool emits through a tracer on the same clock and sink; when the plan
        # measures the server's idle timeout, the watch sees the pool's events too.
        self._pool_tracer = tracer
        if any(isinstance(s, MeasureIdleStep) for s in plan.steps):
            self._watch = IdleCloseWatch()
            self._pool_tracer = Tracer(FanOut((tracer.sink, self._watch)), tracer.clock)
        self.pool = Pool(self._pool_tracer, plan.pool)
        # Every pool the run used, with the step it started at ("" for the plan's own).
        self.pools: list[tuple[str, PoolOptions]] = [("", plan.pool)]
        self._index = 0

    async def run(
        self, deadline: float | None = None, *, keep_pool: bool = False
    ) -> RunError | None:
        """Run every step; returns why the run stopped early, or None.

        The requests the deadline cuts short end with kind ``deadline``.  Cancellation
        from outside (Ctrl-C) propagates, after every request has been ended in the
        record (and every connection, unless ``keep_pool``).

        ``keep_pool``: the pool stays open for the next run of the plan on this runner,
        and the caller closes ``self.pool`` (``watch`` runs its cycle again and again on
        one pool, as a long-running client would); request indexes keep counting.
        """
        self.interruption = Interruption()  # a deadline that fired before is not this run's
        try:
            async with Deadline(deadline, self.interruption) as limit:
                await self._run_steps(self.plan.steps)
        except TimeoutError:
            return RunError("deadline", limit.message)
        except _Stop as u:
            return RunError(u.error.kind, u.error.message)
        finally:
            if not keep_pool:
                await self.pool.close()
        return None

    async def _run_steps(self, steps: Sequence[Step]) -> None:
        for step in steps:
            if isinstance(step, SleepStep):
                if step.busy:
                    # Blocks the loop on purpose (see SleepStep.busy): nothing, not even
                    # the pool's watch on idle sockets, runs until the next request.
                    time.sleep(step.seconds)
                else:
                    await self.sleeper(step.name, step.seconds)
            elif isinstance(step, PoolStep):
                await self.pool.close()
                self.pool = Pool(
                    self._pool_tracer, step.options, first_conn_id=self.pool.next_conn_id
                )
                self.pools.append((step.name, step.options))
                self.tracer.emit("pool_start", step=step.name)
            elif isinstance(step, MeasureIdleStep):
                await self._run_steps(step.then(await self._measure_idle(step)))
            else:
                await self._run_step(step)

    async def _measure_idle(self, step: MeasureIdleStep) -> float | None:
        """The idle time after which the server closed the connection the previous step
        left idle, or None: nothing idle to watch, or still open after ``step.limit``."""
        if self._watch is None or self.pool.idle_count() == 0:
            return None
        try:
            async with asyncio.timeout(step.limit):
                return await self._watch.next_close()
        except TimeoutError:
            return None

    async def _run_step(self, step: RequestStep) -> None:
        req = Request(step.method, step.url, list(step.headers), step.body)
        send = self.follow if step.follow_redirects else self.fetch
        for _ in range(step.count):
            if step.concurrency == 1:
                _stop_on(await send(req, self._next(), step.name, step.response_body))
                continue
            indexes = [self._next() for _ in range(step.concurrency)]
            results = await asyncio.gather(
                *(send(req, i, step.name, step.response_body) for i in indexes),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, BaseException):
                    raise r
                _stop_on(r)

    def _next(self) -> int:
        i = self._index
        self._index += 1
        return i

    def fetch(
        self, req: Request, index: int, phase: str, body: str
    ) -> Coroutine[Any, Any, Fetched]:
        """One request of the plan (a plain call returning fetch's coroutine: one frame
        less per request than an ``async def`` around it)."""
        return fetch(
            self.pool,
            self.tracer,
            req,
            index,
            phase,
            body,
            max_drain=self.limits.max_drain,
            interruption=self.interruption,
            pacer=self._pacer,
        )

    async def follow(self, req: Request, index: int, phase: str, body: str) -> Fetched:
        """A request and the redirects after it (Go's ``http.Client.Do``): each hop is a
        request of its own, with the next index, the step's phase, and
        ``redirected_from`` naming the request it follows; the last hop is returned."""
        got = await self._send(req, index, phase, body, Chain(req), None)
        while got.hop is not None:
            hop, chain = got.hop
            got = await self._send(hop, self._next(), phase, body, chain, got.index)
        return got

    def _send(
        self, req: Request, index: int, phase: str, body: str, chain: Chain, after: int | None
    ) -> Coroutine[Any, Any, Fetched]:
        return fetch(
            self.pool,
            self.tracer,
            req,
            index,
            phase,
            body,
            max_drain=self.limits.max_drain,
            interruption=self.interruption,
            pacer=self._pacer,
            chain=chain,
            redirected_from=after,
        )


def _stop_on(got: Fetched) -> None:
    """A failure that stops the run raises ``_Stop``."""
    if got.error is not None and stops_run(got.error):
        raise _Stop(got.error)
