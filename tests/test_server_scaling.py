"""Several worker processes sharing one port, and the Prometheus endpoint summing them."""

from __future__ import annotations

from pathlib import Path

from imagepin.v1 import resolver_pb2 as pb

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port
from tests.support.server_fixtures import scrape_when, start_server, stop_server


def test_workers_share_the_port_and_metrics_count_every_rpc(
    tmp_path: Path, server_env: dict[str, str], pushed_images: ImageCatalog
) -> None:
    metrics_port = free_port()
    running = start_server(
        tmp_path,
        env={
            **server_env,
            "IMAGEPIN_WORKERS": "2",
            "IMAGEPIN_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        },
    )
    try:
        image = pushed_images.single
        for _ in range(20):
            # New connections so the kernel spreads them over the workers.
            answer = running.stub.ResolveReference(
                pb.ResolveReferenceRequest(reference=image.reference), timeout=10
            )
            assert answer.digest == image.digest
        exposition = scrape_when(metrics_port, lambda text: _resolved_ok(text) >= 20)
    finally:
        code = stop_server(running)
    assert code == 0, running.log_text()
    assert _resolved_ok(exposition) == 20
    assert "imagepin_registry_requests_total" in exposition
    assert image.reference not in exposition, "no reference may appear in a label"
    serving = [r for r in running.log_records() if r.get("message") == "serving"]
    assert len(serving) == 2, "each worker logs that it is serving"


def _resolved_ok(exposition: str) -> float:
    """imagepin_rpcs_total for ResolveReference answered OK, summed over the workers."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("imagepin_rpcs_total{")
        and 'method="ResolveReference"' in line
        and 'code="OK"' in line
    )
