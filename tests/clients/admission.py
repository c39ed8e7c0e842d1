"""AdmissionReview documents as the Kubernetes API server sends them (admission.k8s.io/v1).

Shapes follow what kube-apiserver really posts: a Pod made by a ReplicaSet has no name (only
generateName), ownerReferences, defaulted fields, and `request.name` empty; an ephemeral container
arrives as an UPDATE on the pods/ephemeralcontainers subresource with the whole Pod.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Any


def _container(name: str, image: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def deployment_pod(
    namespace: str,
    containers: Sequence[tuple[str, str]],
    init_containers: Sequence[tuple[str, str]] = (),
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Pod as a Deployment's ReplicaSet creates it: generateName, no name."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "web-7d9c8b6f5-",
            "namespace": namespace,
            "labels": {"app": "web", "pod-template-hash": "7d9c8b6f5"},
            "annotations": annotations or {},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7d9c8b6f5",
                    "uid": "3f1c2b9e-5d1a-4c1e-9a53-0e8d1b7c6a21",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "initContainers": [_container(n, i) for n, i in init_containers],
            "containers": [_container(n, i) for n, i in containers],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {},
    }


def review(
    obj: dict[str, Any],
    *,
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    sub_resource: str | None = None,
) -> dict[str, Any]:
    """Wrap an object the way the API server does for a mutating webhook."""
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
        "name": obj["metadata"].get("name", ""),
        "namespace": obj["metadata"]["namespace"],
        "operation": operation,
        "userInfo": {
            "username": "system:serviceaccount:kube-system:replicaset-controller",
            "uid": "b5b3c1d2-0f37-4a47-8d0f-6c2f1f0c9a11",
            "groups": ["system:serviceaccounts", "system:authenticated"],
        },
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}
        if operation == "CREATE"
        else {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    if sub_resource:
        request["subResource"] = sub_resource
        request["requestSubResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def with_ephemeral(pod: dict[str, Any], name: str, image: str) -> dict[str, Any]:
    """The same Pod (now running, named) with a debug container added by `kubectl debug`."""
    updated = copy.deepcopy(pod)
    container = _container(name, image)
    container["targetContainerName"] = pod["spec"]["containers"][0]["name"]
    updated["spec"].setdefault("ephemeralContainers", []).append(container)
    return updated
