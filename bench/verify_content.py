"""VerifyDigest CONTENT throughput on one core, beside `gzip -dc | sha256sum` of the same layer.

    .venv/bin/python -m bench.verify_content [--mib 128] [--repeat 3] [--no-server]

One gzip layer (a tar of this Python's standard library: text and binaries, as image layers
are) is measured four ways, each the best of `--repeat` runs:

- `gzip -dc | sha256sum`, the reference (two processes, so up to two cores), and the same pinned
  to one core;
- what CONTENT does per layer, in process on one core: the blob hashed, inflated (ISA-L; zlib
  and, when installed, zlib-ng for comparison) and the content hashed, 256 KiB at a time, as
  the registry client reads it;
- end to end: the real imagepin-server, pinned to one core, answering VerifyDigest CONTENT for
  an image with that layer in a real registry (the registry on the other core).

Throughput is MB/s of uncompressed content; the ratio is against the faster reference.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from imagepin.v1 import resolver_pb2 as pb
from imagepin_server import mediatypes
from imagepin_server.core.layer_content import INFLATER, LayerContent
from imagepin_server.digests import DigestHasher
from imagepin_server.registry.client import BLOB_CHUNK

from tests.support.image_fixtures import push_layout
from tests.support.oci_layouts import (
    OCI_LAYER_GZIP,
    ImageSpec,
    LayerBlob,
    OciLayout,
    sha256_digest,
    simple_steps,
)
from tests.support.registries import launch_registry
from tests.support.server_fixtures import start_server, stop_server

MB = 1_000_000


def build_tar(limit: int) -> bytes:
    """A tar of the standard library's files, up to `limit` bytes of file content."""
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, _dirs, files in sorted(os.walk(sysconfig.get_paths()["stdlib"])):
            for name in sorted(files):
                path = Path(root, name)
                if not path.is_file() or path.is_symlink():
                    continue
                tar.add(str(path), recursive=False)
                total += path.stat().st_size
                if total >= limit:
                    return buffer.getvalue()
    return buffer.getvalue()


def best(runs: int, job: Callable[[], object]) -> float:
    """The shortest of `runs` wall-clock times of `job`."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    return min(times)


def content_check(blob: bytes, inflater: ModuleType) -> str:
    """What CONTENT does for one layer, minus the network: hash the blob, inflate, hash."""
    blob_hash = DigestHasher("sha256")
    content = LayerContent(
        mediatypes.OCI_LAYER_GZIP,
        algorithm="sha256",
        limit=1 << 40,
        what="bench",
        inflater=inflater,
    )
    view = memoryview(blob)
    for start in range(0, len(blob), BLOB_CHUNK):
        chunk = bytes(view[start : start + BLOB_CHUNK])
        blob_hash.update(chunk)
        content.update(chunk)
    found = content.finish()
    return str(found.digest)


def _zlib_ng() -> list[ModuleType]:
    """zlib-ng, when installed (it is not a dependency): the other faster inflater on PyPI."""
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return []
    return [zlib_ng]


def shell_check(command: str, cpu: int | None) -> str:
    prefix = ["taskset", "-c", str(cpu)] if cpu is not None else []
    done = subprocess.run(
        [*prefix, "sh", "-c", command], check=True, capture_output=True, text=True
    )
    return "sha256:" + done.stdout.split()[0]


def end_to_end(workdir: Path, tar: bytes, blob: bytes, runs: int, cpu: int) -> float:
    """Seconds for the real server, on one core, to answer CONTENT for an image of this layer."""
    layer = LayerBlob(
        data=blob,
        digest=sha256_digest(blob),
        diff_id=sha256_digest(tar),
        media_type=OCI_LAYER_GZIP,
        size=len(blob),
        compression="gzip",
        files=(),
    )
    built = OciLayout(workdir / "layout").write_image(
        ImageSpec(steps=simple_steps("bench", [layer])), "bench"
    )
    with launch_registry(workdir / "registry") as registry:
        image = push_layout(registry, built, "bench/content", "1")
        server = start_server(workdir / "server")
        try:
            os.sched_setaffinity(server.process.pid, {cpu})
            for thread in Path(f"/proc/{server.process.pid}/task").iterdir():
                os.sched_setaffinity(int(thread.name), {cpu})
            request = pb.VerifyDigestRequest(
                reference=image.pinned_reference, mode=pb.VERIFY_MODE_CONTENT
            )

            def verify() -> None:
                answer = server.stub.VerifyDigest(request, timeout=600)
                assert answer.verified, answer

            verify()  # warm: connections, token-less auth probe, the config in the cache
            return best(runs, verify)
        finally:
            stop_server(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=128, help="uncompressed size of the layer")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-server", action="store_true", help="skip the end-to-end run")
    args = parser.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[0]
    tar = build_tar(args.mib * 1024 * 1024)
    blob = gzip.compress(tar, compresslevel=6, mtime=0)
    want = sha256_digest(tar)
    size = len(tar) / MB
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as scratch:
        work = Path(scratch)
        layer_file = work / "layer.tar.gz"
        layer_file.write_bytes(blob)
        pipeline = f"gzip -dc {layer_file} | sha256sum"
        assert shell_check(pipeline, None) == want
        rows.append(
            ("gzip -dc | sha256sum", best(args.repeat, lambda: shell_check(pipeline, None)))
        )
        rows.append(
            (
                "gzip -dc | sha256sum, one core",
                best(args.repeat, lambda: shell_check(pipeline, cpu)),
            )
        )
        reference = min(seconds for _, seconds in rows)
        os.sched_setaffinity(0, {cpu})
        for module in (INFLATER, zlib, *_zlib_ng()):
            assert content_check(blob, module) == want
            name = f"CONTENT in process, one core, {module.__name__}"
            rows.append((name, best(args.repeat, functools.partial(content_check, blob, module))))
        os.sched_setaffinity(0, set(cpus))
        if not args.no_server:
            if shutil.which("docker-registry") is None or shutil.which("skopeo") is None:
                print("no docker-registry or skopeo: skipping the end-to-end run", file=sys.stderr)
            else:
                seconds = end_to_end(work, tar, blob, args.repeat, cpu)
                rows.append(("VerifyDigest CONTENT, server on one core", seconds))
    print(f"layer: {size:.1f} MB uncompressed, {len(blob) / MB:.1f} MB gzip")
    print(f"{'what':<48} {'seconds':>8} {'MB/s':>8} {'vs ref':>7}")
    for name, seconds in rows:
        print(f"{name:<48} {seconds:8.3f} {size / seconds:8.1f} {reference / seconds:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
