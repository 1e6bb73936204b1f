"""The peers of the whole-process workloads: the same requests as a reusecheck command,
in a fresh process, timed from outside by ``benchmarks/whole.py`` (start to exit).

    python benchmarks/peers.py httpx-seq http://127.0.0.1:8080/ 5000
    python benchmarks/peers.py aiohttp-seq http://127.0.0.1:8080/ 5000
    BENCH_CAFILE=ca.pem python benchmarks/peers.py httpx-h2 https://127.0.0.1:8443/ 5120 64

``httpx-seq``: httpx's sync Client, N sequential GETs, each body read.  ``aiohttp-seq``:
one aiohttp session, N sequential GETs.  ``httpx-h2``: one ``AsyncClient(http2=True)``,
N GETs with WIDTH at once (WIDTH workers, N / WIDTH each).  Exits 1 if a response is
not a 200.  No warm-up: a user's run has none either.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys


def httpx_seq(url: str, n: int) -> int:
    import httpx

    bad = 0
    with httpx.Client() as client:
        for _ in range(n):
            resp = client.get(url)
            resp.read()
            bad += resp.status_code != 200
    return bad


async def aiohttp_seq(url: str, n: int) -> int:
    import aiohttp

    bad = 0
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.get(url) as resp:
                await resp.read()
                bad += resp.status != 200
    return bad


async def httpx_h2(url: str, n: int, width: int) -> int:
    import httpx

    verify = ssl.create_default_context(cafile=os.environ.get("BENCH_CAFILE"))
    bad = 0
    async with httpx.AsyncClient(http2=True, verify=verify) as client:

        async def worker(k: int) -> None:
            nonlocal bad
            for _ in range(k):
                resp = await client.get(url)
                bad += resp.status_code != 200 or resp.http_version != "HTTP/2"

        await asyncio.gather(*(worker(n // width) for _ in range(width)))
    return bad


def main() -> None:
    peer, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if peer == "httpx-seq":
        bad = httpx_seq(url, n)
    elif peer == "aiohttp-seq":
        bad = asyncio.run(aiohttp_seq(url, n))
    elif peer == "httpx-h2":
        bad = asyncio.run(httpx_h2(url, n, int(sys.argv[4])))
    else:
        raise SystemExit(f"unknown peer {peer}")
    if bad:
        raise SystemExit(f"{peer}: {bad} of {n} responses not as expected")


if __name__ == "__main__":
    main()
