"""Writing to a test registry through the Distribution API itself, for content skopeo won't make.

skopeo pushes whole, well-formed images. What older or partial pushes leave behind (a schema 1
manifest, a config stored as octet-stream, an index whose children are gone) is made here with
the registry's own endpoints: blob uploads, manifest PUT and DELETE.
"""

from __future__ import annotations

import hashlib

import httpx

from tests.support.registries import RunningRegistry

TIMEOUT_S = 10.0


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blob(registry: RunningRegistry, repository: str, data: bytes) -> str:
    """Upload a blob monolithically (POST then PUT ?digest=); returns its digest."""
    digest = sha256_digest(data)
    with httpx.Client(base_url=registry.url, timeout=TIMEOUT_S) as client:
        started = client.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = httpx.URL(started.headers["location"])
        done = client.put(
            location.copy_merge_params({"digest": digest}),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
    return digest


def put_manifest(
    registry: RunningRegistry, repository: str, reference: str, raw: bytes, media_type: str
) -> str:
    """PUT a manifest by tag or digest; returns the digest the registry names it by."""
    answer = httpx.put(
        f"{registry.url}/v2/{repository}/manifests/{reference}",
        content=raw,
        headers={"Content-Type": media_type},
        timeout=TIMEOUT_S,
    )
    assert answer.status_code == 201, answer.text
    return answer.headers["docker-content-digest"]


def delete_manifest(registry: RunningRegistry, repository: str, digest: str) -> None:
    """Delete a manifest by digest (the registry must have deletion enabled)."""
    answer = httpx.delete(f"{registry.url}/v2/{repository}/manifests/{digest}", timeout=TIMEOUT_S)
    assert answer.status_code == 202, answer.text


def delete_blob(registry: RunningRegistry, repository: str, digest: str) -> None:
    """Unlink a blob from a repository (the registry must have deletion enabled)."""
    answer = httpx.delete(f"{registry.url}/v2/{repository}/blobs/{digest}", timeout=TIMEOUT_S)
    assert answer.status_code == 202, answer.text
