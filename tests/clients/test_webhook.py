"""The admission webhook as the API server uses it: real AdmissionReviews over real TLS.

The webhook runs as `imagepin webhook` (a subprocess, as in the cluster) against the real
service; the JSONPatch it returns is applied with the jsonpatch library, as the API server would.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest
from cryptography import x509

from tests.clients import admission
from tests.support.image_fixtures import ImageCatalog
from tests.support.pki import CA, issue_server_cert, make_ca
from tests.support.registries import free_port
from tests.support.server_fixtures import RunningServer, start_server, stop_server

IMAGEPIN = str(Path(sys.executable).with_name("imagepin"))
OWN_NAMESPACE = "imagepin-system"


@dataclass
class Webhook:
    process: subprocess.Popen[bytes]
    url: str
    ca: CA
    cert_dir: Path

    def review(self, document: dict[str, Any], query: str = "") -> dict[str, Any]:
        answer = httpx.post(
            f"{self.url}/mutate{query}",
            json=document,
            verify=ssl.create_default_context(cafile=str(self.ca.cert_path)),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["apiVersion"] == "admission.k8s.io/v1"
        assert body["kind"] == "AdmissionReview"
        assert body["response"]["uid"] == document["request"]["uid"]
        return body["response"]  # type: ignore[no-any-return]


def start_webhook(workdir: Path, target: str, *extra: str) -> Webhook:
    ca = make_ca(workdir / "ca")
    issued = issue_server_cert(ca, workdir / "tls", name="webhook")
    port = free_port()
    log = (workdir / "webhook.log").open("wb")
    process = subprocess.Popen(
        [
            IMAGEPIN, "webhook",
            "--listen", f"127.0.0.1:{port}",
            "--tls-cert-file", str(issued.cert_path),
            "--tls-key-file", str(issued.key_path),
            "--server", target,
            "--namespace", OWN_NAMESPACE,
            "--exclude-namespace", "legacy",
            "--exclude-image", "registry.k8s.io/*",
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "IMAGEPIN_TOKEN": "test-token"},
    )  # fmt: skip
    hook = Webhook(process, f"https://127.0.0.1:{port}", ca, workdir / "tls")
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, (workdir / "webhook.log").read_text()
        try:
            httpx.get(f"{hook.url}/healthz", verify=context, timeout=1).raise_for_status()
            return hook
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError((workdir / "webhook.log").read_text())


def stop(hook: Webhook) -> None:
    hook.process.terminate()
    hook.process.wait(timeout=15)


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory, service: RunningServer) -> Iterator[Webhook]:
    hook = start_webhook(tmp_path_factory.mktemp("webhook"), service.target)
    yield hook
    stop(hook)


@pytest.fixture(scope="module")
def template_webhook(
    tmp_path_factory: pytest.TempPathFactory, service: RunningServer
) -> Iterator[Webhook]:
    """A webhook that also pins workload templates (--workload-templates)."""
    hook = start_webhook(
        tmp_path_factory.mktemp("templates"), service.target, "--workload-templates"
    )
    yield hook
    stop(hook)


@pytest.fixture(scope="module")
def stranded_webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    """A webhook whose service has been stopped (a real server, started then stopped)."""
    workdir = tmp_path_factory.mktemp("stranded")
    stopped = start_server(workdir / "server")
    stop_server(stopped)
    hook = start_webhook(workdir, stopped.target, "--budget", "0.5")
    yield hook
    stop(hook)


def patched(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The object after the API server applies the response's JSONPatch."""
    assert response["allowed"] is True
    obj = document["request"]["object"]
    if "patch" not in response:
        return obj  # type: ignore[no-any-return]
    assert response["patchType"] == "JSONPatch"
    patch = jsonpatch.JsonPatch(json.loads(base64.b64decode(response["patch"])))
    return patch.apply(obj)  # type: ignore[no-any-return]


def pinned(image: str, digest: str) -> str:
    return f"{image}@{digest}"


def images_put_back(result: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """`result` with the images of `original`: equal to it when the patch changed nothing else."""
    restored = copy.deepcopy(result)
    spec, before = admission.pod_spec(restored), admission.pod_spec(original)
    for section in ("containers", "initContainers"):
        for container, old in zip(spec[section], before[section], strict=True):
            container["image"] = old["image"]
    return restored


def test_pod_from_deployment_gets_every_image_pinned_keeping_tags(
    webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    single, busybox, multi = pushed_images.single, pushed_images.schema2, pushed_images.index
    pod = admission.deployment_pod(
        "shop",
        containers=[("app", single.reference), ("sidecar", multi.reference)],
        init_containers=[("setup", busybox.reference)],
    )
    document = admission.review(pod)
    response = webhook.review(document)
    result = patched(document, response)
    spec = result["spec"]
    assert spec["containers"][0]["image"] == pinned(single.reference, single.digest)
    # a multi-platform image is pinned to its index, so every node still gets its platform
    assert spec["containers"][1]["image"] == pinned(multi.reference, multi.digest)
    assert spec["initContainers"][0]["image"] == pinned(busybox.reference, busybox.digest)
    assert images_put_back(result, pod) == pod  # nothing else changed
    assert "warnings" not in response


def test_ephemeral_container_added_by_kubectl_debug_is_pinned(
    webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    single, debug = pushed_images.single, pushed_images.app_a
    running = admission.deployment_pod(
        "shop", containers=[("app", pinned(single.reference, single.digest))]
    )
    running["metadata"]["name"] = "web-7d9c8b6f5-x2x9q"
    updated = admission.with_ephemeral(running, "debugger-abc12", debug.reference)
    document = admission.review(
        updated, operation="UPDATE", old=running, sub_resource="ephemeralcontainers"
    )
    result = patched(document, webhook.review(document))
    assert result["spec"]["ephemeralContainers"][0]["image"] == pinned(
        debug.reference, debug.digest
    )
    assert result["spec"]["containers"] == updated["spec"]["containers"]


def test_already_pinned_image_is_untouched(webhook: Webhook, pushed_images: ImageCatalog) -> None:
    single = pushed_images.single
    image = pinned(single.reference, single.digest)
    document = admission.review(admission.deployment_pod("shop", containers=[("app", image)]))
    response = webhook.review(document)
    assert "patch" not in response
    assert response["allowed"] is True


def test_update_leaves_an_unchanged_unpinned_image_alone(
    webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    """Pinning it would change the image of a running container and restart it."""
    old = admission.deployment_pod("shop", containers=[("app", pushed_images.single.reference)])
    old["metadata"]["name"] = "web-7d9c8b6f5-x2x9q"
    new = json.loads(json.dumps(old))
    new["metadata"]["labels"]["team"] = "payments"
    response = webhook.review(admission.review(new, operation="UPDATE", old=old))
    assert "patch" not in response


def test_workload_templates_are_left_alone_by_default(
    webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    """Pinning them would make GitOps tools see drift; the Pods they make are pinned instead."""
    deployment = admission.workload("Deployment", "shop", [("app", pushed_images.single.reference)])
    document = admission.review(deployment)
    assert webhook.review(document) == {"uid": document["request"]["uid"], "allowed": True}


@pytest.mark.parametrize("kind", ["Deployment", "CronJob", "StatefulSet"])
def test_workload_template_gets_every_image_pinned_when_enabled(
    template_webhook: Webhook, pushed_images: ImageCatalog, kind: str
) -> None:
    single, busybox, multi, done = (
        pushed_images.single,
        pushed_images.schema2,
        pushed_images.index,
        pushed_images.app_a,
    )
    already = pinned(done.reference, done.digest)
    obj = admission.workload(
        kind,
        "shop",
        containers=[("app", single.reference), ("sidecar", multi.reference), ("proxy", already)],
        init_containers=[("setup", busybox.reference)],
    )
    document = admission.review(obj)
    response = template_webhook.review(document)
    result = patched(document, response)
    spec = admission.pod_spec(result)
    assert [c["image"] for c in spec["containers"]] == [
        pinned(single.reference, single.digest),
        pinned(multi.reference, multi.digest),
        already,
    ]
    assert spec["initContainers"][0]["image"] == pinned(busybox.reference, busybox.digest)
    assert images_put_back(result, obj) == obj  # nothing else changed
    assert "warnings" not in response


def test_workload_update_pins_only_the_images_it_changes(
    template_webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    """As for Pods: pinning an image the update leaves alone would roll out every Pod."""
    single, busybox, app_a, app_b = (
        pushed_images.single,
        pushed_images.schema2,
        pushed_images.app_a,
        pushed_images.app_b,
    )
    old = admission.workload(
        "Deployment",
        "shop",
        containers=[
            ("app", single.reference),
            ("sidecar", app_a.reference),
            ("proxy", pinned(busybox.reference, busybox.digest)),  # pinned by us at CREATE
        ],
        init_containers=[("setup", busybox.reference)],
    )
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    containers = admission.pod_spec(new)["containers"]
    containers[1]["image"] = app_b.reference
    containers[2]["image"] = busybox.reference  # a GitOps sync puts the tag back
    document = admission.review(new, operation="UPDATE", old=old)
    result = patched(document, template_webhook.review(document))
    spec = admission.pod_spec(result)
    assert [c["image"] for c in spec["containers"]] == [
        single.reference,
        pinned(app_b.reference, app_b.digest),
        pinned(busybox.reference, busybox.digest),
    ]
    assert spec["initContainers"][0]["image"] == busybox.reference
    assert images_put_back(result, new) == new


@pytest.mark.parametrize("namespace", ["legacy", "kube-system", OWN_NAMESPACE])
def test_excluded_namespaces_are_left_alone(
    webhook: Webhook, pushed_images: ImageCatalog, namespace: str
) -> None:
    document = admission.review(
        admission.deployment_pod(namespace, containers=[("app", pushed_images.single.reference)])
    )
    response = webhook.review(document)
    assert response == {"uid": document["request"]["uid"], "allowed": True}


def test_excluded_image_pattern_is_left_alone(
    webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    single = pushed_images.single
    document = admission.review(
        admission.deployment_pod(
            "shop",
            containers=[("app", single.reference), ("proxy", "registry.k8s.io/pause:3.9")],
        )
    )
    result = patched(document, webhook.review(document))
    assert result["spec"]["containers"][0]["image"] == pinned(single.reference, single.digest)
    assert result["spec"]["containers"][1]["image"] == "registry.k8s.io/pause:3.9"


def test_unknown_image_is_allowed_with_a_warning_naming_it(
    webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    missing = f"{pushed_images.registry.host}/nope/missing:1"
    single = pushed_images.single
    document = admission.review(
        admission.deployment_pod("shop", containers=[("app", single.reference), ("x", missing)])
    )
    response = webhook.review(document)
    result = patched(document, response)
    assert result["spec"]["containers"][0]["image"] == pinned(single.reference, single.digest)
    assert result["spec"]["containers"][1]["image"] == missing
    assert any(missing in w and "NOT_FOUND" in w for w in response["warnings"])


def test_warn_mode_changes_nothing_and_reports(
    webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    single = pushed_images.single
    document = admission.review(
        admission.deployment_pod("shop", containers=[("app", single.reference)])
    )
    response = webhook.review(document, "?mode=warn")
    assert response["allowed"] is True
    assert "patch" not in response
    assert response["warnings"] == [
        f"imagepin: would pin {single.reference} to {pinned(single.reference, single.digest)}"
    ]


def test_service_stopped_fail_open_allows_with_warning(
    stranded_webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single.reference
    document = admission.review(admission.deployment_pod("shop", containers=[("app", image)]))
    started = time.monotonic()
    response = stranded_webhook.review(document)
    assert time.monotonic() - started < 2  # the budget (0.5 s) bounds the wait
    assert response["allowed"] is True
    assert "patch" not in response
    assert len(response["warnings"]) == 1
    assert image in response["warnings"][0]
    assert "did not answer within 0.5s" in response["warnings"][0]


@pytest.mark.parametrize("how", ["namespace label (webhook path)", "pod annotation"])
def test_service_stopped_fail_closed_denies_with_an_actionable_message(
    stranded_webhook: Webhook, pushed_images: ImageCatalog, how: str
) -> None:
    image = pushed_images.single.reference
    annotations = {"imagepin.dev/failure-policy": "closed"} if how == "pod annotation" else {}
    pod = admission.deployment_pod("payments", [("app", image)], annotations=annotations)
    document = admission.review(pod)
    query = "/fail-closed" if how.startswith("namespace") else ""
    response = stranded_webhook.review(document, query)
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    message = response["status"]["message"]
    assert image in message
    assert "Pod web-7d9c8b6f5-" in message
    assert "imagepin pin" in message


def test_annotation_can_open_what_the_namespace_closes(
    stranded_webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    pod = admission.deployment_pod(
        "payments",
        [("app", pushed_images.single.reference)],
        annotations={"imagepin.dev/failure-policy": "open"},
    )
    response = stranded_webhook.review(admission.review(pod), "?failure-policy=closed")
    assert response["allowed"] is True


def test_plain_http_is_refused(webhook: Webhook) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(webhook.url.replace("https://", "http://") + "/healthz", timeout=2)


def test_rotated_certificate_is_served_without_restart(webhook: Webhook) -> None:
    port = int(webhook.url.rsplit(":", 1)[1])
    before = _served_certificate(port, webhook.ca)
    fresh = issue_server_cert(webhook.ca, webhook.cert_dir, name="webhook")
    assert fresh.cert.serial_number != before.serial_number
    deadline = time.monotonic() + 5
    while _served_certificate(port, webhook.ca).serial_number != fresh.cert.serial_number:
        assert time.monotonic() < deadline, "the rotated certificate was never served"
        time.sleep(0.2)


def _served_certificate(port: int, ca: CA) -> x509.Certificate:
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)
