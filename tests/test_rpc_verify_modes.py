"""VerifyDigest's modes against a real registry: MANIFEST, EXISTENCE (HEAD only), CONTENT.

The registry here writes an access log, so a test can tell which requests a mode made: EXISTENCE
must find deleted content without a single blob GET.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from click.testing import CliRunner
from imagepin.cli import cli
from imagepin.v1 import resolver_pb2 as pb

from tests.support import skopeo
from tests.support.image_fixtures import PushedImage, build_small_index, filler, push_layout
from tests.support.oci_layouts import (
    Compression,
    ImageSpec,
    LayerBlob,
    OciLayout,
    make_layer,
    sha256_digest,
    simple_steps,
)
from tests.support.registries import RunningRegistry, launch_registry
from tests.support.registry_api import delete_blob, delete_manifest
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer

MiB = 1024 * 1024
WRONG_DIFF_ID = sha256_digest(b"not the content of this layer")
COMPRESSIONS: tuple[Compression, ...] = ("gzip", "zstd", "none")
# The access log's request line: "HEAD /v2/<repository>/blobs/sha256:<hex> HTTP/1.1" STATUS
_REQUEST = re.compile(r'"(?P<method>[A-Z]+) (?P<path>/v2/\S+) HTTP/[0-9.]+" (?P<status>\d{3})')
LOG_WAIT_S = 10.0


@pytest.fixture(scope="module")
def logged_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry of this module's own that logs every request it serves (to registry.log)."""
    config = {"log": {"level": "warn", "accesslog": {"disabled": False}}}
    with launch_registry(tmp_path_factory.mktemp("logged-registry"), config_extra=config) as reg:
        yield reg


def _verify(
    server: RunningServer,
    reference: str,
    mode: pb.VerifyMode,
    *,
    include_layers: bool = False,
) -> pb.VerifyDigestResponse:
    request = pb.VerifyDigestRequest(reference=reference, mode=mode, include_layers=include_layers)
    answer: pb.VerifyDigestResponse = server.stub.VerifyDigest(request, timeout=30)
    return answer


def _layer(name: str, compression: Compression) -> LayerBlob:
    """A layer past one read and one inflate step: incompressible bytes, then zeros."""
    return make_layer(
        {
            f"opt/{name}/random": filler(name, 600_000),
            f"opt/{name}/zeros": b"\0" * (3 * MiB),
        },
        compression,
    )


def _push(
    registry: RunningRegistry, workdir: Path, name: str, layers: list[LayerBlob]
) -> PushedImage:
    """One image whose config lists each layer's `diff_id` as the LayerBlob says it."""
    built = OciLayout(workdir / name).write_image(ImageSpec(steps=simple_steps(name, layers)), name)
    return push_layout(registry, built, f"modes/{name}", "1")


@dataclasses.dataclass(frozen=True)
class _ExtraDiffId(ImageSpec):
    """An image whose config lists one diff_id more than it has layers."""

    def config_dict(self) -> dict[str, Any]:
        config = super().config_dict()
        config["rootfs"]["diff_ids"].append(WRONG_DIFF_ID)
        return config


def _layers_of(answer: pb.VerifyDigestResponse) -> list[pb.BlobVerification]:
    return [blob for blob in answer.blobs if blob.kind == "layer"]


# --- CONTENT ------------------------------------------------------------------------------------


def test_content_compares_every_layer_with_its_diff_id_in_order(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path
) -> None:
    layers = [_layer(f"mixed-{c}", c) for c in COMPRESSIONS]
    image = _push(logged_registry, tmp_path, "content-mixed", layers)

    answer = _verify(server, image.pinned_reference, pb.VERIFY_MODE_CONTENT)

    assert answer.verified, answer
    [config] = [blob for blob in answer.blobs if blob.kind == "config"]
    assert config.verified
    assert config.diff_id == config.actual_diff_id == ""
    shown = [(b.digest, b.diff_id, b.actual_diff_id, b.verified) for b in _layers_of(answer)]
    assert shown == [(layer.digest, layer.diff_id, layer.diff_id, True) for layer in layers]
    assert all(blob.actual_digest == blob.digest for blob in answer.blobs)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_content_finds_a_layer_that_does_not_match_its_diff_id(
    server: RunningServer,
    logged_registry: RunningRegistry,
    tmp_path: Path,
    compression: Compression,
) -> None:
    real = _layer(f"wrong-{compression}", compression)
    lying = dataclasses.replace(real, diff_id=WRONG_DIFF_ID)
    image = _push(logged_registry, tmp_path, f"content-wrong-{compression}", [lying])

    # The blobs are intact: hashing them finds nothing, only their content tells.
    assert _verify(server, image.pinned_reference, pb.VERIFY_MODE_BLOBS).verified
    answer = _verify(server, image.pinned_reference, pb.VERIFY_MODE_CONTENT)

    assert not answer.verified
    assert answer.actual_digest == image.digest
    [layer] = _layers_of(answer)
    assert not layer.verified
    assert layer.actual_digest == layer.digest == real.digest  # the blob itself is fine
    assert layer.diff_id == WRONG_DIFF_ID
    assert layer.actual_diff_id == real.diff_id
    assert f"hashes to {real.diff_id}, not the diff_id {WRONG_DIFF_ID}" in layer.error
    [config] = [blob for blob in answer.blobs if blob.kind == "config"]
    assert config.verified


def test_content_diff_ids_are_taken_in_layer_order(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path
) -> None:
    first, second = _layer("order-a", "gzip"), _layer("order-b", "zstd")
    swapped = [
        dataclasses.replace(first, diff_id=second.diff_id),
        dataclasses.replace(second, diff_id=first.diff_id),
    ]
    image = _push(logged_registry, tmp_path, "content-swapped", swapped)

    answer = _verify(server, image.pinned_reference, pb.VERIFY_MODE_CONTENT)

    assert not answer.verified
    shown = [(b.diff_id, b.actual_diff_id, b.verified) for b in _layers_of(answer)]
    assert shown == [(second.diff_id, first.diff_id, False), (first.diff_id, second.diff_id, False)]


def test_content_needs_as_many_diff_ids_as_layers(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path
) -> None:
    layer = _layer("count", "gzip")
    layout = OciLayout(tmp_path / "count")
    layout.write_image(_ExtraDiffId(steps=simple_steps("count", [layer])), "count")
    digest = skopeo.copy_to_registry(layout.root, "count", logged_registry, "modes/count", "1")
    reference = f"{logged_registry.host}/modes/count@{digest}"

    answer = _verify(server, reference, pb.VERIFY_MODE_CONTENT)

    assert not answer.verified
    [config] = [blob for blob in answer.blobs if blob.kind == "config"]
    assert not config.verified
    assert "lists 2 diff_ids for the manifest's 1 layers" in config.error
    [checked] = _layers_of(answer)  # the one layer there is still matches the first diff_id
    assert checked.verified
    assert checked.actual_diff_id == layer.diff_id


def test_content_refuses_a_layer_that_inflates_past_the_bound(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path
) -> None:
    # 80 MiB of zeros is about 80 KiB of gzip: a thousandfold, past the default ratio (100) and
    # past the 64 MiB below which no ratio applies.
    bomb = make_layer({"zeros": b"\0" * (80 * MiB)}, "gzip")
    assert bomb.size < 100 * 1024
    image = _push(logged_registry, tmp_path, "content-bomb", [bomb])

    assert _verify(server, image.pinned_reference, pb.VERIFY_MODE_BLOBS).verified
    with pytest.raises(grpc.RpcError) as caught:
        _verify(server, image.pinned_reference, pb.VERIFY_MODE_CONTENT)

    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_info(caught.value).reason == "CONTENT_TOO_LARGE"
    message = caught.value.details() or ""
    assert f"layer {bomb.digest}" in message
    assert f"inflates past {64 * MiB} bytes" in message
    assert "IMAGEPIN_CONTENT_MAX_RATIO" in message


# --- EXISTENCE and MANIFEST ---------------------------------------------------------------------


def _log_path(registry: RunningRegistry) -> Path:
    return registry.root.parent / "registry.log"


def _requests_since(registry: RunningRegistry, offset: int) -> list[tuple[str, str, str]]:
    """(method, path, status) of every request logged after `offset`, up to now.

    The registry logs a request after answering it, so a marker request is sent and the log
    read until the marker is in it: everything answered before the marker is logged by then.
    """
    marker = f"/v2/modes/log-marker-{offset}/tags/list"
    httpx.get(f"{registry.url}{marker}", timeout=5.0)
    deadline = time.monotonic() + LOG_WAIT_S
    while True:  # polling the file for the marker, with a bound
        text = _log_path(registry).read_bytes()[offset:].decode(errors="replace")
        if marker in text or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert marker in text, "the registry's access log never showed the marker request"
    found = [(m["method"], m["path"], m["status"]) for m in _REQUEST.finditer(text)]
    return [request for request in found if request[1] != marker]


def test_existence_finds_deleted_children_and_blobs_by_head_alone(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path
) -> None:
    built = build_small_index(tmp_path, "swept")
    index = push_layout(logged_registry, built, "modes/swept", "1")
    gone_child, thinned, whole = index.children
    gone_layer = thinned.layers[0]  # its own base layer (the other layer is shared)
    # What a registry clean-up leaves: an untagged child deleted, a blob unlinked.
    delete_manifest(logged_registry, "modes/swept", gone_child.digest)
    delete_blob(logged_registry, "modes/swept", gone_layer.digest)
    offset = _log_path(logged_registry).stat().st_size

    answer = _verify(server, index.pinned_reference, pb.VERIFY_MODE_EXISTENCE)

    requests = _requests_since(logged_registry, offset)
    assert not answer.verified
    assert answer.actual_digest == index.digest
    by_digest = {blob.digest: blob for blob in answer.blobs}
    missing = by_digest[gone_child.digest]
    assert (missing.kind, missing.verified) == ("manifest", False)
    assert "no manifest" in missing.error
    lost = by_digest[gone_layer.digest]
    assert (lost.kind, lost.verified, lost.actual_digest) == ("layer", False, "")
    assert "no such blob" in lost.error
    # Nothing below the deleted child could be named; everything else is there, sizes and all.
    assert gone_child.config_digest not in by_digest
    intact = [
        blob for blob in answer.blobs if blob.digest not in (gone_child.digest, gone_layer.digest)
    ]
    blobs = [
        thinned.config_digest,
        whole.config_digest,
        *thinned.layer_digests[1:],
        *whole.layer_digests,
    ]
    assert {b.digest for b in intact} == {thinned.digest, whole.digest, *blobs}
    for blob in intact:
        assert (blob.verified, blob.actual_size, blob.error) == (True, blob.size, ""), blob
    assert all(b.actual_digest == "" for b in intact if b.kind != "manifest")  # nothing hashed

    blob_requests = [(m, p) for m, p, _ in requests if "/blobs/" in p]
    assert [m for m, _ in blob_requests if m != "HEAD"] == []  # not one blob downloaded
    headed = {p.rsplit("/", 1)[1] for m, p in blob_requests}
    assert headed == {*blobs, gone_layer.digest}
    # The log would have shown a download: BLOBS, on the same index, makes one per blob.
    offset = _log_path(logged_registry).stat().st_size
    assert not _verify(server, index.pinned_reference, pb.VERIFY_MODE_BLOBS).verified
    got = {p.rsplit("/", 1)[1] for m, p, _ in _requests_since(logged_registry, offset)
           if m == "GET" and "/blobs/" in p}  # fmt: skip
    assert got == {*blobs, gone_layer.digest}


def test_existence_of_an_intact_image_is_verified(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path
) -> None:
    image = _push(logged_registry, tmp_path, "existence-intact", [_layer("intact", "zstd")])

    answer = _verify(server, image.pinned_reference, pb.VERIFY_MODE_EXISTENCE)

    assert answer.verified
    assert [(b.kind, b.digest, b.actual_size) for b in answer.blobs] == [
        ("config", image.config_digest, len(image.config)),
        *(("layer", layer.digest, layer.size) for layer in image.layers),
    ]


def test_manifest_mode_hashes_an_index_and_its_children_only(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path
) -> None:
    index = push_layout(
        logged_registry, build_small_index(tmp_path, "manifests"), "modes/manifests", "1"
    )
    offset = _log_path(logged_registry).stat().st_size

    answer = _verify(server, index.pinned_reference, pb.VERIFY_MODE_MANIFEST)

    assert answer.verified
    assert [(b.kind, b.digest, b.actual_digest) for b in answer.blobs] == [
        ("manifest", child.digest, child.digest) for child in index.children
    ]
    assert [p for _, p, _ in _requests_since(logged_registry, offset) if "/blobs/" in p] == []


@pytest.mark.parametrize("mode", [pb.VERIFY_MODE_MANIFEST, pb.VERIFY_MODE_EXISTENCE])
def test_include_layers_contradicts_the_modes_that_download_no_blob(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path, mode: pb.VerifyMode
) -> None:
    image = _push(logged_registry, tmp_path, f"contradiction-{mode}", [_layer("c", "gzip")])
    with pytest.raises(grpc.RpcError) as caught:
        _verify(server, image.pinned_reference, mode, include_layers=True)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value).reason == "INVALID_ARGUMENT"
    assert "include_layers" in (caught.value.details() or "")


# --- the command ----------------------------------------------------------------------------------


def test_the_verify_command_takes_a_mode(
    server: RunningServer, logged_registry: RunningRegistry, tmp_path: Path
) -> None:
    real = _layer("cli", "gzip")
    good = _push(logged_registry, tmp_path, "cli-good", [real])
    bad = _push(
        logged_registry, tmp_path, "cli-bad", [dataclasses.replace(real, diff_id=WRONG_DIFF_ID)]
    )

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["verify", "--server", server.target, *args])
        return result.exit_code, result.stdout

    assert run(bad.pinned_reference, "--mode", "blobs")[0] == 0
    code, out = run(good.pinned_reference, "--mode", "content")
    assert (code, out.splitlines()[0]) == (0, f"verified: {good.pinned_reference}")
    code, out = run(bad.pinned_reference, "--mode", "content")
    assert code == 1
    assert out.splitlines()[0] == f"MISMATCH: {bad.pinned_reference}"
    assert f"FAILED: uncompressed content hashes to {real.diff_id}" in out
    code, _ = run(bad.pinned_reference, "--mode", "sideways")
    assert code == 2
