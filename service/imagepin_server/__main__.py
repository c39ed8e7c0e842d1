"""`imagepin-server`: run the service (in one or several processes), or apply migrations."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.metadata
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from imagepin_server import logs, store
from imagepin_server.config import Settings, SettingsError, metrics_address
from imagepin_server.registry import RegistriesConfig, RegistryConfigError, load_config


def _version() -> str:
    """The installed distribution's version (the server ships as imagepin-server)."""
    for distribution in ("imagepin-server", "imagepin"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagepin-server",
        description="gRPC service that pins container image references to digests.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--listen", help="HOST:PORT to serve on (IMAGEPIN_LISTEN)")
    parser.add_argument(
        "--database-url", help="sqlite:///… or postgresql://… (IMAGEPIN_DATABASE_URL)"
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (IMAGEPIN_LOG_LEVEL)")
    parser.add_argument(
        "--workers", type=int, help="processes sharing the port (IMAGEPIN_WORKERS; default 1)"
    )
    parser.add_argument(
        "--metrics-listen", help="HOST:PORT for Prometheus /metrics (IMAGEPIN_METRICS_LISTEN; off)"
    )
    parser.add_argument(
        "--registries-config",
        type=Path,
        help="the registries file: mirrors, TLS, limits, credentials, network guard "
        "(IMAGEPIN_REGISTRIES_CONFIG)",
    )
    parser.add_argument(
        "--tls-cert-file",
        type=Path,
        help="serve TLS with this certificate (IMAGEPIN_TLS_CERT_FILE)",
    )
    parser.add_argument(
        "--tls-key-file", type=Path, help="the certificate's key (IMAGEPIN_TLS_KEY_FILE)"
    )
    parser.add_argument(
        "--tls-client-ca-file",
        type=Path,
        help="require client certificates signed by this CA (IMAGEPIN_TLS_CLIENT_CA_FILE)",
    )
    parser.add_argument(
        "--auth-tokens-file",
        type=Path,
        help="require a bearer token, one of this file's lines (IMAGEPIN_AUTH_TOKENS_FILE)",
    )
    parser.add_argument(
        "--notifications-listen",
        help="HOST:PORT for registry notifications, POST /notifications/distribution "
        "(IMAGEPIN_NOTIFICATIONS_LISTEN; off; needs IMAGEPIN_NOTIFICATIONS_TOKENS_FILE)",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the service (the default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides = {
        "listen": args.listen,
        "database_url": args.database_url,
        "log_level": args.log_level.upper() if args.log_level else None,
        "workers": args.workers,
        "metrics_listen": args.metrics_listen,
        "registries_config": args.registries_config,
        "tls_cert_file": args.tls_cert_file,
        "tls_key_file": args.tls_key_file,
        "tls_client_ca_file": args.tls_client_ca_file,
        "auth_tokens_file": args.auth_tokens_file,
        "notifications_listen": args.notifications_listen,
    }
    return dataclasses.replace(
        settings, **{k: v for k, v in overrides.items() if v is not None}
    ).validate()


def load_registries(settings: Settings) -> RegistriesConfig:
    """The registries file, read whole at start so that a mistake in it stops the start."""
    try:
        return load_config(settings.registries_config)
    except RegistryConfigError as exc:
        raise SettingsError(f"IMAGEPIN_REGISTRIES_CONFIG: {exc}") from exc


def run(coroutine: Coroutine[Any, Any, None], event_loop: str) -> None:
    """Run on uvloop when asked for (or, with "auto", when it is installed), else asyncio."""
    if event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                raise
        else:
            uvloop.run(coroutine)
            return
    asyncio.run(coroutine)


async def _migrate(settings: Settings) -> None:
    database = store.Database(settings.database_url)
    try:
        await database.migrate()
        print(f"database at revision {await database.current_revision()}")
    finally:
        await database.close()


def _serve_one(settings: Settings, registries: RegistriesConfig, reuse_port: bool) -> None:
    """One serving process (the only one, or one of --workers)."""
    from imagepin_server.app import serve  # imported late: `migrate` needs no gRPC

    logs.configure(settings.log_level)
    run(serve(settings, registries, reuse_port=reuse_port), settings.event_loop)


def _serve_workers(settings: Settings, registries: RegistriesConfig) -> int:
    """Migrate once, then run N processes sharing the port (SO_REUSEPORT); SIGTERM drains all."""
    if settings.migrate_on_start:
        asyncio.run(_migrate(settings))
    worker_settings = dataclasses.replace(settings, migrate_on_start=False)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_serve_one, args=(worker_settings, registries, True), name=f"worker-{i}"
        )
        for i in range(settings.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in workers:
        worker.join()
    return max((worker.exitcode or 0) for worker in workers)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_from(args)
        registries = load_registries(settings)  # parsed once, here; workers are given it
    except SettingsError as exc:
        print(f"imagepin-server: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            return 0
        address = metrics_address(settings)
        if settings.workers > 1 and address is not None:
            # Workers write their metrics to files in this directory; /metrics sums them.
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="imagepin-"))
        if address is not None:
            from imagepin_server import metrics

            metrics.serve(*address)
        if settings.workers > 1:
            return _serve_workers(settings, registries)
        _serve_one(settings, registries, reuse_port=False)
    except store.StoreUnavailable as exc:
        print(f"imagepin-server: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"imagepin-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
