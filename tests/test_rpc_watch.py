"""WatchTags against the real server and real registries, and the notifications endpoint fed by
a real registry configured to notify it.

Two registries of our own: `polled` sends no notifications (so a move there can only be seen by
a poll) and keeps an access log (to count HEADs); `notifying` POSTs its events to the server's
notifications endpoint with the bearer token. Tags are moved for real, by skopeo; every wait
is on the stream (or the server's own records) with a deadline, never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import duration_pb2
from imagepin.v1 import resolver_pb2 as pb
from imagepin.v1 import resolver_pb2_grpc

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import RunningRegistry, free_port, launch_registry
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer, start_server, stop_server
from tests.support.skopeo import copy_to_registry

TOKEN = "notify-token-1"
EVENT_WAIT_S = 30.0
EVENTS = "application/vnd.docker.distribution.events.v1+json"


@dataclass
class Setup:
    polled: RunningRegistry
    polled_log: Path
    notifying: RunningRegistry
    server: RunningServer
    notify_url: str
    tokens: Path
    images: ImageCatalog


def _access_log() -> dict[str, object]:
    return {"log": {"level": "warn", "accesslog": {"disabled": False}}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, pushed_images: ImageCatalog) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("watch")
    notify_port = free_port()
    notify_url = f"http://127.0.0.1:{notify_port}/notifications/distribution"
    tokens = root / "notification-tokens"
    tokens.write_text(f"# the registries that notify us\n{TOKEN}\n")
    endpoint = {
        "name": "imagepin",
        "url": notify_url,
        "headers": {"Authorization": [f"Bearer {TOKEN}"]},
        "timeout": "2s",
        "threshold": 3,
        "backoff": "1s",
    }
    with (
        launch_registry(root / "polled", config_extra=_access_log()) as polled,
        launch_registry(
            root / "notifying", config_extra={"notifications": {"endpoints": [endpoint]}}
        ) as notifying,
    ):
        server = start_server(
            root / "server",
            env={
                "IMAGEPIN_NOTIFICATIONS_LISTEN": f"127.0.0.1:{notify_port}",
                "IMAGEPIN_NOTIFICATIONS_TOKENS_FILE": str(tokens),
            },
        )
        try:
            yield Setup(
                polled,
                root / "polled" / "registry.log",
                notifying,
                server,
                notify_url,
                tokens,
                pushed_images,
            )
        finally:
            stop_server(server)


def push(setup: Setup, registry: RunningRegistry, repository: str, image: str) -> str:
    """skopeo copies catalog image `image` ("app-a", "app-b") to REPOSITORY:1.0; its digest."""
    return copy_to_registry(setup.images.layout_dir, image, registry, repository, "1.0")


def watch_request(*refs: str, interval_s: float) -> pb.WatchTagsRequest:
    seconds, fraction = divmod(interval_s, 1)
    return pb.WatchTagsRequest(
        references=list(refs),
        interval=duration_pb2.Duration(seconds=int(seconds), nanos=int(fraction * 1e9)),
    )


class Watch:
    """A WatchTags call on an aio channel, read with a deadline per event."""

    def __init__(self, target: str, request: pb.WatchTagsRequest) -> None:
        self.channel = grpc.aio.insecure_channel(target)
        self.call = resolver_pb2_grpc.ResolverServiceStub(self.channel).WatchTags(request)
        self._events: AsyncIterator[pb.TagEvent] = self.call.__aiter__()

    async def next(self) -> pb.TagEvent:
        async with asyncio.timeout(EVENT_WAIT_S):
            return await self._events.__anext__()

    async def close(self) -> None:
        self.call.cancel()
        await self.channel.close()


def heads(log: Path, repository: str) -> int:
    """HEAD requests for REPOSITORY:1.0 in the registry's access log."""
    pattern = re.compile(rf'"HEAD /v2/{re.escape(repository)}/manifests/1\.0 HTTP/')
    return sum(1 for line in log.read_text(errors="replace").splitlines() if pattern.search(line))


def history(server: RunningServer, reference: str) -> list[str]:
    answer = server.stub.ListTagHistory(pb.ListTagHistoryRequest(reference=reference), timeout=10)
    return [entry.digest for entry in answer.entries]


def wait_for_log(server: RunningServer, message: str, **fields: str) -> dict[str, object]:
    """The server's first JSON log record with `message` and `fields`, within a deadline."""
    deadline = time.monotonic() + EVENT_WAIT_S
    while time.monotonic() < deadline:
        for record in server.log_records():
            if record.get("message") == message and all(
                record.get(k) == v or (record.get("fields") or {}).get(k) == v  # type: ignore[union-attr]
                for k, v in fields.items()
            ):
                return record
        time.sleep(0.1)  # re-reading a file until a line appears, not timing the server
    raise AssertionError(f"no log record {message!r} {fields} in {EVENT_WAIT_S}s")


def post(setup: Setup, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(setup.notify_url, content=body, headers=headers, timeout=10)


def envelope(
    registry: RunningRegistry, repository: str, digest: str, action: str = "push"
) -> bytes:
    """A notification envelope as distribution 2.8 writes one for a manifest push."""
    event = {
        "id": "forged-or-replayed",
        "timestamp": "2026-12-01T00:00:00Z",
        "action": action,
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": 100,
            "digest": digest,
            "length": 100,
            "repository": repository,
            "url": f"http://{registry.host}/v2/{repository}/manifests/{digest}",
            "tag": "1.0",
        },
        "request": {"id": "r", "addr": "127.0.0.1:1", "host": registry.host, "method": "PUT"},
        "actor": {},
        "source": {"addr": "localhost:5000", "instanceID": "i"},
    }
    return json.dumps({"events": [event]}).encode()


# --------------------------------------------------------------------------------------------------
# Watching


async def test_first_event_is_the_current_digest(setup: Setup) -> None:
    digest = push(setup, setup.polled, "watch/first", "app-a")
    reference = f"{setup.polled.host}/watch/first:1.0"
    watch = Watch(setup.server.target, watch_request(reference, interval_s=3600))
    try:
        first = await watch.next()
    finally:
        await watch.close()
    assert (first.reference, first.previous_digest, first.digest) == (reference, "", digest)
    assert first.source == pb.TAG_EVENT_SOURCE_POLL
    assert first.observed_at.seconds > 0


async def test_a_move_is_seen_by_a_poll_and_lands_in_the_history(setup: Setup) -> None:
    before = push(setup, setup.polled, "watch/poll", "app-a")
    reference = f"{setup.polled.host}/watch/poll:1.0"
    watch = Watch(setup.server.target, watch_request(reference, interval_s=1))
    try:
        assert (await watch.next()).digest == before
        after = push(setup, setup.polled, "watch/poll", "app-b")
        moved = await watch.next()
    finally:
        await watch.close()
    assert (moved.previous_digest, moved.digest) == (before, after)
    assert before != after
    assert moved.source == pb.TAG_EVENT_SOURCE_POLL
    assert history(setup.server, reference) == [after, before]


async def test_a_move_seen_by_a_resolution_is_published(setup: Setup) -> None:
    before = push(setup, setup.polled, "watch/resolution", "app-a")
    reference = f"{setup.polled.host}/watch/resolution:1.0"
    watch = Watch(setup.server.target, watch_request(reference, interval_s=3600))
    try:
        assert (await watch.next()).digest == before
        after = push(setup, setup.polled, "watch/resolution", "app-b")
        request = pb.ResolveReferenceRequest(reference=reference)
        request.max_staleness.CopyFrom(duration_pb2.Duration(seconds=0))
        assert setup.server.stub.ResolveReference(request, timeout=10).digest == after
        moved = await watch.next()
    finally:
        await watch.close()
    assert (moved.previous_digest, moved.digest) == (before, after)
    assert moved.source == pb.TAG_EVENT_SOURCE_RESOLUTION


async def test_many_subscribers_share_one_head_per_interval(setup: Setup) -> None:
    repository, subscribers, interval_s = "watch/shared", 25, 1.0
    before = push(setup, setup.polled, repository, "app-a")
    reference = f"{setup.polled.host}/{repository}:1.0"
    started, heads_before = time.monotonic(), heads(setup.polled_log, repository)
    watches = [
        Watch(setup.server.target, watch_request(reference, interval_s=interval_s))
        for _ in range(subscribers)
    ]
    try:
        firsts = await asyncio.gather(*(w.next() for w in watches))
        assert {first.digest for first in firsts} == {before}
        after = push(setup, setup.polled, repository, "app-b")
        moves = await asyncio.gather(*(w.next() for w in watches))
        elapsed = time.monotonic() - started
    finally:
        await asyncio.gather(*(w.close() for w in watches))
    assert {(m.previous_digest, m.digest) for m in moves} == {(before, after)}
    spent = heads(setup.polled_log, repository) - heads_before
    # One HEAD for the first answer, then at most one per (jittered, 10 % shorter) interval:
    # 25 subscribers polling each on their own would have spent at least 25.
    assert 1 <= spent <= 2 + elapsed / (interval_s * 0.9), (spent, elapsed)
    assert spent < subscribers


def test_bad_watch_requests_are_invalid_arguments(setup: Setup) -> None:
    digest_ref = f"{setup.polled.host}/watch/first@sha256:{'a' * 64}"
    cases = [
        (pb.WatchTagsRequest(), "INVALID_ARGUMENT"),
        (pb.WatchTagsRequest(references=[digest_ref]), "INVALID_REFERENCE"),
        (pb.WatchTagsRequest(references=["Not A Reference"]), "INVALID_REFERENCE"),
        (watch_request(f"{setup.polled.host}/watch/first:1.0", interval_s=0.5), "INVALID_ARGUMENT"),
    ]
    for request, reason in cases:
        with pytest.raises(grpc.RpcError) as failed:
            next(iter(setup.server.stub.WatchTags(request, timeout=10)))
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert error_info(failed.value).reason == reason


def test_watching_a_missing_tag_is_not_found(setup: Setup) -> None:
    request = pb.WatchTagsRequest(references=[f"{setup.polled.host}/watch/missing:1.0"])
    with pytest.raises(grpc.RpcError) as failed:
        next(iter(setup.server.stub.WatchTags(request, timeout=10)))
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND


# --------------------------------------------------------------------------------------------------
# Resuming after a restart


async def test_followed_tags_are_resumed_after_a_restart(setup: Setup, tmp_path: Path) -> None:
    before = push(setup, setup.polled, "watch/resume", "app-a")
    reference = f"{setup.polled.host}/watch/resume:1.0"
    database = f"sqlite:///{tmp_path / 'resume.db'}"
    first = start_server(tmp_path / "first", database_url=database)
    try:
        watch = Watch(first.target, watch_request(reference, interval_s=1))
        try:
            assert (await watch.next()).digest == before
        finally:
            await watch.close()
    finally:
        assert stop_server(first) == 0
    after = push(setup, setup.polled, "watch/resume", "app-b")
    second = start_server(tmp_path / "second", database_url=database)
    try:
        # Nobody watches or resolves: only the resumed follower can record the move.
        deadline = time.monotonic() + EVENT_WAIT_S
        while history(second, reference) != [after, before]:
            assert time.monotonic() < deadline, history(second, reference)
            await asyncio.sleep(0.1)  # re-reading the history until it shows the move
        wait_for_log(second, "resumed followed tags")
    finally:
        stop_server(second)


# --------------------------------------------------------------------------------------------------
# Notifications


async def test_a_push_notification_becomes_an_event_confirmed_by_the_registry(
    setup: Setup,
) -> None:
    repository = "notify/push"
    before = push(setup, setup.notifying, repository, "app-a")
    reference = f"{setup.notifying.host}/{repository}:1.0"
    # An hour between polls: within this test only the notification can bring the move.
    watch = Watch(setup.server.target, watch_request(reference, interval_s=3600))
    try:
        assert (await watch.next()).digest == before
        after = push(setup, setup.notifying, repository, "app-b")
        moved = await watch.next()
    finally:
        await watch.close()
    assert (moved.previous_digest, moved.digest) == (before, after)
    assert moved.source == pb.TAG_EVENT_SOURCE_NOTIFICATION
    assert history(setup.server, reference) == [after, before]


async def test_forged_and_replayed_notifications_record_nothing(setup: Setup) -> None:
    repository = "notify/forged"
    old = push(setup, setup.notifying, repository, "app-a")
    current = push(setup, setup.notifying, repository, "app-b")
    reference = f"{setup.notifying.host}/{repository}:1.0"
    watch = Watch(setup.server.target, watch_request(reference, interval_s=3600))
    try:
        assert (await watch.next()).digest == current
        recorded = history(setup.server, reference)
        forged = "sha256:" + "f" * 64
        for digest in (forged, old):  # one the registry never had; one it had before
            response = post(
                setup,
                envelope(setup.notifying, repository, digest),
                Authorization=f"Bearer {TOKEN}",
                **{"Content-Type": EVENTS},
            )
            assert response.status_code == 200
            wait_for_log(
                setup.server,
                "push not confirmed by the registry; nothing recorded",
                reference=reference,
                digest=digest,
            )
        assert history(setup.server, reference) == recorded
        assert history(setup.server, reference)[0] == current
    finally:
        await watch.close()


def test_notifications_without_an_accepted_token_are_401_and_change_nothing(
    setup: Setup,
) -> None:
    repository = "notify/unauthorized"
    push(setup, setup.notifying, repository, "app-a")
    body = envelope(setup.notifying, repository, "sha256:" + "e" * 64)
    for headers in (
        {},
        {"Authorization": TOKEN},
        {"Authorization": "Basic bm90aWZ5LXRva2VuLTE="},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer"},
    ):
        response = post(setup, body, **headers, **{"Content-Type": EVENTS})
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    messages = [r.get("message") for r in setup.server.log_records()]
    assert messages.count("notification refused: no accepted bearer token") >= 5


def test_notification_tokens_are_reread_when_the_file_changes(setup: Setup) -> None:
    body = json.dumps({"events": []}).encode()
    headers = {"Content-Type": EVENTS}
    assert post(setup, body, Authorization=f"Bearer {TOKEN}", **headers).status_code == 200
    original = setup.tokens.read_text()
    try:
        setup.tokens.write_text(f"{TOKEN}\n# rotated\nnotify-token-2\n")
        assert (
            post(setup, body, Authorization="Bearer notify-token-2", **headers).status_code == 200
        )
        setup.tokens.write_text("notify-token-2\n")
        assert post(setup, body, Authorization=f"Bearer {TOKEN}", **headers).status_code == 401
    finally:
        setup.tokens.write_text(original)
    assert post(setup, body, Authorization=f"Bearer {TOKEN}", **headers).status_code == 200


def test_notification_requests_are_bounded_and_checked(setup: Setup) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ok = {**auth, "Content-Type": EVENTS}
    assert post(setup, b"not json", **ok).status_code == 400
    assert post(setup, b'{"events": 3}', **ok).status_code == 400
    assert post(setup, b"{}", **auth, **{"Content-Type": "text/plain"}).status_code == 415
    assert post(setup, b"x" * (1024 * 1024 + 1), **ok).status_code == 413
    assert httpx.get(setup.notify_url, headers=auth, timeout=10).status_code == 405
    other = setup.notify_url.replace("/notifications/distribution", "/elsewhere")
    assert httpx.post(other, content=b"{}", headers=ok, timeout=10).status_code == 404


# --------------------------------------------------------------------------------------------------
# Replicas


def polls(metrics_port: int) -> dict[str, float]:
    """imagepin_watch_polls_total by target, from a server's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    found = re.findall(r'^imagepin_watch_polls_total\{target="(\w+)"\} (\S+)$', text, re.M)
    return {target: float(value) for target, value in found}


async def test_replicas_sharing_a_database_do_not_both_poll_a_tag(
    setup: Setup, tmp_path: Path
) -> None:
    repository = "watch/replicas"
    before = push(setup, setup.polled, repository, "app-a")
    reference = f"{setup.polled.host}/{repository}:1.0"
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    ports = [free_port(), free_port()]
    replicas = [
        start_server(
            tmp_path / name,
            database_url=database,
            env={"IMAGEPIN_METRICS_LISTEN": f"127.0.0.1:{port}"},
        )
        for name, port in zip(("a", "b"), ports, strict=True)
    ]
    watches: list[Watch] = []
    try:
        for replica in replicas:  # a first: it takes the tag's lease; b finds it taken
            watches.append(Watch(replica.target, watch_request(reference, interval_s=1)))
            assert (await watches[-1].next()).digest == before
        after = push(setup, setup.polled, repository, "app-b")
        moves = await asyncio.gather(*(w.next() for w in watches))
        assert {(m.previous_digest, m.digest) for m in moves} == {(before, after)}
        holder, other = polls(ports[0]), polls(ports[1])
    finally:
        await asyncio.gather(*(w.close() for w in watches))
        for replica in replicas:
            stop_server(replica)
    # b asked the registry once, for its first answer, and then read what a recorded.
    assert other.get("registry") == 1.0, other
    assert other.get("store", 0) >= 1, other
    assert holder.get("registry", 0) >= 2, holder
    assert holder.get("store", 0) == 0, holder
