"""`imagepin referrers` and `imagepin verify --signatures`: what is attached to an image."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from imagepin.cli import exitcodes, render
from imagepin.cli.options import connection_options, fail, output_option, service_errors
from imagepin.client import ResolverClient
from imagepin.connection import Connection
from imagepin.v1 import resolver_pb2


def source_name(source: int) -> str:
    """`REFERRER_SOURCE_COSIGN_TAG` -> `cosign-tag`, as tables show it."""
    name = resolver_pb2.ReferrerSource.Name(source).removeprefix("REFERRER_SOURCE_")
    return name.lower().replace("_", "-")


@click.command()
@click.argument("reference")
@click.option("--artifact-type", default="", help="Only referrers of this artifact type.")
@click.option(
    "--children", "include_children", is_flag=True, help="For an index, also its children's."
)
@output_option
@connection_options
def referrers(
    reference: str, artifact_type: str, include_children: bool, output: str, connection: Connection
) -> None:
    """List what refers to an image: signatures, SBOMs, attestations, and where each is kept."""
    with service_errors(), ResolverClient(connection=connection) as client:
        answer = client.list_referrers(
            reference, artifact_type=artifact_type, include_children=include_children
        )
    if output == "json":
        render.print_json(render.message_dict(answer))
        return
    render.table(
        ("DIGEST", "ARTIFACT TYPE", "SUBJECT", "SOURCE", "SIZE"),
        (
            (
                r.descriptor.digest,
                r.descriptor.artifact_type or "-",
                r.subject_digest,
                source_name(r.source),
                render.human_size(r.descriptor.size),
            )
            for r in answer.referrers
        ),
    )
    if answer.truncated:
        click.echo("imagepin: the list is truncated (a bound of the service was reached)", err=True)


def verify_signatures(
    reference: str,
    key_files: tuple[Path, ...],
    policy: str | None,
    platform: str | None,
    output: str,
    connection: Connection,
) -> None:
    """`verify --signatures`: exits 0 when a signature verifies, 1 when none does."""
    if bool(key_files) == bool(policy):
        fail("give --public-key FILE (one or more) or --policy NAME, not both", exitcodes.USAGE)
    keys = [path.read_text(encoding="utf-8") for path in key_files]
    with service_errors(), ResolverClient(connection=connection) as client:
        answer = client.verify_signatures(
            reference, public_keys=keys, policy=policy or "", platform=platform
        )
    if output == "json":
        render.print_json(render.message_dict(answer))
    else:
        verdict = "signed" if answer.verified else "NOT SIGNED"
        click.echo(f"{verdict}: {reference} ({answer.digest})")
        render.table(
            ("SIGNATURE", "SOURCE", "KEY", "RESULT"),
            (
                (
                    s.signature_digest,
                    source_name(s.source),
                    s.key_id or "-",
                    "ok" if s.verified else f"FAILED: {s.error}",
                )
                for s in answer.signatures
            ),
        )
    sys.exit(exitcodes.OK if answer.verified else exitcodes.NEGATIVE)
