"""Right after a push, deploy tooling pins the new build: `imagepin pin`, `pin --check` and
`imagepin resolve` send max_staleness 0 unless told otherwise; the library sends what it is given;
the webhook sends its own bound.

Every test moves a tag for real: skopeo pushes image A, the real server resolves it (so its tag
memory holds A), skopeo moves the tag to image B, and the server is shown to still remember A.
Only then is the command under test run, at once.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from google.protobuf import duration_pb2
from imagepin import AsyncResolverClient, ResolverClient
from imagepin.cli import cli
from imagepin.cli.options import parse_duration
from imagepin.v1 import resolver_pb2 as pb

from tests.clients import admission
from tests.clients.test_webhook import Webhook, patched, start_webhook, stop
from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer, start_server, stop_server
from tests.support.skopeo import copy_to_registry

HOUR = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class MovedTag:
    """A tag the registry now points at `after`, while the server still remembers `before`."""

    reference: str
    before: str
    after: str


def move_tag(server: RunningServer, images: ImageCatalog, name: str) -> MovedTag:
    """Push A to fresh/NAME:1.0, resolve it through `server`, move the tag to B."""
    registry, repository = images.registry, f"fresh/{name}"
    reference = f"{registry.host}/{repository}:1.0"
    before = copy_to_registry(images.layout_dir, "app-a", registry, repository, "1.0")
    assert before == images.app_a.digest
    request = pb.ResolveReferenceRequest(reference=reference)
    warmed = server.stub.ResolveReference(request, timeout=10)
    assert (warmed.digest, warmed.source) == (before, pb.ANSWER_SOURCE_REGISTRY)
    after = copy_to_registry(images.layout_dir, "app-b", registry, repository, "1.0")
    assert after == images.app_b.digest != before
    request.max_staleness.CopyFrom(duration_pb2.Duration(seconds=3600))
    remembered = server.stub.ResolveReference(request, timeout=10)
    assert (remembered.digest, remembered.source) == (before, pb.ANSWER_SOURCE_CACHE)
    return MovedTag(reference, before, after)


def run(server: RunningServer, *args: str, env: dict[str, str] | None = None) -> Result:
    """The command with `env` over the test's environment, less any IMAGEPIN_CLI_MAX_STALENESS."""
    command, *rest = args
    environment: dict[str, str | None] = {"IMAGEPIN_CLI_MAX_STALENESS": None, **(env or {})}
    result = CliRunner().invoke(cli, [command, "--server", server.target, *rest], env=environment)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def deployment(image: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shop}\nspec:\n  template:\n"
        f"    spec:\n      containers:\n      - name: app\n        image: {image}  # release\n"
    )


# --------------------------------------------------------------------------------------------------
# The command


def test_pin_right_after_a_push_pins_the_new_build(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    tag = move_tag(service, pushed_images, "pin")
    manifest, lock = tmp_path / "deploy.yaml", tmp_path / "images.lock.json"
    manifest.write_text(deployment(tag.reference))
    result = run(service, "pin", "--lock", str(lock), str(manifest))
    assert result.exit_code == 0, result.output
    assert result.stdout == deployment(f"{tag.reference}@{tag.after}")
    [entry] = json.loads(lock.read_text())["images"]
    assert (entry["reference"], entry["digest"]) == (tag.reference, tag.after)


def test_pin_in_place_right_after_a_push_pins_the_new_build(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    tag = move_tag(service, pushed_images, "in-place")
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment(tag.reference))
    result = run(service, "pin", "-i", str(manifest))
    assert result.exit_code == 0, result.output
    assert manifest.read_text() == deployment(f"{tag.reference}@{tag.after}")


def test_pin_check_right_after_a_push_reports_the_move(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    tag = move_tag(service, pushed_images, "check")
    released = f"{tag.reference}@{tag.before}"  # the release pinned before the push
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment(released))
    result = run(service, "pin", "--check", str(manifest))
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{manifest}:9: moved: {released} (its tag now points at {tag.after})"
    ]
    assert manifest.read_text() == deployment(released)


@pytest.mark.parametrize("batch", [False, True], ids=["one", "batch"])
def test_resolve_right_after_a_push_gives_the_new_build(
    service: RunningServer, pushed_images: ImageCatalog, batch: bool
) -> None:
    tag = move_tag(service, pushed_images, f"resolve-{'batch' if batch else 'one'}")
    others = [pushed_images.single.reference] if batch else []
    answers = json.loads(run(service, "resolve", "-o", "json", tag.reference, *others).stdout)
    assert answers[0]["reference"] == tag.reference
    assert answers[0]["digest"] == tag.after
    assert answers[0]["source"] == "ANSWER_SOURCE_REGISTRY"
    assert [a["digest"] for a in answers[1:]] == [pushed_images.single.digest] * len(others)


def test_max_staleness_allows_the_remembered_answer(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    tag = move_tag(service, pushed_images, "allowed")
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(deployment(tag.reference))
    cached = run(service, "pin", "--max-staleness", "1h", str(manifest))
    assert cached.stdout == deployment(f"{tag.reference}@{tag.before}")
    from_env = run(
        service, "resolve", "-o", "json", tag.reference, env={"IMAGEPIN_CLI_MAX_STALENESS": "5m"}
    )
    [answer] = json.loads(from_env.stdout)
    assert (answer["digest"], answer["source"]) == (tag.before, "ANSWER_SOURCE_CACHE")
    # The flag beats the environment, and 0 asks the registry.
    fresh = run(
        service, "pin", "--max-staleness", "0", str(manifest),
        env={"IMAGEPIN_CLI_MAX_STALENESS": "1h"},
    )  # fmt: skip
    assert fresh.stdout == deployment(f"{tag.reference}@{tag.after}")


@pytest.mark.parametrize("command", ["pin", "resolve"])
def test_a_malformed_max_staleness_is_a_usage_error(service: RunningServer, command: str) -> None:
    result = run(service, command, "--max-staleness", "soon", "-")
    assert result.exit_code == 2
    assert "'soon' is not a duration" in result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("90", 90), ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400),
     ("250ms", 0.25), ("1.5s", 1.5), (" 2M ", 120)],
)  # fmt: skip
def test_durations_are_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == datetime.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "-1", "-5s", "5x", "1h 30m", "s", "nan", "1e12"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


# --------------------------------------------------------------------------------------------------
# The library


def test_resolve_and_batch_resolve_send_max_staleness(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    one, batch = (move_tag(service, pushed_images, f"library-{n}") for n in ("one", "batch"))
    with ResolverClient(service.target) as client:
        assert client.resolve(one.reference, max_staleness=HOUR).digest == one.before
        assert client.resolve(one.reference, max_staleness=0).digest == one.after
        [cached] = client.batch_resolve([batch.reference], max_staleness=3600.0)
        assert cached.resolution is not None
        assert cached.resolution.digest == batch.before
        [fresh] = client.batch_resolve([batch.reference], max_staleness=datetime.timedelta(0))
        assert fresh.resolution is not None
        assert fresh.resolution.digest == batch.after


async def test_async_resolve_and_batch_resolve_send_max_staleness(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    one, batch = (move_tag(service, pushed_images, f"aio-{n}") for n in ("one", "batch"))
    async with AsyncResolverClient(service.target) as client:
        assert (await client.resolve(one.reference, max_staleness=3600)).digest == one.before
        fresh_one = await client.resolve(one.reference, max_staleness=datetime.timedelta(0))
        assert fresh_one.digest == one.after
        [cached] = await client.batch_resolve([batch.reference], max_staleness=HOUR)
        assert cached.resolution is not None
        assert cached.resolution.digest == batch.before
        [fresh] = await client.resolve_all([batch.reference], max_staleness=0.0)
        assert fresh.resolution is not None
        assert fresh.resolution.digest == batch.after


# --------------------------------------------------------------------------------------------------
# The webhook


@pytest.fixture(scope="module")
def forgetful_service(
    tmp_path_factory: pytest.TempPathFactory, pushed_images: ImageCatalog
) -> Iterator[RunningServer]:
    """A server whose own default is to ask the registry every time (IMAGEPIN_MAX_STALENESS=0):
    a remembered answer from it can only come from a bound the caller sent."""
    running = start_server(
        tmp_path_factory.mktemp("forgetful"), env={"IMAGEPIN_MAX_STALENESS": "0"}
    )
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def default_webhook(
    tmp_path_factory: pytest.TempPathFactory, forgetful_service: RunningServer
) -> Iterator[Webhook]:
    with pytest.MonkeyPatch.context() as env:
        env.delitem(os.environ, "IMAGEPIN_WEBHOOK_MAX_STALENESS", raising=False)
        hook = start_webhook(tmp_path_factory.mktemp("default-webhook"), forgetful_service.target)
    yield hook
    stop(hook)


@pytest.fixture(scope="module")
def eager_webhook(
    tmp_path_factory: pytest.TempPathFactory, service: RunningServer
) -> Iterator[Webhook]:
    """A webhook told by its environment to ask the registry every time."""
    with pytest.MonkeyPatch.context() as env:
        env.setitem(os.environ, "IMAGEPIN_WEBHOOK_MAX_STALENESS", "0")
        hook = start_webhook(tmp_path_factory.mktemp("eager-webhook"), service.target)
    yield hook
    stop(hook)


def pinned_by(hook: Webhook, image: str) -> str:
    document = admission.review(admission.deployment_pod("shop", containers=[("app", image)]))
    image_now: str = patched(document, hook.review(document))["spec"]["containers"][0]["image"]
    return image_now


def test_webhook_sends_its_default_bound_of_30s(
    default_webhook: Webhook, forgetful_service: RunningServer, pushed_images: ImageCatalog
) -> None:
    tag = move_tag(forgetful_service, pushed_images, "webhook-default")
    # Its server alone would ask the registry (B): A means the webhook sent its 30 s.
    assert pinned_by(default_webhook, tag.reference) == f"{tag.reference}@{tag.before}"


def test_webhook_sends_the_bound_it_is_given(
    eager_webhook: Webhook, service: RunningServer, pushed_images: ImageCatalog
) -> None:
    tag = move_tag(service, pushed_images, "webhook-eager")
    # Its server alone would answer from memory (A): B means the webhook sent 0.
    assert pinned_by(eager_webhook, tag.reference) == f"{tag.reference}@{tag.after}"
