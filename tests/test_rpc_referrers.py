"""ListReferrers and VerifySignatures against the real registry and the real server.

The registry (CNCF distribution 2.8) has no OCI 1.1 referrers API, so these tests exercise the
fallback tag and cosign's tags, with artifacts pushed by a real client (the `oras` SDK) and the
subject's fallback index written as the spec tells a client to; images and BuildKit-style
indexes with attestations are pushed by skopeo from OCI layouts built here. Signatures are made
in the test with `cryptography`, in cosign's format. The API path itself (with `Link` paging)
is tested against a spec-faithful fake in test_referrers_api.py. The registry's access log
counts what imagepin really asked.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner, Result
from imagepin.cli import cli
from imagepin.v1 import resolver_pb2 as pb

from tests.clients import admission
from tests.clients.test_webhook import Webhook, start_webhook, stop
from tests.support import attachments as att
from tests.support import skopeo
from tests.support.counted_registry import ACCESS_LOGGED, CountedRegistry
from tests.support.image_fixtures import PushedImage, build_small_image, push_layout
from tests.support.oci_layouts import LINUX_AMD64, LINUX_ARM64_V8, OciLayout, small_image_spec
from tests.support.registries import launch_registry
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer, start_server, stop_server

SBOM_TYPE = "application/spdx+json"
TIMEOUT_S = 20
ANY = "(GET|HEAD)"  # the requests that read content or listings


@dataclass
class Setup:
    counted: CountedRegistry
    server: RunningServer
    signed: PushedImage  # attach/signed:1 with a .sig tag, a signature referrer and an SBOM
    sig_tag: att.Pushed  # its .sig manifest: valid (A), by another key (B), another digest (A)
    sig_referrer: att.Pushed  # an OCI 1.1 signature referrer by A, in the fallback index
    sbom: att.Pushed  # an OCI 1.1 SBOM referrer, in the fallback index
    a: att.Signer
    b: att.Signer
    c: att.Signer  # signs nothing
    keys: PushedImage  # attach/keys:1 signed by RSA, Ed25519, and for another repository
    rsa: att.Signer
    ed: att.Signer
    buildx: str  # attach/buildx:1, an index: amd64 + arm64 images with attestations
    buildx_digest: str
    amd64: str  # the amd64 child's digest (signed by A through its .sig tag)
    arm64: str
    attestations: dict[str, str]  # attestation manifest digest -> the image it names
    amd64_sig: att.Pushed
    unsigned: PushedImage


def _sign(signer: att.Signer, reference: str, digest: str) -> att.Signature:
    payload = att.simple_signing_payload(reference, digest)
    return att.Signature(payload, signer.sign(payload))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("referrers")
    with launch_registry(workdir / "registry", config_extra=ACCESS_LOGGED) as registry:
        counted = CountedRegistry(registry, workdir / "registry" / "registry.log")
        host = registry.host
        a, b, c = att.ecdsa_signer(), att.ecdsa_signer(), att.ecdsa_signer()
        rsa, ed = att.rsa_signer(), att.ed25519_signer()
        pushes = workdir / "oras"

        signed = push_layout(
            registry, build_small_image(workdir / "signed", "signed"), "attach/signed", "1"
        )
        name = f"{host}/attach/signed"
        sig_tag = att.push_cosign_signatures(
            registry,
            pushes,
            "attach/signed",
            signed.digest,
            [
                _sign(a, name, signed.digest),
                _sign(b, name, signed.digest),
                _sign(a, name, "sha256:" + "0" * 64),
            ],
        )
        sig_referrer = att.push_signature_referrer(
            registry, pushes, "attach/signed", signed.digest, _sign(a, name, signed.digest)
        )
        sbom = att.push_artifact(
            registry,
            pushes,
            "attach/signed",
            signed.digest,
            SBOM_TYPE,
            b'{"spdxVersion": "SPDX-2.3"}',
            {"org.example.kind": "sbom"},
        )
        att.write_fallback_index(registry, "attach/signed", signed.digest, [sig_referrer, sbom])

        keys = push_layout(
            registry, build_small_image(workdir / "keys", "keys"), "attach/keys", "1"
        )
        keys_name = f"{host}/attach/keys"
        att.push_cosign_signatures(
            registry,
            pushes,
            "attach/keys",
            keys.digest,
            [
                _sign(rsa, keys_name, keys.digest),
                _sign(ed, keys_name, keys.digest),
                _sign(c, f"{host}/attach/elsewhere", keys.digest),
            ],
        )

        layout = OciLayout(workdir / "buildx-layout")
        amd = layout.write_image(small_image_spec("buildx", platform=LINUX_AMD64), None)
        arm = layout.write_image(small_image_spec("buildx", platform=LINUX_ARM64_V8), None)
        att_amd, att_arm = layout.write_attestation(amd), layout.write_attestation(arm)
        index = layout.write_index_of([amd.descriptor(), arm.descriptor(), att_amd, att_arm], "b")
        assert (
            skopeo.copy_to_registry(layout.root, "b", registry, "attach/buildx", "1")
            == index.digest
        )
        amd64_sig = att.push_cosign_signatures(
            registry,
            pushes,
            "attach/buildx",
            amd.manifest_digest,
            [_sign(a, f"{host}/attach/buildx", amd.manifest_digest)],
        )
        unsigned = push_layout(
            registry, build_small_image(workdir / "unsigned", "unsigned"), "attach/unsigned", "1"
        )

        policies = workdir / "trust.toml"
        (workdir / "a.pub").write_text(a.public_pem)
        policies.write_text(
            f'''
[[policy]]
name = "prod"
repositories = ["{host}/attach/*"]
key_files = ["a.pub"]

[[policy]]
name = "prod"
repositories = ["{host}/attach/keys"]
keys = ["""{rsa.public_pem}"""]

[[policy]]
name = "elsewhere"
repositories = ["ghcr.io/acme/*"]
keys = ["""{a.public_pem}"""]
'''
        )
        server = start_server(
            workdir / "server",
            env={"IMAGEPIN_TRUST_POLICIES_FILE": str(policies), "IMAGEPIN_INDEX_LAYERS": "false"},
        )
        try:
            yield Setup(
                counted=counted,
                server=server,
                signed=signed,
                sig_tag=sig_tag,
                sig_referrer=sig_referrer,
                sbom=sbom,
                a=a,
                b=b,
                c=c,
                keys=keys,
                rsa=rsa,
                ed=ed,
                buildx=f"{host}/attach/buildx:1",
                buildx_digest=index.digest,
                amd64=amd.manifest_digest,
                arm64=arm.manifest_digest,
                attestations={
                    att_amd["digest"]: amd.manifest_digest,
                    att_arm["digest"]: arm.manifest_digest,
                },
                amd64_sig=amd64_sig,
                unsigned=unsigned,
            )
        finally:
            stop_server(server)


def referrers(setup: Setup, reference: str, **fields: object) -> pb.ListReferrersResponse:
    request = pb.ListReferrersRequest(reference=reference, **fields)  # type: ignore[arg-type]
    answer: pb.ListReferrersResponse = setup.server.stub.ListReferrers(request, timeout=TIMEOUT_S)
    return answer


def signatures(setup: Setup, reference: str, **fields: object) -> pb.VerifySignaturesResponse:
    request = pb.VerifySignaturesRequest(reference=reference, **fields)  # type: ignore[arg-type]
    answer: pb.VerifySignaturesResponse = setup.server.stub.VerifySignatures(
        request, timeout=TIMEOUT_S
    )
    return answer


def listed(answer: pb.ListReferrersResponse) -> dict[str, pb.Referrer]:
    found = {r.descriptor.digest: r for r in answer.referrers}
    assert len(found) == len(answer.referrers), "a referrer is listed once"
    return found


# --- ListReferrers ------------------------------------------------------------------------------


def test_referrers_come_from_the_fallback_tag_and_cosign_tags(setup: Setup) -> None:
    answer = referrers(setup, setup.signed.reference)
    assert answer.digest == setup.signed.digest
    assert not answer.truncated
    found = listed(answer)
    assert set(found) == {setup.sig_tag.digest, setup.sig_referrer.digest, setup.sbom.digest}
    for referrer in found.values():
        assert referrer.subject_digest == setup.signed.digest

    tag = found[setup.sig_tag.digest]
    assert tag.source == pb.REFERRER_SOURCE_COSIGN_TAG
    assert tag.descriptor.media_type == att.OCI_MANIFEST
    assert tag.descriptor.size == setup.sig_tag.size
    assert tag.descriptor.artifact_type == att.COSIGN_SIG_ARTIFACT

    sbom = found[setup.sbom.digest]
    assert sbom.source == pb.REFERRER_SOURCE_FALLBACK_TAG
    assert sbom.descriptor.artifact_type == SBOM_TYPE
    assert sbom.descriptor.size == setup.sbom.size
    assert sbom.descriptor.media_type == att.OCI_MANIFEST
    assert dict(sbom.descriptor.annotations) == setup.sbom.annotations
    assert sbom.descriptor.annotations["org.example.kind"] == "sbom"

    signature = found[setup.sig_referrer.digest]
    assert signature.source == pb.REFERRER_SOURCE_FALLBACK_TAG
    assert signature.descriptor.artifact_type == att.COSIGN_SIG_ARTIFACT


def test_a_digest_reference_lists_the_same(setup: Setup) -> None:
    by_tag = referrers(setup, setup.signed.reference)
    by_digest = referrers(setup, setup.signed.pinned_reference)
    assert by_digest.digest == by_tag.digest
    assert listed(by_digest).keys() == listed(by_tag).keys()


def test_the_artifact_type_filter(setup: Setup) -> None:
    sigs = referrers(setup, setup.signed.reference, artifact_type=att.COSIGN_SIG_ARTIFACT)
    assert set(listed(sigs)) == {setup.sig_tag.digest, setup.sig_referrer.digest}
    sboms = referrers(setup, setup.signed.reference, artifact_type=SBOM_TYPE)
    assert set(listed(sboms)) == {setup.sbom.digest}
    none = referrers(setup, setup.signed.reference, artifact_type="application/x-nothing")
    assert list(none.referrers) == []


def test_an_image_with_nothing_attached_has_no_referrers(setup: Setup) -> None:
    answer = referrers(setup, setup.unsigned.reference)
    assert answer.digest == setup.unsigned.digest
    assert list(answer.referrers) == []
    assert not answer.truncated


def test_buildkit_attestations_in_an_index_refer_to_their_images(setup: Setup) -> None:
    answer = referrers(setup, setup.buildx)
    assert answer.digest == setup.buildx_digest
    found = listed(answer)
    assert set(found) == set(setup.attestations)
    for digest, referrer in found.items():
        assert referrer.source == pb.REFERRER_SOURCE_INDEX_ATTESTATION
        assert referrer.subject_digest == setup.attestations[digest]
        assert referrer.descriptor.annotations["vnd.docker.reference.type"] == (
            "attestation-manifest"
        )


def test_include_children_adds_the_referrers_of_each_child(setup: Setup) -> None:
    answer = referrers(setup, setup.buildx, include_children=True)
    found = listed(answer)
    assert set(found) == {*setup.attestations, setup.amd64_sig.digest}
    child_sig = found[setup.amd64_sig.digest]
    assert child_sig.subject_digest == setup.amd64
    assert child_sig.source == pb.REFERRER_SOURCE_COSIGN_TAG
    assert not answer.truncated


def test_a_warm_listing_asks_the_registry_nothing(setup: Setup) -> None:
    referrers(setup, setup.keys.pinned_reference)
    before = setup.counted.count(ANY, ".*")
    again = referrers(setup, setup.keys.pinned_reference)
    assert setup.counted.count(ANY, ".*") == before
    assert len(again.referrers) == 1


def test_cold_concurrent_listings_ask_each_source_once(setup: Setup, tmp_path: Path) -> None:
    """Many callers, one cold subject: one fallback-tag fetch, one per cosign tag."""
    image = push_layout(
        setup.counted.registry, build_small_image(tmp_path, "crowd"), "attach/crowd", "1"
    )
    hex_part = image.digest[7:]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: referrers(setup, image.pinned_reference), range(32)))
    assert all(list(a.referrers) == [] for a in answers)
    assert setup.counted.count(ANY, f"attach/crowd/manifests/sha256-{hex_part}") == 1
    for suffix in ("sig", "att", "sbom"):
        assert setup.counted.count(ANY, f"attach/crowd/manifests/sha256-{hex_part}\\.{suffix}") == 1
    assert setup.counted.count(ANY, f"attach/crowd/referrers/sha256:{hex_part}") == 1


def test_no_referrers_api_is_remembered_per_repository(setup: Setup, tmp_path: Path) -> None:
    first = push_layout(
        setup.counted.registry, build_small_image(tmp_path / "1", "first"), "attach/repo", "1"
    )
    second = push_layout(
        setup.counted.registry, build_small_image(tmp_path / "2", "second"), "attach/repo", "2"
    )
    referrers(setup, first.pinned_reference)
    referrers(setup, second.pinned_reference)
    assert setup.counted.count(ANY, "attach/repo/referrers/.*") == 1
    # ...but every subject's own fallback tag is still read.
    assert setup.counted.count(ANY, f"attach/repo/manifests/sha256-{second.digest[7:]}") == 1


def test_bad_references_are_the_callers_error(setup: Setup) -> None:
    with pytest.raises(grpc.RpcError) as bad:
        referrers(setup, "Not A Reference")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(bad.value).reason == "INVALID_REFERENCE"
    with pytest.raises(grpc.RpcError) as missing:
        referrers(setup, f"{setup.counted.host}/attach/signed:no-such-tag")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(missing.value).reason == "MANIFEST_NOT_FOUND"


# --- VerifySignatures ---------------------------------------------------------------------------


def by_source(answer: pb.VerifySignaturesResponse) -> list[tuple[int, bool, str, str]]:
    return [(s.source, s.verified, s.key_id, s.signature_digest) for s in answer.signatures]


def test_a_signature_by_the_trusted_key_verifies(setup: Setup) -> None:
    answer = signatures(setup, setup.signed.reference, public_keys=[setup.a.public_pem])
    assert answer.verified
    assert answer.digest == setup.signed.digest
    tag, referrer = setup.sig_tag.digest, setup.sig_referrer.digest
    results = list(answer.signatures)
    assert [(s.signature_digest, s.source) for s in results] == [
        (referrer, pb.REFERRER_SOURCE_FALLBACK_TAG),
        (tag, pb.REFERRER_SOURCE_COSIGN_TAG),
        (tag, pb.REFERRER_SOURCE_COSIGN_TAG),
        (tag, pb.REFERRER_SOURCE_COSIGN_TAG),
    ]
    by_referrer, valid, other_key, other_digest = results
    for good in (by_referrer, valid):
        assert good.verified
        assert good.key_id == setup.a.key_id
        assert good.error == ""
    assert not other_key.verified
    assert other_key.key_id == ""
    assert "does not verify" in other_key.error
    assert not other_digest.verified
    assert other_digest.key_id == setup.a.key_id  # the key is right; what it signed is not
    assert "sha256:" + "0" * 64 in other_digest.error
    assert setup.signed.digest in other_digest.error


def test_another_key_verifies_only_its_own_signature(setup: Setup) -> None:
    answer = signatures(setup, setup.signed.reference, public_keys=[setup.b.public_pem])
    assert answer.verified
    assert [s.verified for s in answer.signatures] == [False, False, True, False]
    assert answer.signatures[2].key_id == setup.b.key_id


def test_an_untrusted_key_verifies_nothing_and_is_an_answer(setup: Setup) -> None:
    answer = signatures(setup, setup.signed.reference, public_keys=[setup.c.public_pem])
    assert not answer.verified
    assert len(answer.signatures) == 4
    assert all(not s.verified and s.error and not s.key_id for s in answer.signatures)


def test_rsa_and_ed25519_keys(setup: Setup) -> None:
    for signer, position in ((setup.rsa, 0), (setup.ed, 1)):
        answer = signatures(setup, setup.keys.reference, public_keys=[signer.public_pem])
        assert answer.verified
        verified = [i for i, s in enumerate(answer.signatures) if s.verified]
        assert verified == [position]
        assert answer.signatures[position].key_id == signer.key_id


def test_a_signature_for_another_repository_does_not_verify(setup: Setup) -> None:
    answer = signatures(setup, setup.keys.reference, public_keys=[setup.c.public_pem])
    assert not answer.verified
    wrong_repository = answer.signatures[2]
    assert wrong_repository.key_id == setup.c.key_id
    assert "attach/elsewhere" in wrong_repository.error


def test_policies_name_keys_per_repository(setup: Setup) -> None:
    prod = signatures(setup, setup.signed.reference, policy="prod")
    assert prod.verified
    assert [s.key_id for s in prod.signatures if s.verified] == [setup.a.key_id] * 2
    # attach/keys is covered by two rules of "prod": A's and the RSA key's.
    keys = signatures(setup, setup.keys.reference, policy="prod")
    assert keys.verified
    assert [s.verified for s in keys.signatures] == [True, False, False]
    elsewhere = signatures(setup, setup.signed.reference, policy="elsewhere")
    assert not elsewhere.verified
    assert all("trusts no key" in s.error for s in elsewhere.signatures)


def test_an_unsigned_image_is_not_verified(setup: Setup) -> None:
    answer = signatures(setup, setup.unsigned.reference, public_keys=[setup.a.public_pem])
    assert not answer.verified
    assert answer.digest == setup.unsigned.digest
    assert list(answer.signatures) == []


def test_an_index_child_is_verified_for_a_platform(setup: Setup) -> None:
    platform = pb.Platform(os="linux", architecture="amd64")
    child = signatures(setup, setup.buildx, platform=platform, public_keys=[setup.a.public_pem])
    assert child.digest == setup.amd64
    assert child.verified
    assert [s.signature_digest for s in child.signatures] == [setup.amd64_sig.digest]
    index = signatures(setup, setup.buildx, public_keys=[setup.a.public_pem])
    assert index.digest == setup.buildx_digest
    assert not index.verified  # the index itself is not signed


def test_a_warm_verification_asks_the_registry_nothing(setup: Setup) -> None:
    keys = [setup.ed.public_pem]
    first = signatures(setup, setup.keys.pinned_reference, public_keys=keys)
    before = setup.counted.count(ANY, ".*")
    second = signatures(setup, setup.keys.pinned_reference, public_keys=keys)
    assert setup.counted.count(ANY, ".*") == before
    assert second == first


def test_trust_errors_are_the_callers(setup: Setup) -> None:
    cases = [
        ({}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_TRUST"),
        (
            {"public_keys": [setup.a.public_pem], "policy": "prod"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_TRUST",
        ),
        ({"public_keys": ["not a key"]}, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PUBLIC_KEY"),
        ({"policy": "nonexistent"}, grpc.StatusCode.NOT_FOUND, "TRUST_POLICY_NOT_FOUND"),
    ]
    for fields, code, reason in cases:
        with pytest.raises(grpc.RpcError) as failed:
            signatures(setup, setup.signed.reference, **fields)
        assert failed.value.code() == code, fields
        assert error_info(failed.value).reason == reason


# --- the imagepin command -----------------------------------------------------------------------


def run(setup: Setup, *args: str) -> Result:
    command, *rest = args
    result = CliRunner().invoke(cli, [command, "--server", setup.server.target, *rest])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_the_referrers_command(setup: Setup) -> None:
    table = run(setup, "referrers", setup.signed.reference)
    assert table.exit_code == 0, table.output
    for pushed, source in (
        (setup.sig_tag, "cosign-tag"),
        (setup.sig_referrer, "fallback-tag"),
        (setup.sbom, "fallback-tag"),
    ):
        line = next(line for line in table.stdout.splitlines() if pushed.digest in line)
        assert source in line
        assert pushed.artifact_type in line or pushed is setup.sig_tag
    as_json = run(
        setup, "referrers", setup.signed.reference, "--artifact-type", SBOM_TYPE, "-o", "json"
    )
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["digest"] == setup.signed.digest
    assert [r["descriptor"]["digest"] for r in document["referrers"]] == [setup.sbom.digest]
    assert document["referrers"][0]["source"] == "REFERRER_SOURCE_FALLBACK_TAG"
    children = run(setup, "referrers", setup.buildx, "--children", "-o", "json")
    digests = {r["descriptor"]["digest"] for r in json.loads(children.stdout)["referrers"]}
    assert setup.amd64_sig.digest in digests


def test_verify_signatures_command(setup: Setup, tmp_path: Path) -> None:
    good, other = tmp_path / "a.pub", tmp_path / "c.pub"
    good.write_text(setup.a.public_pem)
    other.write_text(setup.c.public_pem)
    signed = run(setup, "verify", setup.signed.reference, "--signatures", "--public-key", str(good))
    assert signed.exit_code == 0, signed.output
    assert signed.stdout.startswith(f"signed: {setup.signed.reference}")
    assert setup.a.key_id in signed.stdout

    unsigned = run(
        setup,
        "verify",
        setup.signed.reference,
        "--signatures",
        "--public-key",
        str(other),
        "-o",
        "json",
    )
    assert unsigned.exit_code == 1, unsigned.output
    document = json.loads(unsigned.stdout)
    assert document["digest"] == setup.signed.digest
    assert "verified" not in document  # false is left out of proto JSON
    assert len(document["signatures"]) == 4

    by_policy = run(setup, "verify", setup.signed.reference, "--signatures", "--policy", "prod")
    assert by_policy.exit_code == 0, by_policy.output
    unknown = run(setup, "verify", setup.signed.reference, "--signatures", "--policy", "nope")
    assert unknown.exit_code == 3, unknown.output
    both = run(
        setup,
        "verify",
        setup.signed.reference,
        "--signatures",
        "--policy",
        "prod",
        "--public-key",
        str(good),
    )
    assert both.exit_code == 2
    stray = run(setup, "verify", setup.signed.pinned_reference, "--policy", "prod")
    assert stray.exit_code == 2


# --- the admission webhook: --require-signature ---------------------------------------------------


@pytest.fixture(scope="module")
def signing_webhook(tmp_path_factory: pytest.TempPathFactory, setup: Setup) -> Iterator[Webhook]:
    hook = start_webhook(
        tmp_path_factory.mktemp("signing-webhook"),
        setup.server.target,
        "--require-signature",
        "prod",
    )
    yield hook
    stop(hook)


def _pod(*images: str) -> dict[str, object]:
    return admission.review(
        admission.deployment_pod("shop", [(f"c{i}", image) for i, image in enumerate(images)])
    )


def test_the_webhook_admits_a_signed_image_and_pins_it(
    setup: Setup, signing_webhook: Webhook
) -> None:
    response = signing_webhook.review(_pod(setup.signed.reference))
    assert response["allowed"] is True
    patch = json.loads(base64.b64decode(response["patch"]))
    assert patch[0]["value"] == f"{setup.signed.reference}@{setup.signed.digest}"
    assert "warnings" not in response


def test_the_webhook_denies_unsigned_images_pinned_or_not(
    setup: Setup, signing_webhook: Webhook
) -> None:
    for image in (setup.unsigned.reference, setup.unsigned.pinned_reference):
        response = signing_webhook.review(_pod(setup.signed.reference, image))
        assert response["allowed"] is False, image
        message = response["status"]["message"]
        assert setup.unsigned.digest in message
        assert "attach/unsigned" in message
        assert "'prod'" in message
        assert setup.signed.digest not in message, "the signed image is not blamed"


def test_warn_mode_reports_and_a_namespace_may_name_another_policy(
    setup: Setup, signing_webhook: Webhook
) -> None:
    warned = signing_webhook.review(_pod(setup.unsigned.reference), "/warn")
    assert warned["allowed"] is True
    assert "patch" not in warned
    assert any(
        "no valid signature under trust policy 'prod'" in w and "attach/unsigned" in w
        for w in warned["warnings"]
    )
    other = signing_webhook.review(_pod(setup.signed.reference), "?require-signature=elsewhere")
    assert other["allowed"] is False
    assert "'elsewhere'" in other["status"]["message"]
    assert "trusts no key" in other["status"]["message"]
