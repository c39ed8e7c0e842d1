"""imagepin benchmarks: one command, one table, all in one run so the ratios hold.

    scripts/bench            (or: .venv/bin/python -m bench.run [--seconds 5] [--pairs 9])

Everything runs on this machine: a real registry behind a real token server (Docker token
auth), images pushed by skopeo, the real imagepin-server in its default configuration, h2load
(nghttp2's C load generator) for RPC rates, curl for the registry's own floor and for gRPC
status checks, skopeo for comparison, /proc for memory. Registry requests are counted from the
registry's own access log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
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
from grpc_health.v1 import health_pb2
from imagepin.v1 import resolver_pb2 as pb
from imagepin.v1 import resolver_pb2_grpc
from imagepin_server import mediatypes

from bench import h2
from tests.support import skopeo
from tests.support.image_fixtures import build_small_image, build_small_index, push_layout
from tests.support.registries import RunningRegistry, free_port, launch_registry
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
COLD = 20
POLITENESS_REFILL_S = 2.5
ROUNDS = ("a", "b", "c")  # side-by-side batch rounds, each on its own 100 cold tags
PARTS = ("throughput", "cold", "batch", "memory")
FULL = 50_000  # the tag cache's documented bound (core/cache.py TAG_CACHE_ENTRIES)


@dataclass
class Setup:
    registry: RunningRegistry
    token_server: TokenServer
    access_log: Path
    digest: str
    workdir: Path
    raw_manifest: bytes  # the pushed image's manifest: more tags are made from it
    media_type: str

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
        built_index = build_small_index(workdir / "index-layout", "bench-index")
        index = push_layout(registry, built_index, REPOSITORY, "index", creds=(USER, PASSWORD))
        token = tokens.issue_token(
            USER, [{"type": "repository", "name": REPOSITORY, "actions": ["pull", "push"]}]
        )
        with httpx.Client(
            base_url=registry.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as client:
            tags = (
                [(f"cold-{i}", image) for i in range(COLD)]
                + [(f"cold-index-{i}", index) for i in range(COLD)]
                + [(f"b{r}-{i}", image) for r in ROUNDS for i in range(BATCH)]
                + [(f"seq-{i}", image) for i in range(BATCH)]
                + [("herd", image)]
            )
            for tag, source in tags:
                # Each cold tag its own manifest (same config and layers, or the same children,
                # its own annotation): a digest the server has seen before would hide work.
                manifest = json.loads(source.raw_manifest)
                manifest["annotations"] = {"dev.imagepin.bench": tag}
                answer = client.put(
                    f"/v2/{REPOSITORY}/manifests/{tag}",
                    content=json.dumps(manifest).encode(),
                    headers={"Content-Type": source.media_type},
                )
                answer.raise_for_status()
        yield Setup(
            registry,
            tokens,
            workdir / "registry" / "registry.log",
            image.digest,
            workdir,
            image.raw_manifest,
            image.media_type,
        )


def server_for(
    setup: Setup, workers: int, name: str, extra: dict[str, str] | None = None
) -> RunningServer:
    """The server as a user starts it: default settings, only the listen address and database
    (set by start_server), the worker count and the registry credentials given."""
    docker = write_docker_config(setup.workdir / f"docker-{name}", [setup.registry])
    return start_server(
        setup.workdir / f"server-{name}",
        env={
            "DOCKER_CONFIG": str(docker.parent),
            "IMAGEPIN_WORKERS": str(workers),
            **(extra or {}),
        },
    )


def fresh(reference: str) -> pb.ResolveReferenceRequest:
    request = pb.ResolveReferenceRequest(reference=reference)
    request.max_staleness.FromSeconds(0)
    return request


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (the workers of --workers), from /proc."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids += process_tree(int(child))
    return pids


def rss_mib(pid: int) -> float:
    """Resident memory of the server process and its workers, summed."""
    return sum(rss_mib_of(each) for each in process_tree(pid))


def rss_mib_of(pid: int) -> float:
    """Resident memory of one process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) `pid` and its descendants (workers) have used so far, from
    /proc."""
    ticks = 0
    for each in process_tree(pid):
        # the fields after the command name, whose parentheses may hold anything
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time the bench's finished child processes (curl, h2load) have used so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Run:
    load: h2.LoadResult
    cpu_us: float  # server CPU per call over the run


def measured(server: RunningServer, url: str, body: Path, seconds: float, log: Path) -> Run:
    """One h2load run, with the server's CPU time per call over it."""
    before = cpu_seconds(server.process.pid)
    load = h2.h2load(url, body, seconds, log)
    used = cpu_seconds(server.process.pid) - before
    return Run(load, 1e6 * used / max(1, load.done))


HEALTH_PATH = "/grpc.health.v1.Health/Check"
RESOLVE_PATH = "/imagepin.v1.ResolverService/ResolveReference"


def throughput_rows(
    setup: Setup, seconds: float, pairs: int, workers: int, access_log: str | None
) -> list[tuple[str, str]]:
    """Health check and warm ResolveReference under h2load, interleaved pair by pair."""
    extra = {"IMAGEPIN_ACCESS_LOG": access_log} if access_log else {}
    name = f"w{workers}-{access_log or 'default'}"
    server = server_for(setup, workers, name, extra)
    work = setup.workdir / f"h2-{name}"
    work.mkdir()
    warm = setup.reference("warm")
    health_body = h2.write_frame(
        work / "health.bin", health_pb2.HealthCheckRequest().SerializeToString()
    )
    resolve_body = h2.write_frame(
        work / "resolve.bin", pb.ResolveReferenceRequest(reference=warm).SerializeToString()
    )
    base = f"http://{server.target}"
    health_url, resolve_url = base + HEALTH_PATH, base + RESOLVE_PATH
    try:
        server.stub.ResolveReference(pb.ResolveReferenceRequest(reference=warm), timeout=10)
        statuses = h2.grpc_statuses(resolve_url, resolve_body, 5)
        statuses += h2.grpc_statuses(health_url, health_body, 5)
        for url, body in ((health_url, health_body), (resolve_url, resolve_body)):
            h2.h2load(url, body, 1, work / "warm-up.log")  # connections, caches: not counted
        ceilings: list[Run] = []
        resolves: list[Run] = []
        for _ in range(pairs):
            ceilings.append(measured(server, health_url, health_body, seconds, work / "h.log"))
            resolves.append(measured(server, resolve_url, resolve_body, seconds, work / "r.log"))
        statuses += h2.grpc_statuses(resolve_url, resolve_body, 5)
        rss = rss_mib(server.process.pid)
    finally:
        stop_server(server)
    ratios = [r.load.rps / c.load.rps for r, c in zip(resolves, ceilings, strict=True)]
    label = f"{workers} worker{'s' if workers > 1 else ''}"
    label += f", IMAGEPIN_ACCESS_LOG={access_log}" if access_log else ", default settings"
    non_200 = sum(r.load.non_200 for r in resolves + ceilings)
    ok = sum(1 for s in statuses if s == "0")

    def rates(runs: list[Run]) -> str:
        return (
            f"{statistics.median(r.load.rps for r in runs):.0f} req/s, "
            f"p50 {statistics.median(r.load.p50_ms for r in runs):.2f} ms, "
            f"p99 {statistics.median(r.load.p99_ms for r in runs):.2f} ms, "
            f"server CPU {statistics.median(r.cpu_us for r in runs):.0f} µs a call"
        )

    return [
        (f"1. health check (the trivial RPC), {label}", rates(ceilings)),
        (
            f"1. warm ResolveReference, {label}",
            f"**{statistics.median(ratios):.2f}** of the health check's rate "
            f"(median of {pairs} pairs, range {min(ratios):.2f}-{max(ratios):.2f}): "
            f"{rates(resolves)}; "
            f"non-200 streams {non_200}; grpc-status 0 in {ok}/{len(statuses)} checked calls; "
            f"RSS after {rss:.0f} MiB",
        ),
    ]


def cold_rows(setup: Setup, window_s: float) -> list[tuple[str, str]]:
    """Cold tags on a fresh default server: what the registry saw in the window after."""
    server = server_for(setup, 1, "cold")
    try:
        stub = server.stub
        stub.ResolveReference(fresh(setup.reference("warm")), timeout=10)  # token now cached
        time.sleep(window_s)  # let the warm-up's own background work finish before counting
        tokens = setup.token_server.request_count
        counted: dict[str, tuple[float, float]] = {}
        latencies: list[float] = []
        for kind, prefix in (("image", "cold-"), ("index", "cold-index-")):
            heads, gets = setup.count("HEAD", ".*"), setup.count("GET", ".*")
            latencies += [
                timed(
                    lambda tag=f"{prefix}{i}": stub.ResolveReference(
                        pb.ResolveReferenceRequest(reference=setup.reference(tag)), timeout=10
                    )
                )
                for i in range(COLD)
            ]
            time.sleep(window_s)  # the measurement window: background work included
            counted[kind] = (
                (setup.count("HEAD", ".*") - heads) / COLD,
                (setup.count("GET", ".*") - gets) / COLD,
            )
        token_requests = setup.token_server.request_count - tokens
        herd = coalescing_row(setup, server)
    finally:
        stop_server(server)
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
            f"2. cold resolution: registry requests each, over the {window_s:g} s after",
            f"image tag **{counted['image'][0]:g} HEAD**, {counted['image'][1]:g} GET; "
            f"index tag **{counted['index'][0]:g} HEAD**, {counted['index'][1]:g} GET; "
            f"{token_requests} token requests for all {2 * COLD}",
        ),
        (
            "2. cold resolution latency (p50)",
            f"imagepin {statistics.median(latencies) * 1000:.1f} ms; "
            f"skopeo inspect {statistics.median(skopeo_times) * 1000:.1f} ms",
        ),
        herd,
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


def pull_token(setup: Setup) -> str:
    """A bearer token to pull the bench repository, as the registry's token server issues it."""
    return setup.token_server.issue_token(
        USER, [{"type": "repository", "name": REPOSITORY, "actions": ["pull"]}]
    )


def curl_heads(setup: Setup, tags: list[str]) -> float:
    """The registry's own floor: HEADs of the tags, 16 at a time, by curl."""
    token = pull_token(setup)
    command = [
        h2.CURL, "-s", "-f", "-Z", "--parallel-max", "16", "-I",
        "-H", f"Authorization: Bearer {token}",
        "-H", f"Accept: {mediatypes.MANIFEST_ACCEPT}",
    ]  # fmt: skip
    for tag in tags:
        command += [f"{setup.registry.url}/v2/{REPOSITORY}/manifests/{tag}", "-o", "/dev/null"]
    return timed(lambda: subprocess.run(command, check=True, capture_output=True, timeout=60))


def httpx_heads(setup: Setup, tags: list[str]) -> tuple[float, float]:
    """The HTTP library's floor: the same HEADs by httpx alone (bench/httpx_heads.py), in its
    own process; seconds from its first request to its last answer, and its CPU ms meanwhile."""
    token = pull_token(setup)
    paths = [f"/v2/{REPOSITORY}/manifests/{tag}" for tag in tags]
    command = [sys.executable, "-m", "bench.httpx_heads", setup.registry.url, token]
    command += [mediatypes.MANIFEST_ACCEPT, *paths]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
    wall_ms, cpu_ms = (float(field) for field in done.stdout.split())
    return wall_ms / 1000, cpu_ms


def batch_rows(setup: Setup) -> list[tuple[str, str]]:
    """100 cold tags: curl's parallel HEADs vs one BatchResolveReferences, side by side."""
    server = server_for(setup, 1, "batch")
    try:
        stub = server.stub
        stub.ResolveReference(fresh(setup.reference("warm")), timeout=10)  # token now cached
        curls: list[float] = []
        httpxs: list[float] = []
        batches: list[float] = []
        # CPU time (ms) each side used: both share the machine's cores with the registry.
        cpu: dict[str, list[float]] = {
            "curl": [],
            "httpx": [],
            "batch": [],
            "registry/curl": [],
            "registry/httpx": [],
            "registry/batch": [],
        }
        registry = setup.registry.pid
        assert registry is not None  # launch_registry started it
        for round_ in ROUNDS:
            # Rounds apart by the politeness bucket's refill (burst 100 at 50 requests/s), so
            # each batch starts as a first one would: measured, not waited for, politeness.
            time.sleep(POLITENESS_REFILL_S)
            tags = [f"b{round_}-{i}" for i in range(BATCH)]
            registry_before, children_before = cpu_seconds(registry), children_cpu_seconds()
            curls.append(curl_heads(setup, tags))
            cpu["curl"].append(1000 * (children_cpu_seconds() - children_before))
            cpu["registry/curl"].append(1000 * (cpu_seconds(registry) - registry_before))
            registry_before = cpu_seconds(registry)
            httpx_s, httpx_cpu_ms = httpx_heads(setup, tags)
            httpxs.append(httpx_s)
            cpu["httpx"].append(httpx_cpu_ms)
            cpu["registry/httpx"].append(1000 * (cpu_seconds(registry) - registry_before))
            batch = pb.BatchResolveReferencesRequest(
                requests=[
                    pb.ResolveReferenceRequest(reference=setup.reference(tag)) for tag in tags
                ]
            )
            registry_before = cpu_seconds(registry)
            server_before = cpu_seconds(server.process.pid)
            batches.append(timed(lambda b=batch: stub.BatchResolveReferences(b, timeout=60)))
            cpu["batch"].append(1000 * (cpu_seconds(server.process.pid) - server_before))
            cpu["registry/batch"].append(1000 * (cpu_seconds(registry) - registry_before))
        sequential_s = timed(
            lambda: [
                stub.ResolveReference(
                    pb.ResolveReferenceRequest(reference=setup.reference(f"seq-{i}")), timeout=10
                )
                for i in range(BATCH)
            ]
        )
    finally:
        stop_server(server)
    creds = (USER, PASSWORD)
    skopeo_s = timed(
        lambda: [
            skopeo.inspect(setup.reference(f"seq-{i}"), registry=setup.registry, creds=creds)
            for i in range(BATCH)
        ]
    )
    curl_ms = statistics.median(curls) * 1000
    httpx_ms = statistics.median(httpxs) * 1000
    batch_ms = statistics.median(batches) * 1000

    def median(side: str) -> str:
        return f"{statistics.median(cpu[side]):.0f}"

    return [
        (
            f"4. {BATCH} cold tags: BatchResolveReferences vs curl -Z --parallel-max 16 -I",
            f"batch {batch_ms:.0f} ms; curl {curl_ms:.0f} ms = **{batch_ms / curl_ms:.1f}x** "
            f"the curl floor (medians of {len(ROUNDS)} side-by-side rounds); CPU time: "
            f"imagepin {median('batch')} ms and the registry {median('registry/batch')} ms "
            f"for the batch, curl {median('curl')} ms and the registry {median('registry/curl')} "
            "ms for curl's",
        ),
        (
            f"4. the same {BATCH} HEADs by httpx alone (uvloop, 16 at a time)",
            f"httpx {httpx_ms:.0f} ms = **{httpx_ms / curl_ms:.1f}x** the curl floor; the batch "
            f"takes {batch_ms / httpx_ms:.2f}x httpx's time (medians of the same rounds); CPU "
            f"time: httpx {median('httpx')} ms (Python's start left out) and the registry "
            f"{median('registry/httpx')} ms",
        ),
        (
            f"4. {BATCH} cold tags, one at a time",
            f"sequential ResolveReference {sequential_s * 1000:.0f} ms; "
            f"skopeo inspect x{BATCH} {skopeo_s * 1000:.0f} ms",
        ),
    ]


def push_many(setup: Setup, count: int) -> list[str]:
    """`count` more tags, each its own manifest (distinct digests, as a real fleet has)."""
    token = setup.token_server.issue_token(
        USER, [{"type": "repository", "name": REPOSITORY, "actions": ["pull", "push"]}]
    )
    base = json.loads(setup.raw_manifest)
    tags = [f"m-{i}" for i in range(count)]

    async def push_all() -> None:
        limit = asyncio.Semaphore(16)
        async with httpx.AsyncClient(
            base_url=setup.registry.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:

            async def push(tag: str) -> None:
                manifest = {**base, "annotations": {"dev.imagepin.bench": tag}}
                async with limit:
                    answer = await client.put(
                        f"/v2/{REPOSITORY}/manifests/{tag}",
                        content=json.dumps(manifest).encode(),
                        headers={"Content-Type": setup.media_type},
                    )
                answer.raise_for_status()

            await asyncio.gather(*(push(tag) for tag in tags))

    asyncio.run(push_all())
    return tags


def cache_entries(metrics_url: str) -> list[float]:
    """imagepin_tag_cache_entries of each live process, from the server's own /metrics."""
    text = httpx.get(metrics_url, timeout=10).text
    return [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("imagepin_tag_cache_entries")
    ]


def fill(server: RunningServer, tags: list[str], setup: Setup, workers: int, url: str) -> int:
    """Every tag in batches (the tag cache), then by plain ResolveReference (its serialised warm
    answers), on new connections until every worker holds all."""
    for connection in range(1, 9):
        # A connection of its own (the kernel spreads connections over --workers' processes).
        with grpc.insecure_channel(
            server.target, options=[("grpc.use_local_subchannel_pool", 1)]
        ) as channel:
            stub = resolver_pb2_grpc.ResolverServiceStub(channel)
            for start in range(0, len(tags), 1000):
                chunk = [setup.reference(tag) for tag in tags[start : start + 1000]]
                # The tag cache, at the registry's speed...
                batch = pb.BatchResolveReferencesRequest(
                    requests=[pb.ResolveReferenceRequest(reference=ref) for ref in chunk]
                )
                stub.BatchResolveReferences(batch, timeout=120)
                # ... then the serialised warm answers, while those answers are young enough
                # (max_staleness, 30 s) to be cache hits.
                for first in range(0, len(chunk), 250):
                    calls = [
                        stub.ResolveReference.future(
                            pb.ResolveReferenceRequest(reference=ref), timeout=60
                        )
                        for ref in chunk[first : first + 250]
                    ]
                    for call in calls:
                        call.result()
        held = cache_entries(url)
        if len(held) == workers and min(held) >= len(tags):
            return connection
    raise RuntimeError(f"after 8 connections the workers hold {held} tags, not {len(tags)} each")


def memory_rows(setup: Setup) -> list[tuple[str, str]]:
    """RSS with the tag cache full (and its serialised warm answers), 1 and 2 workers."""
    started = time.perf_counter()
    tags = push_many(setup, FULL)
    pushed_s = time.perf_counter() - started
    rows = []
    for workers in (1, 2):
        metrics_port = free_port()
        # The fill is 50 000 cold tags: past the default politeness (50 requests/s) it would
        # take 17 minutes, so this registry is given a faster bucket. Memory does not depend on it.
        registries = setup.workdir / f"registries-{workers}.toml"
        registries.write_text(
            f'[registries."{setup.registry.host}"]\n'
            "requests_per_second = 100000\nburst = 10000\nmax_concurrency = 64\n"
        )
        server = server_for(
            setup,
            workers,
            f"memory-{workers}",
            {
                "IMAGEPIN_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
                "IMAGEPIN_REGISTRIES_CONFIG": str(registries),
            },
        )
        try:
            idle = rss_mib(server.process.pid)
            began = time.perf_counter()
            connections = fill(
                server, tags, setup, workers, f"http://127.0.0.1:{metrics_port}/metrics"
            )
            filled_s = time.perf_counter() - began
            full = rss_mib(server.process.pid)
            each = " + ".join(f"{rss_mib_of(pid):.0f}" for pid in process_tree(server.process.pid))
        finally:
            stop_server(server)
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        rows.append(
            (
                f"5. RSS with the tag cache full ({FULL} tags), {label}",
                f"**{full:.0f} MiB** ({each} by process), {idle:.0f} MiB at start "
                f"({(full - idle) * 1024 / (FULL * workers):.1f} KiB a tag); every worker "
                f"holds {FULL} tags (its imagepin_tag_cache_entries), filled by batches and plain "
                f"ResolveReference over {connections} connection(s) in {filled_s:.0f} s "
                f"(tags pushed in {pushed_s:.0f} s); metrics on for the count, and a faster "
                "politeness bucket for this registry for the fill",
            )
        )
    return rows


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each h2load run")
    parser.add_argument("--pairs", type=int, default=9, help="health/resolve pairs per row")
    parser.add_argument("--window", type=float, default=10.0, help="cold counting window (s)")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only this part (repeatable); the README's table is from a run of all",
    )
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    rows: list[tuple[str, str]] = []
    load_before = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="imagepin-bench-") as tmp,
        environment(Path(tmp)) as setup,
    ):
        if "throughput" in parts:
            for workers in (1, 2):
                for access_log in (None, "all"):
                    rows += throughput_rows(setup, args.seconds, args.pairs, workers, access_log)
        if "cold" in parts:
            rows += cold_rows(setup, args.window)
        if "batch" in parts:
            rows += batch_rows(setup)
        if "memory" in parts:
            rows += memory_rows(setup)
    rows.append(
        (
            "0. machine",
            f"{os.cpu_count()} CPUs ({cpu_model()}); load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after (other work shares the machine)",
        )
    )
    rows.sort(key=lambda row: row[0][:2])  # the machine first; the rest in the order run
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure'.ljust(width)} | result |")
    print(f"| {'-' * width} | --- |")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
