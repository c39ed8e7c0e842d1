"""Entry point of the `imagepin` script.

The command's libraries come with the `[cli]` extra; a library-only install that runs the
script gets told what to install, not a traceback.
"""

from __future__ import annotations

import sys

COMMAND_LIBRARIES = frozenset({"click", "rich", "yaml"})


def main() -> None:
    """Run the `imagepin` command, or say which extra it needs."""
    try:
        from imagepin.cli import main as run
    except ModuleNotFoundError as missing:
        if missing.name not in COMMAND_LIBRARIES:
            raise
        sys.exit(
            f"imagepin: the command needs the [cli] extra ({missing.name} is not installed): "
            "pip install 'imagepin[cli]'"
        )
    run()
