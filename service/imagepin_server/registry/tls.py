"""TLS contexts for registry hosts: the system's CAs, extra CAs, client certificates (mTLS)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Final

from imagepin_server.registry.config import HostConfig

# What OpenSSL says when the answer to a ClientHello is not TLS at all: in practice a plain-HTTP
# server answering "400 Bad Request" (OpenSSL 3.0: WRONG_VERSION_NUMBER; 3.2 and later: record
# layer failure). HTTP_REQUEST is the server-side twin, kept for completeness.
_PLAIN_HTTP_REASONS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"}
)
_PLAIN_HTTP_TEXTS: Final = ("wrong version number", "record layer failure", "http request")


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


def peer_speaks_plain_http(exc: BaseException) -> bool:
    """True when a TLS handshake failed because the peer answered in plain HTTP.

    Only that says a host does not speak TLS. A refused or reset connection, a name that does not
    resolve, a timeout or a certificate problem says nothing of the sort (a TLS registry that is
    restarting refuses connections too), so none of them is a reason to try `http://`.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            text = str(current).lower()
            reason = getattr(current, "reason", None) or ""
            return reason in _PLAIN_HTTP_REASONS or any(
                marker in text for marker in _PLAIN_HTTP_TEXTS
            )
        current = current.__cause__ or current.__context__
    return False
