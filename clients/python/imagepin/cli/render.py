"""Output: aligned tables for people (rich), JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table


def console() -> Console:
    """stdout; when piped, wide enough that no digest is ever wrapped or cut."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=10_000, no_color=True, highlight=False)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A borderless table like `docker images` prints."""
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*row)
    console().print(grid, soft_wrap=False)


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
