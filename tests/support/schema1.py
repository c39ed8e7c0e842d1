"""Docker schema 1 manifests signed the way libtrust signs them (a "pretty" JWS).

Old clients pushed these, and registries still serve them. The signed form embeds the
signatures in the manifest JSON; the registry names it by the digest of the *payload* (the bytes
with the signatures cut out, rebuilt from `formatLength` and `formatTail`), not of what it
serves. The registry verifies the signature on PUT, so it must be real: an EC P-256 key, ES256.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

SIGNED_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
_INDENT = "   "  # what docker's schema1 manifests were indented with


@dataclass(frozen=True)
class SignedSchema1:
    """A signed schema 1 manifest: the bytes a registry serves and the digest it names them by."""

    raw: bytes  # the manifest with its `signatures`
    payload: bytes  # what was signed: the manifest without them

    @property
    def payload_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.payload).hexdigest()

    @property
    def raw_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _key_id(key: ec.EllipticCurvePublicKey) -> str:
    """libtrust's key ID: base32 of the first 240 bits of SHA-256 of the DER public key."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def _jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    return {
        "crv": "P-256",
        "kid": _key_id(key),
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }


def sign_schema1(
    repository: str, tag: str, layer_digests: list[str], *, created: str = "2016-01-01T00:00:00Z"
) -> SignedSchema1:
    """A schema 1 manifest for `repository:tag` over the layers (base first), signed.

    schema 1 lists layers top first (`fsLayers` and `history` in the same order), each history
    entry a v1 image JSON whose ids chain to its parent.
    """
    top_first = list(reversed(layer_digests))
    ids = [
        hashlib.sha256(f"{repository}/{i}/{d}".encode()).hexdigest()
        for i, d in enumerate(top_first)
    ]
    history = []
    for i, layer_id in enumerate(ids):
        v1: dict[str, Any] = {"id": layer_id, "created": created, "os": "linux"}
        if i + 1 < len(ids):
            v1["parent"] = ids[i + 1]
        if i == 0:
            v1["architecture"] = "amd64"
            v1["config"] = {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]}
        history.append({"v1Compatibility": json.dumps(v1, separators=(",", ":"))})
    manifest = {
        "schemaVersion": 1,
        "name": repository,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": [{"blobSum": digest} for digest in top_first],
        "history": history,
    }
    payload = json.dumps(manifest, indent=_INDENT).encode()
    return _pretty_sign(payload)


def _pretty_sign(payload: bytes) -> SignedSchema1:
    """libtrust's PrettySignature: sign `payload` and splice `signatures` in before its last `}`."""
    close = payload.rstrip().rindex(b"}")
    format_length = len(payload[:close].rstrip())
    tail = payload[format_length:]
    protected = _b64(
        json.dumps(
            {
                "formatLength": format_length,
                "formatTail": _b64(tail),
                "time": "2016-01-01T00:00:00Z",
            }
        ).encode()
    )
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(f"{protected}.{_b64(payload)}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = {
        "header": {"jwk": _jwk(key.public_key()), "alg": "ES256"},
        "signature": _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        "protected": protected,
    }
    block = json.dumps([signature], indent=_INDENT).replace("\n", "\n" + _INDENT)
    raw = payload[:format_length] + f',\n{_INDENT}"signatures": {block}'.encode() + tail
    return SignedSchema1(raw=raw, payload=payload)
