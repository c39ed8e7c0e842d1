"""One digest per rollout through the admission webhook: Pods of one controller (and revision)
keep the digest the first of them got while the tag moves, across webhook and server restarts;
a new controller, a new StatefulSet revision, or a Pod without a controller gets the new one.

The webhook (`imagepin webhook`, a subprocess) and the server run for real against a real
registry whose tag is moved by skopeo; the server's tag memory is off (IMAGEPIN_MAX_STALENESS=0)
so every answer that is not the rollout's comes from the registry.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imagepin.webhook.rollout import rollout_key

from tests.clients import admission
from tests.clients.test_webhook import Webhook, patched, start_webhook, stop
from tests.support.image_fixtures import PushedImage, build_small_image, push_layout
from tests.support.registries import RunningRegistry
from tests.support.server_fixtures import RunningServer, start_server, stop_server

NAMESPACE = "shop"


class Stack:
    """A server on its own SQLite file and a webhook in front of it, either restartable."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.database_url = f"sqlite:///{workdir / 'imagepin.db'}"
        self.starts = 0
        self.server = self._server()
        self.webhook = self._webhook()

    def close(self) -> None:
        stop(self.webhook)
        stop_server(self.server)

    def restart_webhook(self) -> None:
        stop(self.webhook)
        self.webhook = self._webhook()

    def restart_server(self) -> None:
        """A new server process on the same database: its memory starts empty."""
        stop_server(self.server)
        self.server = self._server()
        self.restart_webhook()  # the new server listens on a new port

    def _server(self) -> RunningServer:
        self.starts += 1
        return start_server(
            self.workdir / f"server-{self.starts}",
            database_url=self.database_url,
            env={"IMAGEPIN_MAX_STALENESS": "0"},
        )

    def _webhook(self) -> Webhook:
        self.starts += 1
        # Fresh answers (no webhook cache), so only the rollout key keeps a Pod on the old digest.
        return start_webhook(
            self.workdir / f"webhook-{self.starts}", self.server.target, "--max-staleness", "0"
        )

    def pinned_image(self, pod: dict[str, Any]) -> str:
        document = admission.review(pod)
        image: str = patched(document, self.webhook.review(document))["spec"]["containers"][0][
            "image"
        ]
        return image


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path / "stack")
    yield running
    running.close()


def push(registry: RunningRegistry, workdir: Path, name: str, repository: str) -> PushedImage:
    return push_layout(registry, build_small_image(workdir / name, name), repository, "live")


def test_pods_of_one_rollout_share_a_digest_while_the_tag_moves(
    stack: Stack, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    repository = f"rollout/web-{uuid.uuid4().hex[:8]}"
    first = push(plain_registry, tmp_path / "layouts", "web-a", repository)
    image = first.reference
    before = f"{image}@{first.digest}"
    replica_set, stateful_set = str(uuid.uuid4()), str(uuid.uuid4())

    def pod(uid: str) -> dict[str, Any]:
        return admission.deployment_pod(NAMESPACE, [("app", image)], owner_uid=uid)

    def db_pod(revision: str) -> dict[str, Any]:
        return admission.statefulset_pod(
            NAMESPACE, [("db", image)], owner_uid=stateful_set, revision=revision
        )

    assert stack.pinned_image(pod(replica_set)) == before
    assert stack.pinned_image(db_pod("5d8f7c9b4")) == before

    moved = push(plain_registry, tmp_path / "layouts", "web-b", repository)
    assert moved.digest != first.digest
    after = f"{image}@{moved.digest}"

    # The rollout that began before the move keeps its digest ...
    assert stack.pinned_image(pod(replica_set)) == before
    assert stack.pinned_image(db_pod("5d8f7c9b4")) == before
    # ... while a new ReplicaSet, a new StatefulSet revision and a Pod of no controller move on.
    assert stack.pinned_image(pod(str(uuid.uuid4()))) == after
    assert stack.pinned_image(db_pod("6c7e8f9a1")) == after
    assert stack.pinned_image(admission.bare_pod(NAMESPACE, [("app", image)])) == after

    stack.restart_webhook()
    assert stack.pinned_image(pod(replica_set)) == before

    stack.restart_server()  # the decision lives in the database, not the server's memory
    assert stack.pinned_image(pod(replica_set)) == before
    assert stack.pinned_image(db_pod("5d8f7c9b4")) == before
    assert stack.pinned_image(pod(str(uuid.uuid4()))) == after


def test_an_owner_that_is_not_the_controller_is_no_rollout(
    stack: Stack, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    """Only the `controller: true` owner makes a rollout; other owners do not."""
    repository = f"rollout/owned-{uuid.uuid4().hex[:8]}"
    first = push(plain_registry, tmp_path / "layouts", "owned-a", repository)
    owner = str(uuid.uuid4())

    def pod() -> dict[str, Any]:
        made = admission.deployment_pod(NAMESPACE, [("app", first.reference)], owner_uid=owner)
        made["metadata"]["ownerReferences"][0]["controller"] = False
        return made

    assert stack.pinned_image(pod()) == f"{first.reference}@{first.digest}"
    moved = push(plain_registry, tmp_path / "layouts", "owned-b", repository)
    assert stack.pinned_image(pod()) == f"{first.reference}@{moved.digest}"


# --- the key itself, from the documents the API server sends ------------------------------------


def test_the_key_is_the_controllers_uid_with_the_revision_for_statefulsets() -> None:
    owner = str(uuid.uuid4())
    pod = admission.deployment_pod(NAMESPACE, [("app", "web:1")], owner_uid=owner)
    assert rollout_key(admission.review(pod)["request"]) == owner
    db = admission.statefulset_pod(NAMESPACE, [("db", "db:1")], owner_uid=owner, revision="7f9")
    assert rollout_key(admission.review(db)["request"]) == f"{owner}/7f9"
    daemon = copy.deepcopy(db)
    daemon["metadata"]["ownerReferences"][0]["kind"] = "DaemonSet"
    assert rollout_key(admission.review(daemon)["request"]) == f"{owner}/7f9"


def test_no_key_where_there_is_no_single_rollout_to_agree_on() -> None:
    owner = str(uuid.uuid4())
    unrevisioned = admission.statefulset_pod(
        NAMESPACE, [("db", "db:1")], owner_uid=owner, revision="x"
    )
    del unrevisioned["metadata"]["labels"]["controller-revision-hash"]
    oversized = admission.deployment_pod(NAMESPACE, [("app", "web:1")], owner_uid="u" * 257)
    unprintable = admission.deployment_pod(NAMESPACE, [("app", "web:1")], owner_uid="a\nb")
    for obj in (
        admission.bare_pod(NAMESPACE, [("app", "web:1")]),
        unrevisioned,  # its uid outlives every rollout
        oversized,
        unprintable,
        admission.workload("Deployment", NAMESPACE, [("app", "web:1")]),
    ):
        assert rollout_key(admission.review(obj)["request"]) == ""
