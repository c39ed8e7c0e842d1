"""Connection streams whose idle check is cheap.

Before each request it sends and after each response it closes, httpcore's pool asks every
idle connection whether the server has hung up (`get_extra_info("is_readable")`). Through
anyio that is an attribute lookup building a table of every attribute, then a new poll object:
with 16 kept-alive connections it cost more than opening a new connection per request on
loopback. Here the socket and its poll object are found once, so the check is one poll(0).
"""

from __future__ import annotations

import select
import ssl
import typing

import httpcore


class IdleCheckedStream(httpcore.AsyncNetworkStream):
    """`inner`, with `is_readable` answered from a poll object made once."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._poll: select.poll | None = None
        # asyncio and uvloop hand out a stand-in for the socket, not a socket.socket
        raw = inner.get_extra_info("socket")
        fileno = raw.fileno() if raw is not None else -1
        if fileno >= 0:
            self._poll = select.poll()
            self._poll.register(fileno, select.POLLIN)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
    ) -> httpcore.AsyncNetworkStream:
        return IdleCheckedStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # Readable while idle means the server closed it (or sent what it should not);
            # without a socket to ask, httpcore's own answer: not to be reused.
            return self._poll is None or bool(self._poll.poll(0))
        return self._inner.get_extra_info(info)
