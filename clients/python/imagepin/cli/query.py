"""`imagepin resolve | inspect | layers | verify | history`: questions about images."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

import click

from imagepin.cli import attachments, exitcodes, render
from imagepin.cli.options import (
    CLI_MAX_STALENESS_ENV,
    connection_options,
    fail,
    max_staleness_option,
    output_option,
    platform_option,
    service_errors,
)
from imagepin.client import ResolverClient
from imagepin.connection import Connection
from imagepin.errors import ImagepinError, ServiceUnreachable
from imagepin.messages import BatchResult
from imagepin.pin.references import has_tag, split_digest
from imagepin.platforms import format_platform
from imagepin.v1 import resolver_pb2


@click.command()
@click.argument("references", nargs=-1, required=True)
@platform_option
@max_staleness_option(
    default="0", envvar=CLI_MAX_STALENESS_ENV, why="So the answer is what a pull gets now."
)
@output_option
@connection_options
def resolve(
    references: tuple[str, ...],
    platform: str | None,
    max_staleness: datetime.timedelta,
    output: str,
    connection: Connection,
) -> None:
    """Pin each REFERENCE: the digest its tag points at now.

    Several references go to the service in one batch. Exits 0 when all resolved, otherwise with
    the code of the first failure (3 not found, 4 invalid, 5 unavailable, 6 denied).
    """
    with service_errors(), ResolverClient(connection=connection) as client:
        if len(references) == 1:
            try:
                resolution = client.resolve(
                    references[0], platform=platform, max_staleness=max_staleness
                )
                results = [BatchResult(references[0], resolution, None)]
            except ServiceUnreachable:
                raise  # the command failed, not the reference: one line, from service_errors
            except ImagepinError as error:
                results = [BatchResult(references[0], None, error)]
        else:
            results = client.resolve_all(
                list(references), platform=platform, max_staleness=max_staleness
            )
    if output == "json":
        render.print_json([_result_json(r) for r in results])
    else:
        render.table(
            ("REFERENCE", "DIGEST", "PINNED"),
            (
                (r.reference, r.resolution.digest, r.resolution.pinned_reference_with_tag)
                if r.resolution is not None
                else (r.reference, "-", f"error: {r.error}")
                for r in results
            ),
        )
    for result in results:
        if result.error is not None:
            if output == "json":
                click.echo(f"imagepin: {result.reference}: {result.error}", err=True)
            sys.exit(exitcodes.for_status(result.error.code.name))


def _result_json(result: BatchResult) -> dict[str, Any]:
    if result.resolution is not None:
        return {"reference": result.reference, **render.message_dict(result.resolution)}
    assert result.error is not None
    return {
        "reference": result.reference,
        "error": {
            "code": result.error.code.name,
            "message": result.error.message,
            "reason": result.error.reason,
        },
    }


@click.command()
@click.argument("reference")
@platform_option
@output_option
@connection_options
def inspect(reference: str, platform: str | None, output: str, connection: Connection) -> None:
    """Show an image the way `docker image inspect` does: config, entrypoint, env, layers."""
    with service_errors(), ResolverClient(connection=connection) as client:
        manifest = client.get_manifest(reference, platform=platform)
    view = inspect_view(manifest)
    if output == "json":
        render.print_json([view])
        return
    if manifest.is_index:
        click.echo(f"{manifest.normalized_reference} is a multi-platform index {manifest.digest}")
        click.echo("choose one with --platform:")
        render.table(
            ("PLATFORM", "DIGEST", "SIZE"),
            (
                (format_platform(m.platform), m.digest, render.human_size(m.size))
                for m in manifest.manifests
            ),
        )
        return
    config = view["Config"]
    rows = [
        ("Reference", manifest.normalized_reference),
        ("Digest", manifest.digest),
        ("Index", manifest.index_digest or "-"),
        ("Media type", manifest.media_type),
        ("Id (config)", view["Id"]),
        ("Created", view["Created"] or "-"),
        ("Author", view["Author"] or "-"),
        ("Platform", view["Platform"]),
        ("User", config["User"] or "-"),
        ("Working dir", config["WorkingDir"] or "-"),
        ("Entrypoint", json.dumps(config["Entrypoint"])),
        ("Cmd", json.dumps(config["Cmd"])),
        ("Env", "\n".join(config["Env"]) or "-"),
        ("Exposed ports", " ".join(config["ExposedPorts"]) or "-"),
        ("Volumes", " ".join(config["Volumes"]) or "-"),
        ("Labels", "\n".join(f"{k}={v}" for k, v in config["Labels"].items()) or "-"),
        ("Stop signal", config["StopSignal"] or "-"),
        ("Layers", f"{len(manifest.layers)} ({render.human_size(view['Size'])})"),
    ]
    render.table(("FIELD", "VALUE"), rows)


def inspect_view(manifest: resolver_pb2.GetManifestResponse) -> dict[str, Any]:
    """The `docker image inspect` shape, plus the manifest descriptor imagepin knows."""
    name, _ = split_digest(manifest.normalized_reference)
    repository = name.rsplit(":", 1)[0] if has_tag(name) else name
    pullable = manifest.index_digest or manifest.digest
    view: dict[str, Any] = {
        "RepoTags": [name] if has_tag(name) else [],
        "RepoDigests": [f"{repository}@{pullable}"],
        "Descriptor": {
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
        },
    }
    if manifest.is_index:
        view["Manifests"] = [render.message_dict(m) for m in manifest.manifests]
        return view
    config = manifest.image_config
    view.update(
        {
            "Id": config.digest,
            "Created": config.created,
            "Author": config.author,
            "Architecture": config.architecture,
            "Variant": config.variant,
            "Os": config.os,
            "OsVersion": config.os_version,
            "Platform": format_platform(
                resolver_pb2.Platform(
                    os=config.os, architecture=config.architecture, variant=config.variant
                )
            ),
            "Size": sum(layer.size for layer in manifest.layers),
            "Config": {
                "User": config.user,
                "Env": list(config.env),
                "Entrypoint": list(config.entrypoint) or None,
                "Cmd": list(config.cmd) or None,
                "WorkingDir": config.working_dir,
                "Labels": dict(sorted(config.labels.items())),
                "ExposedPorts": {port: {} for port in config.exposed_ports},
                "Volumes": {volume: {} for volume in config.volumes},
                "StopSignal": config.stop_signal,
            },
            "RootFS": {"Type": config.rootfs_type, "Layers": list(config.diff_ids)},
        }
    )
    return view


@click.command()
@click.argument("reference")
@platform_option
@output_option
@connection_options
def layers(reference: str, platform: str | None, output: str, connection: Connection) -> None:
    """List an image's layers from base to top, with both of their digests."""
    with service_errors(), ResolverClient(connection=connection) as client:
        listing = client.list_layers(reference, platform=platform)
    if output == "json":
        render.print_json(render.message_dict(listing))
        return
    render.table(
        ("#", "DIGEST", "DIFF ID", "SIZE", "COMPRESSION", "CREATED BY"),
        (
            (
                str(layer.index),
                layer.digest,
                layer.diff_id,
                render.human_size(layer.size),
                resolver_pb2.Compression.Name(layer.compression)
                .removeprefix("COMPRESSION_")
                .lower(),
                _short(layer.created_by, 60),
            )
            for layer in listing.layers
        ),
    )


_VERIFY_MODES = {
    "manifest": resolver_pb2.VERIFY_MODE_MANIFEST,
    "existence": resolver_pb2.VERIFY_MODE_EXISTENCE,
    "blobs": resolver_pb2.VERIFY_MODE_BLOBS,
    "content": resolver_pb2.VERIFY_MODE_CONTENT,
}


@click.command()
@click.argument("reference")
@click.option("--digest", "expected", default="", help="Expected digest, when REF has none.")
@click.option("--layers", "include_layers", is_flag=True, help="Also hash config and layers.")
@click.option(
    "--signatures", is_flag=True, help="Check cosign signatures instead (with a key or policy)."
)
@click.option(
    "--public-key",
    "key_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --signatures: a trusted public key (PEM); repeatable.",
)
@click.option("--policy", help="With --signatures: a trust policy of the service.")
@click.option(
    "--mode",
    type=click.Choice(list(_VERIFY_MODES)),
    help="How deep: manifests, blob existence (HEAD), blobs hashed, or layer content vs diff_ids.",
)
@platform_option
@output_option
@connection_options
def verify(
    reference: str,
    expected: str,
    include_layers: bool,
    signatures: bool,
    key_files: tuple[Path, ...],
    policy: str | None,
    mode: str | None,
    platform: str | None,
    output: str,
    connection: Connection,
) -> None:
    """Check that REF@DIGEST's content hashes to DIGEST. Exits 0 verified, 1 mismatch.

    With --signatures: check that REF carries a cosign signature verifying under --public-key
    or the service's --policy. Exits 0 signed, 1 not.
    """
    if signatures and mode:
        fail("--mode goes with digest verification, not with --signatures", exitcodes.USAGE)
    if signatures:
        attachments.verify_signatures(reference, key_files, policy, platform, output, connection)
    elif key_files or policy:
        fail("--public-key and --policy go with --signatures", exitcodes.USAGE)
    with service_errors(), ResolverClient(connection=connection) as client:
        answer = client.verify_digest(
            reference,
            expected,
            include_layers=include_layers,
            platform=platform,
            mode=_VERIFY_MODES[mode] if mode else resolver_pb2.VERIFY_MODE_UNSPECIFIED,
        )
    if output == "json":
        render.print_json(render.message_dict(answer))
    else:
        verdict = "verified" if answer.verified else "MISMATCH"
        click.echo(f"{verdict}: {answer.normalized_reference}")
        click.echo(f"  expected {answer.expected_digest}")
        click.echo(f"  actual   {answer.actual_digest}")
        if answer.blobs:
            render.table(
                ("KIND", "DIGEST", "PLATFORM", "SIZE", "RESULT"),
                (
                    (
                        blob.kind,
                        blob.digest,
                        format_platform(blob.platform) or "-",
                        render.human_size(blob.size),
                        _blob_result(blob),
                    )
                    for blob in answer.blobs
                ),
            )
    sys.exit(exitcodes.OK if answer.verified else exitcodes.NEGATIVE)


def _blob_result(blob: resolver_pb2.BlobVerification) -> str:
    if blob.skipped:
        return f"skipped: {blob.error}"
    return "ok" if blob.verified else f"FAILED: {blob.error or blob.actual_digest}"


@click.command()
@click.argument("reference")
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    help="What was known then (UTC unless an offset is given).",
)
@click.option("--limit", type=click.IntRange(0, 1000), default=0, help="At most this many.")
@output_option
@connection_options
def history(
    reference: str,
    as_of: datetime.datetime | None,
    limit: int,
    output: str,
    connection: Connection,
) -> None:
    """List every move of a tag (A -> B -> A lists three entries), newest first."""
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=datetime.UTC)
    with service_errors(), ResolverClient(connection=connection) as client:
        answer = client.list_tag_history(reference, as_of=as_of, limit=limit)
    if output == "json":
        render.print_json(render.message_dict(answer))
        return
    render.table(
        ("DIGEST", "MEDIA TYPE", "FIRST SEEN", "LAST SEEN"),
        ((e.digest, e.media_type, _time(e.first_seen), _time(e.last_seen)) for e in answer.entries),
    )
    if not answer.entries:
        fail(
            f"no history recorded for {answer.normalized_reference or reference}",
            exitcodes.NOT_FOUND,
        )


def _time(stamp: Any) -> str:
    moment: datetime.datetime = stamp.ToDatetime(datetime.UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
