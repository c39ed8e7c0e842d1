"""imagepin benchmarks: one command, one table, all in one run so the ratios hold.

    scripts/bench            (or: .venv/bin/python -m bench.run [--seconds 5])

Everything runs on this machine: a real registry behind a real token server (Docker token
auth), images pushed by skopeo, the real imagepin-server, and an independent load generator
process. Registry requests are counted from the registry's own access log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from imagepin.v1 import resolver_pb2 as pb
from imagepin.v1 import resolver_pb2_grpc

from tests.support import skopeo
from tests.support.image_fixtures import build_small_image, push_layout
from tests.support.registries import RunningRegistry, launch_registry
from tests.support.server_fixtures import (
    RunningServer,
    start_server,
    stop_server,
    write_docker_config,
)
from tests.support.token_server import TokenServer, launch_token_server

USER, PASSWORD = "bench", "bench-password"
REPOSITORY = "bench/app"
BATCH = 100


@dataclass
class Setup:
    registry: RunningRegistry
    token_server: TokenServer
    access_log: Path
    digest: str
    workdir: Path

    def reference(self, tag: str) -> str:
        return f"{self.registry.host}/{REPOSITORY}:{tag}"

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(rf'"{method} /v2/{path_regex} HTTP/1\.1"')
        return sum(1 for line in self.access_log.read_text().splitlines() if pattern.search(line))


@contextmanager
def environment(workdir: Path) -> Iterator[Setup]:
    with (
        launch_token_server(workdir / "tokens", users={USER: PASSWORD}) as tokens,
        launch_registry(
            workdir / "registry",
            config_extra={
                "auth": tokens.registry_auth_config(),
                "log": {"level": "info", "accesslog": {"disabled": False}},
            },
            username=USER,
            password=PASSWORD,
        ) as registry,
    ):
        built = build_small_image(workdir / "layout", "bench")
        image = push_layout(registry, built, REPOSITORY, "warm", creds=(USER, PASSWORD))
        token = tokens.issue_token(
            USER, [{"type": "repository", "name": REPOSITORY, "actions": ["pull", "push"]}]
        )
        with httpx.Client(
            base_url=registry.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            for tag in (
                [f"cold-{i}" for i in range(BATCH)] + [f"seq-{i}" for i in range(BATCH)] + ["herd"]
            ):
                answer = client.put(
                    f"/v2/{REPOSITORY}/manifests/{tag}",
                    content=image.raw_manifest,
                    headers={"Content-Type": image.media_type},
                )
                answer.raise_for_status()
        yield Setup(registry, tokens, workdir / "registry" / "registry.log", image.digest, workdir)


def server_for(setup: Setup, workers: int, name: str, event_loop: str = "auto") -> RunningServer:
    docker = write_docker_config(setup.workdir / f"docker-{name}", [setup.registry])
    return start_server(
        setup.workdir / f"server-{name}",
        env={
            "DOCKER_CONFIG": str(docker.parent),
            "IMAGEPIN_WORKERS": str(workers),
            "IMAGEPIN_LOG_LEVEL": "WARNING",
            "IMAGEPIN_INDEX_LAYERS": "false",  # measure resolution alone
            "IMAGEPIN_EVENT_LOOP": event_loop,
        },
    )


def loadgen(target: str, method: str, reference: str, seconds: float) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            target,
            method,
            reference,
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    result: dict[str, float] = json.loads(output.stdout)
    return result


def fresh(reference: str) -> pb.ResolveReferenceRequest:
    request = pb.ResolveReferenceRequest(reference=reference)
    request.max_staleness.FromSeconds(0)
    return request


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def throughput_rows(
    setup: Setup, seconds: float, workers: int, event_loop: str = "auto"
) -> list[tuple[str, str]]:
    server = server_for(setup, workers, f"w{workers}-{event_loop}", event_loop)
    try:
        warm = setup.reference("warm")
        server.stub.ResolveReference(pb.ResolveReferenceRequest(reference=warm), timeout=10)
        ceiling = loadgen(server.target, "health", "", seconds)
        resolve = loadgen(server.target, "resolve", warm, seconds)
    finally:
        stop_server(server)
    share = resolve["rps"] / ceiling["rps"] * 100
    label = f"{workers} worker{'s' if workers > 1 else ''}"
    if event_loop == "asyncio":
        label += ", default asyncio loop"
    return [
        (
            f"1. health check (ceiling), {label}",
            f"{ceiling['rps']:.0f} req/s, p50 {ceiling['p50_ms']:.2f} ms, "
            f"p99 {ceiling['p99_ms']:.2f} ms",
        ),
        (
            f"1. warm ResolveReference, {label}",
            f"{resolve['rps']:.0f} req/s, p50 {resolve['p50_ms']:.2f} ms, "
            f"p99 {resolve['p99_ms']:.2f} ms = {share:.0f}% of the ceiling "
            f"(errors: {resolve['errors']:.0f})",
        ),
    ]


def cold_rows(setup: Setup, server: RunningServer) -> list[tuple[str, str]]:
    stub = server.stub
    stub.ResolveReference(fresh(setup.reference("warm")), timeout=10)  # token now cached
    heads, gets = setup.count("HEAD", ".*"), setup.count("GET", ".*")
    tokens = setup.token_server.request_count
    latencies = [
        timed(lambda i=i: stub.ResolveReference(fresh(setup.reference(f"cold-{i}")), timeout=10))
        for i in range(20)
    ]
    head_per = (setup.count("HEAD", ".*") - heads) / 20
    get_per = (setup.count("GET", ".*") - gets) / 20
    token_requests = setup.token_server.request_count - tokens
    creds = (USER, PASSWORD)
    skopeo_times = [
        timed(
            lambda i=i: skopeo.inspect(
                setup.reference(f"cold-{i}"), registry=setup.registry, creds=creds
            )
        )
        for i in range(10)
    ]
    return [
        (
            "2. cold resolution: registry requests each",
            f"{head_per:g} HEAD, {get_per:g} GET each; {token_requests} token requests for all 20",
        ),
        (
            "2. cold resolution latency (p50)",
            f"imagepin {statistics.median(latencies) * 1000:.1f} ms; "
            f"skopeo inspect {statistics.median(skopeo_times) * 1000:.1f} ms",
        ),
    ]


def coalescing_row(setup: Setup, server: RunningServer) -> tuple[str, str]:
    heads = setup.count("HEAD", f"{REPOSITORY}/manifests/herd")

    async def herd() -> set[str]:
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = resolver_pb2_grpc.ResolverServiceStub(channel)
            # A cold tag (never resolved) with the default max_staleness, as callers send it.
            request = pb.ResolveReferenceRequest(reference=setup.reference("herd"))
            answers = await asyncio.gather(
                *(stub.ResolveReference(request, timeout=30) for _ in range(200))
            )
        return {answer.digest for answer in answers}

    digests = asyncio.run(herd())
    upstream = setup.count("HEAD", f"{REPOSITORY}/manifests/herd") - heads
    return (
        "3. 200 concurrent resolutions of one cold tag",
        f"{upstream} upstream HEAD ({len(digests)} distinct answer)",
    )


def batch_rows(setup: Setup, server: RunningServer) -> list[tuple[str, str]]:
    stub = server.stub
    batch = pb.BatchResolveReferencesRequest(
        requests=[fresh(setup.reference(f"cold-{i}")) for i in range(BATCH)]
    )
    batch_s = timed(lambda: stub.BatchResolveReferences(batch, timeout=60))
    sequential_s = timed(
        lambda: [
            stub.ResolveReference(fresh(setup.reference(f"seq-{i}")), timeout=10)
            for i in range(BATCH)
        ]
    )
    creds = (USER, PASSWORD)
    skopeo_s = timed(
        lambda: [
            skopeo.inspect(setup.reference(f"seq-{i}"), registry=setup.registry, creds=creds)
            for i in range(BATCH)
        ]
    )
    return [
        (
            f"4. {BATCH} references",
            f"batch {batch_s * 1000:.0f} ms; "
            f"sequential ResolveReference {sequential_s * 1000:.0f} ms; "
            f"skopeo inspect x{BATCH} {skopeo_s * 1000:.0f} ms",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load run")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="imagepin-bench-") as tmp,
        environment(Path(tmp)) as setup,
    ):
        rows += throughput_rows(setup, args.seconds, workers=1)
        rows += throughput_rows(setup, args.seconds, workers=1, event_loop="asyncio")
        rows += throughput_rows(setup, args.seconds, workers=2)
        server = server_for(setup, 1, "cold")
        try:
            rows += cold_rows(setup, server)
            rows.append(coalescing_row(setup, server))
            rows += batch_rows(setup, server)
            rows.append(
                ("5. server memory (RSS) after the runs", f"{rss_mib(server.process.pid):.0f} MiB")
            )
        finally:
            stop_server(server)
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"| {'-' * width} | --- |")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
