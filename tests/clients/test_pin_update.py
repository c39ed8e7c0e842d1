"""`imagepin pin --update` against the real service and registry: pins whose tag has moved are
re-pinned to the same kind of digest (an index to the new index, a platform's image to the new
image for that platform, a single image to the new single image), each change reported; lock
entries are refreshed for their own platform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from imagepin.cli import cli

from tests.support.image_fixtures import PushedImage, build_small_image, push_layout
from tests.support.oci_layouts import OciLayout, write_multi_platform_index
from tests.support.registries import RunningRegistry
from tests.support.server_fixtures import RunningServer

ARM64 = "linux/arm64/v8"

POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: web}}   # keep me
spec:
  containers:
    - name: single
      image: {single}
    - name: index
      image: "{index}"
    - name: child
      image: '{child}'
    - name: steady
      image: {steady}
"""


def pin_cli(service: RunningServer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["pin", "--server", service.target, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def push_image(
    registry: RunningRegistry, tmp: Path, name: str, repository: str, tag: str
) -> PushedImage:
    return push_layout(registry, build_small_image(tmp / name, name), repository, tag)


def push_index(
    registry: RunningRegistry, tmp: Path, name: str, repository: str, tag: str
) -> PushedImage:
    return push_layout(
        registry, write_multi_platform_index(OciLayout(tmp / name), name, tag), repository, tag
    )


def pinned(image: PushedImage, tag: str, digest: str | None = None) -> str:
    return f"{image.registry}/{image.repository}:{tag}@{digest or image.digest}"


def test_update_keeps_the_kind_of_each_pin(
    service: RunningServer, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    repository = "pin-update/app"
    single_1 = push_image(plain_registry, tmp_path, "upd-single-1", repository, "single")
    index_1 = push_index(plain_registry, tmp_path, "upd-index-1", repository, "multi")
    steady = push_image(plain_registry, tmp_path, "upd-steady", repository, "steady")
    manifest = tmp_path / "pod.yaml"
    before = POD.format(
        single=pinned(single_1, "single"),
        index=pinned(index_1, "multi"),
        child=pinned(index_1, "multi", index_1.child(ARM64).digest),
        steady=pinned(steady, "steady"),
    )
    manifest.write_text(before)
    # The tags move: a new single image, a new index.
    single_2 = push_image(plain_registry, tmp_path, "upd-single-2", repository, "single")
    index_2 = push_index(plain_registry, tmp_path, "upd-index-2", repository, "multi")
    assert single_2.digest != single_1.digest
    assert index_2.digest != index_1.digest

    code, _, _ = pin_cli(service, "--check", str(manifest))
    assert code == 1  # --check is unchanged: moved pins are a "no"
    code, _, stderr = pin_cli(service, "--update", "-i", str(manifest))
    assert code == 0, stderr
    after = POD.format(
        single=pinned(single_2, "single"),
        index=pinned(index_2, "multi"),
        child=pinned(index_2, "multi", index_2.child(ARM64).digest),
        steady=pinned(steady, "steady"),
    )
    assert manifest.read_text() == after
    updated = [line for line in stderr.splitlines() if ": updated: " in line]
    assert updated == [
        f"imagepin: {manifest}:7: updated: {pinned(single_1, 'single')} -> "
        f"{pinned(single_2, 'single')} (image)",
        f"imagepin: {manifest}:9: updated: {pinned(index_1, 'multi')} -> "
        f"{pinned(index_2, 'multi')} (index)",
        f"imagepin: {manifest}:11: updated: "
        f"{pinned(index_1, 'multi', index_1.child(ARM64).digest)} -> "
        f"{pinned(index_2, 'multi', index_2.child(ARM64).digest)} (image for linux/arm64/v8)",
    ]
    code, stdout, _ = pin_cli(service, "--check", str(manifest))
    assert code == 0, stdout
    assert "pinned (child for linux/arm64/v8)" in stdout
    # Nothing moved since: a second update changes nothing and says nothing.
    code, _, stderr = pin_cli(service, "--update", "-i", str(manifest))
    assert code == 0
    assert "updated" not in stderr
    assert manifest.read_text() == after


def test_update_refreshes_the_lock_for_each_entrys_platform(
    service: RunningServer, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    repository = "pin-update/locked"
    index_1 = push_index(plain_registry, tmp_path, "upd-lock-1", repository, "multi")
    reference = f"{plain_registry.host}/{repository}:multi"
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(f"kind: Pod\nspec: {{containers: [{{name: a, image: {reference}}}]}}\n")
    lock = tmp_path / "images.lock.json"
    code, _, stderr = pin_cli(
        service, "--platform", "linux/arm64", "--lock", str(lock), str(manifest)
    )
    assert code == 0, stderr
    body = json.loads(lock.read_text())
    body["images"].append({"reference": "kept/elsewhere:1", "digest": "sha256:" + "e" * 64})
    lock.write_text(json.dumps(body))
    [entry, _] = body["images"]
    assert (entry["digest"], entry["platform"]) == (index_1.child(ARM64).digest, "linux/arm64")

    index_2 = push_index(plain_registry, tmp_path, "upd-lock-2", repository, "multi")
    code, stdout, stderr = pin_cli(service, "--update", "--lock", str(lock), str(manifest))
    assert code == 0, stderr
    new_child = index_2.child(ARM64).digest
    entries = {e["reference"]: e for e in json.loads(lock.read_text())["images"]}
    assert (entries[reference]["digest"], entries[reference]["platform"]) == (
        new_child,
        "linux/arm64",
    )
    assert entries["kept/elsewhere:1"]["digest"] == "sha256:" + "e" * 64
    old_child = index_1.child(ARM64).digest
    said = f"imagepin: {lock}: updated: {reference}: {old_child} -> {new_child} (linux/arm64)"
    assert said in stderr
    assert f"{reference}@{new_child}" in stdout  # the manifest pinned for the entry's platform


@pytest.mark.parametrize("other", ["--check", "--from-lock"])
def test_update_goes_with_neither_check_nor_from_lock(
    service: RunningServer, tmp_path: Path, other: str
) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text("kind: Pod\nspec: {containers: [{name: a, image: x/y:1}]}\n")
    args = [other, str(manifest)] if other == "--check" else [other, str(manifest), str(manifest)]
    code, _, _ = pin_cli(service, "--update", *args)
    assert code == 2
