"""Output: aligned tables for people (rich), JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Final

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

# Columns whose values are copied whole (digests, pinned references): never wrapped or folded.
WHOLE_COLUMNS: Final = frozenset({"DIGEST", "DIFF ID", "PINNED"})
_UNBOUNDED: Final = 10_000


def console(min_width: int = 0) -> Console:
    """stdout; when piped, wide enough that no digest is ever wrapped or cut. On a terminal
    its width, unless `min_width` is more (the line then runs on, as `docker images` does)."""
    if sys.stdout.isatty():
        terminal = Console()
        return terminal if terminal.width >= min_width else Console(width=min_width)
    return Console(width=_UNBOUNDED, no_color=True, highlight=False)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A borderless table like `docker images` prints.

    Digest columns never wrap; other columns wrap between words, never inside one. On a
    terminal narrower than that allows, the lines run on past its edge (the terminal shows
    them wrapped, a copy gets them whole), so no digest is ever broken across lines.
    """
    rows = [tuple(row) for row in rows]
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for index, header in enumerate(headers):
        whole = header in WHOLE_COLUMNS
        cells = [header, *(row[index] for row in rows)]
        grid.add_column(
            header,
            no_wrap=whole,
            overflow="ignore" if whole else "fold",
            min_width=max(_narrowest(cell, whole) for cell in cells),
        )
    for row in rows:
        grid.add_row(*row)
    out = console()
    narrowest = Measurement.get(out, out.options.update_width(_UNBOUNDED), grid).minimum
    if narrowest > out.width:
        out = console(narrowest)
    out.print(grid, soft_wrap=False, crop=False)


def _narrowest(text: str, whole: bool) -> int:
    """The least width a cell takes without breaking a word (a line, for a whole column)."""
    pieces = text.splitlines() if whole else text.split()
    return max((cell_len(piece) for piece in pieces), default=0)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def message_dict(message: Message) -> dict[str, Any]:
    """A response as JSON, with the proto's field names."""
    return MessageToDict(message, preserving_proto_field_name=True)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"
