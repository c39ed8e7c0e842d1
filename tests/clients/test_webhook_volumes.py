"""The admission webhook pins image volumes (`volumes[].image.reference`) as it pins containers:
real AdmissionReviews over real TLS to `imagepin webhook`, the JSONPatch applied as the API
server would."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients import admission
from tests.clients.test_webhook import Webhook, patched, start_webhook, stop
from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer


@pytest.fixture(scope="module")
def volumes_webhook(
    tmp_path_factory: pytest.TempPathFactory, service: RunningServer
) -> Iterator[Webhook]:
    hook = start_webhook(tmp_path_factory.mktemp("volumes"), service.target, "--workload-templates")
    yield hook
    stop(hook)


def with_volumes(obj: dict[str, Any], *volumes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    admission.pod_spec(out)["volumes"] = list(volumes)
    return out


def image_volume(name: str, reference: str) -> dict[str, Any]:
    return {"name": name, "image": {"reference": reference, "pullPolicy": "IfNotPresent"}}


def test_image_volumes_of_a_pod_are_pinned_by_json_patch_at_their_reference(
    volumes_webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    single, app_a, zstd = pushed_images.single, pushed_images.app_a, pushed_images.zstd
    already = f"{zstd.reference}@{zstd.digest}"
    pod = with_volumes(
        admission.deployment_pod("shop", containers=[("app", single.reference)]),
        {"name": "cache", "emptyDir": {}},
        image_volume("models", app_a.reference),
        image_volume("tools", already),
    )
    document = admission.review(pod)
    response = volumes_webhook.review(document)
    operations = json.loads(base64.b64decode(response["patch"]))
    assert {"op": "replace", "path": "/spec/volumes/1/image/reference",
            "value": f"{app_a.reference}@{app_a.digest}"} in operations  # fmt: skip
    assert len(operations) == 2  # the container and the one unpinned volume
    result = patched(document, response)
    volumes = result["spec"]["volumes"]
    assert [v.get("image", {}).get("reference") for v in volumes] == [
        None,
        f"{app_a.reference}@{app_a.digest}",
        already,
    ]
    restored = copy.deepcopy(result)
    restored["spec"]["containers"][0]["image"] = single.reference
    restored["spec"]["volumes"][1]["image"]["reference"] = app_a.reference
    assert restored == pod  # nothing else changed


def test_a_template_update_pins_only_the_image_volumes_it_changes(
    volumes_webhook: Webhook, pushed_images: ImageCatalog
) -> None:
    single, app_a, app_b = pushed_images.single, pushed_images.app_a, pushed_images.app_b
    pinned_single = f"{single.reference}@{single.digest}"
    old = with_volumes(
        admission.workload("Deployment", "shop", containers=[("app", pinned_single)]),
        image_volume("models", app_a.reference),
        image_volume("data", app_b.reference),
    )
    new = copy.deepcopy(old)
    admission.pod_spec(new)["volumes"][1]["image"]["reference"] = single.reference
    document = admission.review(new, operation="UPDATE", old=old)
    result = patched(document, volumes_webhook.review(document))
    assert [v["image"]["reference"] for v in admission.pod_spec(result)["volumes"]] == [
        app_a.reference,  # unchanged by this update: pinning it would roll every Pod
        pinned_single,
    ]
