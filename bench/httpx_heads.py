"""The HTTP library's own floor: HEADs of manifests by httpx alone, 16 at a time.

imagepin's registry client is httpx on uvloop; this sends the same HEADs with nothing else
(no resolution, no database, no gRPC), so the batch row can be read against what the library
costs on this machine. Run as its own process, so its CPU time is its own:

    python -m bench.httpx_heads URL TOKEN ACCEPT PATH...

prints the milliseconds from the first request to the last answer, and the CPU milliseconds
the process spent in that time (its start and imports left out, as curl's are cheap).
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import uvloop

IN_FLIGHT = 16  # as curl's --parallel-max 16 and the registry client's max_concurrency


async def heads(base_url: str, token: str, accept: str, paths: list[str]) -> tuple[float, float]:
    """Seconds to HEAD every path, IN_FLIGHT at a time, over new connections (as curl opens),
    and the CPU seconds spent meanwhile."""
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    slots = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:

        async def head(path: str) -> None:
            async with slots:
                answer = await client.head(path)
                answer.raise_for_status()

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(head(path) for path in paths))
        return time.perf_counter() - started, time.process_time() - cpu_started


def main() -> None:
    base_url, token, accept, *paths = sys.argv[1:]
    wall_s, cpu_s = uvloop.run(heads(base_url, token, accept, paths))
    print(f"{1000 * wall_s:.1f} {1000 * cpu_s:.1f}")


if __name__ == "__main__":
    main()
