"""imagepin.v1.ResolverService: thin; each RPC converts, calls a use case, converts back."""

from __future__ import annotations

from typing import Any

from grpc.aio import ServicerContext
from imagepin.v1 import resolver_pb2 as pb
from imagepin.v1 import resolver_pb2_grpc as pb_grpc

from imagepin_server import core
from imagepin_server.api import convert
from imagepin_server.api.interceptors import note

Context = ServicerContext[Any, Any]


class ResolverServicer(pb_grpc.ResolverServiceServicer):
    def __init__(self, deps: core.Dependencies) -> None:
        self._deps = deps

    async def ResolveReference(  # noqa: N802 - the name is the RPC's
        self, request: pb.ResolveReferenceRequest, context: Context
    ) -> pb.ResolveReferenceResponse:
        platform = convert.platform_from_proto(request)
        resolution = await core.resolve(self._deps, request.reference, platform)
        note(registry=resolution.reference.registry)
        return convert.resolution_to_proto(resolution)

    async def GetManifest(  # noqa: N802
        self, request: pb.GetManifestRequest, context: Context
    ) -> pb.GetManifestResponse:
        platform = convert.platform_from_proto(request)
        view = await core.get_manifest(self._deps, request.reference, platform)
        note(registry=view.reference.registry)
        return convert.manifest_to_proto(view)

    async def ListLayers(  # noqa: N802
        self, request: pb.ListLayersRequest, context: Context
    ) -> pb.ListLayersResponse:
        platform = convert.platform_from_proto(request)
        listing = await core.list_layers(self._deps, request.reference, platform)
        note(registry=listing.reference.registry)
        return convert.layers_to_proto(listing)

    async def VerifyDigest(  # noqa: N802
        self, request: pb.VerifyDigestRequest, context: Context
    ) -> pb.VerifyDigestResponse:
        platform = convert.platform_from_proto(request)
        verification = await core.verify(
            self._deps,
            request.reference,
            request.expected_digest,
            include_layers=request.include_layers,
            platform=platform,
        )
        note(
            registry=verification.reference.registry,
            digest=str(verification.actual),
            verified=str(verification.verified).lower(),
        )
        return convert.verification_to_proto(verification)
