"""Fetching manifests and blobs over the OCI Distribution API.

Resolve by name, fetch by digest: only `head_manifest` and a by-tag `get_manifest` take a
registry's word for a digest (`Docker-Content-Digest`, and only when well-formed); everything
fetched is hashed, and anything fetched by digest must hash to that digest or it is refused.
Every size and every wait has a named bound. Content by digest may come from a mirror (it is
verified); what a tag means comes only from the registry or a mirror trusted to resolve. Every
connection passes the SSRF guard (netguard), and every request the host's politeness budget.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Final, Protocol, TypeVar

import httpx
from cachetools import LRUCache

from imagepin_server import errors, mediatypes, metrics
from imagepin_server.digests import Digest, DigestHasher, InvalidDigest
from imagepin_server.reference import Reference, Tag, Target
from imagepin_server.registry.auth import BASIC_REGISTRIES_LIMIT, RegistryAuth, TokenCache
from imagepin_server.registry.config import Limits
from imagepin_server.registry.credentials import Keychain
from imagepin_server.registry.errors import ERROR_BODY_LIMIT, Subject, error_for_status
from imagepin_server.registry.hosts import Endpoint, RegistryHosts
from imagepin_server.registry.netguard import AddressPolicy, guarded_transport
from imagepin_server.registry.politeness import RETRY_STATUSES, HostBudgets
from imagepin_server.registry.ratelimit import PullLedger
from imagepin_server.registry.referrers import ReferrersPage, next_page, referrers_path
from imagepin_server.registry.tls import default_context, host_context
from imagepin_server.registry.transport import (
    RETRYABLE,
    Again,
    Backoff,
    SchemeFallback,
    retrying,
    translate_errors,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MiB: Final = 1024 * 1024
MANIFEST_LIMIT: Final = 4 * MiB
CONFIG_LIMIT: Final = 8 * MiB
MAX_REDIRECTS: Final = 5
MAX_CONNECTIONS: Final = 100  # per transport (the default one, and one per host with its own TLS)
BLOB_CHUNK: Final = 256 * 1024
# Timeouts, retries, concurrency and rate are per host: registry.config.Limits.


def _version() -> str:
    try:
        return metadata.version("imagepin")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


USER_AGENT: Final = f"imagepin/{_version()}"


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """What a HEAD on a manifest told us."""

    digest: Digest
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    """Manifest bytes exactly as served, with the digest they hash to."""

    raw: bytes
    media_type: str  # the Content-Type the registry sent (parameters stripped)
    digest: Digest  # what the bytes hash to
    claimed: Digest | None = None  # the registry's Docker-Content-Digest, when well-formed


@dataclass(frozen=True, slots=True)
class FetchedBlob:
    """A small blob (an image config) fetched whole, with what it hashes to (checked by
    `get_blob` against the digest asked for before it is returned)."""

    data: bytes
    digest: Digest


class BlobSink(Protocol):
    """Sees a blob's bytes as they stream past check_blob (a layer's decompressor)."""

    async def update(self, chunk: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class BlobHead:
    """What a HEAD on a blob told us: it exists, with this size. Nothing was hashed."""

    size: int
    claimed: Digest | None  # the registry's Docker-Content-Digest, when well-formed


@dataclass(frozen=True, slots=True)
class BlobCheck:
    """The outcome of streaming a blob and hashing it; a mismatch is an answer, not an error."""

    expected: Digest
    actual: Digest | None
    expected_size: int | None
    actual_size: int
    error: str | None = None
    sink: BlobSink | None = None  # the sink that saw exactly these bytes, when one was asked for

    @property
    def verified(self) -> bool:
        size_ok = self.expected_size is None or self.expected_size == self.actual_size
        return self.error is None and self.actual == self.expected and size_ok


def display(ref: Reference, target: Target) -> str:
    """How a request's subject is named in messages: `name:tag` or `name@digest`."""
    separator = "@" if isinstance(target, Digest) else ":"
    return f"{ref.name}{separator}{target}"


class RegistryClient:
    """One per process: pooled HTTP clients, the token cache, the keychain and host budgets."""

    def __init__(
        self,
        hosts: RegistryHosts,
        keychain: Keychain,
        *,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        extra_ca: Path | None = None,
        policy: AddressPolicy | None = None,
    ) -> None:
        """`transport` replaces the guarded transports (tests only); `extra_ca` is trusted for
        every host, beside the system's CAs and a host's own `ca_file`."""
        self._hosts = hosts
        self._keychain = keychain
        self._tokens = TokenCache()
        self._budgets = HostBudgets(reserved=hosts.configured_hosts())
        self.pulls = PullLedger()  # rate-limit headers read, manifest GETs counted
        metrics.reserve_registry_labels(hosts.configured_hosts())
        self._basic_registries: LRUCache[str, bool] = LRUCache(maxsize=BASIC_REGISTRIES_LIMIT)
        policy = policy or hosts.config.network
        if isinstance(verify, bool):
            context = default_context(extra_ca)
            if not verify:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        else:
            context = verify
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
        if transport is None:
            transport = guarded_transport(policy, context, max_connections=MAX_CONNECTIONS)
            for host in _custom_tls_hosts(hosts):
                mounts[f"all://{host}"] = guarded_transport(
                    policy,
                    host_context(hosts.host_config(host), extra_ca),
                    max_connections=MAX_CONNECTIONS,
                )
        self._http = httpx.AsyncClient(
            transport=transport,
            mounts=mounts,
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
            max_redirects=MAX_REDIRECTS,
            # Content is hashed as transferred: no transfer compression (httpx asks for gzip by
            # default, and would hand us the decoded bytes of a gzip layer served with
            # Content-Encoding: gzip, which hash to something else).
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._tokens.flights.aclose()  # token fetches still in flight use the pool below
        await self._http.aclose()

    def pull_budget_low(self, registry: str) -> bool:
        """Whether background work should leave `registry` alone (see registry/ratelimit.py)."""
        host = self._hosts.endpoint(registry).auth_host
        return self.pulls.budget_low(host, self._hosts.config.host(host).limits.pull_reserve)

    def max_concurrency(self, registry: str) -> int:
        """The host's cap on requests in flight (`max_concurrency` in the registries file)."""
        host = self._hosts.endpoint(registry).auth_host
        return self._hosts.config.host(host).limits.max_concurrency

    async def head_manifest(self, ref: Reference, target: Target) -> ManifestHead | None:
        """HEAD a manifest by tag or digest.

        None when the answer cannot be trusted for a digest (no valid `Docker-Content-Digest`, no
        known media type, HEAD not allowed, or an error whose precise cause a GET would tell):
        the caller then GETs and hashes.
        """
        name = display(ref, target)

        async def read(response: httpx.Response) -> ManifestHead | None:
            if response.status_code in (429,) or response.status_code >= 500:
                raise error_for_status(
                    response.status_code,
                    b"",
                    registry=ref.registry,
                    reference=name,
                    subject="manifest",
                    retry_after=response.headers.get("retry-after"),
                )
            if response.status_code != 200:
                return None
            media_type = mediatypes.base(response.headers.get("content-type", ""))
            try:
                digest = Digest.parse(response.headers.get("docker-content-digest", ""))
                size = int(response.headers.get("content-length", ""))
            except (InvalidDigest, ValueError):
                return None
            if not mediatypes.is_manifest(media_type) or size < 0:
                return None
            if size > MANIFEST_LIMIT:
                raise _too_large(name, ref, "manifest", size, MANIFEST_LIMIT)
            return ManifestHead(digest=digest, media_type=media_type, size=size)

        return await self._across(
            ref,
            target,
            lambda endpoint: self._exchange(
                endpoint, ref, "HEAD", f"manifests/{target}", name, "manifest", read
            ),
            accept=lambda head: (
                head is not None and (isinstance(target, Tag) or head.digest == target)
            ),
        )

    async def fetch_manifest(
        self, ref: Reference, target: Target, *, algorithm: str = "sha256"
    ) -> FetchedManifest:
        """GET a manifest by tag or digest and hash it, checking nothing but its size.

        For VerifyDigest, where a mismatch is the answer rather than an error. Everything else
        uses `get_manifest`. A mirror's bytes are taken only when they hash to the digest asked
        for; otherwise the next endpoint (in the end the registry itself) is asked.
        """
        name = display(ref, target)

        async def read(response: httpx.Response) -> FetchedManifest:
            await _raise_for_status(response, ref, name, "manifest")
            raw = await _read_bounded(response, MANIFEST_LIMIT, name, ref, "manifest")
            media_type = mediatypes.base(response.headers.get("content-type", ""))
            return FetchedManifest(
                raw=raw,
                media_type=media_type,
                digest=Digest.of(raw, algorithm),
                claimed=_claimed_digest(response),
            )

        return await self._across(
            ref,
            target,
            lambda endpoint: self._exchange(
                endpoint, ref, "GET", f"manifests/{target}", name, "manifest", read
            ),
            accept=lambda fetched: isinstance(target, Tag) or fetched.digest == target,
        )

    async def get_manifest(
        self, ref: Reference, target: Target, *, expected: Digest | None = None
    ) -> FetchedManifest:
        """GET a manifest and refuse it unless its bytes hash to the digest they should.

        By digest (`target`, or `expected` when a tag is fetched under a pin) the bytes must hash
        to it. Otherwise (by tag), a well-formed
        `Docker-Content-Digest` must agree with the bytes: a registry that announces one digest
        and serves other bytes is not believed. Schema 1 (signed or not) is refused first.
        """
        name = display(ref, target)
        if expected is None and isinstance(target, Digest):
            expected = target
        # Hash with the pin's algorithm, or a mirror's right answer to a sha512 pin would be
        # taken for a wrong one (fetch_manifest compares what it hashed with the target).
        algorithm = expected.algorithm if expected is not None else "sha256"
        fetched = await self.fetch_manifest(ref, target, algorithm=algorithm)
        if mediatypes.is_schema1_manifest(fetched.media_type, fetched.raw):
            # Before the digest check: signed schema 1 is named by its JWS payload's digest.
            raise errors.schema1_refused(
                f"the manifest of {name}", reference=name, registry=ref.registry
            )
        reference_digest = expected or fetched.claimed
        if reference_digest is None:
            return fetched
        actual = fetched.digest
        if actual.algorithm != reference_digest.algorithm:  # a tag announced under another
            actual = Digest.of(fetched.raw, reference_digest.algorithm)
        if actual != reference_digest:
            source = "asked for" if expected else "the registry announced"
            raise errors.DigestMismatch(
                f"registry {ref.registry} served a manifest for {name} that hashes to {actual}, "
                f"not {reference_digest} as {source}",
                reference=name,
                registry=ref.registry,
            )
        return FetchedManifest(
            raw=fetched.raw, media_type=fetched.media_type, digest=actual, claimed=fetched.claimed
        )

    async def get_blob(self, ref: Reference, digest: Digest, *, limit: int) -> FetchedBlob:
        """GET a small blob (an image config) whole, refusing it unless it hashes to `digest`."""
        name = display(ref, digest)

        async def read(response: httpx.Response) -> FetchedBlob:
            await _raise_for_status(response, ref, name, "blob")
            data = await _read_bounded(response, limit, name, ref, "blob")
            return FetchedBlob(data=data, digest=Digest.of(data, digest.algorithm))  # once

        fetched = await self._across(
            ref,
            digest,
            lambda endpoint: self._exchange(
                endpoint, ref, "GET", f"blobs/{digest}", name, "blob", read
            ),
            accept=lambda fetched: fetched.digest == digest,
        )
        if fetched.digest != digest:
            raise errors.DigestMismatch(
                f"registry {ref.registry} served a blob for {name} that hashes to {fetched.digest}",
                reference=name,
                registry=ref.registry,
            )
        return fetched

    async def head_blob(self, ref: Reference, digest: Digest) -> BlobHead:
        """HEAD a blob: does the registry have it, and how large? Raises BlobNotFound if not.

        Downloads nothing and hashes nothing: an existence check, for sweeping many pins.
        """
        name = display(ref, digest)

        async def read(response: httpx.Response) -> BlobHead:
            await _raise_for_status(response, ref, name, "blob")
            try:
                size = int(response.headers.get("content-length", ""))
            except ValueError:
                size = -1
            if size < 0:
                raise errors.BadRegistryResponse(
                    f"registry {ref.registry} answered a HEAD on {name} without a size",
                    reference=name,
                    registry=ref.registry,
                )
            return BlobHead(size=size, claimed=_claimed_digest(response))

        return await self._across(
            ref,
            digest,
            lambda endpoint: self._exchange(
                endpoint, ref, "HEAD", f"blobs/{digest}", name, "blob", read
            ),
            accept=lambda head: head.claimed in (None, digest),
        )

    async def check_blob(
        self,
        ref: Reference,
        digest: Digest,
        *,
        size: int | None,
        sink: Callable[[], BlobSink] | None = None,
    ) -> BlobCheck:
        """Stream a blob through a hasher without holding it; report what it hashed to.

        Reads at most `size` + 1 bytes when the size is known: more than promised is a mismatch
        already, and a registry must not make us read forever. `sink` makes a fresh sink for
        each attempt (a retry starts the body again); the answer carries the one that saw it.
        """
        name = display(ref, digest)

        async def read(response: httpx.Response) -> BlobCheck:
            await _raise_for_status(response, ref, name, "blob")
            hasher = DigestHasher(digest.algorithm)
            seen = sink() if sink is not None else None
            async for chunk in _raw(response, BLOB_CHUNK):
                hasher.update(chunk)
                if size is not None and hasher.size > size:
                    return BlobCheck(
                        digest,
                        None,
                        size,
                        hasher.size,
                        f"blob is larger than the {size} bytes declared",
                    )
                if seen is not None:
                    await seen.update(chunk)
            return BlobCheck(digest, hasher.digest(), size, hasher.size, sink=seen)

        return await self._across(
            ref,
            digest,
            lambda endpoint: self._exchange(
                endpoint, ref, "GET", f"blobs/{digest}", name, "blob", read, long=True
            ),
            accept=lambda check: check.verified,
        )

    async def get_listing(
        self, ref: Reference, path: str, *, limit: int
    ) -> tuple[bytes, str | None]:
        """GET one page of a listing API (`tags/list?n=…`) of `ref`'s repository, from the
        registry or a mirror trusted to resolve: the body, at most `limit` bytes, and the `Link`
        header. Reading the body is left to the caller (registry/tags.py)."""
        name = f"{ref.name} ({path.partition('?')[0]})"

        async def read(response: httpx.Response) -> tuple[bytes, str | None]:
            await _raise_for_status(response, ref, name, "manifest")
            body = await _read_bounded(response, limit, name, ref, "tag list")
            return body, response.headers.get("link")

        return await self._across(
            ref,
            Tag(""),  # a listing changes: only endpoints trusted to resolve tags may answer
            lambda endpoint: self._exchange(endpoint, ref, "GET", path, name, "manifest", read),
            accept=lambda _: True,
        )

    async def get_referrers(
        self, ref: Reference, digest: Digest, *, query: str | None = None
    ) -> ReferrersPage | None:
        """One page of the OCI 1.1 referrers listing of `digest`; None when the registry has no
        referrers API (it answers 404, as the spec says such a registry does).

        A listing changes as artifacts are pushed, so it is taken like a tag's answer (from the
        registry, or a mirror trusted to resolve), bounded like a manifest, and not hashed.
        """
        name = display(ref, digest)

        async def read(response: httpx.Response) -> ReferrersPage | None:
            if response.status_code == 404:
                return None
            await _raise_for_status(response, ref, name, "manifest")
            raw = await _read_bounded(response, MANIFEST_LIMIT, name, ref, "referrers listing")
            query, refused = next_page(response.headers.get("link", ""), ref.repository, digest)
            return ReferrersPage(
                raw=raw,
                media_type=mediatypes.base(response.headers.get("content-type", "")),
                next_query=query,
                next_refused=refused,
            )

        return await self._across(
            ref,
            Tag("referrers"),  # it changes: only endpoints trusted to resolve tags may answer
            lambda endpoint: self._exchange(
                endpoint, ref, "GET", referrers_path(digest, query), name, "manifest", read
            ),
            accept=lambda page: page is not None,
        )

    async def _across(
        self,
        ref: Reference,
        target: Target,
        attempt: Callable[[Endpoint], Awaitable[T]],
        *,
        accept: Callable[[T], bool],
    ) -> T:
        """Ask the mirrors that may answer, then the registry; the registry's answer is final.

        A mirror that fails, or answers something `accept` rejects, is passed over.
        """
        name = display(ref, target)
        if not self._hosts.config.registry_allowed(ref.registry):
            raise errors.RegistryNotAllowed(
                f"registry {ref.registry} is not on imagepin's allow-list "
                f"(rule: network.allowed_registries), so {name} cannot be fetched",
                reference=name,
                registry=ref.registry,
            )
        endpoints = self._hosts.endpoints(ref.registry, resolve=isinstance(target, Tag))
        for endpoint in endpoints[:-1]:
            try:
                answer = await attempt(endpoint)
            except errors.ImagepinError as exc:
                log.info("mirror %s could not serve %s: %s", endpoint.host, name, exc.reason)
                continue
            if accept(answer):
                return answer
            log.info("mirror %s served unusable content for %s", endpoint.host, name)
        return await attempt(endpoints[-1])

    async def _exchange(
        self,
        endpoint: Endpoint,
        ref: Reference,
        method: str,
        path: str,
        name: str,
        subject: Subject,
        read: Callable[[httpx.Response], Awaitable[T]],
        *,
        long: bool = False,
    ) -> T:
        """One request to one endpoint, retried, with auth; every failure a domain error.

        The layers, outermost first, are set here and only here (see transport.py): error
        translation, the attempt loop, scheme fallback, one request. `read` runs inside the
        retried part, so a body cut off mid-way is fetched again. Each attempt, connection to
        last byte, is bounded (`request_timeout_s`, or `blob_timeout_s` for a layer download);
        waiting for the host's budget is bounded by the caller's deadline.
        """
        limits = self._hosts.limits(endpoint)
        if method == "GET" and subject == "manifest":
            self.pulls.check_reserve(endpoint.auth_host, limits.pull_reserve, name)
        timeout_s = limits.blob_timeout_s if long else limits.request_timeout_s
        backoff = Backoff(limits)
        scheme = SchemeFallback(self._hosts, endpoint)

        async def request(at: Endpoint) -> T | Again:
            return await self._request(
                at, ref, method, path, subject, read, backoff, limits, timeout_s, long=long
            )

        return await translate_errors(
            retrying(backoff, f"{method} {name}", lambda: scheme.send(request)),
            ref=ref,
            name=name,
            timeout_s=timeout_s,
            max_redirects=MAX_REDIRECTS,
            on_failure=lambda: _observe(endpoint.auth_host, method, None),
        )

    async def _request(
        self,
        endpoint: Endpoint,
        ref: Reference,
        method: str,
        path: str,
        subject: Subject,
        read: Callable[[httpx.Response], Awaitable[T]],
        backoff: Backoff,
        limits: Limits,
        timeout_s: float,
        *,
        long: bool,
    ) -> T | Again:
        """One attempt: a politeness slot, the auth flow, the attempt's bound, then `read`.

        A status worth retrying is `Again` while the backoff allows one; `read` sees it after.
        """
        try:
            async with (
                self._budgets.slot(endpoint.auth_host, limits, long=long),
                asyncio.timeout(timeout_s),
                self._http.stream(
                    method,
                    f"{endpoint.base_url}/v2/{ref.repository}/{path}",
                    headers=_ACCEPT if subject == "manifest" else None,
                    auth=self._auth(endpoint, ref),
                    follow_redirects=True,
                    timeout=httpx.Timeout(limits.read_timeout_s, connect=limits.connect_timeout_s),
                ) as response,
            ):
                if method == "HEAD":
                    # No body, but httpcore keeps the connection only once it has read the
                    # response's end: unread, every HEAD would cost a new connection.
                    await response.aread()
                self._hosts.confirm(endpoint)
                _observe(endpoint.auth_host, method, response)
                self.pulls.observe(
                    endpoint.auth_host, method, subject, response.status_code, response.headers
                )
                delay = None
                if response.status_code in RETRY_STATUSES:
                    delay = backoff.after_status(response.headers.get("retry-after"))
                outcome = Again(delay) if delay is not None else await read(response)
                await _finish_if_small(response)
                return outcome
        except RETRYABLE:
            _observe(endpoint.auth_host, method, None)
            raise

    def _auth(self, endpoint: Endpoint, ref: Reference) -> RegistryAuth:
        return RegistryAuth(
            registry=endpoint.auth_host,
            scope=f"repository:{ref.repository}:pull",
            keychain=self._keychain,
            tokens=self._tokens,
            basic_hosts=self._basic_registries,
            token_client=self._http,
            insecure=self._hosts.is_configured_insecure(endpoint.auth_host),
        )


def _custom_tls_hosts(hosts: RegistryHosts) -> list[str]:
    """The hosts (host[:port] requests go to) configured with their own CA, certificate or no
    verification, each to get its own transport."""
    return [
        hosts.endpoint(name).host for name, host in hosts.config.hosts.items() if host.custom_tls
    ]


_ACCEPT: Final = {"Accept": mediatypes.MANIFEST_ACCEPT}


def _observe(registry: str, method: str, response: httpx.Response | None) -> None:
    """Count the request (its rate-limit headers are read by the PullLedger)."""
    label = metrics.registry_label(registry)
    status = str(response.status_code) if response is not None else "error"
    metrics.REGISTRY_REQUESTS.labels(label, method, status).inc()


def _claimed_digest(response: httpx.Response) -> Digest | None:
    try:
        return Digest.parse(response.headers.get("docker-content-digest", ""))
    except InvalidDigest:
        return None


def _too_large(name: str, ref: Reference, what: str, size: int, limit: int) -> errors.TooLarge:
    return errors.TooLarge(
        f"{what} for {name} is {size} bytes, over imagepin's limit of {limit} bytes",
        reference=name,
        registry=ref.registry,
    )


async def _raw(response: httpx.Response, chunk_size: int | None = None) -> AsyncIterator[bytes]:
    """The body as transferred, never decoded: a digest is of the bytes a registry sent, and a
    bad Content-Encoding is then no new way to fail.

    A body read already (the auth flow's bounded prefix of a 401, an in-memory response) is
    what there is.
    """
    if response.is_stream_consumed:
        yield response.content
        return
    async for chunk in response.aiter_raw(chunk_size):
        yield chunk


async def _finish_if_small(response: httpx.Response) -> None:
    """Read to its end a small body nothing read (a 404 that says only "not found"), so the
    connection goes back to the pool: httpcore closes one whose response it did not finish.
    A large or unsized body costs less to cut off than to read."""
    if response.is_stream_consumed:
        return
    declared = _declared_length(response)
    if declared is not None and declared <= ERROR_BODY_LIMIT:
        await response.aread()


def _declared_length(response: httpx.Response) -> int | None:
    """The body's length as the headers state it; None when absent or not a number."""
    declared = response.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


async def _read_bounded(
    response: httpx.Response, limit: int, name: str, ref: Reference, what: str
) -> bytes:
    declared = _declared_length(response)
    if declared is not None and declared > limit:
        raise _too_large(name, ref, what, declared, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in _raw(response):
        size += len(chunk)
        if size > limit:
            raise _too_large(name, ref, what, size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _raise_for_status(
    response: httpx.Response, ref: Reference, name: str, subject: Subject
) -> None:
    if response.status_code < 300:
        return
    body = b""
    async for chunk in _raw(response):
        body += chunk
        if len(body) >= ERROR_BODY_LIMIT:
            break
    raise error_for_status(
        response.status_code,
        body,
        registry=ref.registry,
        reference=name,
        subject=subject,
        retry_after=response.headers.get("retry-after"),
    )
