"""The `imagepin` command: for deploy tooling, CI and people."""

from __future__ import annotations

import click

from imagepin.cli.attachments import referrers
from imagepin.cli.pin import pin
from imagepin.cli.query import history, inspect, layers, resolve, verify
from imagepin.cli.tags import tags
from imagepin.cli.watch import watch
from imagepin.cli.webhook import webhook


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="imagepin")
def cli() -> None:
    """Pin container image references to digests with the imagepin service."""


for command in (resolve, inspect, layers, verify, history, watch, pin, tags, referrers, webhook):
    cli.add_command(command)


def main() -> None:
    """Entry point of the `imagepin` script."""
    cli()
