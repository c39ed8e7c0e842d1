"""AdmissionReview (admission.k8s.io/v1) in, AdmissionReview with a JSONPatch out.

Pure: which images a request asks to run, and the response given what the service said.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from imagepin.pin.images import CONTAINER_LISTS, POD_SPEC_PATHS
from imagepin.pin.references import is_pinned, pin_reference
from imagepin.webhook.policy import Decision, FailurePolicy, Mode, Settings

API_VERSION: Final = "admission.k8s.io/v1"
WORKLOAD_KINDS: Final = frozenset(POD_SPEC_PATHS) - {"Pod"}


@dataclass(frozen=True)
class ImageField:
    """One container image in the object, by JSON pointer."""

    pointer: str  # e.g. /spec/initContainers/0/image
    image: str
    container: str  # e.g. initContainers[0] (setup), for messages


@dataclass(frozen=True)
class Plan:
    """The images of a request that need pinning (empty: allow as it is)."""

    uid: str
    fields: tuple[ImageField, ...]
    annotations: Mapping[str, str]
    subject: str  # "Pod web-7d9c-" — who the messages are about
    considered: bool = False  # the object is one the webhook looks at (kind, namespace, operation)


@dataclass(frozen=True)
class Resolved:
    """What the service said about one image: a digest, or why not."""

    digest: str = ""
    error: str = ""


def plan(request: Mapping[str, Any], settings: Settings) -> Plan:
    """The images to pin: unpinned, not excluded, and (on UPDATE) changed by this request."""
    uid = str(request.get("uid", ""))
    obj = request.get("object") or {}
    metadata = obj.get("metadata") or {}
    kind = str((request.get("kind") or {}).get("kind") or obj.get("kind") or "")
    name = metadata.get("name") or request.get("name") or metadata.get("generateName") or "?"
    subject = f"{kind} {name}"
    annotations = metadata.get("annotations") or {}
    nothing = Plan(uid, (), annotations, subject)
    if request.get("operation") not in ("CREATE", "UPDATE"):
        return nothing
    if request.get("namespace", metadata.get("namespace")) in settings.excluded_namespaces:
        return nothing
    if kind != "Pod" and not (settings.workload_templates and kind in WORKLOAD_KINDS):
        return nothing
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        return nothing
    before = _images_by_container(_dig(request.get("oldObject"), path))
    fields = []
    spec = _dig(obj, path)
    prefix = "/" + "/".join(path)
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate((spec or {}).get(list_name) or []):
            image = container.get("image")
            if not isinstance(image, str) or not image or is_pinned(image):
                continue
            if settings.image_excluded(image):
                continue
            # An UPDATE that leaves an image as it was must not change it: that would restart
            # a running container just because some label changed.
            if before.get((list_name, container.get("name"))) == image:
                continue
            fields.append(
                ImageField(
                    f"{prefix}/{list_name}/{index}/image",
                    image,
                    f"{list_name}[{index}] ({container.get('name', '?')})",
                )
            )
    fields.extend(_volume_fields(spec, before, prefix, settings))
    return Plan(uid, tuple(fields), annotations, subject, considered=True)


def _volume_fields(
    spec: Any, before: Mapping[tuple[str, Any], Any], prefix: str, settings: Settings
) -> list[ImageField]:
    """Image volumes (`volumes[].image.reference`): an image the Pod mounts is run as much as
    a container's."""
    fields = []
    for index, volume in enumerate((spec or {}).get("volumes") or []):
        source = volume.get("image") if isinstance(volume, Mapping) else None
        image = source.get("reference") if isinstance(source, Mapping) else None
        if not isinstance(image, str) or not image or is_pinned(image):
            continue
        if settings.image_excluded(image) or before.get(("volumes", volume.get("name"))) == image:
            continue
        fields.append(
            ImageField(
                f"{prefix}/volumes/{index}/image/reference",
                image,
                f"volumes[{index}] ({volume.get('name', '?')})",
            )
        )
    return fields


def respond(
    plan: Plan,
    decision: Decision,
    resolved: Mapping[str, Resolved],
    service_error: str = "",
) -> dict[str, Any]:
    """The AdmissionReview to send back."""
    warnings = list(decision.notes)
    patch = []
    failures = []
    for field in plan.fields:
        answer = resolved.get(field.image, Resolved(error=service_error or "no answer"))
        if answer.digest:
            pinned = pin_reference(field.image, answer.digest)
            patch.append({"op": "replace", "path": field.pointer, "value": pinned})
            if decision.mode is Mode.WARN:
                warnings.append(f"imagepin: would pin {field.image} to {pinned}")
        else:
            failures.append((field, answer.error))
    for field, error in failures:
        warnings.append(f"imagepin: could not pin {field.image} ({field.container}): {error}")
    if (
        failures
        and decision.failure_policy is FailurePolicy.CLOSED
        and decision.mode is Mode.ENFORCE
    ):
        return review(plan.uid, allowed=False, message=_denial(plan, failures))
    if decision.mode is Mode.WARN or not patch:
        return review(plan.uid, warnings=warnings)
    return review(plan.uid, patch=patch, warnings=warnings)


def allow(uid: str) -> dict[str, Any]:
    return review(uid)


def review(
    uid: str,
    *,
    allowed: bool = True,
    patch: list[dict[str, str]] | None = None,
    warnings: list[str] | None = None,
    message: str = "",
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    if warnings:
        response["warnings"] = warnings
    if not allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _denial(plan: Plan, failures: list[tuple[ImageField, str]]) -> str:
    images = "; ".join(f"{f.image} ({f.container}): {error}" for f, error in failures)
    return (
        f"imagepin could not pin the images of {plan.subject} to digests, and this namespace "
        f"requires pinned images: {images}. Pin them yourself (`imagepin pin` rewrites manifests "
        "to name:tag@sha256:…), or retry once the imagepin service is reachable."
    )


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _images_by_container(spec: Any) -> dict[tuple[str, Any], Any]:
    if not isinstance(spec, Mapping):
        return {}
    images = {
        (list_name, container.get("name")): container.get("image")
        for list_name in CONTAINER_LISTS
        for container in spec.get(list_name) or []
        if isinstance(container, Mapping)
    }
    for volume in spec.get("volumes") or []:
        if isinstance(volume, Mapping) and isinstance(volume.get("image"), Mapping):
            images[("volumes", volume.get("name"))] = volume["image"].get("reference")
    return images
