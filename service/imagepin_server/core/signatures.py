"""VerifySignatures: does an image carry a cosign signature under a key the caller trusts?

Signatures are found where cosign keeps them: the `sha256-<hex>.sig` tag and OCI 1.1 referrers
(the API or its fallback tag) of the signature artifact type. Each simple-signing payload is
fetched by digest (and so hashed), must name this image's digest and repository, and its
`dev.cosignproject.cosign/signature` annotation must verify under a trusted key. A signature that
does not is an answer (verified false, with why), never an error. Verdicts are kept by
(image, trusted keys, signature manifests): a warm verification asks the registry nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Final

from imagepin_server import mediatypes
from imagepin_server import reference as references
from imagepin_server.core import content
from imagepin_server.core.attachments import (
    Referrer,
    ReferrerSource,
    SignatureCheck,
    VerdictKey,
)
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Descriptor, ImageManifest, Platform, parse_manifest
from imagepin_server.core.keys import PublicKey, load_public_keys, signature_verifies
from imagepin_server.core.referrers import referrers_of
from imagepin_server.core.resolve import resolve
from imagepin_server.digests import Digest
from imagepin_server.errors import (
    BadTrust,
    ImagepinError,
    IntegrityError,
    NotFound,
    TooLarge,
    TrustPolicyNotFound,
    UnsupportedContent,
)
from imagepin_server.reference import Reference

SIGNATURE_ANNOTATION: Final = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION: Final = "dev.sigstore.cosign/certificate"
BUNDLE_ANNOTATION: Final = "dev.sigstore.cosign/bundle"
PAYLOAD_LIMIT: Final = 256 * 1024
MAX_SIGNATURE_MANIFESTS: Final = 16
MAX_SIGNATURES: Final = 64
# Errors of one signature's content: the answer for that signature, not for the call.
_CONTENT_ERRORS: Final = (NotFound, IntegrityError, TooLarge, UnsupportedContent)
KEYLESS: Final = (
    "a keyless (Sigstore) signature: imagepin verifies key-based cosign signatures only, and "
    "has no trusted root to check a Fulcio certificate and transparency-log entry against"
)


@dataclass(frozen=True, slots=True)
class SignatureVerification:
    reference: Reference
    digest: Digest  # the image whose signatures were checked
    signatures: tuple[SignatureCheck, ...]

    @property
    def verified(self) -> bool:
        return any(check.verified for check in self.signatures)


async def verify_signatures(
    deps: Dependencies,
    reference: Reference,
    platform: Platform | None,
    *,
    public_keys: list[str],
    policy: str,
) -> SignatureVerification:
    """Check every cosign signature of the image `reference` names against the trusted keys."""
    if bool(public_keys) == bool(policy):
        raise BadTrust(
            "give either public_keys (PEM) or the name of a trust policy, "
            + ("not both" if policy else "one of them")
        )
    keys = load_public_keys(public_keys) if public_keys else None
    resolution = await resolve(deps, reference, platform)
    ref, digest = resolution.reference, resolution.digest
    if keys is None:
        keys = deps.attachments.trust.keys_for(policy, ref.name)
        if keys is None:
            raise TrustPolicyNotFound(
                f"trust policy {policy!r} is not defined in the server's trust policies file",
                reference=str(ref),
            )
    found = _signature_referrers((await referrers_of(deps, ref, digest)).referrers)
    key: VerdictKey = (
        ref.registry,
        ref.repository,
        str(digest),
        tuple(sorted(k.key_id for k in keys)),
        tuple(str(r.descriptor.digest) for r in found),
    )
    checks = deps.attachments.verdicts.get(key)
    if checks is None:
        checks = await _check_all(deps, ref, digest, found, keys, policy)
        deps.attachments.verdicts[key] = checks
    return SignatureVerification(reference=ref, digest=digest, signatures=checks)


def _signature_referrers(referrers: tuple[Referrer, ...]) -> list[Referrer]:
    """The referrers that carry signatures: cosign's `.sig` tag, its referrer artifact type,
    and Sigstore bundles (reported, not verifiable)."""
    found = [
        r
        for r in referrers
        if r.source is not ReferrerSource.INDEX_ATTESTATION
        and (
            r.descriptor.artifact_type == mediatypes.COSIGN_SIGNATURE_ARTIFACT
            or mediatypes.is_sigstore_bundle(r.descriptor.artifact_type)
        )
    ]
    return found[:MAX_SIGNATURE_MANIFESTS]


async def _check_all(
    deps: Dependencies,
    ref: Reference,
    digest: Digest,
    found: list[Referrer],
    keys: tuple[PublicKey, ...],
    policy: str,
) -> tuple[SignatureCheck, ...]:
    checks: list[SignatureCheck] = []
    for referrer in found:
        carrier, source = referrer.descriptor.digest, referrer.source
        if mediatypes.is_sigstore_bundle(referrer.descriptor.artifact_type):
            checks.append(SignatureCheck(carrier, source, error=KEYLESS))
            continue
        try:
            cached = await content.manifest(deps, ref, carrier)
            manifest = parse_manifest(cached.raw, cached.media_type)
        except _CONTENT_ERRORS as exc:
            checks.append(SignatureCheck(carrier, source, error=_said(exc)))
            continue
        layers = manifest.layers if isinstance(manifest, ImageManifest) else ()
        for layer in layers:
            if mediatypes.base(layer.media_type) != mediatypes.COSIGN_SIMPLE_SIGNING:
                continue
            if len(checks) >= MAX_SIGNATURES:
                return tuple(checks)
            if keys:
                key_id, error = await _check_layer(deps, ref, digest, layer, keys)
            else:  # nothing could verify it: say why, and fetch nothing
                key_id, error = "", f"trust policy {policy!r} trusts no key for {ref.name}"
            checks.append(SignatureCheck(carrier, source, key_id, not error, error))
    return tuple(checks)


async def _check_layer(
    deps: Dependencies,
    ref: Reference,
    digest: Digest,
    layer: Descriptor,
    keys: tuple[PublicKey, ...],
) -> tuple[str, str]:
    """(key id, error) for one simple-signing layer; the error is empty when it verifies."""
    keyless = CERTIFICATE_ANNOTATION in layer.annotations or BUNDLE_ANNOTATION in layer.annotations
    try:
        signature = base64.b64decode(layer.annotations.get(SIGNATURE_ANNOTATION, ""), validate=True)
    except (binascii.Error, ValueError):
        return "", f"the {SIGNATURE_ANNOTATION} annotation is not base64"
    if not signature:
        return "", f"the layer has no {SIGNATURE_ANNOTATION} annotation"
    if layer.size > PAYLOAD_LIMIT:
        return "", f"the payload is {layer.size} bytes, over imagepin's limit of {PAYLOAD_LIMIT}"
    try:
        payload = (await deps.registry.get_blob(ref, layer.digest, limit=PAYLOAD_LIMIT)).data
    except _CONTENT_ERRORS as exc:
        return "", f"the payload {layer.digest}: {_said(exc)}"
    key_id = next((k.key_id for k in keys if signature_verifies(k, signature, payload)), "")
    if not key_id:
        return "", KEYLESS if keyless else "the signature does not verify under any trusted key"
    return key_id, payload_error(payload, digest, ref)


def payload_error(payload: bytes, digest: Digest, ref: Reference) -> str:
    """Why a simple-signing payload does not vouch for `digest` in `ref`'s repository; empty
    when it does."""
    try:
        document = json.loads(payload)
        critical = document["critical"]
        named = critical["image"]["docker-manifest-digest"]
        identity = critical["identity"]["docker-reference"]
    except (ValueError, UnicodeDecodeError, RecursionError, KeyError, TypeError):
        return "the payload is not a cosign simple-signing document"
    if not isinstance(named, str) or not isinstance(identity, str):
        return "the payload is not a cosign simple-signing document"
    if named != str(digest):
        return f"the payload signs {named[:80]}, not this image's digest {digest}"
    try:
        signed_for = references.parse(identity).name
    except references.InvalidReference:
        return f"the payload names an invalid docker-reference {identity[:80]!r}"
    if signed_for != ref.name:
        return f"the payload was signed for {signed_for}, not {ref.name}"
    return ""


def _said(exc: ImagepinError) -> str:
    return exc.message
