"""The command and the library read the environment one way (imagepin.connection's
connection_from_env): IMAGEPIN_TLS=on is TLS to both, a value neither understands is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from imagepin import Connection, InvalidArgument
from imagepin.cli import cli
from imagepin.connection import connection_from_env

from tests.support.image_fixtures import ImageCatalog
from tests.support.pki import CA, issue_server_cert
from tests.support.server_fixtures import RunningServer, start_server, stop_server

IMAGEPIN = str(Path(sys.executable).with_name("imagepin"))
LIBRARY = (
    "import sys; from imagepin import ResolverClient\n"
    "with ResolverClient() as client: print(client.resolve(sys.argv[1]).digest)"
)


@dataclass
class TlsServer:
    server: RunningServer
    ca_file: Path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, test_ca: CA) -> Iterator[TlsServer]:
    """imagepin-server speaking TLS only (no client certificate, no token)."""
    workdir = tmp_path_factory.mktemp("tls-only")
    issued = issue_server_cert(test_ca, workdir / "tls", name="imagepin")
    server = start_server(
        workdir,
        env={
            "IMAGEPIN_TLS_CERT_FILE": str(issued.cert_path),
            "IMAGEPIN_TLS_KEY_FILE": str(issued.key_path),
        },
        credentials=grpc.ssl_channel_credentials(test_ca.cert_pem),
    )
    try:
        yield TlsServer(server, test_ca.cert_path)
    finally:
        stop_server(server)


def env_for(tls_server: TlsServer, tls: str) -> dict[str, str]:
    """No IMAGEPIN_CA_FILE (it would imply TLS): gRPC's default roots are the test CA."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEPIN_")}
    return {
        **env,
        "IMAGEPIN_SERVER": tls_server.server.target,
        "IMAGEPIN_TLS": tls,
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(tls_server.ca_file),
    }


def library(reference: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LIBRARY, reference],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IMAGEPIN, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_imagepin_tls_on_is_tls_to_the_library_and_the_command(
    tls_server: TlsServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    env = env_for(tls_server, "on")
    by_library = library(image.reference, env)
    assert by_library.returncode == 0, by_library.stderr
    assert by_library.stdout.split() == [image.digest]
    by_command = command("resolve", image.reference, env=env)
    assert by_command.returncode == 0, by_command.stderr
    assert image.digest in by_command.stdout


def test_imagepin_tls_off_is_plaintext_to_both(
    tls_server: TlsServer, pushed_images: ImageCatalog
) -> None:
    """The same environment with TLS off: both speak plaintext to the TLS port and fail alike."""
    env = {**env_for(tls_server, "off"), "IMAGEPIN_TIMEOUT": "5"}
    by_library = library(pushed_images.single.reference, env)
    assert by_library.returncode != 0
    assert "ServiceUnreachable: UNAVAILABLE: cannot reach the imagepin service" in by_library.stderr
    by_command = command("resolve", pushed_images.single.reference, env=env)
    assert by_command.returncode == 5, by_command.stderr


@pytest.mark.parametrize("word", ["1", "true", "yes", "on", "ON", " True "])
def test_yes_spellings(word: str) -> None:
    assert connection_from_env({"IMAGEPIN_TLS": word}).uses_tls
    assert Connection.from_env({"IMAGEPIN_TLS": word}).tls


@pytest.mark.parametrize("word", ["0", "false", "no", "off", "OFF", ""])
def test_no_spellings(word: str) -> None:
    assert not connection_from_env({"IMAGEPIN_TLS": word}).uses_tls


def test_a_flag_wins_over_the_environment() -> None:
    env = {"IMAGEPIN_TLS": "on", "IMAGEPIN_SERVER": "from-env:1", "IMAGEPIN_TIMEOUT": "3"}
    connection = connection_from_env(env, tls=False, target="from-flag:2")
    assert (connection.tls, connection.target, connection.timeout_s) == (False, "from-flag:2", 3)
    assert connection_from_env({}).target == "127.0.0.1:50051"


@pytest.mark.parametrize(
    ("name", "value"),
    [("IMAGEPIN_TLS", "maybe"), ("IMAGEPIN_TLS", "y"), ("IMAGEPIN_TIMEOUT", "soon"),
     ("IMAGEPIN_TIMEOUT", "0"), ("IMAGEPIN_TIMEOUT", "nan")],
)  # fmt: skip
def test_a_value_neither_reads_is_refused_by_both(name: str, value: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        connection_from_env({name: value})
    assert name in refused.value.message
    assert isinstance(refused.value, ValueError)  # what callers caught before
    result = CliRunner().invoke(cli, ["resolve", "alpine"], env={name: value})
    assert result.exit_code == 2
    assert f"{name}={value!r}" in result.stderr
    assert "Traceback" not in result.output


def test_a_missing_file_named_by_the_environment_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = CliRunner().invoke(cli, ["resolve", "alpine"], env={"IMAGEPIN_CA_FILE": str(missing)})
    assert result.exit_code == 2
    assert "IMAGEPIN_CA_FILE" in result.stderr
    assert str(missing) in result.stderr
