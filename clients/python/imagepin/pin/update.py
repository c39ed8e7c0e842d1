"""`pin --update`: a new digest for each pin whose tag has moved, of the same kind as the old.

A pin names what its tag pointed at (an index, or a single image), or one platform's image in
an index. An update keeps that: an index digest becomes the tag's new index digest; an image
becomes the image for the same platform now (the child of the tag's new index for the old
image's os/architecture/variant, or the tag's new single image when it is one for that
platform). The old pin's kind is asked of the service by its digest (GetManifest); a pin the
registry no longer has is updated as an unpinned image is pinned, and said so.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from imagepin.errors import ImagepinError, NotFound
from imagepin.pin.plan import Outcome, Status
from imagepin.pin.references import split_digest
from imagepin.platforms import format_platform
from imagepin.v1 import resolver_pb2


class UpdateClient(Protocol):
    """What an update asks of the service (ResolverClient has it)."""

    def get_manifest(
        self, reference: str, *, platform: str | resolver_pb2.Platform | None = ...
    ) -> resolver_pb2.GetManifestResponse: ...

    def resolve(
        self,
        reference: str,
        *,
        platform: str | resolver_pb2.Platform | None = ...,
        max_staleness: datetime.timedelta | float | None = ...,
    ) -> resolver_pb2.ResolveReferenceResponse: ...


@dataclass(frozen=True)
class Update:
    """One pin changed: from its old digest to the new one of the same kind."""

    image: str  # as written, name:tag@old
    new_digest: str
    kind: str  # "index", "image", "image for linux/arm64", or why the kind was not kept


def refresh(
    client: UpdateClient,
    outcomes: Mapping[str, Outcome],
    *,
    max_staleness: datetime.timedelta | float | None = None,
) -> tuple[dict[str, Outcome], list[Update]]:
    """Outcomes with every MOVED pin turned UPDATED (or FAILED), and the updates made."""
    refreshed = dict(outcomes)
    updates = []
    for image, outcome in outcomes.items():
        if outcome.status is not Status.MOVED:
            continue
        try:
            digest, kind = _same_kind(client, image, outcome, max_staleness)
        except ImagepinError as error:
            refreshed[image] = replace(
                outcome,
                status=Status.FAILED,
                error=f"cannot update the pin: {error.message}",
                error_code=error.code.name,
            )
            continue
        refreshed[image] = replace(outcome, status=Status.UPDATED, digest=digest)
        updates.append(Update(image, digest, kind))
    return refreshed, updates


def _same_kind(
    client: UpdateClient,
    image: str,
    outcome: Outcome,
    max_staleness: datetime.timedelta | float | None,
) -> tuple[str, str]:
    name, _ = split_digest(image)
    try:
        old = client.get_manifest(image)  # by the old digest (the digest wins over the tag)
    except NotFound:
        return outcome.digest, "the old pin is gone from the registry: pinned as the tag is now"
    if old.is_index:
        resolved = client.resolve(name, max_staleness=max_staleness)
        return resolved.resolved_digest, "index"
    config = old.image_config
    if old.config_missing or not config.architecture:
        return outcome.digest, "the old pin's platform is unknown: pinned as the tag is now"
    platform = resolver_pb2.Platform(
        os=config.os, architecture=config.architecture, variant=config.variant
    )
    resolved = client.resolve(name, platform=platform, max_staleness=max_staleness)
    if resolved.resolved_digest == resolved.digest:
        return resolved.digest, "image"
    return resolved.digest, f"image for {format_platform(platform)}"
