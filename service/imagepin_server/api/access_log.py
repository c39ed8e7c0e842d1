"""Which RPCs get a JSON access-log line: all of them, the ones that matter, or only failures.

A JSON line costs more than a warm answer itself, so by default (`sampled`) successful answers
from the tag cache are logged one in `1 / sample_rate`; every failure, every answer that asked a
registry or the store and every stale answer keeps its line. Metrics count every call whatever
the mode.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import Final

log = logging.getLogger("imagepin.rpc")

DEFAULT_SAMPLE_RATE: Final = 0.01
OK: Final = "OK"  # grpc.StatusCode.OK.name
CACHE_SOURCE: Final = "cache"  # core.Source.CACHE.value, as `note(source=…)` records it
STALE_SOURCE: Final = "stale"


class Mode(enum.Enum):
    ALL = "all"  # every call
    SAMPLED = "sampled"  # cache hits sampled, everything else logged
    ERRORS = "errors"  # failures and stale answers only


class AccessLog:
    """Decides per call whether its line is written; one per server process."""

    def __init__(self, mode: Mode = Mode.SAMPLED, sample_rate: float = DEFAULT_SAMPLE_RATE):
        self.mode = mode
        # Deterministic "one in N" rather than random: cheap, and testable without chance.
        self._every = round(1 / sample_rate) if sample_rate > 0 else 0
        self._hits = 0

    def sample_hit(self) -> bool:
        """A successful cache hit: logged in `all`, one in N in `sampled`, never in `errors`."""
        if self.mode is Mode.ALL:
            return True
        if self.mode is Mode.ERRORS or self._every == 0:
            return False
        self._hits += 1
        if self._hits >= self._every:
            self._hits = 0
            return True
        return False

    def wanted(self, fields: Mapping[str, object]) -> bool:
        """Whether the finished call described by `fields` gets its line."""
        if self.mode is Mode.ALL:
            return True
        failed = fields.get("code") != OK
        source = fields.get("source")
        if self.mode is Mode.ERRORS:
            return failed or source == STALE_SOURCE
        if not failed and source == CACHE_SOURCE:
            return self.sample_hit()
        return True

    def write(self, method: str, fields: Mapping[str, object]) -> None:
        log.info("rpc %s %s", method, fields.get("code"), extra={"fields": fields})
