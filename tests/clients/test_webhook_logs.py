"""The webhook logs JSON lines in the server's format (time, level, logger, message, fields),
says when it listens, where and against which service, and logs every review."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from imagepin.cli import cli
from imagepin.webhook.logs import check_level

from tests.clients import admission
from tests.clients.test_webhook import start_webhook, stop
from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer

HEAD = ["time", "level", "logger", "message"]


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(entry, dict) for entry in entries)
    return entries


def test_webhook_logs_like_the_server(
    tmp_path: Path, service: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    hook = start_webhook(tmp_path, service.target, "--mode", "warn")
    try:
        pod = admission.deployment_pod("shop", [("app", image.reference)])
        review = admission.review(pod)
        hook.review(review)
    finally:
        stop(hook)
    entries = json_lines(tmp_path / "webhook.log")
    for entry in entries:
        assert list(entry)[:4] == HEAD
        assert entry["level"] in ("debug", "info", "warning", "error")
        moment = datetime.datetime.fromisoformat(entry["time"])
        assert moment.utcoffset() == datetime.timedelta(0)
    started = entries[0]
    assert started["message"] == "webhook listening"
    assert started["logger"] == "imagepin.webhook"
    assert started["listen"] == hook.url.removeprefix("https://")
    assert started["server"] == service.target
    assert started["mode"] == "warn"
    assert started["failure_policy"] == "open"
    assert "test-token" not in (tmp_path / "webhook.log").read_text()
    [reviewed] = [e for e in entries if e["message"] == "admission review"]
    assert reviewed["uid"] == review["request"]["uid"]
    assert reviewed["namespace"] == "shop"
    assert reviewed["images"] == [image.reference]
    assert entries[-1]["message"] == "webhook stopped"

    server_entries = json_lines(service.log_path)
    assert server_entries
    for entry in server_entries:
        assert list(entry)[:4] == HEAD
        assert len(entry["time"]) == len(started["time"])  # the same precision and offset


def test_a_log_level_neither_knows_is_a_usage_error(tmp_path: Path) -> None:
    cert = tmp_path / "tls.crt"
    cert.write_text("not read: the level is checked first\n")
    args = ["webhook", "--tls-cert-file", str(cert), "--tls-key-file", str(cert)]
    result = CliRunner().invoke(cli, args, env={"IMAGEPIN_LOG_LEVEL": "chatty"})
    assert result.exit_code == 2
    assert "IMAGEPIN_LOG_LEVEL 'chatty'" in result.stderr


@pytest.mark.parametrize("level", ["debug", "WARNING"])
def test_the_levels_the_server_takes(level: str) -> None:
    assert check_level(level) == level.upper()
