"""Registry error responses, translated at the boundary into the most specific domain error.

Registries explain failures in a JSON body `{"errors": [{"code", "message", "detail"}]}`
(OCI Distribution spec, "Error Codes"). We keep the first code and message, and choose the domain
error from the HTTP status and that code.
"""

from __future__ import annotations

import email.utils
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from imagepin_server import errors
from imagepin_server.reference import DEFAULT_REGISTRY
from imagepin_server.registry.ratelimit import kind_of_429

ERROR_BODY_LIMIT: Final = 64 * 1024
MESSAGE_LIMIT: Final = 200  # a registry's message is quoted, but never at unbounded length
CODE_LIMIT: Final = 64

Subject = Literal["manifest", "blob"]


@dataclass(frozen=True, slots=True)
class RegistryErrorDetail:
    """The first entry of a registry's error body."""

    code: str
    message: str


def parse_error_body(body: bytes) -> RegistryErrorDetail | None:
    """The first `{code, message}` of an OCI error body, or None when there is none."""
    try:
        document = json.loads(body[:ERROR_BODY_LIMIT])
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python recurses
        return None
    entries = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        return None
    code = entries[0].get("code")
    message = entries[0].get("message")
    code = _printable(code).strip()[:CODE_LIMIT] if isinstance(code, str) else ""
    if not code:
        return None
    text = message if isinstance(message, str) else ""
    return RegistryErrorDetail(code=code, message=_printable(text)[:MESSAGE_LIMIT])


def retry_after_seconds(value: str | None, now: datetime | None = None) -> int | None:
    """`Retry-After` as whole seconds from now: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, round((when - (now or datetime.now(UTC))).total_seconds()))


def _retry_after_text(value: str | None) -> str:
    """ "; retry after 37s" or "; retry after <HTTP date>", as the registry said it."""
    seconds = retry_after_seconds(value)
    if seconds is None or value is None:
        return ""
    value = value.strip()
    return f"; retry after {seconds}s" if value.isdigit() else f"; retry after {value[:40]}"


def _printable(text: str) -> str:
    """Control characters and lone surrogates (which JSON's \\ud800 escapes produce and UTF-8
    cannot encode) become spaces: the text goes into messages and ErrorInfo metadata."""
    return "".join(
        ch if ch.isprintable() and not "\ud800" <= ch <= "\udfff" else " " for ch in text
    )


def error_for_status(
    status: int,
    body: bytes,
    *,
    registry: str,
    reference: str,
    subject: Subject,
    retry_after: str | None = None,
) -> errors.ImagepinError:
    """The domain error for a registry's non-success answer."""
    detail = parse_error_body(body)
    code = detail.code if detail else None
    said = (
        f" ({detail.code}: {detail.message})"
        if detail and detail.message
        else (f" ({detail.code})" if detail else "")
    )
    where = f"registry {registry}"
    context = {"reference": reference, "registry": registry, "registry_code": code}

    if status == 404 or code in {"NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"}:
        if code == "NAME_UNKNOWN":
            return errors.RepositoryNotFound(
                f"{where} has no repository for {reference}{said}", **context
            )
        if subject == "blob" or code == "BLOB_UNKNOWN":
            return errors.BlobNotFound(f"{where} has no such blob for {reference}{said}", **context)
        return errors.ManifestNotFound(f"{where} has no manifest for {reference}{said}", **context)
    if status == 401:
        return errors.RegistryUnauthorized(
            f"{where} requires authentication for {reference} and did not accept ours{said}; "
            "check the credentials for this registry (some registries answer this way for "
            "repositories that do not exist)",
            **context,
        )
    if status == 403:
        return errors.AccessDenied(f"{where} denied access to {reference}{said}", **context)
    if status == 429:
        wait = _retry_after_text(retry_after)
        kind = kind_of_429(body, docker_hub=registry == DEFAULT_REGISTRY)
        if kind == "pull":
            return errors.PullLimited(
                f"{where} refused {reference}: its pull limit is reached{said}{wait}", **context
            )
        if kind == "abuse":
            return errors.AbuseLimited(
                f"{where} is limiting all requests from this address (its overall limit, "
                f"not the pull limit) for {reference}{wait}",
                **context,
            )
        return errors.RateLimited(
            f"{where} is rate-limiting requests for {reference}{said}{wait}", **context
        )
    if status == 408:
        return errors.RegistryTimeout(f"{where} timed out serving {reference}{said}", **context)
    if status >= 500:
        return errors.RegistryUnavailable(
            f"{where} failed with HTTP {status} for {reference}{said}", **context
        )
    if status == 400 and code in {"NAME_INVALID", "TAG_INVALID", "DIGEST_INVALID"}:
        return errors.BadReference(f"{where} says {reference} is invalid{said}", **context)
    return errors.BadRegistryResponse(
        f"{where} answered HTTP {status} for {reference}{said}", **context
    )
