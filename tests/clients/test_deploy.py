"""k8s/ renders with `kubectl kustomize` and every built-in kind validates against the
Kubernetes schemas; the Dockerfile is multi-stage and runs as a non-root user.

cert-manager's Certificate and Issuer are CRDs, absent from the Kubernetes schemas, so they are
skipped explicitly (and checked by hand for what the webhook relies on).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.34.0"
CRD_KINDS = {("cert-manager.io/v1", "Certificate"), ("cert-manager.io/v1", "Issuer")}

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


def render(target: str) -> list[dict[str, Any]]:
    built = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "k8s" / target)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.fixture(scope="module", params=["base", "overlays/sqlite", "overlays/postgres"])
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def test_every_builtin_object_validates_against_the_schemas(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    validated = skipped = 0
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CRD_KINDS:
            skipped += 1
            continue  # CRDs: not in the Kubernetes schemas
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        validated += 1
    assert {(o["apiVersion"], o["kind"]) for o in objects} >= CRD_KINDS
    assert validated + skipped == len(objects)


# Kinds that live outside any namespace; every other object must be in the base's namespace.
CLUSTER_SCOPED = {"Namespace", "MutatingWebhookConfiguration"}


def test_every_namespaced_object_is_in_the_one_namespace(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """`kubectl apply -k` puts an object without a namespace wherever the context points."""
    _, objects = rendered
    [namespace] = [o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"]
    for obj in objects:
        where = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            assert where is None, f"{obj['kind']}/{obj['metadata']['name']}"
        else:
            assert where == namespace, f"{obj['kind']}/{obj['metadata']['name']}: {where}"


def test_every_claim_a_deployment_mounts_exists_in_its_namespace(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    target, objects = rendered
    claims = {
        (o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in objects
        if o["kind"] == "PersistentVolumeClaim"
    }
    mounted = []
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                mounted.append(claim)
                assert (deployment["metadata"]["namespace"], claim) in claims
    assert bool(mounted) == (target == "overlays/sqlite")


def test_server_is_hardened_and_probed_over_grpc(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    target, objects = rendered
    deployment = by_kind(objects, "Deployment", "imagepin-server")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["grpc"] == {
        "port": 50051,
        "service": "imagepin.v1.ResolverService",
    }
    assert container["livenessProbe"]["grpc"]["port"] == 50051
    assert container["resources"]["requests"]
    replicas = {"base": 2, "overlays/sqlite": 1, "overlays/postgres": 3}[target]
    assert deployment["spec"]["replicas"] == replicas
    by_kind(objects, "PodDisruptionBudget", "imagepin-server")
    by_kind(objects, "NetworkPolicy", "imagepin-server")
    by_kind(objects, "Service", "imagepin")
    if target == "overlays/sqlite":
        claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
        assert by_kind(objects, "PersistentVolumeClaim", claim)
    if target == "overlays/postgres":
        [env] = container["env"]
        assert env["valueFrom"]["secretKeyRef"] == {"name": "imagepin-database", "key": "url"}
        config = by_kind(objects, "ConfigMap", "imagepin-server")
        assert "IMAGEPIN_DATABASE_URL" not in config["data"]


def test_mutating_webhook_configuration(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    configuration = by_kind(objects, "MutatingWebhookConfiguration", "imagepin")
    certificate = by_kind(objects, "Certificate", "imagepin-webhook")
    namespace = certificate["metadata"]["namespace"]
    service = by_kind(objects, "Service", "imagepin-webhook")
    assert f"imagepin-webhook.{namespace}.svc" in certificate["spec"]["dnsNames"]
    assert not certificate["spec"].get("isCA")
    webhook = by_kind(objects, "Deployment", "imagepin-webhook")
    secrets = [v["secret"]["secretName"] for v in webhook["spec"]["template"]["spec"]["volumes"]]
    assert certificate["spec"]["secretName"] in secrets
    _check_certificate_chain(objects, configuration, certificate)
    paths = {}
    for hook in configuration["webhooks"]:
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["timeoutSeconds"] == 5
        assert hook["reinvocationPolicy"] == "IfNeeded"
        assert hook["clientConfig"]["service"]["name"] == service["metadata"]["name"]
        [rule] = hook["rules"]
        assert set(rule["resources"]) == {"pods", "pods/ephemeralcontainers"}
        excluded = next(
            e
            for e in hook["namespaceSelector"]["matchExpressions"]
            if e["key"] == "kubernetes.io/metadata.name"
        )
        assert excluded["operator"] == "NotIn"
        assert set(excluded["values"]) == {namespace, "kube-system"}
        paths[hook["clientConfig"]["service"]["path"]] = hook["failurePolicy"]
    assert paths == {"/mutate": "Ignore", "/mutate/fail-closed": "Fail"}
    args = webhook["spec"]["template"]["spec"]["containers"][0]["args"]
    budget = float(next(a for a in args if a.startswith("--budget=")).split("=")[1])
    assert budget < 5


def _hours(duration: str) -> float:
    """cert-manager durations as this tree writes them: whole hours, e.g. 2160h."""
    assert duration.endswith("h"), duration
    return float(duration[:-1])


def _check_certificate_chain(
    objects: list[dict[str, Any]], configuration: dict[str, Any], serving: dict[str, Any]
) -> None:
    """selfSigned Issuer -> CA Certificate -> CA Issuer -> serving Certificate; the caBundle
    comes from the CA, so renewing the serving certificate never changes what the API server
    trusts (kubelet may still hand the webhook the old Secret for a while)."""
    namespace = serving["metadata"]["namespace"]
    ca_issuer_ref = serving["spec"]["issuerRef"]
    assert ca_issuer_ref["kind"] == "Issuer"
    ca_issuer = by_kind(objects, "Issuer", ca_issuer_ref["name"])
    assert ca_issuer["metadata"]["namespace"] == namespace
    ca_secret = ca_issuer["spec"]["ca"]["secretName"]
    [ca] = [
        o
        for o in objects
        if o["kind"] == "Certificate"
        and o["metadata"]["namespace"] == namespace
        and o["spec"]["secretName"] == ca_secret
    ]
    assert ca["spec"]["isCA"] is True
    root_ref = ca["spec"]["issuerRef"]
    assert root_ref["kind"] == "Issuer"
    assert by_kind(objects, "Issuer", root_ref["name"])["spec"] == {"selfSigned": {}}
    # Long-lived, renewed with the same key: serving certificates it signed before a renewal
    # still verify against the renewed CA.
    assert _hours(ca["spec"]["duration"]) >= 5 * 365 * 24
    assert _hours(ca["spec"]["duration"]) > 4 * _hours(serving["spec"]["duration"])
    assert ca["spec"]["privateKey"]["rotationPolicy"] == "Never"
    assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"{namespace}/{ca['metadata']['name']}"
    )


def test_webhook_spreads_over_nodes_and_drains_before_it_stops(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """Every Pod creation goes through the webhook: a node going down must not take all its
    replicas, and a stopping replica must leave the endpoints before it stops answering."""
    _, objects = rendered
    webhook = by_kind(objects, "Deployment", "imagepin-webhook")
    pod = webhook["spec"]["template"]["spec"]
    labels = webhook["spec"]["template"]["metadata"]["labels"]
    [spread] = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["maxSkew"] == 1
    selector = spread["labelSelector"]["matchLabels"]
    assert selector
    assert all(labels.get(k) == v for k, v in selector.items())
    assert selector == webhook["spec"]["selector"]["matchLabels"]
    [container] = pod["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    drain_s = float(command[1])
    assert 1 <= drain_s <= 10
    # the drain, then aiohttp's 10 s to finish in-flight reviews, within the grace period
    assert drain_s + 10 < pod["terminationGracePeriodSeconds"]


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    """Parsed only: no container engine runs the tests."""
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    stages = [i for i in parser.structure if i["instruction"] == "FROM"]
    assert len(stages) >= 2
    users = [i["value"] for i in parser.structure if i["instruction"] == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    copies = [i["value"] for i in parser.structure if i["instruction"] == "COPY"]
    assert any(c.startswith("--from=build") for c in copies)
