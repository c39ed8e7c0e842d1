"""The client distribution carries only what a client needs: built as a wheel, installed alone."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
# What only the server (or the client's extras) needs; none may come with `pip install imagepin`.
NOT_FOR_A_CLIENT = {
    "imagepin-server", "sqlalchemy", "alembic", "aiosqlite", "psycopg", "psycopg-binary",
    "httpx", "httpcore", "anyio", "uvloop", "aiolimiter", "cachetools", "prometheus-client",
    "grpcio-reflection", "grpcio-health-checking", "click", "rich", "pyyaml", "aiohttp",
}  # fmt: skip


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the client wheel, built from clients/python, installed alone."""
    work = tmp_path_factory.mktemp("client-wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(work),
            str(CLIENT),
        ],
        check=True,
        timeout=300,
    )
    [wheel] = work.glob("imagepin-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=600,
    )
    return work / "venv"


def _installed(environment: Path) -> set[str]:
    listing = subprocess.run(
        [str(environment / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return {entry["name"].lower() for entry in json.loads(listing.stdout)}


def test_the_client_wheel_brings_no_server_dependency(client_venv: Path) -> None:
    installed = _installed(client_venv)
    assert {"imagepin", "grpcio", "protobuf", "grpcio-status", "googleapis-common-protos"} <= (
        installed
    )
    assert installed & NOT_FOR_A_CLIENT == set()


def test_the_library_works_from_the_wheel_and_the_server_is_absent(client_venv: Path) -> None:
    script = (
        "import importlib.util, imagepin\n"
        "from imagepin import ResolverClient, AsyncResolverClient\n"
        "from imagepin.v1 import resolver_pb2\n"
        "assert importlib.util.find_spec('imagepin_server') is None\n"
        "print(resolver_pb2.ResolveReferenceRequest(reference='redis').reference)\n"
    )
    result = subprocess.run(
        [str(client_venv / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "redis"


def test_the_command_without_its_extra_says_what_to_install(client_venv: Path) -> None:
    result = subprocess.run(
        [str(client_venv / "bin" / "imagepin"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "pip install 'imagepin[cli]'" in result.stderr


def test_the_server_requires_the_client_of_its_own_release() -> None:
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    client = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert f"imagepin=={client['version']}" in server["dependencies"]
    assert server["version"] == client["version"]
