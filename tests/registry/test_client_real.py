"""RegistryClient against real `docker-registry` processes: plain, TLS + Basic, and token auth.

skopeo pushed and read back every image, so what the client reports is compared with what an
independent client saw the registry serve.
"""

from __future__ import annotations

import asyncio

import pytest
from imagepin_server import errors
from imagepin_server.digests import Digest
from imagepin_server.reference import Tag
from imagepin_server.registry.client import CONFIG_LIMIT

from tests.registry.helpers import keychain_for, ref, registry_client, trust
from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import RunningRegistry
from tests.support.secure_registry_fixtures import IMAGE_TAG, PRIVATE_REPOSITORY, PUBLIC_REPOSITORY
from tests.support.tcp_relay import relay_to
from tests.support.token_server import TokenServer

# --- plain registry ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["single", "schema2", "index", "manifest_list"])
async def test_head_manifest_reports_what_skopeo_saw(
    pushed_images: ImageCatalog, role: str
) -> None:
    image = pushed_images.entries()[role]
    async with registry_client() as client:
        assert image.tag is not None
        head = await client.head_manifest(ref(image.registry, image.repository), Tag(image.tag))
    assert head is not None
    assert str(head.digest) == image.digest
    assert head.media_type == image.media_type
    assert head.size == len(image.raw_manifest)


async def test_get_manifest_by_tag_and_by_digest_returns_exact_bytes(
    pushed_images: ImageCatalog,
) -> None:
    image = pushed_images.single
    name = ref(image.registry, image.repository)
    digest = Digest.parse(image.digest)
    async with registry_client() as client:
        by_tag = await client.get_manifest(name, Tag("3.19"))
        by_digest = await client.get_manifest(name, Digest.parse(image.digest), expected=digest)
    for fetched in (by_tag, by_digest):
        assert fetched.raw == image.raw_manifest
        assert fetched.digest == digest
        assert fetched.media_type == image.media_type
    assert by_tag.claimed == digest


async def test_get_manifest_with_wrong_expected_digest_is_refused(
    pushed_images: ImageCatalog,
) -> None:
    image = pushed_images.single
    wrong = Digest.of(b"not this manifest")
    async with registry_client() as client:
        with pytest.raises(errors.DigestMismatch) as caught:
            await client.get_manifest(
                ref(image.registry, image.repository), Digest.parse(image.digest), expected=wrong
            )
    assert str(wrong) in caught.value.message
    assert f"{image.registry}/{image.repository}@{image.digest}" in caught.value.message


async def test_get_blob_fetches_and_verifies_the_config(pushed_images: ImageCatalog) -> None:
    image = pushed_images.single
    assert image.config_digest is not None
    digest = Digest.parse(image.config_digest)
    async with registry_client() as client:
        blob = await client.get_blob(
            ref(image.registry, image.repository), digest, limit=CONFIG_LIMIT
        )
    assert blob.data == image.config
    assert blob.digest == digest


async def test_get_blob_over_the_limit_is_too_large(pushed_images: ImageCatalog) -> None:
    image = pushed_images.single
    assert image.config_digest is not None
    async with registry_client() as client:
        with pytest.raises(errors.TooLarge):
            await client.get_blob(
                ref(image.registry, image.repository),
                Digest.parse(image.config_digest),
                limit=len(image.config) - 1,
            )


async def test_check_blob_streams_and_verifies_each_layer(pushed_images: ImageCatalog) -> None:
    image = pushed_images.single
    name = ref(image.registry, image.repository)
    async with registry_client() as client:
        for layer in image.layers:
            check = await client.check_blob(name, Digest.parse(layer.digest), size=layer.size)
            assert check.verified, check
            assert check.actual_size == layer.size


async def test_check_blob_with_a_smaller_declared_size_is_a_mismatch(
    pushed_images: ImageCatalog,
) -> None:
    layer = pushed_images.single.layers[0]
    async with registry_client() as client:
        check = await client.check_blob(
            ref(pushed_images.registry.host, pushed_images.single.repository),
            Digest.parse(layer.digest),
            size=layer.size - 1,
        )
    assert not check.verified
    assert check.actual is None
    assert check.error is not None


async def test_head_blob_tells_size_and_existence_without_a_body(
    pushed_images: ImageCatalog,
) -> None:
    image = pushed_images.single
    name = ref(image.registry, image.repository)
    async with registry_client() as client:
        for layer in image.layers:
            head = await client.head_blob(name, Digest.parse(layer.digest))
            assert (head.size, str(head.claimed)) == (layer.size, layer.digest)
        with pytest.raises(errors.BlobNotFound):
            await client.head_blob(name, Digest.parse("sha256:" + "1" * 64))


async def test_requests_after_the_first_reuse_its_connection(
    pushed_images: ImageCatalog,
) -> None:
    """HEADs (found or not), GETs and error answers, read or not, leave the connection fit to
    reuse: a new one per request costs a registry a connection (a TLS handshake, on most)."""
    image = pushed_images.single
    assert image.tag is not None
    async with relay_to(image.registry) as relay, registry_client() as client:
        name = ref(relay.host, image.repository)
        assert await client.head_manifest(name, Tag(image.tag)) is not None
        first = relay.connections
        for _ in range(3):
            assert await client.head_manifest(name, Tag(image.tag)) is not None
            assert await client.head_manifest(name, Tag("no-such-tag")) is None
            await client.head_blob(name, Digest.parse(image.layers[0].digest))
            await client.get_manifest(name, Tag(image.tag))
            with pytest.raises(errors.ManifestNotFound):
                await client.get_manifest(name, Tag("no-such-tag"))
            # this registry has no referrers API: a 404 whose body nothing needs
            assert await client.get_referrers(name, Digest.parse(image.digest)) is None
        assert relay.connections == first


async def test_a_connection_the_registry_closed_is_not_reused(pushed_images: ImageCatalog) -> None:
    image = pushed_images.single
    assert image.tag is not None
    async with relay_to(image.registry) as relay, registry_client() as client:
        name = ref(relay.host, image.repository)
        assert await client.head_manifest(name, Tag(image.tag)) is not None
        before = relay.connections
        await relay.hang_up()
        # Retries are off: reusing the closed connection would fail this request.
        assert await client.head_manifest(name, Tag(image.tag)) is not None
        assert relay.connections == before + 1


class _Chunks:
    """A sink that keeps what it saw, to compare with the blob."""

    def __init__(self) -> None:
        self.seen = bytearray()

    async def update(self, chunk: bytes) -> None:
        self.seen += chunk


async def test_check_blob_hands_the_bytes_it_hashed_to_the_sink(
    pushed_images: ImageCatalog,
) -> None:
    layer = pushed_images.single.layers[0]
    async with registry_client() as client:
        check = await client.check_blob(
            ref(pushed_images.registry.host, pushed_images.single.repository),
            Digest.parse(layer.digest),
            size=layer.size,
            sink=_Chunks,
        )
    assert check.verified
    assert isinstance(check.sink, _Chunks)
    assert Digest.of(bytes(check.sink.seen)) == Digest.parse(layer.digest)


async def test_unknown_tag_is_manifest_not_found(pushed_images: ImageCatalog) -> None:
    image = pushed_images.single
    async with registry_client() as client:
        name = ref(image.registry, image.repository)
        assert await client.head_manifest(name, Tag("no-such-tag")) is None
        with pytest.raises(errors.ManifestNotFound) as caught:
            await client.get_manifest(name, Tag("no-such-tag"))
    assert caught.value.registry_code == "MANIFEST_UNKNOWN"
    assert caught.value.reference == f"{image.registry}/{image.repository}:no-such-tag"
    assert caught.value.reference in caught.value.message


async def test_unknown_repository_is_what_the_registry_says(
    plain_registry: RunningRegistry,
) -> None:
    # distribution does not tell an unknown repository from an unknown tag on the manifest
    # endpoint: both are 404 MANIFEST_UNKNOWN, so the client cannot say "no such repository".
    async with registry_client() as client:
        with pytest.raises(errors.ManifestNotFound) as caught:
            await client.get_manifest(ref(plain_registry.host, "nobody/pushed-this"), Tag("1.0"))
    assert caught.value.registry_code == "MANIFEST_UNKNOWN"
    assert f"{plain_registry.host}/nobody/pushed-this:1.0" in caught.value.message


async def test_unknown_blob_is_blob_not_found(pushed_images: ImageCatalog) -> None:
    image = pushed_images.single
    async with registry_client() as client:
        with pytest.raises(errors.BlobNotFound) as caught:
            await client.get_blob(
                ref(image.registry, image.repository), Digest.of(b"absent"), limit=CONFIG_LIMIT
            )
    assert caught.value.registry_code == "BLOB_UNKNOWN"


# --- TLS + htpasswd Basic auth -------------------------------------------------------------------


async def test_loopback_tls_registry_is_reached_over_https(tls_registry: RunningRegistry) -> None:
    image = tls_registry.extra["images"][f"{PRIVATE_REPOSITORY}:{IMAGE_TAG}"]
    async with registry_client(keychain_for(tls_registry), verify=trust(tls_registry)) as client:
        fetched = await client.get_manifest(
            ref(tls_registry.host, PRIVATE_REPOSITORY), Tag(IMAGE_TAG)
        )
    assert fetched.raw == image.raw_manifest


async def test_basic_auth_over_tls_with_credentials(tls_registry: RunningRegistry) -> None:
    image = tls_registry.extra["images"][f"{PRIVATE_REPOSITORY}:{IMAGE_TAG}"]
    assert image.config_digest is not None
    name = ref(tls_registry.host, PRIVATE_REPOSITORY)
    async with registry_client(keychain_for(tls_registry), verify=trust(tls_registry)) as client:
        head = await client.head_manifest(name, Tag(IMAGE_TAG))
        fetched = await client.get_manifest(name, Tag(IMAGE_TAG))
        config = await client.get_blob(name, Digest.parse(image.config_digest), limit=CONFIG_LIMIT)
    assert head is not None
    assert str(head.digest) == image.digest
    assert fetched.raw == image.raw_manifest
    assert config.data == image.config


async def test_basic_auth_without_credentials_is_unauthorized(
    tls_registry: RunningRegistry,
) -> None:
    async with registry_client(verify=trust(tls_registry)) as client:
        with pytest.raises(errors.RegistryUnauthorized) as caught:
            await client.get_manifest(ref(tls_registry.host, PRIVATE_REPOSITORY), Tag(IMAGE_TAG))
    assert tls_registry.host in caught.value.message
    assert f"{PRIVATE_REPOSITORY}:{IMAGE_TAG}" in caught.value.message
    assert caught.value.registry == tls_registry.host


async def test_basic_auth_with_a_wrong_password_is_unauthorized_without_leaking_it(
    tls_registry: RunningRegistry,
) -> None:
    keychain = keychain_for(tls_registry, password="wrong-password-xyzzy")
    async with registry_client(keychain, verify=trust(tls_registry)) as client:
        with pytest.raises(errors.RegistryUnauthorized) as caught:
            await client.get_manifest(ref(tls_registry.host, PRIVATE_REPOSITORY), Tag(IMAGE_TAG))
    assert tls_registry.host in caught.value.message
    assert "wrong-password-xyzzy" not in str(caught.value)
    assert "wrong-password-xyzzy" not in repr(caught.value.metadata())


async def test_tls_without_the_ca_is_unavailable_and_says_why(
    tls_registry: RunningRegistry,
) -> None:
    # The system's CAs only: the test CA is not among them.
    async with registry_client(keychain_for(tls_registry)) as client:
        with pytest.raises(errors.RegistryUnavailable) as caught:
            await client.get_manifest(ref(tls_registry.host, PRIVATE_REPOSITORY), Tag(IMAGE_TAG))
    assert "certificate could not be verified" in caught.value.message
    assert tls_registry.host in caught.value.message


# --- token auth ----------------------------------------------------------------------------------


def _token_server(registry: RunningRegistry) -> TokenServer:
    server: TokenServer = registry.extra["token_server"]
    return server


async def test_token_auth_with_credentials(token_registry: RunningRegistry) -> None:
    image = token_registry.extra["images"][f"{PRIVATE_REPOSITORY}:{IMAGE_TAG}"]
    server = _token_server(token_registry)
    before = len(server.snapshot())
    async with registry_client(keychain_for(token_registry)) as client:
        fetched = await client.get_manifest(
            ref(token_registry.host, PRIVATE_REPOSITORY), Tag(IMAGE_TAG)
        )
    assert fetched.raw == image.raw_manifest
    seen = server.snapshot()[before:]
    assert [(r.status, r.username, r.account) for r in seen] == [
        (200, token_registry.username, token_registry.username)
    ]
    assert [str(s.name) for s in seen[0].scopes] == [PRIVATE_REPOSITORY]


async def test_token_auth_anonymous_on_a_public_repository(
    token_registry: RunningRegistry,
) -> None:
    image = token_registry.extra["images"][f"{PUBLIC_REPOSITORY}:{IMAGE_TAG}"]
    async with registry_client() as client:
        head = await client.head_manifest(
            ref(token_registry.host, PUBLIC_REPOSITORY), Tag(IMAGE_TAG)
        )
    assert head is not None
    assert str(head.digest) == image.digest


async def test_token_auth_anonymous_on_a_private_repository_is_unauthorized(
    token_registry: RunningRegistry,
) -> None:
    async with registry_client() as client:
        with pytest.raises(errors.RegistryUnauthorized) as caught:
            await client.get_manifest(ref(token_registry.host, PRIVATE_REPOSITORY), Tag(IMAGE_TAG))
    assert token_registry.host in caught.value.message
    assert caught.value.reference == f"{token_registry.host}/{PRIVATE_REPOSITORY}:{IMAGE_TAG}"


async def test_token_auth_with_a_wrong_password_is_unauthorized_without_leaking_it(
    token_registry: RunningRegistry,
) -> None:
    keychain = keychain_for(token_registry, password="wrong-password-plugh")
    async with registry_client(keychain) as client:
        with pytest.raises(errors.RegistryUnauthorized) as caught:
            await client.get_manifest(ref(token_registry.host, PRIVATE_REPOSITORY), Tag(IMAGE_TAG))
    assert token_registry.host in caught.value.message
    assert "wrong-password-plugh" not in str(caught.value)


async def test_token_refusal_names_the_reference(token_registry: RunningRegistry) -> None:
    keychain = keychain_for(token_registry, password="wrong-password-plugh")
    async with registry_client(keychain) as client:
        with pytest.raises(errors.RegistryUnauthorized) as caught:
            await client.get_manifest(ref(token_registry.host, PRIVATE_REPOSITORY), Tag(IMAGE_TAG))
    name = f"{token_registry.host}/{PRIVATE_REPOSITORY}:{IMAGE_TAG}"
    assert caught.value.reference == name
    assert name in caught.value.message


async def test_token_cache_one_token_per_repository_scope(token_registry: RunningRegistry) -> None:
    server = _token_server(token_registry)
    async with registry_client(keychain_for(token_registry)) as client:
        before = server.request_count
        private = ref(token_registry.host, PRIVATE_REPOSITORY)
        for _ in range(4):
            assert await client.head_manifest(private, Tag(IMAGE_TAG)) is not None
        await client.get_manifest(private, Tag(IMAGE_TAG))
        assert server.request_count - before == 1
        assert await client.head_manifest(
            ref(token_registry.host, PUBLIC_REPOSITORY), Tag(IMAGE_TAG)
        )
        assert server.request_count - before == 2


async def test_concurrent_requests_on_a_cold_cache_share_one_token_fetch(
    token_registry: RunningRegistry,
) -> None:
    server = _token_server(token_registry)
    image = token_registry.extra["images"][f"{PRIVATE_REPOSITORY}:{IMAGE_TAG}"]
    name = ref(token_registry.host, PRIVATE_REPOSITORY)
    async with registry_client(keychain_for(token_registry)) as client:
        before = server.request_count
        heads = await asyncio.gather(
            *(client.head_manifest(name, Tag(IMAGE_TAG)) for _ in range(20))
        )
        assert server.request_count - before == 1
    assert {str(h.digest) if h else None for h in heads} == {image.digest}
