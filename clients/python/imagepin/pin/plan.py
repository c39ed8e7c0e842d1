"""What to do with each image: pin it, leave it, or report it (moved tag, failed lookup).

Pure decisions from the service's batch results (or a lock file); no I/O here.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from imagepin.messages import BatchResult
from imagepin.pin.lockfile import LockEntry
from imagepin.pin.references import is_pinned, pin_reference, split_digest, tag_reference
from imagepin.pin.sites import ImageSite
from imagepin.platforms import format_platform
from imagepin.v1 import resolver_pb2


class Status(Enum):
    PIN = "pin"  # unpinned; `digest` is what it resolves to
    OK = "ok"  # already pinned, and its tag (if any) still points there
    MOVED = "moved"  # already pinned, but its tag points elsewhere now
    FAILED = "failed"  # could not be resolved (or is missing from the lock)
    UPDATED = "updated"  # pinned, its tag moved, and (pin --update) `digest` is the new pin


@dataclass(frozen=True)
class Outcome:
    image: str
    status: Status
    digest: str = ""  # the digest to pin to (PIN) or that the tag points at now
    error: str = ""
    error_code: str = ""  # gRPC status name, for exit codes
    normalized: str = ""
    resolved_at: str = ""
    child_for: str = ""  # OK: the pin is this platform's child of the index the tag points at
    platform: str = ""  # the platform this image was resolved for, when not the command's own

    @property
    def pinned(self) -> str:
        return pin_reference(self.image, self.digest)


def unique_images(sites: Iterable[ImageSite]) -> list[str]:
    return list(dict.fromkeys(site.image for site in sites))


def query_for(image: str) -> str:
    """What to ask the service: the image, or for a pinned one the tag it claims to be."""
    if is_pinned(image):
        return tag_reference(image) or image
    return image


def from_results(images: Sequence[str], results: Sequence[BatchResult]) -> dict[str, Outcome]:
    """Outcomes from one batch of `query_for(image)` results, in the same order."""
    outcomes = {}
    for image, result in zip(images, results, strict=True):
        if result.error is not None or result.resolution is None:
            error = result.error
            outcomes[image] = Outcome(
                image,
                Status.FAILED,
                error=str(error.message if error else "no answer"),
                error_code=error.code.name if error else "UNKNOWN",
            )
            continue
        resolution = result.resolution
        observed = (
            resolution.observed_at.ToDatetime(datetime.UTC).isoformat().replace("+00:00", "Z")
            if resolution.HasField("observed_at")
            else _now()
        )
        status, child_for = Status.PIN, ""
        if is_pinned(image):
            status, child_for = _check_pin(split_digest(image)[1], resolution)
        outcomes[image] = Outcome(
            image,
            status,
            digest=resolution.digest,
            normalized=resolution.normalized_reference,
            resolved_at=observed,
            child_for=child_for,
        )
    return outcomes


def _check_pin(
    pinned: str, resolution: resolver_pb2.ResolveReferenceResponse
) -> tuple[Status, str]:
    """OK when the pin is what the tag points at (the index, or the child chosen for the
    platform asked), or one platform's child of that index; MOVED otherwise."""
    if pinned in (resolution.digest, resolution.resolved_digest):
        return Status.OK, ""
    for child in resolution.manifests:
        if child.digest == pinned:
            return Status.OK, format_platform(child.platform) or "an unnamed platform"
    return Status.MOVED, ""


def from_lock(images: Sequence[str], lock: Mapping[str, LockEntry]) -> dict[str, Outcome]:
    """Outcomes from a lock file; pinned images are left as they are (nothing is asked)."""
    outcomes = {}
    for image in images:
        if is_pinned(image):
            outcomes[image] = Outcome(image, Status.OK, digest=split_digest(image)[1])
        elif image in lock:
            entry = lock[image]
            outcomes[image] = Outcome(
                image,
                Status.PIN,
                digest=entry.digest,
                normalized=entry.normalized,
                resolved_at=entry.resolved_at,
            )
        else:
            outcomes[image] = Outcome(
                image, Status.FAILED, error="not in the lock file", error_code="NOT_FOUND"
            )
    return outcomes


def replacements(
    sites: Iterable[ImageSite], outcomes: Mapping[str, Outcome]
) -> dict[ImageSite, str]:
    """The new text of every site whose image gets pinned."""
    return {
        site: site.replacement(outcomes[site.image].digest)
        for site in sites
        if outcomes[site.image].status in (Status.PIN, Status.UPDATED)
    }


def lock_entries(outcomes: Iterable[Outcome], platform: str = "") -> list[LockEntry]:
    """What was resolved, for --lock: every image that has a digest now."""
    return [
        LockEntry(o.image, o.digest, o.normalized, o.platform or platform, o.resolved_at)
        for o in outcomes
        if o.status in (Status.PIN, Status.OK) and not is_pinned(o.image)
    ]


def _now() -> str:
    return (
        datetime.datetime.now(datetime.UTC)
        .replace(microsecond=0)
        .isoformat()
        .replace("+00:00", "Z")
    )
