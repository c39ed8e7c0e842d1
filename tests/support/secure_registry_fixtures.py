"""Session fixtures for registries that demand credentials: htpasswd over TLS, and token auth.

Both are real `docker-registry` processes, so the service is tested against the same challenges,
status codes and TLS behaviour it meets in production rather than against a mock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import bcrypt
import pytest

from tests.support.image_fixtures import PushedImage, build_small_image, push_layout
from tests.support.pki import CA, issue_server_cert, make_ca
from tests.support.registries import RunningRegistry, launch_registry
from tests.support.token_server import DEFAULT_ISSUER, DEFAULT_SERVICE, launch_token_server

TLS_USERNAME = "tls-user"
TLS_PASSWORD = "tls-password-for-tests"
TOKEN_USERNAME = "token-user"
TOKEN_PASSWORD = "token-password-for-tests"
TOKEN_SERVICE = DEFAULT_SERVICE
TOKEN_ISSUER = DEFAULT_ISSUER
PRIVATE_REPOSITORY = "private/app"
PUBLIC_REPOSITORY = "public/base"
IMAGE_TAG = "1.0"


def write_htpasswd(path: Path, users: Mapping[str, str]) -> Path:
    """Write an htpasswd file; distribution only accepts bcrypt entries.

    Cost 4 (the minimum) because the registry re-checks the hash on every request.
    """
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _push_images(
    registry: RunningRegistry, workdir: Path, repositories: list[str]
) -> dict[str, PushedImage]:
    """Push one small image per repository as `IMAGE_TAG`, with the registry's own credentials.

    skopeo takes `--dest-creds` from `registry.username/password` and `--dest-cert-dir` from
    `registry.ca_file`, so this exercises the same auth the service will face.
    """
    images: dict[str, PushedImage] = {}
    for repository in repositories:
        slug = repository.replace("/", "-")
        built = build_small_image(workdir / slug, slug)
        images[f"{repository}:{IMAGE_TAG}"] = push_layout(registry, built, repository, IMAGE_TAG)
    return images


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    """One CA for every TLS endpoint in the session (registries, gRPC servers, webhooks)."""
    return make_ca(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture(scope="session")
def tls_registry(
    tmp_path_factory: pytest.TempPathFactory, test_ca: CA
) -> Iterator[RunningRegistry]:
    """A registry over HTTPS (cert from `test_ca`) with htpasswd basic auth.

    `username`/`password` are set, `ca_file` is the CA PEM, and
    `extra["images"]` maps "repository:tag" -> what was pushed (`private/app:1.0`).
    """
    workdir = tmp_path_factory.mktemp("tls-registry")
    server_cert = issue_server_cert(test_ca, workdir / "tls", name="registry")
    htpasswd = write_htpasswd(workdir / "htpasswd", {TLS_USERNAME: TLS_PASSWORD})
    config = {
        "http": {
            "tls": {"certificate": str(server_cert.cert_path), "key": str(server_cert.key_path)}
        },
        "auth": {"htpasswd": {"realm": "imagepin-test-registry", "path": str(htpasswd)}},
    }
    with launch_registry(
        workdir / "registry",
        config_extra=config,
        scheme="https",
        ca_file=test_ca.cert_path,
        username=TLS_USERNAME,
        password=TLS_PASSWORD,
    ) as registry:
        registry.extra["cert_dir"] = test_ca.trust_dir
        registry.extra["images"] = _push_images(registry, workdir / "images", [PRIVATE_REPOSITORY])
        yield registry


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP registry behind a token server (Docker token auth, as Docker Hub/GHCR use).

    `username`/`password` are credentials for the token server, `extra["token_server"]` is the
    running `TokenServer` (request log, public repositories), `extra["images"]` maps
    "repository:tag" -> what was pushed (`private/app:1.0`, and `public/base:1.0` which anonymous
    clients may pull).
    """
    workdir = tmp_path_factory.mktemp("token-registry")
    with (
        launch_token_server(
            workdir / "token-server",
            users={TOKEN_USERNAME: TOKEN_PASSWORD},
            public_repositories=[PUBLIC_REPOSITORY],
            service=TOKEN_SERVICE,
            issuer=TOKEN_ISSUER,
        ) as token_server,
        launch_registry(
            workdir / "registry",
            config_extra={"auth": token_server.registry_auth_config()},
            username=TOKEN_USERNAME,
            password=TOKEN_PASSWORD,
        ) as registry,
    ):
        registry.extra["token_server"] = token_server
        registry.extra["images"] = _push_images(
            registry, workdir / "images", [PRIVATE_REPOSITORY, PUBLIC_REPOSITORY]
        )
        token_server.reset()  # start counting from zero once setup is done
        yield registry
