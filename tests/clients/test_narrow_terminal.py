"""On a narrow terminal (COLUMNS=60) every digest still prints whole on one line: the command
runs on a real pseudo-terminal, as a person's shell runs it."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer

IMAGEPIN = str(Path(sys.executable).with_name("imagepin"))
COLUMNS = 60
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DIGEST = re.compile(r"sha256:[0-9a-f]+")


def on_a_terminal(*args: str) -> tuple[int, list[str]]:
    """Run `imagepin ARGS` with a 60-column pseudo-terminal as stdout; its exit code and lines."""
    primary, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEPIN_")}
    process = subprocess.Popen(
        [IMAGEPIN, *args],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=subprocess.PIPE,
        env={**env, "COLUMNS": str(COLUMNS), "TERM": "xterm"},
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError as error:  # EIO: the command closed its end
            if error.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert process.stderr is not None
    stderr = process.stderr.read()
    code = process.wait(timeout=60)
    assert not stderr or code != 0, stderr
    text = ANSI.sub("", output.decode())
    return code, text.replace("\r\n", "\n").splitlines()


def whole_digests(lines: list[str]) -> list[str]:
    return [d for line in lines for d in DIGEST.findall(line) if len(d) == len("sha256:") + 64]


def broken_digests(lines: list[str]) -> list[str]:
    return [d for line in lines for d in DIGEST.findall(line) if len(d) < len("sha256:") + 64]


@pytest.mark.parametrize("command", ["resolve", "layers", "inspect", "history"])
def test_digests_never_wrap_on_a_narrow_terminal(
    service: RunningServer, pushed_images: ImageCatalog, command: str
) -> None:
    image = pushed_images.single
    code, lines = on_a_terminal(command, image.reference, "--server", service.target)
    assert code == 0, lines
    expected = {
        "resolve": [image.digest, image.digest],  # DIGEST and PINNED
        "layers": [d for layer in image.layers for d in (layer.digest, layer.diff_id)],
        "inspect": [image.digest, image.config_digest],
        "history": [image.digest],
    }[command]
    found = whole_digests(lines)
    for digest in expected:
        assert digest in found, "\n".join(lines)
    assert not broken_digests(lines), "\n".join(lines)


def test_an_index_listing_keeps_every_child_digest_whole(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    index = pushed_images.index
    code, lines = on_a_terminal("inspect", index.reference, "--server", service.target)
    assert code == 0, lines
    assert set(whole_digests(lines)) >= {child.digest for child in index.children}
    assert not broken_digests(lines), "\n".join(lines)


def test_the_terminal_width_is_used_when_the_table_fits(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    """Not a 10 000-column page: the narrow width is honoured where nothing needs more."""
    code, lines = on_a_terminal("inspect", pushed_images.single.reference, "--server",
                                service.target)  # fmt: skip
    assert code == 0
    assert any(line.startswith("FIELD") for line in lines)
    assert max(len(line.rstrip()) for line in lines) < 200
