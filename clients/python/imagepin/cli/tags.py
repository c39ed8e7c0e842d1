"""`imagepin tags REPO`: a repository's tags, or the one a policy chooses, pinned."""

from __future__ import annotations

import datetime
from typing import Final

import click

from imagepin.cli import render
from imagepin.cli.options import (
    connection_options,
    max_staleness_option,
    output_option,
    platform_option,
    service_errors,
)
from imagepin.client import ResolverClient
from imagepin.connection import Connection
from imagepin.v1 import resolver_pb2

PAGE: Final = 1000  # the contract's largest page: fewest calls for a whole list
CLI_TAGS_MAX_STALENESS_ENV: Final = "IMAGEPIN_CLI_TAGS_MAX_STALENESS"


@click.command()
@click.argument("repository")
@click.option(
    "--policy",
    metavar="POLICY",
    help="Choose one tag and pin it: semver:RANGE (semver:^7.2, 'semver:>=1.4 <2'), "
    "numerical:asc|desc or alphabetical:asc|desc (asc chooses the highest, as Flux).",
)
@click.option("--prereleases", is_flag=True, help="With semver: pre-releases are candidates too.")
@click.option("--pattern", default="", help="With --policy: only tags this RE2 pattern matches.")
@click.option(
    "--extract", default="", help="With --pattern: what to compare, e.g. '$ts' or '${version}'."
)
@click.option("--filter", "filter_", default="", help="Without --policy: list only full matches.")
@platform_option
@max_staleness_option(
    default="60s",
    envvar=CLI_TAGS_MAX_STALENESS_ENV,
    why="Tag lists cost a registry request per page.",
)
@output_option
@connection_options
def tags(
    repository: str,
    policy: str | None,
    prereleases: bool,
    pattern: str,
    extract: str,
    filter_: str,
    platform: str | None,
    max_staleness: datetime.timedelta,
    output: str,
    connection: Connection,
) -> None:
    """List REPOSITORY's tags, sorted; with --policy, choose one as Flux's ImagePolicy would.

    The chosen tag is resolved, so the answer is already pinned (name:tag@sha256:…). Exits 3
    when no tag is a candidate, 4 for a malformed policy or pattern.
    """
    with service_errors(), ResolverClient(connection=connection) as client:
        if policy is None:
            if pattern or extract or prereleases or platform:
                raise ValueError(
                    "--pattern, --extract, --prereleases and --platform go with --policy"
                )
            listed = _every_tag(client, repository, filter_, max_staleness)
        else:
            if filter_:
                raise ValueError("--filter goes with a listing; with --policy give --pattern")
            chosen = client.select_tag(
                repository,
                policy,
                pattern=pattern,
                extract=extract,
                include_prereleases=prereleases,
                platform=platform,
                max_staleness=max_staleness,
            )
    if policy is None:
        names, bound = listed
        if output == "json":
            render.print_json({"tags": names, "bound": _bound(bound)})
        else:
            for name in names:
                click.echo(name)
        if bound != resolver_pb2.TAG_LIST_BOUND_UNSPECIFIED:
            click.echo(f"imagepin: the list is partial ({_bound(bound)} bound hit)", err=True)
        return
    if output == "json":
        render.print_json(render.message_dict(chosen))
        return
    render.table(
        ("TAG", "DIGEST", "PINNED", "CONSIDERED"),
        [
            (
                chosen.tag,
                chosen.resolution.digest,
                chosen.resolution.pinned_reference_with_tag,
                f"{chosen.tags_considered} of {chosen.tags_listed}",
            )
        ],
    )


def _every_tag(
    client: ResolverClient, repository: str, filter_: str, max_staleness: datetime.timedelta
) -> tuple[list[str], int]:
    """Every page of the list, and the bound the service hit reading it."""
    names: list[str] = []
    token = ""
    while True:
        page = client.list_tags(
            repository,
            page_size=PAGE,
            page_token=token,
            filter=filter_,
            max_staleness=max_staleness,
        )
        names += page.tags
        token = page.next_page_token
        if not token:
            return names, page.bound


def _bound(bound: int) -> str:
    return resolver_pb2.TagListBound.Name(bound).removeprefix("TAG_LIST_BOUND_").lower()
