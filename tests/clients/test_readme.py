"""The README's client sections name every flag and environment variable the commands take."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from google.protobuf import json_format
from imagepin.cli import cli
from imagepin.cli.webhook import webhook
from imagepin.v1 import resolver_pb2

README = Path(__file__).resolve().parents[2] / "README.md"


def section(title: str) -> str:
    """The text under `## title`, up to the next `## ` heading."""
    text = README.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, title
    return match.group(1)


def names(command: click.Command) -> tuple[set[str], set[str]]:
    """Its long flags (not the --no- halves) and environment variables, help aside."""
    flags, envvars = set(), set()
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        flags.update(o for o in param.opts if o.startswith("--"))
        if isinstance(param.envvar, str):
            envvars.add(param.envvar)
    return flags, envvars


def documented(text: str, name: str) -> bool:
    return re.search(rf"`[^`]*(?<![\w-]){re.escape(name)}(?![\w-])[^`]*`", text) is not None


def test_every_connection_flag_and_variable_is_in_the_command_section() -> None:
    text = section("The imagepin command")
    resolve = cli.commands["resolve"]
    flags, envvars = names(resolve)
    flags -= {"--platform", "--output"}  # resolve's own
    missing = sorted(n for n in flags | envvars if not documented(text, n))
    assert not missing


@pytest.mark.parametrize("flag", ["--tls", "--server-name", "--token-file"])
def test_the_check_finds_flags_in_backquotes(flag: str) -> None:
    assert documented(section("The imagepin command"), flag)
    assert not documented("`--server` and --server-name unquoted", "--server-name")


def test_every_webhook_flag_and_variable_is_in_the_webhook_section() -> None:
    """The connection flags are documented with the command; the webhook's own are here."""
    text = section("Admission webhook")
    flags, envvars = names(webhook)
    connection_flags, connection_envvars = names(cli.commands["resolve"])
    own = (flags - connection_flags) | (envvars - connection_envvars)
    assert "POD_NAMESPACE" in own
    missing = sorted(n for n in own if not documented(text, n))
    assert not missing
    assert documented(text, "IMAGEPIN_LOG_LEVEL")


def test_the_annotation_is_not_said_to_win_when_the_webhook_is_down() -> None:
    text = " ".join(section("Admission webhook").split())
    assert "wins over both" not in text
    assert "admitted unpinned even with the annotation `closed`" in text


def test_every_grpcurl_body_in_the_readme_is_the_contracts_json() -> None:
    """grpcurl refuses `"platform":"linux/arm64"`: the README shows the message form."""
    bodies = re.findall(r"grpcurl [^\n]*?(?:\\\n[^\n]*?)*-d '([^']*)'", README.read_text())
    assert bodies
    with_platform = []
    for body in bodies:
        request = json_format.Parse(body, resolver_pb2.ResolveReferenceRequest())
        if request.HasField("platform"):
            with_platform.append(request.platform)
    assert with_platform
    assert all(p.os and p.architecture for p in with_platform)
    assert '"platform":{"os":"linux","architecture":"arm","variant":"v7"}' in README.read_text()
