"""The one file watcher: re-read on change (inode, size, mtime), last good content kept."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from imagepin_server.filewatch import WatchedFile

log = logging.getLogger("tests.filewatch")


def _words(data: bytes) -> tuple[str, ...]:
    text = data.decode("utf-8")
    if "bad" in text:
        raise ValueError("not words")
    return tuple(text.split())


def watch(
    path: Path, absent: Callable[[], tuple[str, ...]] | None = None
) -> WatchedFile[tuple[str, ...]]:
    return WatchedFile(path, _words, initial=(), limit=64, log=log, what="words", absent=absent)


def touch_later(path: Path) -> None:
    """A distinct mtime however coarse the filesystem clock."""
    mtime = path.stat().st_mtime + 5
    os.utime(path, (mtime, mtime))


def test_reads_again_only_when_the_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("a b")
    reads: list[bytes] = []

    def parse(data: bytes) -> bytes:
        reads.append(data)
        return data

    watched = WatchedFile(path, parse, initial=b"", limit=64, log=log, what="f")
    assert watched.current() == b"a b"
    assert watched.current() == b"a b"
    assert reads == [b"a b"]
    path.write_text("c d")  # same size: only the mtime tells
    touch_later(path)
    assert watched.current() == b"c d"
    assert reads == [b"a b", b"c d"]


def test_a_bad_read_keeps_the_last_good_content_and_logs_no_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "f"
    path.write_text("good words")
    watched = watch(path)
    assert watched.current() == ("good", "words")
    path.write_text("bad secret-ish")
    touch_later(path)
    with caplog.at_level(logging.WARNING, logger="tests.filewatch"):
        assert watched.current() == ("good", "words")
        assert watched.current() == ("good", "words")  # the same bad file: not read again
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert str(path) in caplog.text
    assert "secret-ish" not in caplog.text
    path.write_text("new words")
    touch_later(path)
    assert watched.current() == ("new", "words")


def test_too_large_is_a_bad_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("small")
    watched = watch(path)
    assert watched.current() == ("small",)
    path.write_text("x " * 40)
    assert watched.current() == ("small",)


def test_initial_until_a_first_good_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("bad")
    assert watch(path).current() == ()


def test_a_missing_file_is_absent_when_told_else_a_bad_read(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("here")
    keeping, forgetting = watch(path), watch(path, absent=tuple)
    assert keeping.current() == forgetting.current() == ("here",)
    path.unlink()
    assert keeping.current() == ("here",)
    assert forgetting.current() == ()
    path.write_text("back")
    assert keeping.current() == forgetting.current() == ("back",)


def test_a_symlink_swap_is_seen(tmp_path: Path) -> None:
    """How Kubernetes updates a mounted secret: a new directory, then an atomic rename."""
    for version in ("v1", "v2"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "f").write_text(version)  # same size, maybe the same mtime
    (tmp_path / "..data").symlink_to("v1")
    (tmp_path / "f").symlink_to("..data/f")
    watched = watch(tmp_path / "f")
    assert watched.current() == ("v1",)
    (tmp_path / "..data_tmp").symlink_to("v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert watched.current() == ("v2",)
