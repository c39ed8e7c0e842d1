"""h2load (nghttp2's C load generator) driving gRPC calls, and curl checking their grpc-status.

A unary gRPC call is an HTTP/2 POST whose body is one length-prefixed message (a zero flag byte,
a 4-byte big-endian length, the message) with `content-type: application/grpc` and
`te: trailers`. h2load sends exactly that body on every stream; its "succeeded" only means HTTP
200, so the gRPC status (a trailer) is checked separately with curl on the same bytes.
"""

from __future__ import annotations

import re
import shutil
import statistics
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

H2LOAD = shutil.which("h2load") or "/usr/bin/h2load"
CURL = shutil.which("curl") or "/usr/bin/curl"
CLIENTS = 8  # -c: connections (so --workers can spread them)
STREAMS = 16  # -m: concurrent streams per connection
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")


def grpc_frame(message: bytes) -> bytes:
    """The body of a unary gRPC request: uncompressed flag, length, message."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def write_frame(path: Path, message: bytes) -> Path:
    path.write_bytes(grpc_frame(message))
    return path


@dataclass(frozen=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    done: int
    non_200: int  # streams that failed or did not answer HTTP 200


def h2load(url: str, body: Path, seconds: float, log_file: Path) -> LoadResult:
    """Run h2load for `seconds` and read its rate and latencies.

    No warm-up phase: every request of the run is counted, so the server's CPU time over the
    run divides by `done` (the caller warms up with a run of its own)."""
    log_file.unlink(missing_ok=True)
    command = [H2LOAD, "-c", str(CLIENTS), "-m", str(STREAMS), f"--data={body}"]
    for header in GRPC_HEADERS:
        command += ["-H", header]
    command += ["-D", f"{seconds:g}", f"--log-file={log_file}", url]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    finished = re.search(r"finished in [0-9.]+m?s, ([0-9.]+) req/s", output)
    requests = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", output)
    if finished is None or requests is None:
        raise RuntimeError(f"unexpected h2load output:\n{output}")
    latencies: list[float] = []
    non_200 = 0
    for line in log_file.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        if fields[1] != "200":
            non_200 += 1
        latencies.append(int(fields[2]) / 1000)
    latencies.sort()
    done = int(requests.group(1))
    non_200 += done - int(requests.group(2))
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else 0.0
    return LoadResult(
        rps=float(finished.group(1)),
        p50_ms=statistics.median(latencies) if latencies else 0.0,
        p99_ms=p99,
        done=done,
        non_200=non_200,
    )


def grpc_statuses(url: str, body: Path, calls: int) -> list[str]:
    """grpc-status of `calls` POSTs of the same body, read from the trailers curl prints."""
    statuses: list[str] = []
    for _ in range(calls):
        command = [CURL, "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-D", "-"]
        for header in GRPC_HEADERS:
            command += ["-H", header]
        command += ["--data-binary", f"@{body}", url]
        dump = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
        found = re.findall(r"(?im)^grpc-status:\s*(\S+)", dump.stdout)
        statuses.append(found[-1] if found else "none")
    return statuses
