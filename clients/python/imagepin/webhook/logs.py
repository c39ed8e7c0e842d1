"""The webhook's logs: one JSON object per line on stderr, the server's format.

Each line has `time` (UTC, milliseconds), `level`, `logger` and `message`, then the facts the
call attached as `extra={"fields": {...}}`, as imagepin-server writes them
(imagepin_server/logs.py; reimplemented here, since the client cannot import the server), so
one log pipeline reads both. Images and namespaces are logged; tokens never are.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
QUIET: Final = ("aiohttp.access", "asyncio")


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def check_level(level: str) -> str:
    """The level's name, or ValueError naming IMAGEPIN_LOG_LEVEL's accepted values."""
    name = level.strip().upper()
    if name not in LEVELS:
        raise ValueError(f"IMAGEPIN_LOG_LEVEL {level!r}: use {', '.join(LEVELS)}")
    return name


def configure(level: str) -> None:
    """Send JSON lines to stderr at `level` (checked by check_level first)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
