"""TLS contexts for registry hosts: the system's CAs, extra CAs, client certificates (mTLS)."""

from __future__ import annotations

import ssl
from pathlib import Path

from imagepin_server.registry.config import HostConfig


def default_context(extra_ca: Path | None = None) -> ssl.SSLContext:
    """The system's CAs, plus an extra CA bundle trusted for every registry."""
    context = ssl.create_default_context()
    if extra_ca is not None:
        context.load_verify_locations(cafile=str(extra_ca))
    return context


def host_context(host: HostConfig, extra_ca: Path | None = None) -> ssl.SSLContext:
    """A host's own context: its CA beside the others, its client certificate, or no checks.

    `skip_verify` turns verification off only for the host configured with it.
    """
    context = default_context(extra_ca)
    if host.ca_file is not None:
        context.load_verify_locations(cafile=str(host.ca_file))
    if host.client_cert is not None and host.client_key is not None:
        context.load_cert_chain(str(host.client_cert), str(host.client_key))
    if host.skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
