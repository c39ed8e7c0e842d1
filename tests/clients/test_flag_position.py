"""The connection flags work before the subcommand too, for every command; the later wins."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result
from imagepin.cli import cli

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port
from tests.support.server_fixtures import RunningServer


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def nobody() -> str:
    return f"127.0.0.1:{free_port()}"


def test_server_before_the_subcommand(service: RunningServer, pushed_images: ImageCatalog) -> None:
    image = pushed_images.single
    result = invoke("--server", service.target, "resolve", image.reference, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["digest"] == image.digest


@pytest.mark.parametrize("command", ["resolve", "inspect", "layers", "history"])  # in this order
def test_the_later_server_wins(
    service: RunningServer, pushed_images: ImageCatalog, command: str
) -> None:
    image = pushed_images.single
    shown = image.layer_digests[0] if command == "layers" else image.digest
    down = nobody()
    after = invoke("--server", down, command, "--server", service.target, image.reference)
    assert after.exit_code == 0, after.output
    assert shown in after.stdout
    before = invoke("--server", service.target, command, "--server", down, image.reference)
    assert before.exit_code == 5
    assert f"the imagepin service at {down}:" in before.stderr


def test_other_connection_flags_before_the_subcommand(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    # --tls before the subcommand makes the call TLS to a plaintext server: it fails ...
    tls = invoke("--tls", "--server", service.target, "resolve", image.reference)
    assert tls.exit_code == 5
    # ... unless the subcommand's own (later) --no-tls says otherwise.
    plain = invoke("--tls", "--timeout", "5", "resolve", "--no-tls", "--server", service.target,
                   image.reference)  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert image.digest in plain.stdout


def test_pin_takes_the_server_before_the_subcommand(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    compose = f"services:\n  app:\n    image: {image.reference}\n"
    result = CliRunner().invoke(cli, ["--server", service.target, "pin", "-"], input=compose)
    assert result.exit_code == 0, result.output
    assert f"{image.reference}@{image.digest}" in result.stdout


def test_a_bad_flag_value_before_the_subcommand_is_a_usage_error() -> None:
    result = invoke("--timeout", "-1", "resolve", "redis")
    assert result.exit_code == 2
    assert "--timeout" in result.stderr
