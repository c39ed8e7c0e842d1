"""`--require-signature POLICY`: a Pod runs only images signed under a trust policy.

Every image the Pod will run is checked by the digest it runs at: those the webhook pins (at the
digest it pins them to) and those already pinned in the manifest (a digest written by hand is no
way around the policy). The policy is the service's (IMAGEPIN_TRUST_POLICIES_FILE); the flag sets
it for every namespace, and a namespace's webhook entry may ask for another with the query
parameter `require-signature=POLICY`. An object's annotation cannot turn it off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from imagepin.aio import AsyncResolverClient
from imagepin.errors import ImagepinError
from imagepin.pin.images import CONTAINER_LISTS, POD_SPEC_PATHS
from imagepin.pin.references import is_pinned
from imagepin.webhook import review
from imagepin.webhook.policy import Decision, FailurePolicy, Mode, Settings

QUERY_KEY: Final = "require-signature"
CONCURRENT_CHECKS: Final = 8


@dataclass(frozen=True)
class Target:
    """One image to check: as the Pod names it, where, and the pinned reference to verify."""

    image: str
    container: str
    pinned: str


@dataclass(frozen=True)
class Outcome:
    """Which targets have no valid signature (with why), or why the service could not say."""

    unsigned: tuple[tuple[Target, str], ...] = ()
    service_error: str = ""


def policy_for(settings: Settings, query: Mapping[str, str]) -> str:
    """The namespace's webhook entry (query parameter), else the flag; "" requires none."""
    return query.get(QUERY_KEY, settings.require_signature).strip()


def pinned_images(request: Mapping[str, Any], settings: Settings) -> list[Target]:
    """The images of a Pod (or template) already pinned by digest and not excluded."""
    obj = request.get("object") or {}
    kind = str((request.get("kind") or {}).get("kind") or obj.get("kind") or "")
    path = POD_SPEC_PATHS.get(kind)
    spec: Any = obj
    for key in path or ():
        spec = spec.get(key) if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping):
        return []
    found = []
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(list_name) or []):
            image = container.get("image") if isinstance(container, Mapping) else None
            if isinstance(image, str) and is_pinned(image) and not settings.image_excluded(image):
                label = f"{list_name}[{index}] ({container.get('name', '?')})"
                found.append(Target(image, label, image))
    for index, volume in enumerate(spec.get("volumes") or []):
        source = volume.get("image") if isinstance(volume, Mapping) else None
        image = source.get("reference") if isinstance(source, Mapping) else None
        if isinstance(image, str) and is_pinned(image) and not settings.image_excluded(image):
            label = f"volumes[{index}] ({volume.get('name', '?')})"
            found.append(Target(image, label, image))
    return found


async def check(
    client: AsyncResolverClient, policy: str, targets: Sequence[Target], budget_s: float
) -> Outcome:
    """Verify every distinct pinned reference under `policy`, within the budget."""
    gate = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def verdict(pinned: str) -> str:
        async with gate:
            answer = await client.verify_signatures(pinned, policy=policy, timeout=budget_s)
        if answer.verified:
            return ""
        errors = [s.error for s in answer.signatures if s.error]
        return errors[0] if errors else "no signature found"

    references = list(dict.fromkeys(t.pinned for t in targets))
    try:
        async with asyncio.timeout(budget_s):
            verdicts = await asyncio.gather(*(verdict(r) for r in references))
    except TimeoutError:
        return Outcome(service_error=f"the imagepin service did not answer within {budget_s:g}s")
    except ImagepinError as error:
        return Outcome(service_error=f"the imagepin service could not check signatures ({error})")
    by_reference = dict(zip(references, verdicts, strict=True))
    return Outcome(
        unsigned=tuple((t, by_reference[t.pinned]) for t in targets if by_reference[t.pinned])
    )


def denial(subject: str, policy: str, outcome: Outcome) -> str:
    """Why a Pod is refused, naming every image and the policy."""
    if outcome.service_error:
        return (
            f"imagepin could not check the signatures of {subject} under trust policy "
            f"{policy!r}, and this namespace requires them: {outcome.service_error}"
        )
    images = "; ".join(f"{t.pinned} ({t.container}): {why}" for t, why in outcome.unsigned)
    return (
        f"imagepin: {subject} runs images with no valid signature under trust policy "
        f"{policy!r}: {images}"
    )


def warnings(policy: str, outcome: Outcome) -> list[str]:
    """What warn mode (or fail-open, when the service fails) reports instead of denying."""
    if outcome.service_error:
        return [f"imagepin: could not check signatures under {policy!r}: {outcome.service_error}"]
    return [
        f"imagepin: {t.pinned} ({t.container}) has no valid signature under trust policy "
        f"{policy!r}: {why}"
        for t, why in outcome.unsigned
    ]


def require_signatures(
    answer: dict[str, Any],
    plan: review.Plan,
    decision: Decision,
    policy: str,
    outcome: Outcome,
) -> dict[str, Any]:
    """The answer once signatures were checked: unsigned images deny the Pod (enforce mode);
    a service that could not check follows the failure policy; warn mode only reports."""
    response = answer["response"]
    if not outcome.unsigned and not outcome.service_error:
        return answer
    deny = decision.mode is Mode.ENFORCE and (
        bool(outcome.unsigned) or decision.failure_policy is FailurePolicy.CLOSED
    )
    if deny:
        return review.review(plan.uid, allowed=False, message=denial(plan.subject, policy, outcome))
    response["warnings"] = [*response.get("warnings", []), *warnings(policy, outcome)]
    return answer
