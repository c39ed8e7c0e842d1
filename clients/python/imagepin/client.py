"""The blocking client: one typed method per RPC, a default deadline, errors as exceptions."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType

import grpc

from imagepin import messages, tag_requests
from imagepin.connection import Connection
from imagepin.errors import ImagepinError, Unimplemented, from_rpc_error
from imagepin.messages import BatchResult, Delay, PlatformArg, Request, Response
from imagepin.v1 import resolver_pb2, resolver_pb2_grpc


def open_channel(connection: Connection) -> grpc.Channel:
    """A channel with the connection's TLS, retry policy and message bounds."""
    credentials = connection.credentials()
    if credentials is None:
        return grpc.insecure_channel(connection.target, options=connection.options())
    return grpc.secure_channel(connection.target, credentials, options=connection.options())


class ResolverClient:
    """Blocking client of imagepin.v1.ResolverService.

    `ResolverClient("host:50051")` or `ResolverClient(connection=Connection(...))`. Every method
    takes `timeout` (seconds; the connection's default otherwise) and raises an
    `imagepin.errors.ImagepinError` subclass on failure.
    """

    def __init__(self, target: str | None = None, *, connection: Connection | None = None) -> None:
        self.connection = Connection.for_client(target, connection)
        self.channel = open_channel(self.connection)
        self._stub = resolver_pb2_grpc.ResolverServiceStub(self.channel)
        self._metadata = self.connection.call_metadata()

    def __enter__(self) -> ResolverClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(
        self,
        method: grpc.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
        timeout: float | None,
    ) -> Response:
        try:
            return method(
                request,
                timeout=self.connection.timeout_s if timeout is None else timeout,
                metadata=self._metadata(),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.connection.target) from None

    def resolve(
        self,
        reference: str,
        *,
        platform: PlatformArg = None,
        max_staleness: Delay = None,
        stale_if_error: Delay = None,
        include_children: bool = False,
        timeout: float | None = None,
    ) -> resolver_pb2.ResolveReferenceResponse:
        """The digest `reference`'s tag points at now (a platform's child with `platform`).

        `max_staleness` (a timedelta or seconds) bounds how old a remembered answer may be: 0
        always asks the registry; None leaves it to the server (30 s unless configured).
        `include_children` lists an index's children (`manifests`): a GET of the index the first
        time, where the answer alone is one HEAD.
        """
        request = messages.resolve_request(
            reference, platform, max_staleness, stale_if_error, include_children=include_children
        )
        return self._call(self._stub.ResolveReference, request, timeout)

    def get_manifest(
        self, reference: str, *, platform: PlatformArg = None, timeout: float | None = None
    ) -> resolver_pb2.GetManifestResponse:
        """The manifest as served, parsed, with the image config."""
        request = messages.manifest_request(reference, platform)
        return self._call(self._stub.GetManifest, request, timeout)

    def list_layers(
        self, reference: str, *, platform: PlatformArg = None, timeout: float | None = None
    ) -> resolver_pb2.ListLayersResponse:
        """The image's layers from base to top."""
        request = messages.layers_request(reference, platform)
        return self._call(self._stub.ListLayers, request, timeout)

    def verify_digest(
        self,
        reference: str,
        expected_digest: str = "",
        *,
        include_layers: bool = False,
        platform: PlatformArg = None,
        mode: resolver_pb2.VerifyMode = resolver_pb2.VERIFY_MODE_UNSPECIFIED,
        timeout: float | None = None,
    ) -> resolver_pb2.VerifyDigestResponse:
        """Whether the registry's content hashes to the digest (a mismatch is an answer);
        `mode` says how deep (VERIFY_MODE_MANIFEST ... VERIFY_MODE_CONTENT)."""
        request = messages.verify_request(
            reference, expected_digest, include_layers, platform, mode
        )
        return self._call(self._stub.VerifyDigest, request, timeout)

    def batch_resolve(
        self,
        references: Iterable[str | resolver_pb2.ResolveReferenceRequest],
        *,
        platform: PlatformArg = None,
        max_staleness: Delay = None,
        timeout: float | None = None,
    ) -> list[BatchResult]:
        """One BatchResolveReferences call per 1000 references; results in the input's order.

        `max_staleness` (as for resolve) applies to every reference given as a string.
        """
        results: list[BatchResult] = []
        requests = messages.batch_requests(references, platform, max_staleness)
        for request in messages.batch_calls(requests):
            response = self._call(self._stub.BatchResolveReferences, request, timeout)
            results.extend(messages.batch_results(response))
        return results

    def resolve_all(
        self,
        references: Sequence[str | resolver_pb2.ResolveReferenceRequest],
        *,
        platform: PlatformArg = None,
        max_staleness: Delay = None,
        timeout: float | None = None,
    ) -> list[BatchResult]:
        """Like batch_resolve, but a server without BatchResolveReferences is asked one
        reference at a time (concurrently), so tooling works against older servers."""
        try:
            return self.batch_resolve(
                references, platform=platform, max_staleness=max_staleness, timeout=timeout
            )
        except Unimplemented:
            pass
        requests = messages.batch_requests(references, platform, max_staleness)
        deadline = self.connection.timeout_s if timeout is None else timeout
        futures = [
            self._stub.ResolveReference.future(r, timeout=deadline, metadata=self._metadata())
            for r in requests
        ]
        results = []
        for request, future in zip(requests, futures, strict=True):
            try:
                results.append(BatchResult(request.reference, future.result(), None))
            except grpc.RpcError as error:
                results.append(
                    BatchResult(
                        request.reference, None, from_rpc_error(error, self.connection.target)
                    )
                )
        return results

    def list_tag_history(
        self,
        reference: str,
        *,
        as_of: datetime.datetime | None = None,
        limit: int = 0,
        timeout: float | None = None,
    ) -> resolver_pb2.ListTagHistoryResponse:
        """Every move of the tag (an entry per stretch at a digest), newest first, as of `as_of`."""
        request = messages.history_request(reference, as_of, limit)
        return self._call(self._stub.ListTagHistory, request, timeout)

    def list_images_with_layer(
        self, digest: str, *, limit: int = 0, timeout: float | None = None
    ) -> resolver_pb2.ListImagesWithLayerResponse:
        """Every recorded image containing a layer (distribution digest or diff_id)."""
        request = messages.images_with_layer_request(digest, limit)
        return self._call(self._stub.ListImagesWithLayer, request, timeout)

    def list_tags(
        self,
        reference: str,
        *,
        page_size: int = 0,
        page_token: str = "",
        filter: str = "",
        max_staleness: Delay = None,
        timeout: float | None = None,
    ) -> resolver_pb2.ListTagsResponse:
        """One page of the repository's tags, sorted; `filter` is a full-match RE2 pattern."""
        request = tag_requests.list_tags_request(
            reference,
            page_size=page_size,
            page_token=page_token,
            filter=filter,
            max_staleness=max_staleness,
        )
        return self._call(self._stub.ListTags, request, timeout)

    def select_tag(
        self,
        reference: str,
        policy: str,
        *,
        pattern: str = "",
        extract: str = "",
        include_prereleases: bool = False,
        platform: PlatformArg = None,
        max_staleness: Delay = None,
        timeout: float | None = None,
    ) -> resolver_pb2.SelectTagResponse:
        """The repository's tag `policy` chooses (`semver:^7.2`, `numerical:asc`, …), pinned."""
        request = tag_requests.select_tag_request(
            reference,
            policy,
            pattern=pattern,
            extract=extract,
            include_prereleases=include_prereleases,
            platform=platform,
            max_staleness=max_staleness,
        )
        return self._call(self._stub.SelectTag, request, timeout)

    def list_referrers(
        self,
        reference: str,
        *,
        artifact_type: str = "",
        include_children: bool = False,
        timeout: float | None = None,
    ) -> resolver_pb2.ListReferrersResponse:
        """What refers to the image: signatures, SBOMs, attestations, and where each was found."""
        request = messages.referrers_request(reference, artifact_type, include_children)
        return self._call(self._stub.ListReferrers, request, timeout)

    def verify_signatures(
        self,
        reference: str,
        *,
        public_keys: Iterable[str] = (),
        policy: str = "",
        platform: PlatformArg = None,
        timeout: float | None = None,
    ) -> resolver_pb2.VerifySignaturesResponse:
        """Whether a cosign signature verifies under the keys (PEM) or the server's policy."""
        request = messages.signatures_request(reference, public_keys, policy, platform)
        return self._call(self._stub.VerifySignatures, request, timeout)

    def watch_tags(
        self,
        references: Sequence[str],
        *,
        interval: datetime.timedelta | None = None,
        timeout: float | None = None,
    ) -> Iterator[resolver_pb2.TagEvent]:
        """Each tag's current digest, then one event per move, until the iterator is closed.

        No deadline unless `timeout` is given: a watch runs until the caller stops it. A watch
        the server ends (it is stopping, or the caller fell behind) raises Unavailable: watch
        again.
        """
        request = messages.watch_request(references, interval)
        call = self._stub.WatchTags(request, timeout=timeout, metadata=self._metadata())
        try:
            yield from call
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.connection.target) from None
        finally:
            call.cancel()


__all__ = ["ImagepinError", "ResolverClient", "open_channel"]
