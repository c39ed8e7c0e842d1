"""The gRPC server wiring: our service, health and reflection, TLS, interceptors, binding."""

from __future__ import annotations

import asyncio
import socket
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from imagepin.v1 import resolver_pb2, resolver_pb2_grpc

from imagepin_server import core
from imagepin_server.api import reflection
from imagepin_server.api.access_log import AccessLog, Mode
from imagepin_server.api.caller_auth import CallerAuthInterceptor, TokenFile
from imagepin_server.api.fastpath import WarmAnswers
from imagepin_server.api.interceptors import RpcInterceptor
from imagepin_server.api.notifications import NotificationListener
from imagepin_server.api.servicer import ResolverServicer
from imagepin_server.config import Settings

SERVICE_NAME: Final = resolver_pb2.DESCRIPTOR.services_by_name["ResolverService"].full_name
# Health of the database writes: NOT_SERVING while observations wait in the write queue.
STORE_HEALTH_NAME: Final = "imagepin.store"
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024  # a 4 MiB manifest plus an 8 MiB config, with room
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
METRICS_FLUSH_S: Final = 1.0  # warm hits reach /metrics at most this late


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS for callers when configured; with a client CA, a client certificate it signed is
    required by the handshake (gRPC's Python server cannot ask for one without requiring it, so
    a caller without one fails to connect rather than getting a status)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    client_ca = settings.tls_client_ca_file
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca is not None else None,
        require_client_auth=client_ca is not None,
    )


def rpc_interceptor_for(settings: Settings, warm: WarmAnswers | None = None) -> RpcInterceptor:
    """The per-RPC error mapping, metrics and access log, in the configured log mode."""
    access_log = AccessLog(Mode(settings.access_log), settings.access_log_sample_rate)
    return RpcInterceptor(f"/{SERVICE_NAME}/", access_log=access_log, warm=warm)


def interceptors_for(settings: Settings, rpc: RpcInterceptor) -> list[grpc.aio.ServerInterceptor]:
    """Caller authentication first (when configured), then `rpc`."""
    chain: list[grpc.aio.ServerInterceptor] = []
    tokens = settings.auth_tokens_file
    if tokens is not None or settings.tls_client_ca_file is not None:
        chain.append(
            CallerAuthInterceptor(
                tokens=TokenFile(tokens) if tokens is not None else None,
                require_client_cert=settings.tls_client_ca_file is not None,
            )
        )
    chain.append(rpc)
    return chain


def listen_failure(listen: str, why: str) -> str:
    """The one line a person sees when the server cannot listen: what failed and the flag."""
    return (
        f"cannot listen on {listen}: {why}; choose another address with --listen HOST:PORT "
        "(IMAGEPIN_LISTEN)"
    )


def refuse_unbindable(listen: str) -> None:
    """Raise OSError with one clear line when no address of `listen` can be bound.

    grpcio reports a failed bind as a bare RuntimeError after logging its own lines, so the
    address is tried first. Any one address binding is enough, as it is for grpcio.
    """
    host, _, port = listen.rpartition(":")
    try:
        infos = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, ValueError):
        return  # grpcio names what it cannot parse or resolve
    reasons: list[str] = []
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                reasons.append(exc.strerror or str(exc))
            else:
                return
    if reasons:
        raise OSError(listen_failure(listen, reasons[0].lower()))


class GrpcServer:
    """The gRPC side of the process: our service over `deps`, health, reflection, interceptors."""

    def __init__(
        self,
        settings: Settings,
        deps: core.Dependencies,
        *,
        watcher: core.TagWatcher,
        notifications: NotificationListener | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings
        self.health = health.aio.HealthServicer()
        self.watcher = watcher
        self.notifications = notifications
        warm = WarmAnswers(deps, max_entries=int(deps.caches.tags.maxsize))
        self._rpc = rpc_interceptor_for(settings, warm)
        self.server = grpc.aio.server(
            interceptors=interceptors_for(settings, self._rpc),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 1 if reuse_port else 0),
            ],
        )
        resolver_pb2_grpc.add_ResolverServiceServicer_to_server(
            ResolverServicer(deps, watcher=watcher, warm=warm), self.server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        self.port = 0
        self._health_updates: set[asyncio.Task[None]] = set()
        self._metrics_flusher: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Bind, start serving, resume the followed tags, take notifications, say so to health
        checks; returns the bound port."""
        credentials = server_credentials(self.settings)
        try:
            self.port = (
                self.server.add_insecure_port(self.settings.listen)
                if credentials is None
                else self.server.add_secure_port(self.settings.listen, credentials)
            )
        except RuntimeError:  # grpcio's only word for "bind failed"
            self.port = 0
        if self.port == 0:
            raise OSError(listen_failure(self.settings.listen, "the address is in use"))
        await self.server.start()
        self._metrics_flusher = asyncio.create_task(self._flush_metrics_every(METRICS_FLUSH_S))
        await self.watcher.resume()
        if self.notifications is not None:
            await self.notifications.start()
        for name in ("", SERVICE_NAME, STORE_HEALTH_NAME):
            await self.health.set(name, SERVING)
        return self.port

    async def stop(self) -> None:
        """Stop taking calls and let in-flight ones finish within the grace period; open watches
        are ended first (their streams never finish on their own). The watcher itself is closed
        by app.py, after this."""
        await self.health.enter_graceful_shutdown()
        if self.notifications is not None:
            await self.notifications.aclose()
        self.watcher.end_watches()
        await self.server.stop(self.settings.shutdown_grace_s)
        if self._metrics_flusher is not None:
            self._metrics_flusher.cancel()
        self._rpc.flush_metrics()  # the calls finished in the grace period are counted too

    async def _flush_metrics_every(self, interval_s: float) -> None:
        """Warm hits are counted in bulk (metrics.Tally): add them to their series."""
        while True:
            await asyncio.sleep(interval_s)
            self._rpc.flush_metrics()

    def report_store_health(self, healthy: bool) -> None:
        """NOT_SERVING for imagepin.store while database writes are queued, SERVING after."""
        task = asyncio.create_task(
            self.health.set(STORE_HEALTH_NAME, SERVING if healthy else NOT_SERVING)
        )
        self._health_updates.add(task)
        task.add_done_callback(self._health_updates.discard)
