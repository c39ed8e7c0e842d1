"""`imagepin resolve | inspect | layers | verify | history` against the real service."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result
from imagepin.cli import cli

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port
from tests.support.server_fixtures import RunningServer


def run(server: RunningServer | str, *args: str) -> Result:
    target = server if isinstance(server, str) else server.target
    command, *rest = args
    result = CliRunner().invoke(cli, [command, "--server", target, *rest])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_resolve_table_shows_the_pinned_reference(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    single = pushed_images.single
    result = run(service, "resolve", single.reference)
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()
    assert header.split() == ["REFERENCE", "DIGEST", "PINNED"]
    assert row.split() == [single.reference, single.digest, f"{single.reference}@{single.digest}"]


def test_resolve_json_with_platform(service: RunningServer, pushed_images: ImageCatalog) -> None:
    index = pushed_images.index
    [answer] = as_json(run(service, "resolve", index.reference, "--platform", "linux/arm64", "-o",
                           "json"))  # fmt: skip
    assert answer["digest"] == index.child("linux/arm64/v8").digest
    assert answer["resolved_digest"] == index.digest


def test_resolve_several_references_in_one_batch(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    images = [pushed_images.single, pushed_images.app_a, pushed_images.zstd]
    answers = as_json(run(service, "resolve", *(i.reference for i in images), "-o", "json"))
    assert [(a["reference"], a["digest"]) for a in answers] == [
        (i.reference, i.digest) for i in images
    ]


def test_exit_codes_scripts_rely_on(service: RunningServer, pushed_images: ImageCatalog) -> None:
    host = pushed_images.registry.host
    assert run(service, "resolve", f"{host}/nope/missing:1").exit_code == 3
    invalid = run(service, "resolve", "Not A Reference")
    assert invalid.exit_code == 4
    assert "INVALID_REFERENCE" in invalid.stdout
    nobody = f"127.0.0.1:{free_port()}"
    unavailable = run(nobody, "inspect", pushed_images.single.reference, "--timeout", "0.5")
    assert unavailable.exit_code == 5
    assert "UNAVAILABLE" in unavailable.stderr or "DEADLINE" in unavailable.stderr


def test_inspect_json_is_docker_inspect_shaped(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    single = pushed_images.single
    [view] = as_json(run(service, "inspect", single.reference, "-o", "json"))
    config = single.config_json
    assert view["Id"] == single.config_digest
    assert view["RepoTags"] == [single.reference]
    assert view["RepoDigests"] == [f"{single.registry}/{single.repository}@{single.digest}"]
    assert view["Os"] == config["os"]
    assert view["Architecture"] == config["architecture"]
    assert view["Config"]["Env"] == config["config"]["Env"]
    assert view["Config"]["Entrypoint"] == config["config"]["Entrypoint"]
    assert view["Config"]["Cmd"] == config["config"]["Cmd"]
    assert view["Config"]["User"] == config["config"]["User"]
    assert view["Config"]["Labels"] == config["config"]["Labels"]
    assert view["Config"]["ExposedPorts"] == config["config"]["ExposedPorts"]
    assert view["RootFS"]["Layers"] == list(single.diff_ids)


def test_inspect_table_and_index(service: RunningServer, pushed_images: ImageCatalog) -> None:
    table = run(service, "inspect", pushed_images.single.reference)
    assert table.exit_code == 0
    assert "/srv/app/run.sh" in table.stdout
    index = run(service, "inspect", pushed_images.index.reference)
    assert index.exit_code == 0
    for child in pushed_images.index.children:
        assert child.digest in index.stdout
    assert "--platform" in index.stdout


def test_layers(service: RunningServer, pushed_images: ImageCatalog) -> None:
    single = pushed_images.single
    listing = as_json(run(service, "layers", single.reference, "-o", "json"))
    assert [layer["digest"] for layer in listing["layers"]] == list(single.layer_digests)
    table = run(service, "layers", single.reference)
    assert table.stdout.splitlines()[0].split()[:3] == ["#", "DIGEST", "DIFF"]
    assert len(table.stdout.splitlines()) == 1 + len(single.layers)


def test_verify_exits_0_when_verified_and_1_on_mismatch(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    single, other = pushed_images.single, pushed_images.schema2
    good = run(service, "verify", f"{single.reference}@{single.digest}", "--layers")
    assert good.exit_code == 0
    assert good.stdout.startswith("verified")
    answer = as_json(run(service, "verify", single.reference, "--digest", single.digest,
                         "--layers", "-o", "json"))  # fmt: skip
    layers = {b["digest"] for b in answer["blobs"] if b["kind"] == "layer"}
    assert layers == set(single.layer_digests)
    assert all(b["verified"] for b in answer["blobs"])
    assert good.stdout.count(" ok") == len(answer["blobs"])
    bad = run(service, "verify", single.reference, "--digest", other.digest)
    assert bad.exit_code == 1
    assert bad.stdout.startswith("MISMATCH")


def test_history_lists_what_the_tag_pointed_at(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    app_b = pushed_images.app_b
    assert run(service, "resolve", app_b.reference).exit_code == 0
    answer = as_json(run(service, "history", app_b.reference, "-o", "json"))
    assert answer["entries"][0]["digest"] == app_b.digest
    table = run(service, "history", app_b.reference)
    assert app_b.digest in table.stdout
