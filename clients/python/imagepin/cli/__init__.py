"""The `imagepin` command: for deploy tooling, CI and people."""

from __future__ import annotations

import click

from imagepin.cli.attachments import referrers
from imagepin.cli.options import group_connection_options
from imagepin.cli.pin import pin
from imagepin.cli.query import history, inspect, layers, resolve, verify
from imagepin.cli.tags import tags
from imagepin.cli.watch import watch
from imagepin.cli.webhook import webhook


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="imagepin")
@group_connection_options
def cli() -> None:
    """Pin container image references to digests with the imagepin service.

    The connection flags work before the subcommand (for every one) or after it; when both
    are given, the later one wins.
    """


for command in (resolve, inspect, layers, verify, history, watch, pin, tags, referrers, webhook):
    cli.add_command(command)


def main() -> None:
    """Entry point of the `imagepin` script."""
    cli()
