"""Public keys: the kinds cosign signs with are accepted and checked; others refused up front."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from imagepin_server.core.keys import load_public_key, load_public_keys, signature_verifies
from imagepin_server.errors import BadPublicKey

from tests.support import attachments as att

PAYLOAD = b'{"critical": {}}'


def test_each_kind_verifies_its_own_signature_and_no_other() -> None:
    signers = [att.ecdsa_signer(), att.rsa_signer(), att.ed25519_signer()]
    for signer in signers:
        key = load_public_key(signer.public_pem)
        assert signature_verifies(key, signer.sign(PAYLOAD), PAYLOAD)
        assert not signature_verifies(key, signer.sign(PAYLOAD), PAYLOAD + b" ")
        for other in signers:
            if other is not signer:
                assert not signature_verifies(key, other.sign(PAYLOAD), PAYLOAD)


def test_rsa_pss_signatures_verify_too() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = private.sign(
        PAYLOAD,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
        hashes.SHA256(),
    )
    assert signature_verifies(load_public_key(att.Signer(private).public_pem), signature, PAYLOAD)


def test_the_key_id_is_the_sha256_of_the_der_spki() -> None:
    signer = att.ecdsa_signer()
    der = signer.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_public_key(signer.public_pem).key_id == "sha256:" + hashlib.sha256(der).hexdigest()


def _weak_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)  # noqa: S505 - a weak key, refused as tested


def _pem(public: object) -> str:
    return public.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(
    ("pem", "said"),
    [
        ("not a key", "not a PEM public key"),
        (_pem(_weak_rsa().public_key()), "1024 bits"),
        (_pem(ec.generate_private_key(ec.SECP256K1()).public_key()), "secp256k1"),
        (_pem(dsa.generate_private_key(2048).public_key()), "cosign does not sign with"),
        ("x" * 20_000, "larger than"),
    ],
)
def test_unusable_keys_are_refused(pem: str, said: str) -> None:
    with pytest.raises(BadPublicKey, match=said):
        load_public_key(pem)


def test_keys_are_counted_named_by_position_and_deduplicated() -> None:
    signer = att.ecdsa_signer()
    assert len(load_public_keys([signer.public_pem, signer.public_pem])) == 1
    with pytest.raises(BadPublicKey, match=r"public_keys\[1\]"):
        load_public_keys([signer.public_pem, "garbage"])
    with pytest.raises(BadPublicKey, match="at most"):
        load_public_keys([signer.public_pem] * 33)
