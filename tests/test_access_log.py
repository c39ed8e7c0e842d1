"""The access log of a real server: what each IMAGEPIN_ACCESS_LOG mode keeps, and the metrics
counting every call whatever the log keeps."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port
from tests.support.server_fixtures import scrape_when, start_server, stop_server

WARM_CALLS = 8


def _rpc_count(exposition: str, code: str) -> float:
    for line in exposition.splitlines():
        if (
            line.startswith("imagepin_rpcs_total{")
            and 'method="ResolveReference"' in line
            and f'code="{code}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize(
    ("mode", "sources", "errors"),
    [
        # 1 cold answer (registry) is always kept; of 8 warm hits, one in 4 is.
        (None, ["registry", "cache", "cache"], 1),
        ("all", ["registry"] + ["cache"] * WARM_CALLS, 1),
        ("errors", [], 1),
    ],
)
def test_each_mode_keeps_its_lines_and_metrics_count_every_call(
    tmp_path: Path,
    pushed_images: ImageCatalog,
    mode: str | None,
    sources: list[str],
    errors: int,
) -> None:
    metrics_port = free_port()
    env = {
        "IMAGEPIN_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "IMAGEPIN_ACCESS_LOG_SAMPLE_RATE": "0.25",
    }
    if mode is not None:
        env["IMAGEPIN_ACCESS_LOG"] = mode
    server = start_server(tmp_path, env=env)
    image = pushed_images.single
    missing = image.reference.rsplit(":", 1)[0] + ":no-such-tag"
    try:
        for _ in range(1 + WARM_CALLS):
            answer = server.stub.ResolveReference(
                pb.ResolveReferenceRequest(reference=image.reference), timeout=10
            )
            assert answer.digest == image.digest
        with pytest.raises(grpc.RpcError) as failure:
            server.stub.ResolveReference(pb.ResolveReferenceRequest(reference=missing), timeout=10)
        assert failure.value.code() is grpc.StatusCode.NOT_FOUND
        exposition = scrape_when(
            metrics_port, lambda text: _rpc_count(text, "OK") >= 1 + WARM_CALLS
        )
    finally:
        assert stop_server(server) == 0, server.log_text()
    lines = [r for r in server.log_records() if r.get("logger") == "imagepin.rpc"]
    ok = [r for r in lines if r.get("code") == "OK"]
    assert [r.get("source") for r in ok] == sources
    assert all(r.get("reference") == image.reference for r in ok)
    assert all(r.get("digest") == image.digest and "latency_ms" in r for r in ok)
    failed = [r for r in lines if r.get("code") == "NOT_FOUND"]
    assert len(failed) == errors
    assert failed[0]["reason"] == "MANIFEST_NOT_FOUND"
    assert _rpc_count(exposition, "OK") == 1 + WARM_CALLS
    assert _rpc_count(exposition, "NOT_FOUND") == 1
    assert 'imagepin_cache_lookups_total{cache="tag",result="hit"} 8.0' in exposition
