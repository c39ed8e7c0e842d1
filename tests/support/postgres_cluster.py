"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, a free port.

The suite never uses, restarts or reconfigures the machine's own cluster: it runs Debian's (or
any) PostgreSQL server binaries on a data directory of its own, listening on a free loopback
port with its socket in the same temporary directory, and removes everything at the end.
``initdb`` and ``postgres`` refuse to run as root, so as root they run as the ``postgres``
system user (which then owns the temporary directory).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.registries import free_port

DEBIAN_SERVER_DIRS = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # who runs the server when the tests run as root
ADMIN_ROLE = "postgres"
START_TIMEOUT_S = 60  # pg_ctl -w waits at most this long for start, stop and restart
INITDB_TIMEOUT_S = 120
# A test cluster: durability is worth nothing, speed is; listen on loopback only.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresClusterError(RuntimeError):
    """The throwaway cluster could not be created, started, restarted or stopped."""


def server_bin_dir(versions_dir: Path = DEBIAN_SERVER_DIRS) -> Path:
    """Where initdb, pg_ctl and postgres live: the newest Debian version, else the PATH."""
    versions: list[tuple[tuple[int, ...], Path]] = []
    if versions_dir.is_dir():
        for child in versions_dir.iterdir():
            bindir = child / "bin"
            if re.fullmatch(r"\d+(\.\d+)*", child.name) and (bindir / "initdb").is_file():
                versions.append((tuple(int(part) for part in child.name.split(".")), bindir))
    if versions:
        return max(versions)[1]
    on_path = shutil.which("initdb")
    if on_path is not None and shutil.which("pg_ctl") is not None:
        return Path(on_path).parent
    raise PostgresClusterError(
        f"no PostgreSQL server binaries (initdb) under {versions_dir}/*/bin or on PATH; "
        "install the postgresql package (scripts/test does)"
    )


def _as_server_user() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that drops root to the postgres user, and that user (None if not root)."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError as exc:
        raise PostgresClusterError(
            f"running as root but there is no {SERVER_USER!r} user to run PostgreSQL as"
        ) from exc
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresClusterError("running as root but runuser (util-linux) is missing")
    return [runuser, "-u", SERVER_USER, "--"], user


@dataclass
class PostgresCluster:
    """A cluster the tests started: where its files are and how to reach and control it."""

    bindir: Path
    root: Path  # the temporary directory holding everything below
    port: int
    prefix: Sequence[str]  # runs a command as the cluster's owner

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def admin_url(self) -> str:
        """The superuser on the maintenance database, over TCP on loopback (trust auth)."""
        return f"postgresql://{ADMIN_ROLE}@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str, timeout: float) -> None:
        """Run one of the server's tools as the cluster's owner; the log tail on failure."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        command = [*self.prefix, str(self.bindir / tool), *args]
        try:
            subprocess.run(
                command,
                cwd=self.root,
                env=env,
                check=True,
                capture_output=True,
                timeout=timeout,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            output = (exc.stdout or b"") + (exc.stderr or b"")
            raise PostgresClusterError(
                f"{tool} {' '.join(args)} failed: {exc}\n{output.decode(errors='replace')}"
                f"\n{self.log_tail()}"
            ) from exc

    def pg_ctl(self, action: str, *args: str) -> None:
        """pg_ctl on this cluster, waiting (bounded) until the action is done."""
        self.run(
            "pg_ctl",
            action,
            "-D",
            str(self.datadir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            *args,
            timeout=START_TIMEOUT_S + 10,
        )

    def restart(self) -> None:
        """Stop (fast: connections are cut) and start again on the same port."""
        self.pg_ctl("restart", "-m", "fast")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.is_file():
            return "(no server log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _initialise(cluster: PostgresCluster) -> None:
    """initdb with trust for local and loopback connections, then the test settings."""
    cluster.run(
        "initdb",
        "-D",
        str(cluster.datadir),
        "-U",
        ADMIN_ROLE,
        "--auth=trust",
        "--no-locale",
        "--encoding=UTF8",
        "--no-sync",
        timeout=INITDB_TIMEOUT_S,
    )
    settings = {
        **SETTINGS,
        "port": str(cluster.port),
        "unix_socket_directories": f"'{cluster.socket_dir}'",
    }
    with (cluster.datadir / "postgresql.conf").open("a") as conf:
        conf.write("\n# imagepin tests\n")
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())


@contextlib.contextmanager
def launch_postgres_cluster() -> Iterator[PostgresCluster]:
    """Create and start a cluster on a free loopback port; stop and delete it when done."""
    bindir = server_bin_dir()
    prefix, owner = _as_server_user()
    # Not pytest's tmp_path: its base directory is private to the current user, and as root
    # the server runs as another one.
    root = Path(tempfile.mkdtemp(prefix="imagepin-pg-"))
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        cluster = PostgresCluster(bindir=bindir, root=root, port=free_port(), prefix=prefix)
        cluster.socket_dir.mkdir(mode=0o700)
        if owner is not None:
            os.chown(cluster.socket_dir, owner.pw_uid, owner.pw_gid)
        _initialise(cluster)
        try:
            cluster.pg_ctl("start")
            yield cluster
        finally:
            _stop(cluster)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _stop(cluster: PostgresCluster) -> None:
    """Stop the server if it runs (also after a failed start): fast, else immediate."""
    if not (cluster.datadir / "postmaster.pid").exists():
        return
    try:
        cluster.pg_ctl("stop", "-m", "fast")
    except PostgresClusterError:
        cluster.pg_ctl("stop", "-m", "immediate")
