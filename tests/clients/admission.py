"""AdmissionReview documents as the Kubernetes API server sends them (admission.k8s.io/v1).

Shapes follow what kube-apiserver really posts: a Pod made by a ReplicaSet has no name (only
generateName), ownerReferences, defaulted fields, and `request.name` empty; an ephemeral container
arrives as an UPDATE on the pods/ephemeralcontainers subresource with the whole Pod. A workload
arrives defaulted (strategy, revisionHistoryLimit, …) as a person or a GitOps tool applied it.
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


# kind: (group, version, resource)
RESOURCES: dict[str, tuple[str, str, str]] = {
    "Pod": ("", "v1", "pods"),
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "CronJob": ("batch", "v1", "cronjobs"),
}


def _pod_spec(
    containers: Sequence[tuple[str, str]], init_containers: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "initContainers": [_container(n, i) for n, i in init_containers],
        "containers": [_container(n, i) for n, i in containers],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    }


def deployment_pod(
    namespace: str,
    containers: Sequence[tuple[str, str]],
    init_containers: Sequence[tuple[str, str]] = (),
    annotations: dict[str, str] | None = None,
    owner_uid: str | None = None,
) -> dict[str, Any]:
    """A Pod as a Deployment's ReplicaSet creates it: generateName, no name.

    Its ReplicaSet's uid is the webhook's rollout key: a fresh one unless `owner_uid` is given,
    so Pods of separate calls belong to separate rollouts unless a test says otherwise."""
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
                    "uid": owner_uid or str(uuid.uuid4()),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            **_pod_spec(containers, init_containers),
            "serviceAccountName": "default",
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {},
    }


def workload(
    kind: str,
    namespace: str,
    containers: Sequence[tuple[str, str]],
    init_containers: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """A Deployment, StatefulSet or CronJob named web, defaulted as the API server admits it."""
    labels = {"app": "web"}
    template = {
        "metadata": {"labels": labels, "creationTimestamp": None},
        "spec": _pod_spec(containers, init_containers),
    }
    if kind == "Deployment":
        spec: dict[str, Any] = {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": template,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        }
    elif kind == "StatefulSet":
        spec = {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "serviceName": "web",
            "template": template,
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data", "creationTimestamp": None},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                        "volumeMode": "Filesystem",
                    },
                    "status": {"phase": "Pending"},
                }
            ],
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
        }
    elif kind == "CronJob":
        template["spec"]["restartPolicy"] = "OnFailure"
        spec = {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Forbid",
            "suspend": False,
            "jobTemplate": {
                "metadata": {"creationTimestamp": None},
                "spec": {"backoffLimit": 6, "template": template},
            },
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
        }
    else:
        raise ValueError(f"no {kind} here")
    group, version, _ = RESOURCES[kind]
    return {
        "apiVersion": f"{group}/{version}",
        "kind": kind,
        "metadata": {
            "name": "web",
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                "argocd.argoproj.io/tracking-id": f"shop:{group}/{kind}:{namespace}/web"
            },
        },
        "spec": spec,
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
    kind = obj["kind"]
    group, version, resource = RESOURCES[kind]
    # Pods come from the ReplicaSet controller; workloads from a GitOps tool applying them.
    controller = "kube-system:replicaset-controller" if kind == "Pod" else "argocd:argocd-server"
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": obj["metadata"].get("name", ""),
        "namespace": obj["metadata"]["namespace"],
        "operation": operation,
        "userInfo": {
            "username": f"system:serviceaccount:{controller}",
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


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The PodSpec of a Pod, or of a workload's Pod template."""
    path = {"Pod": ["spec"], "CronJob": ["spec", "jobTemplate", "spec", "template", "spec"]}
    spec = obj
    for key in path.get(obj["kind"], ["spec", "template", "spec"]):
        spec = spec[key]
    return spec


def with_ephemeral(pod: dict[str, Any], name: str, image: str) -> dict[str, Any]:
    """The same Pod (now running, named) with a debug container added by `kubectl debug`."""
    updated = copy.deepcopy(pod)
    container = _container(name, image)
    container["targetContainerName"] = pod["spec"]["containers"][0]["name"]
    updated["spec"].setdefault("ephemeralContainers", []).append(container)
    return updated


def statefulset_pod(
    namespace: str, containers: Sequence[tuple[str, str]], *, owner_uid: str, revision: str
) -> dict[str, Any]:
    """A Pod as a StatefulSet creates it: named, with its controller-revision-hash label."""
    pod = deployment_pod(namespace, containers)
    metadata = pod["metadata"]
    del metadata["generateName"]
    metadata["name"] = "db-0"
    metadata["labels"] = {
        "app": "db",
        "controller-revision-hash": revision,
        "statefulset.kubernetes.io/pod-name": "db-0",
        "apps.kubernetes.io/pod-index": "0",
    }
    metadata["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": "db",
            "uid": owner_uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    pod["spec"]["hostname"] = "db-0"
    pod["spec"]["subdomain"] = "db"
    return pod


def bare_pod(namespace: str, containers: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A Pod a person created (kubectl run): named, no controller owner."""
    pod = deployment_pod(namespace, containers)
    metadata = pod["metadata"]
    del metadata["generateName"], metadata["ownerReferences"]
    metadata["name"] = "debug"
    metadata["labels"] = {"run": "debug"}
    return pod
