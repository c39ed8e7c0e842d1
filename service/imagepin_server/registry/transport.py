"""The layers one registry exchange passes through, each small and on its own.

As go-containerregistry stacks its transports, `RegistryClient._exchange` stacks these, in an
order set there and nowhere else (outermost first):

1. `translate_errors`: whatever escapes (a timeout, a transport failure, too many redirects,
   a domain error without its subject) becomes a domain error naming what was asked for;
2. `retrying`: the attempt loop, waiting a backoff (or the registry's `Retry-After`) between
   attempts, as `Backoff` allows;
3. `SchemeFallback`: https first; http only for a host allowed it that answered TLS in plain HTTP;
4. one request (in the client: politeness slot, auth flow, per-attempt bound, reading).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Final, TypeVar

import httpx

from imagepin_server import errors
from imagepin_server.reference import Reference
from imagepin_server.registry.config import Limits
from imagepin_server.registry.hosts import Endpoint, RegistryHosts
from imagepin_server.registry.politeness import retry_delay
from imagepin_server.registry.tls import peer_speaks_plain_http

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors that mean the request did not get through whole; safe to send again (GET and HEAD).
RETRYABLE: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True, slots=True)
class Again:
    """An attempt's answer that says: try again after `delay_s` (a 429, a 503, ...)."""

    delay_s: float


class Backoff:
    """How long to wait before the next attempt, or None once no attempt is left."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.attempt = 0

    def after_status(self, retry_after: str | None) -> float | None:
        return retry_delay(self.attempt, self._limits, retry_after)

    def after_error(self) -> float | None:
        return retry_delay(self.attempt, self._limits)


async def retrying(backoff: Backoff, what: str, attempt: Callable[[], Awaitable[T | Again]]) -> T:
    """Attempt until an answer, or until `backoff` allows no more (the last failure raised)."""
    while True:
        try:
            outcome = await attempt()
        except RETRYABLE:
            delay = backoff.after_error()
            if delay is None:
                raise
        else:
            if not isinstance(outcome, Again):
                return outcome
            delay = outcome.delay_s
        backoff.attempt += 1
        log.debug("retrying %s in %.2fs", what, delay)
        await asyncio.sleep(delay)


class SchemeFallback:
    """https first; once per exchange, http for a host allowed it that answered TLS in HTTP.

    Kept for the rest of the exchange: the retries after a fallback go over http too.
    """

    def __init__(self, hosts: RegistryHosts, endpoint: Endpoint) -> None:
        self._hosts = hosts
        self.endpoint = endpoint
        self._fell_back = False

    async def send(self, request: Callable[[Endpoint], Awaitable[T]]) -> T:
        try:
            return await request(self.endpoint)
        except httpx.ConnectError as exc:
            if (
                self._fell_back
                or not peer_speaks_plain_http(exc)
                or not self._hosts.fall_back_to_http(self.endpoint)
            ):
                raise
        self.endpoint, self._fell_back = replace(self.endpoint, scheme="http"), True
        return await request(self.endpoint)


async def translate_errors(
    exchange: Awaitable[T],
    *,
    ref: Reference,
    name: str,
    timeout_s: float,
    max_redirects: int,
    on_failure: Callable[[], None],
) -> T:
    """The exchange's answer, or a domain error naming `name` for whatever went wrong.

    `on_failure` counts a request that got no answer (a timeout).
    """
    try:
        return await exchange
    except errors.ImagepinError as exc:
        if exc.reference is not None:
            raise
        raise _with_subject(exc, name, ref) from exc
    except (TimeoutError, httpx.TimeoutException) as exc:
        on_failure()
        what = (
            f"did not finish serving {name} within {timeout_s:g}s"  # the attempt's own bound
            if isinstance(exc, TimeoutError)
            else f"timed out serving {name} ({type(exc).__name__})"  # connect, read, pool
        )
        raise errors.RegistryTimeout(
            f"registry {ref.registry} {what}", reference=name, registry=ref.registry
        ) from exc
    except httpx.TooManyRedirects as exc:
        raise errors.BadRegistryResponse(
            f"registry {ref.registry} redirected more than {max_redirects} times for {name}",
            reference=name,
            registry=ref.registry,
        ) from exc
    except (httpx.TransportError, httpx.InvalidURL, ssl.SSLError) as exc:
        raise errors.RegistryUnavailable(
            f"registry {ref.registry} is unreachable for {name}: {_transport_reason(exc)}",
            reference=name,
            registry=ref.registry,
        ) from exc


def _with_subject(exc: errors.ImagepinError, name: str, ref: Reference) -> errors.ImagepinError:
    """Errors raised below (the auth flow) know the registry but not what was asked for."""
    return type(exc)(
        f"{exc.message} (fetching {name})",
        reference=name,
        registry=exc.registry or ref.registry,
        registry_code=exc.registry_code,
    )


def _transport_reason(exc: BaseException) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "its TLS certificate could not be verified (configure its CA)"
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
