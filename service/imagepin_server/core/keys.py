"""Public keys a caller trusts, and checking a signature against them.

Pure (no I/O): PEM SubjectPublicKeyInfo in, a key with its fingerprint out. cosign signs the
payload bytes with ECDSA (P-256 and SHA-256; P-384 and P-521 with their hashes), RSA (PKCS #1
v1.5 or PSS, SHA-256) or Ed25519, so those are the kinds accepted; anything else is refused at
the door rather than never verifying.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from imagepin_server.errors import BadPublicKey

MAX_KEYS: Final = 32
MAX_PEM_BYTES: Final = 16 * 1024
MIN_RSA_BITS: Final = 2048
_EC_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}

Key = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A trusted key and its id: the sha256 of its DER SubjectPublicKeyInfo."""

    key_id: str
    key: Key


def load_public_key(pem: str, *, where: str = "public key") -> PublicKey:
    """Parse one PEM public key; BadPublicKey says why it is not usable."""
    data = pem.strip().encode("utf-8", "replace")
    if len(data) > MAX_PEM_BYTES:
        raise BadPublicKey(f"{where} is larger than {MAX_PEM_BYTES} bytes")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadPublicKey(f"{where} is not a PEM public key (SubjectPublicKeyInfo)") from exc
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_HASHES:
            raise BadPublicKey(f"{where} is on curve {key.curve.name}; P-256, P-384, P-521 work")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise BadPublicKey(f"{where} is RSA of {key.key_size} bits, under {MIN_RSA_BITS}")
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise BadPublicKey(f"{where} is of a kind cosign does not sign with (ECDSA, RSA, Ed25519)")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PublicKey(key_id="sha256:" + hashlib.sha256(der).hexdigest(), key=key)


def load_public_keys(pems: list[str]) -> tuple[PublicKey, ...]:
    """Several keys, in order, each named by its position in errors; duplicates kept once."""
    if len(pems) > MAX_KEYS:
        raise BadPublicKey(f"{len(pems)} public keys given; at most {MAX_KEYS} are accepted")
    keys: dict[str, PublicKey] = {}
    for i, pem in enumerate(pems):
        key = load_public_key(pem, where=f"public_keys[{i}]")
        keys.setdefault(key.key_id, key)
    return tuple(keys.values())


def signature_verifies(key: PublicKey, signature: bytes, payload: bytes) -> bool:
    """True when `signature` is `key`'s signature over exactly `payload`."""
    try:
        public = key.key
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, payload, ec.ECDSA(_EC_HASHES[public.curve.name]()))
        elif isinstance(public, rsa.RSAPublicKey):
            return _rsa_verifies(public, signature, payload)
        else:
            public.verify(signature, payload)
    except InvalidSignature:
        return False
    return True


def _rsa_verifies(public: rsa.RSAPublicKey, signature: bytes, payload: bytes) -> bool:
    """cosign signs RSA keys with PKCS #1 v1.5 by default; PSS is the other padding it knows."""
    paddings: tuple[padding.AsymmetricPadding, ...] = (
        padding.PKCS1v15(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
    )
    for pad in paddings:
        try:
            public.verify(signature, payload, pad, hashes.SHA256())
        except InvalidSignature:
            continue
        return True
    return False
