"""A service that is not there gets a hint (is it running? --server / IMAGEPIN_SERVER), in one
line from the command and in the library's error; a registry that is not there does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from imagepin import (
    AsyncResolverClient,
    Connection,
    ResolverClient,
    ServiceUnreachable,
    Unavailable,
)
from imagepin.cli import cli

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port
from tests.support.server_fixtures import RunningServer

IMAGEPIN = str(Path(sys.executable).with_name("imagepin"))


def hint(target: str) -> str:
    return (
        f"cannot reach the imagepin service at {target}: is imagepin-server running? "
        "Set --server or IMAGEPIN_SERVER"
    )


def test_the_command_says_what_to_check_in_one_line() -> None:
    target = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEPIN_")}
    result = subprocess.run(
        [IMAGEPIN, "resolve", "redis:7"],
        env={**env, "IMAGEPIN_SERVER": target},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 5  # the README's "could not answer"
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"imagepin: {hint(target)}")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [["resolve", "redis:7", "alpine:3"], ["inspect", "redis:7"], ["layers", "redis:7"],
     ["verify", "redis@sha256:" + "a" * 64], ["history", "redis:7"]],
)  # fmt: skip
def test_every_command_gives_the_hint(args: list[str]) -> None:
    target = f"127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, [*args, "--server", target])
    assert result.exit_code == 5, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"imagepin: {hint(target)}")


def test_pin_gives_the_hint(tmp_path: Path) -> None:
    target = f"127.0.0.1:{free_port()}"
    (tmp_path / "compose.yaml").write_text("services:\n  cache:\n    image: redis:7\n")
    result = CliRunner().invoke(cli, ["pin", "--server", target, str(tmp_path / "compose.yaml")])
    assert result.exit_code == 5, result.output
    assert f"imagepin: {hint(target)}" in result.stderr


def test_the_library_error_carries_the_hint() -> None:
    target = f"127.0.0.1:{free_port()}"
    with ResolverClient(target) as client, pytest.raises(ServiceUnreachable) as error:
        client.resolve("redis:7")
    assert isinstance(error.value, Unavailable)
    assert error.value.message.startswith(hint(target))
    assert hint(target) in str(error.value)


async def test_the_async_library_error_carries_the_hint() -> None:
    target = f"127.0.0.1:{free_port()}"
    async with AsyncResolverClient(target) as client:
        with pytest.raises(ServiceUnreachable) as error:
            await client.get_manifest("redis:7")
    assert error.value.message.startswith(hint(target))


def test_an_unreachable_registry_is_the_services_answer_not_the_hint(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    """The service answered: its registry is down. Nothing to do with --server. (The service
    retries the registry before it answers: a deadline well above its retries.)"""
    reference = f"127.0.0.1:{free_port()}/library/alpine:3"
    connection = Connection(target=service.target, timeout_s=60)
    with ResolverClient(connection=connection) as client, pytest.raises(Unavailable) as error:
        client.resolve(reference)
    assert not isinstance(error.value, ServiceUnreachable)
    assert error.value.reason == "REGISTRY_UNAVAILABLE"
    assert "IMAGEPIN_SERVER" not in error.value.message
    args = ["inspect", reference, "--server", service.target, "--timeout", "60"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 5
    assert "REGISTRY_UNAVAILABLE" in result.stderr
    assert "is imagepin-server running" not in result.stderr
