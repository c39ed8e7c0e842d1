"""WatchTags at scale: events delivered per second to many subscribers of many tags, and the
registry requests the server spends per interval (counted in the registry's own access log).

    .venv/bin/python -m bench.watch [--tags 100] [--subscribers 1000] [--per-subscriber 10]
                                    [--interval 2] [--steady 10]

Everything is real and local: Debian's docker-registry with its access log on, two images
pushed by skopeo, every tag of the run pointed at the first by a manifest PUT, the real
imagepin-server, and the subscribers as gRPC streams in this process. Subscriber i watches
`per-subscriber` consecutive tags starting at tag i, so every tag has
subscribers * per-subscriber / tags watchers. Phases:

1. first events: every subscriber opens its watch; the time until each has its first event
   for each of its tags;
2. steady state: nothing moves for `steady` seconds; the HEADs the registry served in that time,
   per interval (one per tag per interval is the design);
3. moves: every tag is PUT to the second image at once; the time until every subscriber has
   the move for each of its tags, and the delivery rate once the first move arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import duration_pb2
from imagepin.v1 import resolver_pb2 as pb
from imagepin.v1 import resolver_pb2_grpc

from tests.support.image_fixtures import build_small_image, push_layout
from tests.support.registries import RunningRegistry, launch_registry, put_manifest
from tests.support.server_fixtures import start_server, stop_server

REPOSITORY = "bench/watch"
CHANNELS = 16  # subscribers are spread over this many connections
PHASE_TIMEOUT_S = 120.0


@dataclass
class Pushed:
    raw: bytes
    media_type: str
    digest: str


def tag_name(i: int) -> str:
    return f"t{i}"


def heads(log: Path) -> int:
    pattern = re.compile(rf'"HEAD /v2/{REPOSITORY}/manifests/t\d+ HTTP/')
    return sum(1 for line in log.read_text(errors="replace").splitlines() if pattern.search(line))


def prepare(registry: RunningRegistry, workdir: Path, tags: int) -> tuple[Pushed, Pushed]:
    """Push images a and b with skopeo; point every tag at a with a manifest PUT."""
    pushed = []
    for name in ("a", "b"):
        image = push_layout(registry, build_small_image(workdir / "layout", name), REPOSITORY, name)
        pushed.append(Pushed(image.raw_manifest, image.media_type, image.digest))
    a, b = pushed
    for i in range(tags):
        put_manifest(registry, REPOSITORY, tag_name(i), a.raw, a.media_type)
    return a, b


async def subscriber(
    stub: resolver_pb2_grpc.ResolverServiceStub,
    references: list[str],
    interval_s: float,
    firsts: asyncio.Queue[float],
    moves: asyncio.Queue[float],
) -> None:
    request = pb.WatchTagsRequest(
        references=references, interval=duration_pb2.Duration(seconds=int(interval_s))
    )
    async for event in stub.WatchTags(request):
        (moves if event.previous_digest else firsts).put_nowait(time.perf_counter())


async def collect(queue: asyncio.Queue[float], expected: int) -> list[float]:
    times: list[float] = []
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        while len(times) < expected:
            times.append(await queue.get())
    return times


async def measure(
    args: argparse.Namespace, registry: RunningRegistry, target: str, log: Path, b: Pushed
) -> dict[str, object]:
    references = [f"{registry.host}/{REPOSITORY}:{tag_name(i)}" for i in range(args.tags)]
    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    stubs = [resolver_pb2_grpc.ResolverServiceStub(channel) for channel in channels]
    firsts: asyncio.Queue[float] = asyncio.Queue()
    moves: asyncio.Queue[float] = asyncio.Queue()
    expected = args.subscribers * args.per_subscriber
    heads_at_start = heads(log)
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(
            subscriber(
                stubs[i % CHANNELS],
                [references[(i + k) % args.tags] for k in range(args.per_subscriber)],
                args.interval,
                firsts,
                moves,
            )
        )
        for i in range(args.subscribers)
    ]
    try:
        first_times = await collect(firsts, expected)
        first_s = first_times[-1] - started
        heads_after_firsts = heads(log)

        steady_from = heads(log)
        await asyncio.sleep(args.steady)  # a measurement window, not a synchronisation
        steady_heads = heads(log) - steady_from

        moved_at = time.perf_counter()
        await asyncio.gather(
            *(
                asyncio.to_thread(
                    put_manifest, registry, REPOSITORY, tag_name(i), b.raw, b.media_type
                )
                for i in range(args.tags)
            )
        )
        move_times = await collect(moves, expected)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close()
    delivering = move_times[-1] - move_times[0]
    return {
        "tags": args.tags,
        "subscribers": args.subscribers,
        "tags_per_subscriber": args.per_subscriber,
        "watchers_per_tag": expected // args.tags,
        "interval_s": args.interval,
        "first_events": expected,
        "first_events_all_in_s": round(first_s, 3),
        "first_events_per_s": round(expected / first_s, 1),
        "heads_while_subscribing": heads_after_firsts - heads_at_start,  # first answers and polls
        "steady_window_s": args.steady,
        "steady_heads": steady_heads,
        "heads_per_interval": round(steady_heads / (args.steady / args.interval), 1),
        # 1.0 is the design (the jitter makes each wait up to 10 % shorter, so a little more).
        "heads_per_tag_per_interval": round(
            steady_heads / (args.steady / args.interval) / args.tags, 2
        ),
        "move_events": expected,
        "moves_all_delivered_after_put_s": round(move_times[-1] - moved_at, 3),
        "move_delivery_window_s": round(delivering, 3),
        "move_events_per_s": round(expected / delivering, 1) if delivering > 0 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--per-subscriber", type=int, default=10)
    parser.add_argument("--interval", type=int, default=2, help="seconds, at least 1")
    parser.add_argument("--steady", type=float, default=10.0, help="seconds of steady state")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagepin-bench-watch-") as scratch:
        workdir = Path(scratch)
        access = {"log": {"level": "warn", "accesslog": {"disabled": False}}}
        with launch_registry(workdir / "registry", config_extra=access) as registry:
            _, b = prepare(registry, workdir, args.tags)
            server = start_server(workdir / "server", env={"IMAGEPIN_LOG_LEVEL": "WARNING"})
            try:
                result = asyncio.run(
                    measure(args, registry, server.target, workdir / "registry" / "registry.log", b)
                )
            finally:
                stop_server(server)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
