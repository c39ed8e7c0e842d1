"""What is attached to images, made the way real tools make it, for the referrers tests.

cosign-style signatures are made here with `cryptography` (cosign's simple-signing payload, its
signature annotation, ECDSA P-256 / RSA / Ed25519) and pushed by a real OCI client, the `oras`
Python SDK: as cosign's `sha256-<hex>.sig` tag, or as OCI 1.1 artifacts with a `subject`. The
registry these tests run (CNCF distribution 2.8) has no referrers API, so, as the OCI 1.1 spec
tells a client to, the subject's fallback tag `sha256-<hex>` is written with an index of its
referrers (`write_fallback_index`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import oras.oci
import oras.provider
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tests.support import registry_api
from tests.support.registries import RunningRegistry

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Signer:
    """A private key and what a verifier is given: its PEM public key and its key id."""

    key: PrivateKey

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @property
    def key_id(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "sha256:" + hashlib.sha256(der).hexdigest()

    def sign(self, payload: bytes) -> bytes:
        """Sign as cosign does: ECDSA with SHA-256 (DER), RSA PKCS #1 v1.5, Ed25519 plain."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            return self.key.sign(payload, ec.ECDSA(hashes.SHA256()))
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(payload)


def ecdsa_signer() -> Signer:
    return Signer(ec.generate_private_key(ec.SECP256R1()))


def rsa_signer() -> Signer:
    return Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ed25519_signer() -> Signer:
    return Signer(ed25519.Ed25519PrivateKey.generate())


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """cosign's payload: what is signed, naming the image's repository and manifest digest."""
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Signature:
    payload: bytes
    signature: bytes


@dataclass(frozen=True)
class Pushed:
    """A manifest an oras push wrote, as the registry names it."""

    digest: str
    size: int
    media_type: str
    artifact_type: str
    annotations: dict[str, str]

    def descriptor(self) -> dict[str, Any]:
        """Its descriptor in a referrers index (OCI 1.1: artifactType, annotations)."""
        entry: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "artifactType": self.artifact_type,
        }
        if self.annotations:
            entry["annotations"] = self.annotations
        return entry


def _client(registry: RunningRegistry) -> oras.provider.Registry:
    return oras.provider.Registry(hostname=registry.host, insecure=True)


def _push(
    registry: RunningRegistry,
    workdir: Path,
    target: str,
    layers: list[tuple[bytes, str, dict[str, str]]],
    *,
    config: tuple[bytes, str],
    subject: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Pushed:
    """Push with oras: each layer a file (bytes, media type, annotations), one config."""
    workdir = workdir / target.replace("/", "_").replace(":", "_").replace("@", "_")
    workdir.mkdir(parents=True, exist_ok=True)
    files, per_file = [], {}
    for i, (data, media_type, layer_annotations) in enumerate(layers):
        path = workdir / f"layer-{i}.json"
        path.write_bytes(data)
        files.append(f"{path}:{media_type}")
        per_file[str(path)] = layer_annotations
    annotation_file = workdir / "annotations.json"
    annotation_file.write_text(json.dumps(per_file))
    config_path = workdir / "config.json"
    config_path.write_bytes(config[0])
    client = _client(registry)
    found_subject = None
    if subject is not None:
        raw = _get(registry, subject)
        found_subject = oras.oci.Subject(
            mediaType=json.loads(raw)["mediaType"],
            digest=registry_api.sha256_digest(raw),
            size=len(raw),
        )
    response = client.push(
        target=f"{registry.host}/{target}",
        files=files,
        manifest_config=f"{config_path}:{config[1]}",
        annotation_file=str(annotation_file),
        manifest_annotations=annotations,
        subject=found_subject,  # type: ignore[arg-type]  # oras wants a Subject, typed as str
        disable_path_validation=True,
        quiet=True,
    )
    digest = response.headers["Docker-Content-Digest"]
    repository = target.rpartition(":")[0] if "@" not in target else target.partition("@")[0]
    raw = _get(registry, f"{repository}@{digest}")
    assert registry_api.sha256_digest(raw) == digest
    manifest = json.loads(raw)
    return Pushed(
        digest=digest,
        size=len(raw),
        media_type=manifest["mediaType"],
        artifact_type=manifest.get("artifactType") or manifest["config"]["mediaType"],
        annotations=manifest.get("annotations") or {},
    )


def _get(registry: RunningRegistry, reference: str) -> bytes:
    """A manifest's bytes: `repository:tag` or `repository@digest`."""
    repository, sep, target = reference.partition("@")
    if not sep:
        repository, _, target = reference.rpartition(":")
    answer = httpx.get(
        f"{registry.url}/v2/{repository}/manifests/{target}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
        timeout=registry_api.TIMEOUT_S,
    )
    assert answer.status_code == 200, answer.text
    return answer.content


def _tag_of(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}"


def push_cosign_signatures(
    registry: RunningRegistry,
    workdir: Path,
    repository: str,
    subject_digest: str,
    signatures: list[Signature],
) -> Pushed:
    """cosign's `.sig` tag: an image manifest, one simple-signing layer per signature."""
    layers = [
        (s.payload, SIMPLE_SIGNING, {SIGNATURE_ANNOTATION: base64.b64encode(s.signature).decode()})
        for s in signatures
    ]
    config = json.dumps(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {
                "type": "layers",
                "diff_ids": [registry_api.sha256_digest(s.payload) for s in signatures],
            },
        }
    ).encode()
    return _push(
        registry,
        workdir,
        f"{repository}:{_tag_of(subject_digest)}.sig",
        layers,
        config=(config, OCI_CONFIG),
    )


def push_signature_referrer(
    registry: RunningRegistry,
    workdir: Path,
    repository: str,
    subject_digest: str,
    signature: Signature,
) -> Pushed:
    """cosign's OCI 1.1 form: an artifact with a subject whose type is cosign's signature type
    (here the config's media type, which the spec makes the artifact type)."""
    layer = (
        signature.payload,
        SIMPLE_SIGNING,
        {SIGNATURE_ANNOTATION: base64.b64encode(signature.signature).decode()},
    )
    return _push(
        registry,
        workdir,
        f"{repository}:signature-{subject_digest[7:19]}",
        [layer],
        config=(b"{}", COSIGN_SIG_ARTIFACT),
        subject=f"{repository}@{subject_digest}",
    )


def push_artifact(
    registry: RunningRegistry,
    workdir: Path,
    repository: str,
    subject_digest: str,
    artifact_type: str,
    data: bytes,
    annotations: dict[str, str],
) -> Pushed:
    """An OCI 1.1 artifact (an SBOM, say) with a subject, pushed by oras."""
    return _push(
        registry,
        workdir,
        f"{repository}:artifact-{subject_digest[7:19]}",
        [(data, artifact_type, {})],
        config=(b"{}", artifact_type),
        subject=f"{repository}@{subject_digest}",
        annotations=annotations,
    )


def write_fallback_index(
    registry: RunningRegistry, repository: str, subject_digest: str, referrers: list[Pushed]
) -> str:
    """The OCI 1.1 referrers tag schema: `<alg>-<hex>` names an index of the referrers."""
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [referrer.descriptor() for referrer in referrers],
        }
    ).encode()
    return registry_api.put_manifest(registry, repository, _tag_of(subject_digest), raw, OCI_INDEX)
