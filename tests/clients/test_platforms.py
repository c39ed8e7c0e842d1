"""Platforms as Docker spells them, read by the command and the library as the service reads
them; what is no platform is a usage error naming it (command) or InvalidArgument (library)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from imagepin import InvalidArgument, ResolverClient, format_platform, parse_platform
from imagepin.cli import cli
from imagepin_server.core import platforms as server_platforms
from imagepin_server.core.images import Platform as ServerPlatform
from imagepin_server.errors import BadPlatform

from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer

SPELLINGS = [
    ("arm64", "linux/arm64"),
    ("linux/arm64", "linux/arm64"),
    ("aarch64", "linux/arm64"),
    ("linux/aarch64", "linux/arm64"),
    ("linux/arm64/v8", "linux/arm64/v8"),
    ("linux/arm64/8", "linux/arm64/v8"),
    ("arm64/v8", "linux/arm64/v8"),
    ("linux/arm/v7", "linux/arm/v7"),
    ("arm/v6", "linux/arm/v6"),
    ("armhf", "linux/arm/v7"),
    ("armel", "linux/arm/v6"),
    ("amd64", "linux/amd64"),
    ("x86_64", "linux/amd64"),
    ("Linux/AMD64", "linux/amd64"),
    (" linux/386 ", "linux/386"),
    ("i686", "linux/386"),
    ("windows/amd64", "windows/amd64"),
    ("linux/riscv64", "linux/riscv64"),
]
NOT_PLATFORMS = ["", "linux", "windows", "linux/", "/arm64", "linux//v7", "linux/arm/v7/x",
                 "linux/arm 64", "linux/ar$m", "-linux/amd64", "x" * 65]  # fmt: skip


@pytest.mark.parametrize(("text", "canonical"), SPELLINGS)
def test_docker_spellings(text: str, canonical: str) -> None:
    assert format_platform(parse_platform(text)) == canonical


@pytest.mark.parametrize(("text", "canonical"), SPELLINGS)
def test_the_service_reads_the_parsed_platform_as_it_reads_the_spelling(
    text: str, canonical: str
) -> None:
    """Client and server rules agree: what the client sends normalises, on the server, to the
    same platform as the fields written out would (copied rules, checked against the original)."""
    parsed = parse_platform(text)
    sent = ServerPlatform(parsed.os, parsed.architecture, parsed.variant)
    parts = canonical.split("/")
    written = ServerPlatform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")
    checked = server_platforms.validate(sent)
    assert server_platforms.normalize(checked) == server_platforms.normalize(written)
    raw = text.strip().split("/")
    if len(raw) == 3:  # the fields as a caller of the API would send them
        as_fields = ServerPlatform(raw[0], raw[1], raw[2])
        assert server_platforms.normalize(as_fields) == server_platforms.normalize(sent)


@pytest.mark.parametrize("text", NOT_PLATFORMS)
def test_what_is_no_platform_is_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_platform(text)
    assert refused.value.reason == "INVALID_PLATFORM"
    assert refused.value.domain == "imagepin.dev"
    assert repr(text[:100]) in refused.value.message


@pytest.mark.parametrize("fields", [("linux", "ar$m", ""), ("linux", "arm64", "v 8")])
def test_fields_the_service_refuses_the_client_refuses(fields: tuple[str, str, str]) -> None:
    with pytest.raises(BadPlatform):
        server_platforms.validate(ServerPlatform(*fields))
    with pytest.raises(InvalidArgument):
        parse_platform("/".join(fields))


@pytest.mark.parametrize(("spelling", "child"), [
    ("arm64", "linux/arm64/v8"), ("aarch64", "linux/arm64/v8"), ("linux/arm64", "linux/arm64/v8"),
    ("linux/arm/v7", "linux/arm/v7"), ("amd64", "linux/amd64"), ("x86_64", "linux/amd64"),
])  # fmt: skip
def test_the_command_resolves_each_spelling_to_its_child(
    service: RunningServer, pushed_images: ImageCatalog, spelling: str, child: str
) -> None:
    index = pushed_images.index
    args = ["resolve", index.reference, "--platform", spelling, "-o", "json"]
    result = CliRunner().invoke(cli, [*args, "--server", service.target])
    assert result.exit_code == 0, result.output
    [answer] = json.loads(result.stdout)
    assert answer["digest"] == index.child(child).digest


@pytest.mark.parametrize("command", ["resolve", "inspect", "layers", "pin"])
def test_a_bad_platform_is_a_usage_error_naming_it(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--platform", "linux/", "redis:7"])
    assert result.exit_code == 2
    assert "Invalid value for '--platform'" in result.stderr
    assert "'linux/'" in result.stderr
    assert "Traceback" not in result.output


def test_the_library_raises_invalid_argument_before_calling(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    index = pushed_images.index
    with ResolverClient(service.target) as client:
        assert client.resolve(index.reference, platform="aarch64").digest == (
            index.child("linux/arm64/v8").digest
        )
        for call in (client.resolve, client.get_manifest, client.list_layers):
            with pytest.raises(InvalidArgument) as refused:
                call(index.reference, platform="linux/arm/v7/extra")
            assert refused.value.reason == "INVALID_PLATFORM"
        with pytest.raises(InvalidArgument):
            client.batch_resolve([index.reference], platform="")
        with pytest.raises(InvalidArgument):
            client.resolve(index.reference, max_staleness=float("nan"))
