"""The composition root: the one place that knows every part and builds each one once.

Settings and the parsed registries file in (`__main__` reads both, once), a running process out:
the database, the registry client, the observation recorder, the layer indexer and the use cases'
dependencies are built, each finished at construction, and handed to the gRPC server.
Nothing is patched after it is built; shutdown closes the parts in the reverse order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Final

from imagepin_server import core, store
from imagepin_server.api.caller_auth import TokenFile
from imagepin_server.api.notifications import NotificationListener
from imagepin_server.api.server import GrpcServer, refuse_unbindable
from imagepin_server.config import Settings
from imagepin_server.registry import RegistriesConfig, build_client

log = logging.getLogger("imagepin.server")


def wall_clock() -> datetime:
    """The wall clock the use cases are given: now, in UTC."""
    return datetime.now(UTC)


def policy_from(settings: Settings) -> core.Policy:
    return core.Policy(
        max_staleness=timedelta(seconds=settings.max_staleness_s),
        stale_if_error=timedelta(seconds=settings.stale_if_error_s),
        max_stale_if_error=timedelta(seconds=settings.max_stale_if_error_s),
        rollout_retention=timedelta(seconds=settings.rollout_retention_s),
        negative_age=timedelta(seconds=settings.negative_age_s),
        max_negative_age=timedelta(seconds=settings.max_negative_age_s),
        content_max_ratio=settings.content_max_ratio,
        content_max_bytes=settings.content_max_bytes,
    )


class Application:
    """Owns the process's long-lived parts: database, registry client, caches, gRPC server."""

    def __init__(
        self, settings: Settings, registries: RegistriesConfig, *, reuse_port: bool = False
    ) -> None:
        self.settings = settings
        self.reuse_port = reuse_port  # with SO_REUSEPORT a bound port is no reason to stop
        self.database = store.Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        self.registry = build_client(
            registries,
            insecure=settings.insecure_registries,
            extra_ca=settings.ca_file,
            docker_config=settings.docker_config,
        )
        self.recorder = core.ObservationRecorder(
            self.database, on_health_change=self._store_health_changed
        )
        # The indexer reads content through the same caches and flights as the use cases, but
        # never resolves a tag, so its dependencies are the same minus `on_resolved`/`on_read`.
        content_deps = core.Dependencies(
            registry=self.registry,
            database=self.database,
            recorder=self.recorder,
            wall=wall_clock,
            monotonic=time.monotonic,
            policy=policy_from(settings),
            tag_lists=core.TagLists(),  # ListTags / SelectTag: kept lists, one read per repository
            # ListReferrers / VerifySignatures: kept listings and verdicts, and the trust policies
            # (Settings.validate has checked the file; it is read again here, once per process).
            attachments=core.Attachments(
                trust=core.load_trust_policies(settings.trust_policies_file)
            ),
            followers=core.Followers(),  # WatchTags: the tags followed here, told of each answer
        )
        self.indexer = core.BackgroundIndexer(
            content_deps, gets_per_minute=settings.index_layers_budget
        )
        # What platform checks read is indexed from memory always; resolved tags are indexed
        # (spending GETs) only when asked.
        self.deps = dataclasses.replace(
            content_deps,
            on_read=self.indexer.schedule_held,
            on_resolved=self.indexer.schedule if settings.index_layers else None,
        )
        # WatchTags' followers poll through the same dependencies as resolutions (so they index
        # and record alike); registry notifications reach them through the listener.
        self.watcher = core.TagWatcher(
            self.deps, follow_retention=timedelta(seconds=settings.follow_retention_s)
        )
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
        self.grpc = GrpcServer(
            settings,
            self.deps,
            watcher=self.watcher,
            notifications=self.notifications,
            reuse_port=reuse_port,
        )

    async def start(self) -> int:
        """Migrate (if configured), bind, start serving; returns the bound port."""
        if not self.reuse_port:
            refuse_unbindable(self.settings.listen)  # before migrating: fail fast, say why
        if self.settings.migrate_on_start:
            await self.database.migrate()
        port = await self.grpc.start()
        log.info(
            "serving",
            extra={
                "fields": {
                    "listen": self.settings.listen,
                    "port": port,
                    "database": store.safe_url(self.settings.database_url),
                }
            },
        )
        return port

    async def stop(self) -> None:
        """Stop taking calls, let in-flight ones finish within the grace period, close the rest."""
        await self.grpc.stop()
        await self.watcher.aclose()  # before the flights: it waits on them, and on the database
        # Everything still using the registry client or the database stops before they close:
        # a task left waiting on a closed SQLite connection would never finish.
        await self.deps.tag_flights.aclose()  # first: a finishing flight schedules indexing
        await self.deps.tag_lists.flights.aclose()
        await self.deps.attachments.flights.aclose()
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
        self.grpc.report_store_health(healthy)


GC_YOUNGEST_THRESHOLD: Final = 20_000


def settle_garbage_collection() -> None:
    """What was made to start (modules, settings, the app) lives as long as the process:
    frozen, the collector no longer walks it. Collections of the youngest generation come
    every GC_YOUNGEST_THRESHOLD allocations instead of every 700: a request allocates
    hundreds of short-lived objects, and at 700 the collector took a twentieth of a batch's
    CPU."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, middle, oldest)


async def serve(
    settings: Settings, registries: RegistriesConfig, *, reuse_port: bool = False
) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    application = Application(settings, registries, reuse_port=reuse_port)
    await application.start()
    settle_garbage_collection()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("shutting down", extra={"fields": {"grace_s": settings.shutdown_grace_s}})
    await application.stop()
