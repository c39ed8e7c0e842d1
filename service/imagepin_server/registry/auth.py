"""Registry authentication as an httpx auth flow: anonymous, Basic, and the Bearer token flow.

The flow: send the request (with a cached token or Basic header if we have one); on 401, read the
`WWW-Authenticate` challenge; for Bearer, ask the realm for a token for the challenge's scope
(with our credentials, if the keychain has any) and retry once; for Basic, retry once with
credentials. Tokens are cached per registry and scope until shortly before they expire, and one
token fetch serves every concurrent request that needs it.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
from cachetools import LRUCache, TLRUCache

from imagepin_server.errors import (
    BadRegistryResponse,
    RegistryTimeout,
    RegistryUnauthorized,
    RegistryUnavailable,
)
from imagepin_server.registry.credentials import Credentials, Keychain
from imagepin_server.registry.hosts import is_loopback
from imagepin_server.singleflight import SingleFlight

TOKEN_RESPONSE_LIMIT: Final = 1024 * 1024
CHALLENGE_BODY_LIMIT: Final = 64 * 1024
DEFAULT_TOKEN_LIFETIME_S: Final = 60.0  # the token spec's default for a missing expires_in
# Renew this long before expiry, so that a token never dies in flight.
TOKEN_EXPIRY_MARGIN_S: Final = 10.0
# One token fetch, shared by every request waiting for it, finishes within this or fails.
TOKEN_FETCH_TIMEOUT_S: Final = 30.0
# Callers name registries and repositories, so per-key state is bounded: (registry, scope)
# tokens, and the registries known to want Basic. Past the bound the
# least recently used are forgotten, which costs one more round trip.
TOKEN_CACHE_LIMIT: Final = 4096
BASIC_REGISTRIES_LIMIT: Final = 4096

_PARAM: Final = re.compile(r'([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


@dataclass(frozen=True, slots=True)
class Challenge:
    """One parsed `WWW-Authenticate` challenge."""

    scheme: str  # lowercased: "bearer" or "basic"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """Parse `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {}
    for key, value in _PARAM.findall(rest):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key.lower()] = value
    return Challenge(scheme.lower(), params)


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class _CachedToken:
    value: str
    ttl_s: float  # from when it was put


def _expiry(_key: tuple[str, str], token: _CachedToken, now: float) -> float:
    return now + token.ttl_s


class TokenCache:
    """Bearer tokens per (registry, scope), and one fetch in flight per key for every waiter.

    At most `limit` (TOKEN_CACHE_LIMIT) tokens: expired tokens go first, then the least
    recently used. A fetch is forgotten once done, so in-flight state is bounded by what is
    in flight; one whose waiters all gave up is cancelled, one that overruns
    TOKEN_FETCH_TIMEOUT_S fails for every waiter.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, limit: int = TOKEN_CACHE_LIMIT
    ) -> None:
        self._tokens: TLRUCache[tuple[str, str], _CachedToken] = TLRUCache(
            maxsize=limit, ttu=_expiry, timer=clock
        )
        self.flights: SingleFlight[tuple[str, str], str] = SingleFlight(
            timeout_s=TOKEN_FETCH_TIMEOUT_S, cancel_when_abandoned=True
        )

    def __len__(self) -> int:
        self._tokens.expire()
        return len(self._tokens)

    def get(self, registry: str, scope: str) -> str | None:
        cached = self._tokens.get((registry, scope))
        return None if cached is None else cached.value

    def put(self, registry: str, scope: str, token: str, lifetime_s: float) -> None:
        ttl = max(lifetime_s - TOKEN_EXPIRY_MARGIN_S, 1.0)
        self._tokens[(registry, scope)] = _CachedToken(token, ttl)  # past the limit, the LRU goes


class RegistryAuth(httpx.Auth):
    """The auth flow for requests to one registry, for one repository scope."""

    def __init__(
        self,
        *,
        registry: str,
        scope: str,
        keychain: Keychain,
        tokens: TokenCache,
        basic_hosts: LRUCache[str, bool],
        token_client: httpx.AsyncClient,
        insecure: bool,
    ) -> None:
        self.registry = registry
        self.scope = scope
        self._keychain = keychain
        self._tokens = tokens
        self._basic_hosts = basic_hosts  # registries known to want Basic: send it up front
        self._token_client = token_client
        self._insecure = insecure

    def sync_auth_flow(self, request: httpx.Request) -> Any:  # pragma: no cover - async only
        raise NotImplementedError("imagepin talks to registries with httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await self._authorize_from_cache(request)
        response = yield request
        if response.status_code != 401 or response.request.url.netloc != request.url.netloc:
            return  # a 401 from a redirect target (object storage) is not our registry asking
        challenge = _pick_challenge(response.headers.get_list("www-authenticate"))
        if challenge is None:
            return
        await _discard_bounded(response)
        if challenge.scheme == "basic":
            credentials = await self._keychain.credentials_for(self.registry)
            if credentials is None:
                return
            self._basic_hosts[self.registry] = True
            request.headers["Authorization"] = basic_header(credentials)
        else:
            token = await self._bearer_token(challenge)
            request.headers["Authorization"] = f"Bearer {token}"
        yield request

    async def _authorize_from_cache(self, request: httpx.Request) -> None:
        token = self._tokens.get(self.registry, self.scope)
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
            return
        if self._basic_hosts.get(self.registry):  # a read: this registry becomes the newest
            credentials = await self._keychain.credentials_for(self.registry)
            if credentials is not None:
                request.headers["Authorization"] = basic_header(credentials)

    async def _bearer_token(self, challenge: Challenge) -> str:
        async def fetch() -> str:
            cached = self._tokens.get(self.registry, self.scope)
            if cached is not None:
                return cached
            token, lifetime = await self._fetch_token(challenge)
            self._tokens.put(self.registry, self.scope, token, lifetime)
            return token

        try:
            return await self._tokens.flights.run((self.registry, self.scope), fetch)
        except TimeoutError as exc:  # the fetch's own bound: a caller's deadline is a cancel
            raise RegistryTimeout(
                f"token service for registry {self.registry} did not answer within "
                f"{TOKEN_FETCH_TIMEOUT_S:g}s",
                registry=self.registry,
            ) from exc

    async def _fetch_token(self, challenge: Challenge) -> tuple[str, float]:
        realm = challenge.params.get("realm", "")
        url = httpx.URL(realm) if realm else None
        if url is None or url.scheme not in ("https", "http") or not url.host:
            raise BadRegistryResponse(
                f"registry {self.registry} sent a Bearer challenge without a usable realm",
                registry=self.registry,
            )
        if url.scheme == "http" and not (self._insecure or is_loopback(url.netloc.decode())):
            raise RegistryUnauthorized(
                f"registry {self.registry} asks for a token from a plain-http realm {url.host}; "
                "refusing to send credentials in clear (configure the registry insecure to allow)",
                registry=self.registry,
            )
        params = {"scope": challenge.params.get("scope") or self.scope}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        headers = {}
        credentials = await self._keychain.credentials_for(self.registry)
        if credentials is not None:
            params["account"] = credentials.username
            headers["Authorization"] = basic_header(credentials)
        try:
            async with self._token_client.stream(
                "GET", url, params=params, headers=headers
            ) as response:
                body = await _read_limited(response, TOKEN_RESPONSE_LIMIT)
        except httpx.DecodingError as exc:
            raise BadRegistryResponse(
                f"token service {url.host} for registry {self.registry} sent a body that does "
                "not decode",
                registry=self.registry,
            ) from exc
        except httpx.TimeoutException as exc:
            raise RegistryTimeout(
                f"token service {url.host} for registry {self.registry} timed out",
                registry=self.registry,
            ) from exc
        except httpx.TransportError as exc:
            raise RegistryUnavailable(
                f"token service {url.host} for registry {self.registry} is unreachable: "
                f"{type(exc).__name__}",
                registry=self.registry,
            ) from exc
        if response.status_code in (401, 403):
            raise RegistryUnauthorized(
                f"token service {url.host} refused "
                + ("our credentials" if credentials else "anonymous access")
                + f" for registry {self.registry} (HTTP {response.status_code})",
                registry=self.registry,
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise RegistryUnavailable(
                f"token service {url.host} for registry {self.registry} answered "
                f"HTTP {response.status_code}",
                registry=self.registry,
            )
        return _parse_token(body, self.registry)


async def _discard_bounded(response: httpx.Response) -> None:
    """Read at most a little of a 401 body before retrying.

    httpx reads the whole body of a response the flow answers with another request; a hostile
    registry could make that unbounded. We read a bounded prefix, close the stream, and hand
    httpx the prefix as the content so it has nothing left to read.
    """
    if response.is_stream_consumed or response.is_closed:
        return  # already read (an in-memory response): nothing unbounded left
    prefix = bytearray()
    async for chunk in response.aiter_raw():
        prefix += chunk
        if len(prefix) >= CHALLENGE_BODY_LIMIT:
            break
    await response.aclose()
    response._content = bytes(prefix[:CHALLENGE_BODY_LIMIT])


def _pick_challenge(headers: list[str]) -> Challenge | None:
    challenges = [c for c in map(parse_challenge, headers) if c is not None]
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BadRegistryResponse(f"token response larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_token(body: bytes, registry: str) -> tuple[str, float]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to parse
        raise BadRegistryResponse(
            f"token service for registry {registry} answered with something that is not JSON",
            registry=registry,
        ) from exc
    if not isinstance(document, dict):
        document = {}
    token = document.get("token") or document.get("access_token")
    if not isinstance(token, str) or not token:
        raise BadRegistryResponse(
            f"token service for registry {registry} answered without a token", registry=registry
        )
    lifetime = document.get("expires_in")
    if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_TOKEN_LIFETIME_S
    return token, float(lifetime)
