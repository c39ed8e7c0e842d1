"""`imagepin watch REF...`: one JSON line per tag event, until interrupted."""

from __future__ import annotations

import datetime
import json
import sys

import click

from imagepin.cli.options import connection_options, parse_duration, service_errors
from imagepin.cli.render import message_dict
from imagepin.client import ResolverClient
from imagepin.connection import Connection


def _interval(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> datetime.timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command()
@click.argument("references", nargs=-1, required=True)
@click.option(
    "--interval",
    metavar="DURATION",
    callback=_interval,
    help="How often the service asks the registry (at least 1s; the service's default is 60s). "
    "Subscribers of a tag share its polls, and registry notifications arrive sooner.",
)
@connection_options
def watch(
    references: tuple[str, ...], interval: datetime.timedelta | None, connection: Connection
) -> None:
    """Follow each tag REFERENCE: print its current digest, then a line each time it moves.

    One JSON object per line (reference, previous_digest, digest, observed_at, source), written
    as it arrives, until interrupted (Ctrl-C exits 0). A watch the service ends exits with the
    code of its status (5 unavailable: run it again).
    """
    try:
        with service_errors(), ResolverClient(connection=connection) as client:
            for event in client.watch_tags(list(references), interval=interval):
                line = message_dict(event)
                line.setdefault("previous_digest", "")
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
                sys.stdout.flush()
    except KeyboardInterrupt:
        return
