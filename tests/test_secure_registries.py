"""The secure-registry fixtures behave like real authenticated registries.

If these fail, failures in the service's auth tests say nothing about the service.
"""

from __future__ import annotations

import base64
import json
import re
import ssl

import httpx
import pytest

from tests.support import skopeo
from tests.support.registries import RunningRegistry
from tests.support.secure_registry_fixtures import (
    PRIVATE_REPOSITORY,
    PUBLIC_REPOSITORY,
    TOKEN_ISSUER,
    TOKEN_SERVICE,
)
from tests.support.token_server import TokenServer, launch_token_server

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def _trust(registry: RunningRegistry) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(registry.ca_file))


def _challenge_params(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def _token(
    token_server: TokenServer, scope: str, auth: tuple[str, str] | None = None
) -> httpx.Response:
    return httpx.get(
        token_server.url,
        params={"service": token_server.service, "scope": scope},
        auth=auth,
        timeout=5,
    )


def _jwt_part(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _manifest(registry: RunningRegistry, repository: str, token: str | None) -> httpx.Response:
    headers = {"Accept": MANIFEST_ACCEPT}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(f"{registry.url}/v2/{repository}/manifests/1.0", headers=headers, timeout=5)


def _ref_tag(registry: RunningRegistry, repository: str) -> str:
    images = registry.extra["images"]
    assert f"{repository}:1.0" in images, f"fixture did not push {repository}:1.0: {images}"
    return "1.0"


# --- TLS + htpasswd -------------------------------------------------------------------------


def test_tls_registry_refuses_anonymous_with_basic_challenge(tls_registry: RunningRegistry) -> None:
    assert tls_registry.scheme == "https"
    response = httpx.get(f"{tls_registry.url}/v2/", verify=_trust(tls_registry), timeout=5)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_tls_registry_accepts_credentials_verified_by_test_ca(
    tls_registry: RunningRegistry,
) -> None:
    assert tls_registry.username
    assert tls_registry.password
    auth = (tls_registry.username, tls_registry.password)
    verify = _trust(tls_registry)
    assert httpx.get(
        f"{tls_registry.url}/v2/", auth=auth, verify=verify, timeout=5
    ).status_code == (200)
    tag = _ref_tag(tls_registry, PRIVATE_REPOSITORY)
    manifest = httpx.get(
        f"{tls_registry.url}/v2/{PRIVATE_REPOSITORY}/manifests/{tag}",
        auth=auth,
        verify=verify,
        headers={"Accept": MANIFEST_ACCEPT},
        timeout=5,
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"].startswith("sha256:")


def test_tls_registry_rejects_wrong_password(tls_registry: RunningRegistry) -> None:
    response = httpx.get(
        f"{tls_registry.url}/v2/",
        auth=(tls_registry.username or "", "wrong"),
        verify=_trust(tls_registry),
        timeout=5,
    )
    assert response.status_code == 401


def test_tls_registry_is_untrusted_without_test_ca(tls_registry: RunningRegistry) -> None:
    with pytest.raises(httpx.ConnectError) as excinfo:
        httpx.get(f"{tls_registry.url}/v2/", verify=ssl.create_default_context(), timeout=5)
    assert "CERTIFICATE_VERIFY_FAILED" in str(excinfo.value)


# --- token auth -----------------------------------------------------------------------------


def test_token_registry_challenges_with_bearer(token_registry: RunningRegistry) -> None:
    token_server: TokenServer = token_registry.extra["token_server"]
    response = _manifest(token_registry, PRIVATE_REPOSITORY, None)
    assert response.status_code == 401
    header = response.headers["WWW-Authenticate"]
    assert header.startswith("Bearer ")
    assert _challenge_params(header) == {
        "realm": token_server.url,
        "service": TOKEN_SERVICE,
        "scope": f"repository:{PRIVATE_REPOSITORY}:pull",
    }


def test_token_with_credentials_allows_manifest_get(token_registry: RunningRegistry) -> None:
    token_server: TokenServer = token_registry.extra["token_server"]
    before = token_server.request_count
    _ref_tag(token_registry, PRIVATE_REPOSITORY)
    assert token_registry.username
    assert token_registry.password
    answer = _token(
        token_server,
        f"repository:{PRIVATE_REPOSITORY}:pull",
        (token_registry.username, token_registry.password),
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] > 0
    assert body["issued_at"]
    header, claims = _jwt_part(body["token"], 0), _jwt_part(body["token"], 1)
    assert header["alg"] == "ES256"
    assert header["x5c"]
    assert claims["iss"] == TOKEN_ISSUER
    assert claims["aud"] == TOKEN_SERVICE
    assert claims["sub"] == token_registry.username
    assert claims["access"] == [
        {"type": "repository", "name": PRIVATE_REPOSITORY, "actions": ["pull"]}
    ]
    response = _manifest(token_registry, PRIVATE_REPOSITORY, body["token"])
    assert response.status_code == 200, response.text
    assert token_server.request_count == before + 1


def test_anonymous_token_pulls_public_but_not_private(token_registry: RunningRegistry) -> None:
    token_server: TokenServer = token_registry.extra["token_server"]
    _ref_tag(token_registry, PUBLIC_REPOSITORY)
    public = _token(token_server, f"repository:{PUBLIC_REPOSITORY}:pull,push")
    assert public.status_code == 200
    assert _jwt_part(public.json()["token"], 1)["access"] == [
        {"type": "repository", "name": PUBLIC_REPOSITORY, "actions": ["pull"]}
    ]
    assert _manifest(token_registry, PUBLIC_REPOSITORY, public.json()["token"]).status_code == 200

    private = _token(token_server, f"repository:{PRIVATE_REPOSITORY}:pull")
    assert private.status_code == 200  # anonymous gets a token, just with no access
    assert _jwt_part(private.json()["token"], 1)["access"] == []
    denied = _manifest(token_registry, PRIVATE_REPOSITORY, private.json()["token"])
    assert denied.status_code == 401
    assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]


def test_token_server_refuses_wrong_password(token_registry: RunningRegistry) -> None:
    token_server: TokenServer = token_registry.extra["token_server"]
    answer = _token(
        token_server, f"repository:{PRIVATE_REPOSITORY}:pull", (token_registry.username or "", "no")
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert token_server.snapshot()[-1].status == 401


def test_registry_rejects_token_from_untrusted_signer(
    token_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    token_server: TokenServer = token_registry.extra["token_server"]
    with launch_token_server(
        tmp_path_factory.mktemp("rogue-token-server"),
        users={},
        public_repositories=[PRIVATE_REPOSITORY],
        service=token_server.service,
        issuer=token_server.issuer,
    ) as rogue:
        forged = rogue.issue_token(
            "mallory", [{"type": "repository", "name": PRIVATE_REPOSITORY, "actions": ["pull"]}]
        )
    response = _manifest(token_registry, PRIVATE_REPOSITORY, forged)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_real_client_pulls_public_anonymously_and_not_private(
    token_registry: RunningRegistry,
) -> None:
    token_server: TokenServer = token_registry.extra["token_server"]
    public = token_registry.extra["images"][f"{PUBLIC_REPOSITORY}:1.0"]
    before = token_server.request_count
    seen = skopeo.inspect_raw(public.reference, registry=token_registry, no_creds=True)
    assert seen == public.raw_manifest
    with pytest.raises(skopeo.SkopeoError):
        skopeo.inspect_raw(
            f"{token_registry.host}/{PRIVATE_REPOSITORY}:1.0",
            registry=token_registry,
            no_creds=True,
        )
    anonymous = [r for r in token_server.snapshot()[before:] if r.username is None]
    assert anonymous, "skopeo never asked the token server"
