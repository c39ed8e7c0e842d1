"""imagepin.v1.ResolverService: thin; each RPC converts (once, here), calls a use case, converts
back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from grpc.aio import ServicerContext
from imagepin.v1 import resolver_pb2 as pb
from imagepin.v1 import resolver_pb2_grpc as pb_grpc

from imagepin_server import core
from imagepin_server.api import convert
from imagepin_server.api.fastpath import WarmAnswers
from imagepin_server.api.interceptors import note

Context = ServicerContext[Any, Any]
BATCH_BUDGET_SHARE: Final = 0.9


class ResolverServicer(pb_grpc.ResolverServiceServicer):
    def __init__(
        self,
        deps: core.Dependencies,
        *,
        watcher: core.TagWatcher,
        warm: WarmAnswers | None = None,
    ) -> None:
        self._deps = deps
        self._watcher = watcher
        self._warm = warm  # told of each answer, so a warm repeat skips all of this

    async def ResolveReference(  # noqa: N802 - the name is the RPC's
        self, request: pb.ResolveReferenceRequest, context: Context
    ) -> pb.ResolveReferenceResponse:
        platform = convert.platform_from_proto(request)
        resolution = await core.resolve_with_rollout(
            self._deps,
            convert.parse_reference(request.reference),
            platform,
            rollout_key=request.rollout_key,
            max_staleness=convert.duration_from_proto(request, "max_staleness"),
            stale_if_error=convert.duration_from_proto(request, "stale_if_error"),
            max_negative_age=convert.duration_from_proto(request, "max_negative_age"),
            include_children=request.include_children,
        )
        note(registry=resolution.reference.registry, source=resolution.source.value)
        if self._warm is not None:
            self._warm.remember(request, resolution)
        return convert.resolution_to_proto(resolution)

    async def GetManifest(  # noqa: N802
        self, request: pb.GetManifestRequest, context: Context
    ) -> pb.GetManifestResponse:
        platform = convert.platform_from_proto(request)
        ref = convert.parse_reference(request.reference)
        view = await core.get_manifest(self._deps, ref, platform)
        note(registry=view.reference.registry)
        return convert.manifest_to_proto(view)

    async def ListLayers(  # noqa: N802
        self, request: pb.ListLayersRequest, context: Context
    ) -> pb.ListLayersResponse:
        platform = convert.platform_from_proto(request)
        ref = convert.parse_reference(request.reference)
        listing = await core.list_layers(self._deps, ref, platform)
        note(registry=listing.reference.registry)
        return convert.layers_to_proto(listing)

    async def VerifyDigest(  # noqa: N802
        self, request: pb.VerifyDigestRequest, context: Context
    ) -> pb.VerifyDigestResponse:
        platform = convert.platform_from_proto(request)
        ref = convert.parse_reference(request.reference)
        verification = await core.verify(
            self._deps,
            ref,
            convert.expected_digest(ref, request.expected_digest),
            include_layers=request.include_layers,
            platform=platform,
            mode=convert.verify_mode_from_proto(request),
        )
        note(
            registry=verification.reference.registry,
            digest=str(verification.actual),
            verified=str(verification.verified).lower(),
        )
        return convert.verification_to_proto(verification)

    async def BatchResolveReferences(  # noqa: N802
        self, request: pb.BatchResolveReferencesRequest, context: Context
    ) -> pb.BatchResolveReferencesResponse:
        items = convert.batch_items_from_proto(request)
        remaining = context.time_remaining()
        # Leave time to send the per-item answers before the caller's deadline.
        budget = remaining * BATCH_BUDGET_SHARE if remaining is not None else None
        outcomes = await core.resolve_many(self._deps, items, budget_s=budget)
        note(items=len(items), failed=sum(1 for o in outcomes if o.error is not None))
        return convert.batch_to_proto(outcomes)

    async def ListTagHistory(  # noqa: N802
        self, request: pb.ListTagHistoryRequest, context: Context
    ) -> pb.ListTagHistoryResponse:
        as_of = convert.timestamp_from_proto(request, "as_of")
        history = await core.tag_history(
            self._deps, convert.parse_reference(request.reference), as_of=as_of, limit=request.limit
        )
        note(registry=history.reference.registry, entries=len(history.moves))
        return convert.history_to_proto(history)

    async def ListImagesWithLayer(  # noqa: N802
        self, request: pb.ListImagesWithLayerRequest, context: Context
    ) -> pb.ListImagesWithLayerResponse:
        digest = convert.parse_digest(request.digest, field="digest")
        images = await core.images_with_layer(self._deps, digest, limit=request.limit)
        note(images=len(images))
        return convert.images_with_layer_to_proto(images)

    async def ListTags(  # noqa: N802
        self, request: pb.ListTagsRequest, context: Context
    ) -> pb.ListTagsResponse:
        page = await core.list_tags(
            self._deps,
            convert.parse_repository(request.reference),
            page_size=request.page_size,
            page_token=request.page_token,
            filter=request.filter,
            max_staleness=convert.duration_from_proto(request, "max_staleness"),
        )
        note(registry=page.repository.registry, tags=len(page.tags))
        return convert.tag_page_to_proto(page)

    async def SelectTag(  # noqa: N802
        self, request: pb.SelectTagRequest, context: Context
    ) -> pb.SelectTagResponse:
        selection = await core.select_tag(
            self._deps,
            convert.parse_repository(request.reference),
            convert.tag_policy_from_proto(request),
            pattern=request.pattern,
            extract=request.extract,
            platform=convert.platform_from_proto(request),
            max_staleness=convert.duration_from_proto(request, "max_staleness"),
        )
        note(registry=selection.resolution.reference.registry, tag=selection.tag)
        return convert.selection_to_proto(selection)

    async def ListReferrers(  # noqa: N802
        self, request: pb.ListReferrersRequest, context: Context
    ) -> pb.ListReferrersResponse:
        listing = await core.list_referrers(
            self._deps,
            convert.parse_reference(request.reference),
            artifact_type=request.artifact_type,
            include_children=request.include_children,
        )
        note(
            registry=listing.reference.registry,
            digest=str(listing.digest),
            referrers=len(listing.referrers),
        )
        return convert.referrers_to_proto(listing)

    async def VerifySignatures(  # noqa: N802
        self, request: pb.VerifySignaturesRequest, context: Context
    ) -> pb.VerifySignaturesResponse:
        verification = await core.verify_signatures(
            self._deps,
            convert.parse_reference(request.reference),
            convert.platform_from_proto(request),
            public_keys=list(request.public_keys),
            policy=request.policy,
        )
        note(
            registry=verification.reference.registry,
            digest=str(verification.digest),
            verified=str(verification.verified).lower(),
        )
        return convert.signatures_to_proto(verification)

    async def WatchTags(  # noqa: N802
        self, request: pb.WatchTagsRequest, context: Context
    ) -> AsyncIterator[pb.TagEvent]:
        refs, interval = core.watch_request(
            convert.parse_tag_references(request.references, purpose="watching"),
            convert.duration_from_proto(request, "interval"),
        )
        note(tags=len(refs), interval_s=interval.total_seconds())
        async for event in self._watcher.watch(refs, interval):
            yield convert.tag_event_to_proto(event)
