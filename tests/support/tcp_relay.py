"""A loopback TCP relay in front of a real registry, counting the connections made through it:
what a registry's access log cannot tell (it logs requests, not connections)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Relay:
    host: str  # host:port to send requests to instead of the registry's
    connections: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _clients: list[asyncio.StreamWriter] = field(default_factory=list)

    async def hang_up(self) -> None:
        """Close every connection made so far, as a server closes idle ones."""
        for writer in self._clients:
            writer.close()
        for writer in self._clients:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        self._clients.clear()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def relay_to(target: str) -> AsyncIterator[Relay]:
    """Relay connections on a free loopback port to `target` (host:port, on loopback)."""
    target_host, target_port = target.rsplit(":", 1)
    relay = Relay(host="")

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relay.connections += 1
        relay._clients.append(writer)
        upstream_reader, upstream_writer = await asyncio.open_connection(
            target_host, int(target_port)
        )
        for task in (
            asyncio.create_task(_pipe(reader, upstream_writer)),
            asyncio.create_task(_pipe(upstream_reader, writer)),
        ):
            relay._tasks.add(task)
            task.add_done_callback(relay._tasks.discard)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    relay.host = f"127.0.0.1:{port}"
    try:
        yield relay
    finally:
        server.close()
        for task in list(relay._tasks):
            task.cancel()
        await asyncio.gather(*relay._tasks, return_exceptions=True)
        await server.wait_closed()
