"""Credential helpers run as Docker runs them, pull secrets reload, and the order of sources."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
from pathlib import Path

import pytest
from imagepin_server.registry.credentials import (
    ChainKeychain,
    CredentialHelpers,
    Credentials,
    DockerConfigKeychain,
    PullSecretsKeychain,
    StaticKeychain,
)

# A real executable on a search path: it records what it was asked and answers as ECR's does.
HELPER = """#!/bin/sh
read server
echo "$server" >> "{log}"
case "$server" in
  *unknown*) echo "credentials not found in native keychain"; exit 1 ;;
  *broken*) echo "secret-in-stderr-like-output"; exit 3 ;;
esac
printf '{{"ServerURL":"%s","Username":"AWS","Secret":"token-for-%s"}}' "$server" "$server"
"""


@pytest.fixture
def helper_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    for name in ("ecr-login", "desktop"):
        script = directory / f"docker-credential-{name}"
        script.write_text(HELPER.format(log=tmp_path / f"{name}.log"))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return directory


def docker_config(tmp_path: Path, document: dict[str, object]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return path


async def test_cred_helpers_per_registry_then_store_then_auths(
    tmp_path: Path, helper_dir: Path
) -> None:
    path = docker_config(
        tmp_path,
        {
            "credHelpers": {"123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login"},
            "credsStore": "desktop",
            "auths": {"inline.example": {"username": "u", "password": "p"}},
        },
    )
    keychain = DockerConfigKeychain(path, helpers=CredentialHelpers(search_path=str(helper_dir)))
    ecr = await keychain.credentials_for("123.dkr.ecr.eu-west-1.amazonaws.com")
    assert ecr == Credentials("AWS", "token-for-123.dkr.ecr.eu-west-1.amazonaws.com")
    hub = await keychain.credentials_for("docker.io")
    assert hub == Credentials("AWS", "token-for-https://index.docker.io/v1/")
    # The store does not know it: the inline entry answers.
    assert await keychain.credentials_for("unknown.inline.example") is None
    assert (tmp_path / "ecr-login.log").read_text().splitlines() == [
        "123.dkr.ecr.eu-west-1.amazonaws.com"
    ]


async def test_helper_answers_are_cached_and_failures_are_anonymous(
    tmp_path: Path, helper_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = docker_config(tmp_path, {"credsStore": "desktop"})
    keychain = DockerConfigKeychain(path, helpers=CredentialHelpers(search_path=str(helper_dir)))
    for _ in range(3):
        assert await keychain.credentials_for("ghcr.io") is not None
    assert await keychain.credentials_for("broken.example") is None
    assert (tmp_path / "desktop.log").read_text().splitlines() == ["ghcr.io", "broken.example"]
    assert "secret-in-stderr-like-output" not in caplog.text
    assert "exit 3" in caplog.text


async def test_a_missing_helper_is_anonymous(tmp_path: Path) -> None:
    path = docker_config(tmp_path, {"credHelpers": {"gcr.io": "gcloud"}})
    keychain = DockerConfigKeychain(path, helpers=CredentialHelpers(search_path=str(tmp_path)))
    assert await keychain.credentials_for("gcr.io") is None


@pytest.mark.parametrize("name", ["../../bin/sh", "a/b", ""])
async def test_a_helper_name_cannot_be_a_path(tmp_path: Path, name: str) -> None:
    path = docker_config(tmp_path, {"credsStore": name, "auths": {"r.io": {"auth": "dTpw"}}})
    keychain = DockerConfigKeychain(path, helpers=CredentialHelpers(search_path="/bin"))
    assert await keychain.credentials_for("r.io") == Credentials("u", "p")


async def test_pull_secrets_reload_when_kubernetes_swaps_them(tmp_path: Path) -> None:
    """Kubernetes updates a mounted secret by pointing a symlink at a new directory."""
    mount = tmp_path / "secret"
    mount.mkdir()
    for version, password in (("v1", "first"), ("v2", "second")):
        (mount / version).mkdir()
        auths = {"auths": {"harbor.example": {"username": "robot", "password": password}}}
        (mount / version / ".dockerconfigjson").write_text(json.dumps(auths))
    (mount / "..data").symlink_to("v1")
    (mount / ".dockerconfigjson").symlink_to("..data/.dockerconfigjson")
    keychain = PullSecretsKeychain([mount / ".dockerconfigjson"])
    assert await keychain.credentials_for("harbor.example") == Credentials("robot", "first")
    (mount / "..data_tmp").symlink_to("v2")
    os.replace(mount / "..data_tmp", mount / "..data")
    assert await keychain.credentials_for("harbor.example") == Credentials("robot", "second")
    assert await keychain.credentials_for("other.example") is None


async def test_sources_in_order_and_never_across_hosts(tmp_path: Path) -> None:
    path = docker_config(
        tmp_path, {"auths": {"a.example": {"auth": "ZG9ja2VyOmQ="}, "b.example": {"auth": "dTpw"}}}
    )
    keychain = ChainKeychain(
        [StaticKeychain({"a.example": Credentials("static", "s")}), DockerConfigKeychain(path)]
    )
    assert await keychain.credentials_for("a.example") == Credentials("static", "s")
    assert await keychain.credentials_for("b.example") == Credentials("u", "p")
    assert await keychain.credentials_for("b.example:443") is None
    assert await keychain.credentials_for("c.example") is None


# A helper that hangs (waiting for a prompt nobody answers), telling us its process id first.
HANGING_HELPER = """#!/bin/sh
echo $$ > "{pidfile}"
exec sleep 30
"""


def written_pid(pidfile: Path) -> int | None:
    text = pidfile.read_text().strip() if pidfile.exists() else ""
    return int(text) if text else None


def process_exists(pid: int) -> bool:
    """Running or a zombie (not yet reaped): either way /proc still lists it."""
    return Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("how", ["cancelled", "deadline"])
async def test_a_helper_is_killed_and_reaped_when_the_caller_gives_up(
    tmp_path: Path, how: str
) -> None:
    directory = tmp_path / "bin"
    directory.mkdir()
    pidfile = tmp_path / "helper.pid"
    script = directory / "docker-credential-hang"
    script.write_text(HANGING_HELPER.format(pidfile=pidfile))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    helpers = CredentialHelpers(search_path=str(directory))

    async def started() -> int:
        for _ in range(500):
            pid = written_pid(pidfile)
            if pid is not None:
                return pid
            await asyncio.sleep(0.01)
        raise AssertionError("the helper never started")

    pid = None
    try:
        if how == "cancelled":
            task = asyncio.create_task(helpers.get("hang", "registry.example"))
            pid = await asyncio.wait_for(started(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.0):  # the caller's deadline, well short of 10 s
                    await helpers.get("hang", "registry.example")
            pid = written_pid(pidfile)
        assert pid is not None
        assert not process_exists(pid)  # killed and reaped: not running, not a zombie either
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_concurrent_asks_share_one_helper_run(tmp_path: Path, helper_dir: Path) -> None:
    helpers = CredentialHelpers(search_path=str(helper_dir))
    answers = await asyncio.gather(*(helpers.get("desktop", "ghcr.io") for _ in range(5)))
    assert set(answers) == {Credentials("AWS", "token-for-ghcr.io")}
    assert (tmp_path / "desktop.log").read_text().splitlines() == ["ghcr.io"]


async def test_one_caller_giving_up_does_not_kill_the_helper_for_another(
    tmp_path: Path, helper_dir: Path
) -> None:
    helpers = CredentialHelpers(search_path=str(helper_dir))

    async def impatient() -> Credentials | None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(loop.time()):  # its deadline passes while it waits
            return await helpers.get("desktop", "ghcr.io")

    first, second = await asyncio.gather(
        impatient(), helpers.get("desktop", "ghcr.io"), return_exceptions=True
    )
    assert isinstance(first, TimeoutError)
    assert second == Credentials("AWS", "token-for-ghcr.io")
    assert (tmp_path / "desktop.log").read_text().splitlines() == ["ghcr.io"]
