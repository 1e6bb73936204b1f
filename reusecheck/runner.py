"""Executes a Plan on a Pool: pacing, concurrency, what happens to each response body.

The runner is where a request ends (``request_done``): it knows the phase and what the
step does with the body, which the pool does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from reusecheck.analysis.model import RunError
from reusecheck.net.errors import RequestError
from reusecheck.net.request import Request
from reusecheck.pool import Pool
from reusecheck.scenario import Plan, RequestStep, SleepStep, partial_limit
from reusecheck.trace import Tracer

# Errors that stop the run (exit 3): the target cannot be reached, or a wait timed out
# (going on would only multiply the timeout).  Other failures (a connection closed
# mid-response, a malformed response) are the target's behaviour: recorded, run goes on.
FATAL = frozenset(
    {
        "dns",
        "connect",
        "connect-timeout",
        "tls",
        "tls-timeout",
        "first-byte-timeout",
        "body-timeout",
        "h2-not-negotiated",
    }
)


class _Stop(Exception):
    def __init__(self, error: RequestError) -> None:
        self.error = error


# Sleeps for a SleepStep: (phase, seconds); the CLI passes one that shows progress.
Sleeper = Callable[[str, float], Awaitable[None]]


async def plain_sleep(phase: str, seconds: float) -> None:
    await asyncio.sleep(seconds)


class Runner:
    def __init__(self, plan: Plan, tracer: Tracer, sleeper: Sleeper = plain_sleep) -> None:
        self.plan = plan
        self.tracer = tracer
        self.pool = Pool(tracer, plan.pool)
        self.sleeper = sleeper
        self._index = 0

    async def run(self, deadline: float | None = None) -> RunError | None:
        """Run every step; returns why the run stopped early, or None."""
        try:
            async with asyncio.timeout(deadline):
                for step in self.plan.steps:
                    if isinstance(step, SleepStep):
                        await self.sleeper(step.name, step.seconds)
                    else:
                        await self._run_step(step)
        except TimeoutError:
            return RunError("deadline", f"the run did not finish within --deadline {deadline:g} s")
        except _Stop as u:
            return RunError(u.error.kind, u.error.message)
        finally:
            await self.pool.close()
        return None

    async def _run_step(self, step: RequestStep) -> None:
        req = Request(step.method, step.url, list(step.headers), step.body)
        for _ in range(step.count):
            if step.concurrency == 1:
                await self.fetch(req, self._next(), step.name, step.response_body)
                continue
            indexes = [self._next() for _ in range(step.concurrency)]
            results = await asyncio.gather(
                *(self.fetch(req, i, step.name, step.response_body) for i in indexes),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, BaseException):
                    raise r

    def _next(self) -> int:
        i = self._index
        self._index += 1
        return i

    async def fetch(self, req: Request, index: int, phase: str, body_mode: str) -> None:
        tracer = self.tracer
        try:
            resp = await self.pool.round_trip(req, index)
        except RequestError as exc:
            tracer.emit(
                "request_done",
                index,
                None,
                status=None,
                error=exc.to_dict(),
                retried=exc.retried,
                phase=phase,
            )
            if exc.kind in FATAL:
                raise _Stop(exc) from None
            return
        failure: RequestError | None = None
        try:
            if body_mode == "drain":
                await resp.read()
            elif body_mode == "close-early":
                resp.close()
            elif body_mode.startswith("partial:"):
                await resp.read(partial_limit(body_mode))
                resp.close()
            # "ignore": never read, never closed; the connection stays pinned.
        except RequestError as exc:
            failure = exc
        tracer.emit(
            "request_done",
            index,
            resp.conn.id,
            status=resp.status,
            error=failure.to_dict() if failure is not None else None,
            retried=resp.retried,
            phase=phase,
        )
        if failure is not None and failure.kind in FATAL:
            raise _Stop(failure) from None
