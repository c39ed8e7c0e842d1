"""`imagepin webhook`: run the mutating admission webhook (HTTPS)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import click

from imagepin.cli.options import connection_options, max_staleness_option
from imagepin.connection import Connection
from imagepin.webhook import logs
from imagepin.webhook.policy import DEFAULT_MAX_STALENESS, FailurePolicy, Mode, Settings
from imagepin.webhook.tls import ReloadingCertificate

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_CERT = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option(
    "--listen", envvar="IMAGEPIN_WEBHOOK_LISTEN", default="0.0.0.0:8443", show_default=True
)
@click.option("--tls-cert-file", envvar="IMAGEPIN_WEBHOOK_TLS_CERT", type=_CERT, required=True)
@click.option("--tls-key-file", envvar="IMAGEPIN_WEBHOOK_TLS_KEY", type=_CERT, required=True)
@click.option(
    "--failure-policy",
    envvar="IMAGEPIN_WEBHOOK_FAILURE_POLICY",
    type=click.Choice([p.value for p in FailurePolicy]),
    default="open",
    show_default=True,
    help="When the service cannot answer: allow with a warning (open) or deny (closed).",
)
@click.option(
    "--mode",
    envvar="IMAGEPIN_WEBHOOK_MODE",
    type=click.Choice([m.value for m in Mode]),
    default="enforce",
    show_default=True,
    help="enforce: patch images; warn: change nothing and report.",
)
@click.option(
    "--exclude-namespace",
    "excluded_namespaces",
    envvar="IMAGEPIN_WEBHOOK_EXCLUDE_NAMESPACES",
    multiple=True,
    help="Leave this namespace alone (repeatable); kube-system and our own always are.",
)
@click.option(
    "--exclude-image",
    "excluded_images",
    envvar="IMAGEPIN_WEBHOOK_EXCLUDE_IMAGES",
    multiple=True,
    help="Leave images matching this glob alone, e.g. 'registry.k8s.io/*' (repeatable).",
)
@click.option(
    "--workload-templates/--no-workload-templates",
    envvar="IMAGEPIN_WEBHOOK_WORKLOAD_TEMPLATES",
    default=False,
    help="Also pin Deployment/StatefulSet/… templates (GitOps tools will see drift).",
)
@click.option(
    "--budget",
    "budget_s",
    envvar="IMAGEPIN_WEBHOOK_BUDGET",
    type=click.FloatRange(0.1, 29),
    default=3.0,
    show_default=True,
    help="Seconds to wait for the service; keep it below the webhook's timeoutSeconds.",
)
@max_staleness_option(
    default=f"{DEFAULT_MAX_STALENESS.total_seconds():g}s",
    envvar="IMAGEPIN_WEBHOOK_MAX_STALENESS",
    why="It is asked on every Pod creation: a scale-up costs one registry request, not one a Pod.",
)
@click.option(
    "--require-signature",
    "require_signature",
    envvar="IMAGEPIN_WEBHOOK_REQUIRE_SIGNATURE",
    default="",
    help="Deny Pods running an image not signed under this trust policy of the service.",
)
@click.option(
    "--namespace",
    envvar="POD_NAMESPACE",
    help="The webhook's own namespace (excluded); read from the service account otherwise.",
)
@connection_options
def webhook(
    listen: str,
    tls_cert_file: Path,
    tls_key_file: Path,
    failure_policy: str,
    mode: str,
    excluded_namespaces: tuple[str, ...],
    excluded_images: tuple[str, ...],
    workload_templates: bool,
    budget_s: float,
    max_staleness: datetime.timedelta,
    require_signature: str,
    namespace: str | None,
    connection: Connection,
) -> None:
    """Serve the mutating admission webhook that pins Pod images by digest (HTTPS only)."""
    try:
        logs.configure(logs.check_level(os.environ.get("IMAGEPIN_LOG_LEVEL") or "INFO"))
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if namespace is None and SERVICE_ACCOUNT_NAMESPACE.exists():
        namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    settings = Settings.build(
        own_namespace=namespace,
        excluded_namespaces=_split(excluded_namespaces),
        failure_policy=FailurePolicy(failure_policy),
        mode=Mode(mode),
        excluded_images=tuple(_split(excluded_images)),
        workload_templates=workload_templates,
        budget_s=budget_s,
        max_staleness=max_staleness,
        require_signature=require_signature,
    )
    try:
        from imagepin.webhook.server import serve  # aiohttp comes with the [webhook] extra
    except ModuleNotFoundError as missing:
        raise click.ClickException(
            f"the webhook needs the [webhook] extra ({missing.name} is not installed): "
            "pip install 'imagepin[webhook]'"
        ) from None
    serve(settings, connection, listen, ReloadingCertificate(tls_cert_file, tls_key_file))


def _split(values: tuple[str, ...]) -> list[str]:
    """Flags repeat; an environment variable lists values separated by commas or spaces."""
    return [part for value in values for part in value.replace(",", " ").split() if part]
