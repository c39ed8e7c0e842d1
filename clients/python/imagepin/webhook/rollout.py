"""The rollout a Pod belongs to, so every Pod of one rollout is pinned to one digest.

The key is the uid of the Pod's controller (its `ownerReference` with `controller: true`): a
ReplicaSet, a Job, or a StatefulSet or DaemonSet. A Deployment makes a new ReplicaSet (a new
uid) for each rollout, so each rollout gets the digest its first Pod got. A StatefulSet or
DaemonSet keeps its uid across rollouts, so its Pods' `controller-revision-hash` label is added
(`"<uid>/<hash>"`); without the label there is no revision to agree on, and no key. A Pod
without a controller (or anything that is not a Pod) has no key and is resolved afresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

REVISION_LABEL: Final = "controller-revision-hash"
REVISIONED_KINDS: Final = frozenset({"StatefulSet", "DaemonSet"})
KEY_LIMIT: Final = 256  # bytes: the service refuses longer keys


def rollout_key(admission: Mapping[str, Any]) -> str:
    """The rollout key for the Pod of an AdmissionReview request, or "" for none."""
    obj = admission.get("object") or {}
    kind = (admission.get("kind") or {}).get("kind") or obj.get("kind")
    if kind != "Pod":
        return ""  # a workload template is many rollouts, not one
    metadata = obj.get("metadata") or {}
    controller = next(
        (
            owner
            for owner in metadata.get("ownerReferences") or []
            if isinstance(owner, Mapping) and owner.get("controller") is True
        ),
        None,
    )
    if controller is None or not isinstance(controller.get("uid"), str) or not controller["uid"]:
        return ""
    key: str = controller["uid"]
    if controller.get("kind") in REVISIONED_KINDS:
        revision = (metadata.get("labels") or {}).get(REVISION_LABEL)
        if not isinstance(revision, str) or not revision:
            return ""
        key = f"{key}/{revision}"
    # Something the service would refuse is not a rollout anyone can agree on: resolve afresh.
    if len(key.encode("utf-8", errors="surrogatepass")) > KEY_LIMIT or not key.isprintable():
        return ""
    return key
