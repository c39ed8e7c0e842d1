"""`imagepin-server`: run the service, or apply the database migrations."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Sequence

from imagepin_server import logs, store
from imagepin_server.config import Settings, SettingsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagepin-server",
        description="gRPC service that pins container image references to digests.",
    )
    parser.add_argument("--listen", help="HOST:PORT to serve on (IMAGEPIN_LISTEN)")
    parser.add_argument(
        "--database-url", help="sqlite:///… or postgresql://… (IMAGEPIN_DATABASE_URL)"
    )
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (IMAGEPIN_LOG_LEVEL)")
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
    }
    return dataclasses.replace(
        settings, **{k: v for k, v in overrides.items() if v is not None}
    ).validate()


async def _migrate(settings: Settings) -> None:
    database = store.Database(settings.database_url)
    try:
        await database.migrate()
        print(f"database at revision {await database.current_revision()}")
    finally:
        await database.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        print(f"imagepin-server: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    from imagepin_server.api.server import serve  # imported late: `migrate` needs no gRPC

    try:
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
        else:
            asyncio.run(serve(settings))
    except store.StoreUnavailable as exc:
        print(f"imagepin-server: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"imagepin-server: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
