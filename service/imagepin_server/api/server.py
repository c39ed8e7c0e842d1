"""The gRPC server: our service, health and reflection, metrics, and a graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from datetime import timedelta
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from imagepin.v1 import resolver_pb2, resolver_pb2_grpc

from imagepin_server import core, store
from imagepin_server.api import reflection
from imagepin_server.api.caller_auth import CallerAuthInterceptor, TokenFile
from imagepin_server.api.interceptors import RpcInterceptor
from imagepin_server.api.notifications import NotificationListener
from imagepin_server.api.servicer import ResolverServicer
from imagepin_server.config import Settings
from imagepin_server.registry import build_client, load_config

log = logging.getLogger("imagepin.server")

SERVICE_NAME: Final = resolver_pb2.DESCRIPTOR.services_by_name["ResolverService"].full_name
# Health of the database writes: NOT_SERVING while observations wait in the write queue.
STORE_HEALTH_NAME: Final = "imagepin.store"
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024  # a 4 MiB manifest plus an 8 MiB config, with room
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


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


def interceptors_for(settings: Settings) -> list[grpc.aio.ServerInterceptor]:
    """Caller authentication first (when configured), then the per-RPC error mapping and log."""
    chain: list[grpc.aio.ServerInterceptor] = []
    tokens = settings.auth_tokens_file
    if tokens is not None or settings.tls_client_ca_file is not None:
        chain.append(
            CallerAuthInterceptor(
                tokens=TokenFile(tokens) if tokens is not None else None,
                require_client_cert=settings.tls_client_ca_file is not None,
            )
        )
    chain.append(RpcInterceptor(f"/{SERVICE_NAME}/"))
    return chain


def policy_from(settings: Settings) -> core.Policy:
    return core.Policy(
        max_staleness=timedelta(seconds=settings.max_staleness_s),
        stale_if_error=timedelta(seconds=settings.stale_if_error_s),
        max_stale_if_error=timedelta(seconds=settings.max_stale_if_error_s),
        rollout_retention=timedelta(seconds=settings.rollout_retention_s),
    )


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


class ImagepinServer:
    """Owns the process's long-lived parts: gRPC server, registry client, database, caches."""

    def __init__(self, settings: Settings, *, reuse_port: bool = False) -> None:
        self.settings = settings
        self.reuse_port = reuse_port  # with SO_REUSEPORT a bound port is no reason to stop
        self.database = store.Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        self.registry = build_client(
            load_config(settings.registries_config),
            insecure=settings.insecure_registries,
            extra_ca=settings.ca_file,
            docker_config=settings.docker_config,
        )
        self.health = health.aio.HealthServicer()
        self.recorder = core.ObservationRecorder(
            self.database, on_health_change=self._store_health_changed
        )
        self.deps = core.Dependencies(
            registry=self.registry,
            database=self.database,
            recorder=self.recorder,
            policy=policy_from(settings),
        )
        self.indexer = core.BackgroundIndexer(self.deps)
        self.watcher = core.TagWatcher(
            self.deps, follow_retention=timedelta(seconds=settings.follow_retention_s)
        )
        self.deps.on_tag_observed = self.watcher.observed
        self.notifications = (
            NotificationListener(
                settings.notifications_listen,
                TokenFile(settings.notifications_tokens_file),
                self.watcher,
                reuse_port=reuse_port,
            )
            if settings.notifications_listen and settings.notifications_tokens_file
            else None
        )
        if settings.index_layers:
            self.deps.on_resolved = self.indexer.schedule
        self.server = grpc.aio.server(
            interceptors=interceptors_for(settings),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 1 if reuse_port else 0),
            ],
        )
        resolver_pb2_grpc.add_ResolverServiceServicer_to_server(
            ResolverServicer(self.deps, watcher=self.watcher), self.server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        self.port = 0
        self._health_updates: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Migrate (if configured), bind, start serving; returns the bound port."""
        if not self.reuse_port:
            refuse_unbindable(self.settings.listen)  # before migrating: fail fast, say why
        if self.settings.migrate_on_start:
            await self.database.migrate()
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
        await self.watcher.resume()
        if self.notifications is not None:
            await self.notifications.start()
        for name in ("", SERVICE_NAME, STORE_HEALTH_NAME):
            await self.health.set(name, SERVING)
        log.info(
            "serving",
            extra={
                "fields": {
                    "listen": self.settings.listen,
                    "port": self.port,
                    "database": store.safe_url(self.settings.database_url),
                }
            },
        )
        return self.port

    async def stop(self) -> None:
        """Stop taking calls, let in-flight ones finish within the grace period, close the rest."""
        await self.health.enter_graceful_shutdown()
        if self.notifications is not None:
            await self.notifications.aclose()
        self.watcher.end_watches()
        await self.server.stop(self.settings.shutdown_grace_s)
        await self.watcher.aclose()  # before the flights: it waits on them, and on the database
        # Everything still using the registry client or the database stops before they close:
        # a task left waiting on a closed SQLite connection would never finish.
        await self.deps.tag_flights.aclose()  # first: a finishing flight schedules indexing
        await self.indexer.aclose()
        await self.deps.content_flights.aclose()
        try:
            async with asyncio.timeout(self.settings.shutdown_grace_s):
                await self.recorder.flush()
        except TimeoutError:
            pass
        await self.recorder.aclose()
        await self.registry.aclose()
        await self.database.close()
        log.info("stopped")

    def _store_health_changed(self, healthy: bool) -> None:
        log.log(
            logging.INFO if healthy else logging.WARNING,
            "database writes %s",
            "caught up" if healthy else "queued: the database is unavailable",
            extra={"fields": {"pending": self.recorder.pending, "dropped": self.recorder.dropped}},
        )
        task = asyncio.create_task(
            self.health.set(STORE_HEALTH_NAME, SERVING if healthy else NOT_SERVING)
        )
        self._health_updates.add(task)
        task.add_done_callback(self._health_updates.discard)


async def serve(settings: Settings, *, reuse_port: bool = False) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    server = ImagepinServer(settings, reuse_port=reuse_port)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("shutting down", extra={"fields": {"grace_s": settings.shutdown_grace_s}})
    await server.stop()
