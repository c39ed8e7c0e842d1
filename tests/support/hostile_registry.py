"""A scripted HTTP server that misbehaves the ways real registries occasionally do.

A real `docker-registry` never lies about a digest, never drips a body, never serves a 5 MiB
manifest. This server does whatever a test scripts for a `(method, path)`, so the client's
defences can be tested against real sockets: headers, bodies, Content-Length (or none),
chunked bodies, slow bodies and bodies too large to read whole.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[["HostileHandler"], None]


@dataclass
class Delivery:
    """What the server managed to send for one scripted response (written from its thread)."""

    sent: int = 0  # body bytes written
    completed: bool = False  # the whole body went out
    finished: threading.Event = field(default_factory=threading.Event)  # the handler returned

    def wait(self, timeout_s: float = 5.0) -> Delivery:
        """Block until the handler is done (or give up after `timeout_s`); returns self."""
        self.finished.wait(timeout_s)
        return self


@dataclass(frozen=True)
class SeenRequest:
    """One request the server received."""

    method: str
    path: str
    headers: Mapping[str, str]


class HostileHandler(BaseHTTPRequestHandler):
    """Dispatches each request to the behaviour scripted for its method and path."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        registry = self.server.registry
        registry.record(SeenRequest(self.command, self.path, dict(self.headers.items())))
        behaviour = registry.behaviour_for(self.command, self.path)
        try:
            if behaviour is None:
                reply(404, b'{"errors":[{"code":"NOT_FOUND","message":"not scripted"}]}')(self)
            else:
                behaviour(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up on us, as it should

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in HostileRegistry.requests


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: HostileRegistry


class HostileRegistry:
    """A running scripted server; `script()` a behaviour per `(method, path)`."""

    def __init__(self, http: _Server) -> None:
        self._http = http
        self._lock = threading.Lock()
        self._script: dict[tuple[str, str], Behaviour] = {}
        self.requests: list[SeenRequest] = []

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the registry name to put in references."""
        return f"127.0.0.1:{self._http.server_address[1]}"

    def script(self, method: str, path: str, behaviour: Behaviour) -> None:
        """Answer `method path` (path as sent, e.g. `/v2/repo/manifests/tag`) with `behaviour`.

        A path scripted without a query answers that path whatever query it is sent with
        (a token realm's `?scope=…&service=…`), unless the exact path is scripted too.
        """
        with self._lock:
            self._script[(method, path)] = behaviour

    def reset(self) -> None:
        """Forget every script and recorded request."""
        with self._lock:
            self._script.clear()
            self.requests.clear()

    def behaviour_for(self, method: str, path: str) -> Behaviour | None:
        with self._lock:
            exact = self._script.get((method, path))
            return exact or self._script.get((method, path.partition("?")[0]))

    def record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)


def reply(
    status: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    content_length: bool = True,
    delivery: Delivery | None = None,
) -> Behaviour:
    """Answer with `status`, `headers` and `body`; chunked instead when `content_length` is False.

    For HEAD, headers (including Content-Length, when given) are sent but no body.
    """

    def behave(handler: HostileHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if content_length and "Content-Length" not in (headers or {}):
            handler.send_header("Content-Length", str(len(body)))
        if not content_length:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            if handler.command != "HEAD":
                if content_length:
                    _write(handler, body, delivery)
                else:
                    for start in range(0, len(body), 64 * 1024):
                        piece = body[start : start + 64 * 1024]
                        handler.wfile.write(f"{len(piece):x}\r\n".encode())
                        _write(handler, piece, delivery)
                        handler.wfile.write(b"\r\n")
                    handler.wfile.write(b"0\r\n\r\n")
            if delivery is not None:
                delivery.completed = True
        finally:
            if delivery is not None:
                delivery.finished.set()

    return behave


def drip(
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    interval_s: float,
    delivery: Delivery | None = None,
) -> Behaviour:
    """Announce the whole body's length, then send it one byte every `interval_s`."""

    def behave(handler: HostileHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.flush()
        try:
            for index in range(len(body)):
                time.sleep(interval_s)
                _write(handler, body[index : index + 1], delivery)
                handler.wfile.flush()
            if delivery is not None:
                delivery.completed = True
        finally:
            if delivery is not None:
                delivery.finished.set()

    return behave


def in_turn(*behaviours: Behaviour) -> Behaviour:
    """The first request gets the first behaviour, the next the next; the last one repeats."""
    lock = threading.Lock()
    served = [0]

    def behave(handler: HostileHandler) -> None:
        with lock:
            index = min(served[0], len(behaviours) - 1)
            served[0] += 1
        behaviours[index](handler)

    return behave


def reset_mid_body(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Behaviour:
    """Announce the whole body, send half of it, then reset the connection (TCP RST)."""

    def behave(handler: HostileHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
        handler.close_connection = True

    return behave


def _write(handler: HostileHandler, data: bytes, delivery: Delivery | None) -> None:
    view = memoryview(data)
    for start in range(0, len(view), 256 * 1024):
        handler.wfile.write(view[start : start + 256 * 1024])
        if delivery is not None:
            delivery.sent += min(256 * 1024, len(view) - start)


@contextlib.contextmanager
def launch_hostile_registry() -> Iterator[HostileRegistry]:
    """Serve scripted behaviours on a free loopback port (in a thread) until the block exits."""
    http = _Server(("127.0.0.1", 0), HostileHandler)
    registry = HostileRegistry(http)
    http.registry = registry
    thread = threading.Thread(
        target=http.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="hostile-registry",
        daemon=True,
    )
    thread.start()
    try:
        yield registry
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)
