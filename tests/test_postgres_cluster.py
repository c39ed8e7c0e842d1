"""The suite's PostgreSQL is a throwaway cluster of its own, never the machine's."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from tests.support.database_fixtures import POSTGRES_ADMIN_URL_ENV
from tests.support.postgres_cluster import PostgresCluster, server_bin_dir


def _fake_version(root: Path, name: str, *, with_initdb: bool = True) -> Path:
    bindir = root / name / "bin"
    bindir.mkdir(parents=True)
    if with_initdb:
        (bindir / "initdb").write_text("")
    return bindir


def test_the_newest_server_version_is_chosen_by_number(tmp_path: Path) -> None:
    _fake_version(tmp_path, "9.6")
    _fake_version(tmp_path, "10")
    newest = _fake_version(tmp_path, "16")
    _fake_version(tmp_path, "17", with_initdb=False)  # a client-only install
    _fake_version(tmp_path, "latest")
    assert server_bin_dir(tmp_path) == newest


@pytest.mark.postgres
def test_the_session_cluster_is_ours_on_loopback(postgres_cluster: PostgresCluster) -> None:
    with psycopg.connect(postgres_cluster.admin_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT current_setting('data_directory'), inet_server_port(),"
            " current_setting('listen_addresses'), current_setting('fsync'),"
            " current_setting('unix_socket_directories')"
        ).fetchone()
    assert row == (
        str(postgres_cluster.datadir),
        postgres_cluster.port,
        "127.0.0.1",
        "off",
        str(postgres_cluster.socket_dir),
    )


@pytest.mark.postgres
def test_test_databases_are_created_on_the_session_cluster(
    postgres_admin_url: str, postgres_cluster: PostgresCluster
) -> None:
    if os.environ.get(POSTGRES_ADMIN_URL_ENV):
        pytest.skip(f"{POSTGRES_ADMIN_URL_ENV} chooses another server")
    assert postgres_admin_url == postgres_cluster.admin_url
